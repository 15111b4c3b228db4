/**
 * Services end to end on this machine, whose PID 1 is not systemd: a real agent
 * answers every services route with 501 E_UNSUPPORTED naming PID 1, and hostile
 * unit names are refused before they reach any device. (The systemd backend's
 * argv and parsing are tested against a fake systemctl in
 * packages/agent/src/capabilities/services.test.ts: it cannot run here.)
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  asAdmin,
  onlineAgent,
  runCli,
  sendCommand,
  startTestServer,
  type TestAgent,
  type TestServer,
} from '../helpers.js';

let ts: TestServer;
let agent: TestAgent;
let device: string;
const init = readFileSync('/proc/1/comm', 'utf8').trim();
const unsupported = `this device does not run systemd (PID 1 is ${init}): services cannot be managed here`;

beforeAll(async () => {
  ts = await startTestServer();
  ({ agent } = await onlineAgent(ts));
  device = agent.identity().deviceId;
});
afterAll(async () => {
  await agent?.stop();
  await ts?.close();
});

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
      ['GET', `/devices/${device}/services`],
      ['GET', `/devices/${device}/services?type=timer&state=failed`],
      ['GET', `/devices/${device}/services/ssh.service`],
      ...['start', 'stop', 'restart', 'enable', 'disable'].map((a) => [
        'POST',
        `/devices/${device}/services/ssh.service/${a}`,
      ]),
    ] as const;
    for (const [method, path] of paths) {
      const r = await ts.api(method, path);
      expect(r.status, path).toBe(501);
      expect(r.body.error, path).toEqual({ code: 'E_UNSUPPORTED', message: unsupported });
    }
  });

  it('audits an action even when the device refuses it', async () => {
    await ts.api('POST', `/devices/${device}/services/nginx.service/restart`);
    const audit = await asAdmin(ts, 'GET', `/audit?action=service.restart&device=${device}`);
    expect(audit.items.at(-1)).toMatchObject({
      action: 'service.restart',
      deviceId: device,
      result: 'error',
      errorCode: 'E_UNSUPPORTED',
      details: { command: 'services/restart', args: { unit: 'nginx.service' } },
    });
  });
});

describe('unit names', () => {
  it.each(HOSTILE)('refuses %j with 400 E_BAD_ARGS on every route, and sends the device nothing', async (unit) => {
    const before = (await ts.api('GET', `/devices/${device}/commands`)).body.items.length;
    const u = encodeURIComponent(unit);
    for (const [method, path] of [
      ['GET', `/devices/${device}/services/${u}`],
      ['POST', `/devices/${device}/services/${u}/start`],
      ['POST', `/devices/${device}/services/${u}/disable`],
    ] as const) {
      const r = await ts.api(method, path);
      expect(r.status, `${method} ${path}`).toBe(400);
      expect(r.body.error.code).toBe('E_BAD_ARGS');
    }
    // As a raw command: refused by the catalogue's schema, so never queued either.
    const raw = await sendCommand(ts, device, 'services', 'restart', { unit });
    expect(raw.status).toBe(400);
    expect(raw.body.error.code).toBe('E_BAD_ARGS');
    expect((await ts.api('GET', `/devices/${device}/commands`)).body.items.length).toBe(before);
  });

  it('refuses an unknown unit type or state filter in the list query', async () => {
    for (const q of ['type=device', 'type=../x', 'state=FAILED', 'state=a;b', 'extra=1']) {
      const r = await ts.api('GET', `/devices/${device}/services?${q}`);
      expect(r.status, q).toBe(400);
      expect(r.body.error.code, q).toBe('E_BAD_ARGS');
    }
  });
});

describe('the CLI', () => {
  it('services DEVICE says in one line that the device has no systemd', async () => {
    const r = await runCli(ts, ['services', device]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(`error: ${unsupported} (E_UNSUPPORTED)`);
    const restart = await runCli(ts, ['services', device, 'restart', 'nginx']);
    expect(restart.code).toBe(1);
    expect(restart.stderr).toContain('(E_UNSUPPORTED)');
  });

  it('refuses a hostile unit name itself (exit 2) before calling the server', async () => {
    const before = (await asAdmin(ts, 'GET', `/audit?action=service.*&device=${device}`)).items.length;
    for (const unit of ['foo;rm -rf /', '$(id)', '../x']) {
      const r = await runCli(ts, ['services', device, 'stop', unit]);
      expect(r.code, unit).toBe(2);
      expect(r.stderr, unit).toContain('invalid unit name');
      expect(r.stderr, unit).toContain('(E_BAD_ARGS)');
    }
    // `-H host` would be an option to commander: after `--` it is a name, and refused as one.
    const dash = await runCli(ts, ['services', device, 'start', '--', '-H host']);
    expect(dash.code).toBe(2);
    expect(dash.stderr).toContain('invalid unit name');
    expect((await asAdmin(ts, 'GET', `/audit?action=service.*&device=${device}`)).items.length).toBe(before);
  });

  it('needs a unit for an action and takes none for ls', async () => {
    expect((await runCli(ts, ['services', device, 'start'])).stderr).toContain('start needs a unit name');
    expect((await runCli(ts, ['services', device, 'ls', 'x'])).code).toBe(2);
    expect((await runCli(ts, ['services', device, 'frobnicate', 'x'])).code).not.toBe(0);
  });
});
