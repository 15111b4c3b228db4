/** `outpost forward` arguments: the LOCALPORT:HOST:PORT target and --bind, refused with a usage error (exit 2). */
import { describe, expect, it } from 'vitest';
import { CliError } from './errors.js';
import { hostPort, parseBind, parseForwardSpec } from './forward-spec.js';

function refusal(fn: () => unknown): CliError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exitCode).toBe(2);
    expect((err as CliError).code).toBe('E_BAD_ARGS');
    return err as CliError;
  }
  throw new Error('accepted');
}

describe('parseForwardSpec', () => {
  it.each([
    ['8080:localhost:80', { localPort: 8080, host: 'localhost', port: 80 }],
    ['8080:80', { localPort: 8080, host: 'localhost', port: 80 }],
    ['0:5432', { localPort: 0, host: 'localhost', port: 5432 }],
    ['2222:10.0.0.5:22', { localPort: 2222, host: '10.0.0.5', port: 22 }],
    ['2222:[::1]:22', { localPort: 2222, host: '::1', port: 22 }],
    ['2222:[fd00::5]:22', { localPort: 2222, host: 'fd00::5', port: 22 }],
    ['5432:db_1.lan:5432', { localPort: 5432, host: 'db_1.lan', port: 5432 }],
    [' 65535:h:65535 ', { localPort: 65535, host: 'h', port: 65535 }],
  ])('reads %j', (spec, want) => {
    expect(parseForwardSpec(spec)).toEqual(want);
  });

  it.each([
    ['8080', /expected LOCALPORT:HOST:PORT or LOCALPORT:PORT/],
    ['', /expected LOCALPORT:HOST:PORT/],
    ['x:80', /the local port must be a number from 0 to 65535 \(got 'x'\)/],
    ['70000:80', /the local port must be a number from 0 to 65535/],
    ['-1:80', /the local port must be/],
    ['8080:0', /the device-side port must be a number from 1 to 65535 \(got '0'\)/],
    ['8080:localhost:', /the device-side port must be/],
    ['8080:localhost:http', /the device-side port must be/],
    ['8080::80', /the host is empty; leave it out for localhost/],
    ['2222:::1:22', /put an IPv6 address in brackets, e\.g\. 2222:\[::1\]:22/],
    ['2222:[10.0.0.1]:22', /only an IPv6 address goes in brackets/],
    ['2222:[::1:22', /only an IPv6 address goes in brackets/],
    ['2222:a b:22', /'a b' is not a host name or an IP address/],
    ['2222:a/b:22', /is not a host name/],
  ])('refuses %j', (spec, message) => {
    const err = refusal(() => parseForwardSpec(spec));
    expect(err.message).toMatch(message);
    expect(err.message).toContain(`'${spec}'`);
  });
});

describe('parseBind', () => {
  it('takes IP addresses and localhost, and knows loopback from the rest', () => {
    expect(parseBind('127.0.0.1')).toEqual({ address: '127.0.0.1', loopback: true });
    expect(parseBind('localhost')).toEqual({ address: '127.0.0.1', loopback: true });
    expect(parseBind('::1')).toEqual({ address: '::1', loopback: true });
    expect(parseBind('[::1]')).toEqual({ address: '::1', loopback: true });
    expect(parseBind('0.0.0.0')).toEqual({ address: '0.0.0.0', loopback: false });
    expect(parseBind('::')).toEqual({ address: '::', loopback: false });
    expect(parseBind('192.168.1.10')).toEqual({ address: '192.168.1.10', loopback: false });
  });

  it('refuses names and junk', () => {
    expect(refusal(() => parseBind('example.com')).message).toMatch(/--bind: 'example\.com' is not an IP address/);
    refusal(() => parseBind('127.0.0.1:80'));
    refusal(() => parseBind(''));
  });
});

describe('hostPort', () => {
  it('brackets IPv6 hosts', () => {
    expect(hostPort('localhost', 80)).toBe('localhost:80');
    expect(hostPort('::1', 22)).toBe('[::1]:22');
  });
});
