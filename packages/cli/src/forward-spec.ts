/**
 * The `outpost forward` target argument, `LOCALPORT:HOST:PORT` or `LOCALPORT:PORT`
 * (HOST as the device sees it, default localhost; an IPv6 HOST in brackets), and
 * the `--bind` address, both checked before anything is opened.
 */
import { isIP } from 'node:net';
import { check, ForwardHost } from '@outpost/protocol';
import { CliError } from './errors.js';

export interface ForwardSpec {
  /** The local port to listen on; 0 picks a free one (printed once listening). */
  localPort: number;
  /** The target host as the device resolves it, without brackets. */
  host: string;
  port: number;
}

/** The host a forward reaches when the spec names none: the device itself. */
export const DEFAULT_FORWARD_HOST = 'localhost';

const usage = (message: string) => new CliError(message, { code: 'E_BAD_ARGS', exitCode: 2 });

function port(text: string, what: string, spec: string, min: number): number {
  const n = /^\d{1,5}$/.test(text) ? Number(text) : Number.NaN;
  if (!(n >= min && n <= 65_535)) {
    throw usage(`'${spec}': ${what} must be a number from ${min} to 65535 (got '${text}')`);
  }
  return n;
}

/** Parses `LOCALPORT:HOST:PORT`, `LOCALPORT:[IPV6]:PORT` or `LOCALPORT:PORT`. */
export function parseForwardSpec(spec: string): ForwardSpec {
  const text = spec.trim();
  const first = text.indexOf(':');
  const last = text.lastIndexOf(':');
  if (first === -1) {
    throw usage(`'${spec}': expected LOCALPORT:HOST:PORT or LOCALPORT:PORT, e.g. 8080:localhost:80`);
  }
  const localPort = port(text.slice(0, first), 'the local port', spec, 0);
  const remotePort = port(text.slice(last + 1), 'the device-side port', spec, 1);
  if (first === last) return { localPort, host: DEFAULT_FORWARD_HOST, port: remotePort };
  let host = text.slice(first + 1, last);
  if (host.startsWith('[') || host.endsWith(']')) {
    const inner = /^\[([^\]]+)\]$/.exec(host)?.[1];
    if (!inner || isIP(inner) !== 6)
      throw usage(`'${spec}': only an IPv6 address goes in brackets, e.g. 8080:[::1]:80`);
    host = inner;
  } else if (host.includes(':')) {
    throw usage(`'${spec}': put an IPv6 address in brackets, e.g. ${text.slice(0, first)}:[${host}]:${remotePort}`);
  }
  if (host === '') throw usage(`'${spec}': the host is empty; leave it out for localhost (e.g. 8080:80)`);
  if (!check(ForwardHost, host)) throw usage(`'${spec}': '${host}' is not a host name or an IP address`);
  return { localPort, host, port: remotePort };
}

/** `host:port` with brackets around an IPv6 host, for messages. */
export function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Checks `--bind`: an IP address or `localhost`; says whether it is loopback only. */
export function parseBind(bind: string): { address: string; loopback: boolean } {
  const address = bind.trim().replace(/^\[(.*)\]$/, '$1');
  if (address === 'localhost') return { address: '127.0.0.1', loopback: true };
  const family = isIP(address);
  if (family === 0) throw usage(`--bind: '${bind}' is not an IP address (e.g. 127.0.0.1, ::1 or 0.0.0.0)`);
  const loopback = family === 4 ? address.startsWith('127.') : address === '::1';
  return { address, loopback };
}
