/**
 * Services end to end on this machine, whose PID 1 is not systemd: a real agent
 * answers every services route with 501 E_UNSUPPORTED naming PID 1, and hostile
 * unit names are refused before they reach any device. (The systemd backend's
 * argv and parsing are tested against a fake systemctl in
 * packages/agent/src/capabilities/services.test.ts: it cannot run here.)
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { useOnlineDevice } from '../fixture.js';
import { asAdmin, runCli, sendCommand } from '../helpers.js';

const init = readFileSync('/proc/1/comm', 'utf8').trim();
const unsupported = `this device does not run systemd (PID 1 is ${init}): services cannot be managed here`;

const fx = useOnlineDevice();

const HOSTILE = [
  'foo;rm -rf /',
  '$(id)',
  '-H host',
  '../x',
  '$(id).service',
  '-H.service',
  '../x.service',
  'a b.service',
];

describe('a device without systemd', () => {
  it('answers the list, a status and every action with 501 E_UNSUPPORTED naming PID 1', async () => {
    const paths = [
      ['GET', `/devices/${fx.deviceId}/services`],
      ['GET', `/devices/${fx.deviceId}/services?type=timer&state=failed`],
      ['GET', `/devices/${fx.deviceId}/services/ssh.service`],
      ...['start', 'stop', 'restart', 'enable', 'disable'].map((a) => [
        'POST',
        `/devices/${fx.deviceId}/services/ssh.service/${a}`,
      ]),
    ] as const;
    for (const [method, path] of paths) {
      const r = await fx.ts.api(method, path);
      expect(r.status, path).toBe(501);
      expect(r.body.error, path).toEqual({ code: 'E_UNSUPPORTED', message: unsupported });
    }
  });

  it('audits an action even when the device refuses it', async () => {
    await fx.ts.api('POST', `/devices/${fx.deviceId}/services/nginx.service/restart`);
    const audit = await asAdmin(fx.ts, 'GET', `/audit?action=service.restart&device=${fx.deviceId}`);
    expect(audit.items.at(-1)).toMatchObject({
      action: 'service.restart',
      deviceId: fx.deviceId,
      result: 'error',
      errorCode: 'E_UNSUPPORTED',
      details: { command: 'services/restart', args: { unit: 'nginx.service' } },
    });
  });
});

describe('unit names', () => {
  it.each(HOSTILE)('refuses %j with 400 E_BAD_ARGS on every route, and sends the device nothing', async (unit) => {
    const before = (await fx.ts.api('GET', `/devices/${fx.deviceId}/commands`)).body.items.length;
    const u = encodeURIComponent(unit);
    for (const [method, path] of [
      ['GET', `/devices/${fx.deviceId}/services/${u}`],
      ['POST', `/devices/${fx.deviceId}/services/${u}/start`],
      ['POST', `/devices/${fx.deviceId}/services/${u}/disable`],
    ] as const) {
      const r = await fx.ts.api(method, path);
      expect(r.status, `${method} ${path}`).toBe(400);
      expect(r.body.error.code).toBe('E_BAD_ARGS');
    }
    // As a raw command: refused by the catalogue's schema, so never queued either.
    const raw = await sendCommand(fx.ts, fx.deviceId, 'services', 'restart', { unit });
    expect(raw.status).toBe(400);
    expect(raw.body.error.code).toBe('E_BAD_ARGS');
    expect((await fx.ts.api('GET', `/devices/${fx.deviceId}/commands`)).body.items.length).toBe(before);
  });

  it('refuses an unknown unit type or state filter in the list query', async () => {
    for (const q of ['type=device', 'type=../x', 'state=FAILED', 'state=a;b', 'extra=1']) {
      const r = await fx.ts.api('GET', `/devices/${fx.deviceId}/services?${q}`);
      expect(r.status, q).toBe(400);
      expect(r.body.error.code, q).toBe('E_BAD_ARGS');
    }
  });
});

describe('the CLI', () => {
  it('services DEVICE says in one line that the device has no systemd', async () => {
    const r = await runCli(fx.ts, ['services', fx.deviceId]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(`error: ${unsupported} (E_UNSUPPORTED)`);
    const restart = await runCli(fx.ts, ['services', fx.deviceId, 'restart', 'nginx']);
    expect(restart.code).toBe(1);
    expect(restart.stderr).toContain('(E_UNSUPPORTED)');
  });

  it('refuses a hostile unit name itself (exit 2) before calling the server', async () => {
    const before = (await asAdmin(fx.ts, 'GET', `/audit?action=service.*&device=${fx.deviceId}`)).items.length;
    for (const unit of ['foo;rm -rf /', '$(id)', '../x']) {
      const r = await runCli(fx.ts, ['services', fx.deviceId, 'stop', unit]);
      expect(r.code, unit).toBe(2);
      expect(r.stderr, unit).toContain('invalid unit name');
      expect(r.stderr, unit).toContain('(E_BAD_ARGS)');
    }
    // `-H host` would be an option to commander: after `--` it is a name, and refused as one.
    const dash = await runCli(fx.ts, ['services', fx.deviceId, 'start', '--', '-H host']);
    expect(dash.code).toBe(2);
    expect(dash.stderr).toContain('invalid unit name');
    expect((await asAdmin(fx.ts, 'GET', `/audit?action=service.*&device=${fx.deviceId}`)).items.length).toBe(before);
  });

  it('needs a unit for an action and takes none for ls', async () => {
    expect((await runCli(fx.ts, ['services', fx.deviceId, 'start'])).stderr).toContain('start needs a unit name');
    expect((await runCli(fx.ts, ['services', fx.deviceId, 'ls', 'x'])).code).toBe(2);
    expect((await runCli(fx.ts, ['services', fx.deviceId, 'frobnicate', 'x'])).code).not.toBe(0);
  });
});
