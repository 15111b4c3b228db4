/**
 * `top`, `ps`, `kill`, `services`, `reboot`, `shutdown` and `power` through main():
 * what each command line sends and prints, against a stub API (the real server and
 * agent: test/e2e/processes.test.ts, services.test.ts, power.test.ts).
 */
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { type RunOptions, runCli } from '../../test/run-cli.js';
import { apiError, device, type Handler, json, type StubApi, stubApi } from '../../test/stub-api.js';
import { ApiClient } from '../api.js';
import type { Device } from '../api-types.js';
import { agentEnv, DEMO_POWER_COMMAND } from '../demo-agent.js';
import { delayOption, waitForPowerCycle } from './power.js';
import { compactBytes, renderProcesses, signalOption, startColumn } from './processes.js';
import { unitName } from './services.js';

let api: StubApi | undefined;
const clients: ApiClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  await api?.close();
  api = undefined;
});

async function outpost(handler: Handler, args: string[], options: RunOptions = {}) {
  api = await stubApi(handler);
  return runCli(api.url, args, options);
}
const requests = () => api?.requests ?? [];

/** A terminal that answers `line` to the first question. */
function terminal(line: string): RunOptions['stdin'] {
  return Object.assign(Readable.from([Buffer.from(`${line}\n`)]), { isTTY: true });
}

const proc = (over: Record<string, unknown> = {}) => ({
  pid: 4711,
  ppid: 1,
  user: 'www-data',
  uid: 33,
  state: 'S',
  name: 'nginx',
  cpu: 12.34,
  rssBytes: 12_582_912,
  mem: 0.3,
  threads: 4,
  nice: 0,
  startedAt: new Date().toISOString(),
  cmdline: 'nginx: worker process',
  ...over,
});
const list = (processes: unknown[], over: Record<string, unknown> = {}) => ({
  at: new Date().toISOString(),
  sampleMs: 0,
  cpuCount: 4,
  memTotalBytes: 4 * 1024 ** 3,
  total: processes.length,
  truncated: false,
  processes,
  ...over,
});
const status = {
  unit: 'nginx.service',
  description: 'web',
  load: 'loaded',
  active: 'active',
  sub: 'running',
  enabled: 'enabled',
  mainPid: 4711,
  activeSince: null,
  result: 'success',
  restarts: 0,
  memoryBytes: 1_048_576,
  path: '/lib/systemd/system/nginx.service',
};

describe('rendering', () => {
  it('sizes like top, start times like ps, and a table cut to the terminal', () => {
    expect([512, 2048, 12_582_912, 1.9 * 1024 ** 3, 150 * 1024 ** 2].map(compactBytes)).toEqual([
      '512B',
      '2K',
      '12.0M',
      '1.9G',
      '150M',
    ]);
    const now = new Date(2025, 5, 15, 12, 0);
    expect(startColumn(new Date(2025, 5, 15, 9, 5).toISOString(), now)).toBe('09:05');
    expect(startColumn(new Date(2025, 5, 1, 9, 5).toISOString(), now)).toBe('Jun 01');
    const table = renderProcesses([proc({ cmdline: 'x'.repeat(300) })], 80);
    expect(table.split('\n').every((l) => l.length <= 80)).toBe(true);
    expect(table).toMatch(/^4711\s+www-data\s+S\s+12\.3\s+0\.3\s+12\.0M\s+4\s+\d\d:\d\d\s+x+$/m);
  });

  it('signal names: any case, with or without SIG; others refused', () => {
    expect(['term', 'SIGKILL', 'Usr1'].map(signalOption)).toEqual(['TERM', 'KILL', 'USR1']);
    for (const bad of ['SEGV', '9', 'SIGFOO', '']) expect(() => signalOption(bad)).toThrow(/unknown signal/);
  });

  it('unit names: a bare name is a service; a hostile one is a usage error', () => {
    expect(unitName('nginx')).toBe('nginx.service');
    expect(unitName('docker.socket')).toBe('docker.socket');
    expect(unitName('getty@tty1')).toBe('getty@tty1.service');
    for (const bad of ['foo;rm -rf /', '$(id)', '-H host', '../x', 'a/b']) {
      expect(() => unitName(bad), bad).toThrow(/invalid unit name/);
    }
  });

  it('delays: seconds or durations, 0 allowed, at most an hour', () => {
    expect(['0', '45', '30s', '5m', '1h'].map(delayOption)).toEqual([0, 45, 30, 300, 3600]);
    for (const bad of ['-1', 'soon', '2h', '3601']) expect(() => delayOption(bad), bad).toThrow();
  });
});

describe('ps, top and kill', () => {
  it('ps asks for lifetime CPU (like ps) with the filters given', async () => {
    const r = await outpost(
      (_req, res) => json(res, 200, list([proc()])),
      ['ps', 'gw-1', ...['--filter', 'nginx', '--user', 'www-data', '--sort', 'mem', '--order', 'asc', '--limit', '5']],
    );
    expect(r.code).toBe(0);
    const q = requests()[0]!;
    expect(q.path).toBe('/devices/gw-1/processes');
    expect(Object.fromEntries(q.query)).toEqual({
      sort: 'mem',
      order: 'asc',
      limit: '5',
      fast: 'true',
      filter: 'nginx',
      user: 'www-data',
    });
    expect(r.stdout).toContain('nginx: worker process');
  });

  it('top samples on the device and prints a summary line', async () => {
    const r = await outpost(
      (_req, res) => json(res, 200, list([proc()], { sampleMs: 301, total: 120 })),
      ['top', 'gw-1', '--limit', '1'],
    );
    expect(Object.fromEntries(requests()[0]!.query)).toEqual({ sort: 'cpu', limit: '1' });
    expect(r.stdout.split('\n')[0]).toMatch(/^gw-1 .* 120 processes, top 1 +4 CPUs +4\.0G memory +\(CPU % over 301 ms/);
  });

  it('kill --yes sends the signal at once and says what happened', async () => {
    const r = await outpost(
      (_req, res) =>
        json(res, 200, { pid: 42, signal: 'USR1', name: 'app', cmdline: 'app --serve', user: 'pi', gone: null }),
      ['kill', 'gw-1', '42', '--signal', 'usr1', '--yes', '--wait', '5s'],
    );
    expect(r.code).toBe(0);
    expect(requests()).toHaveLength(1);
    expect(requests()[0]).toMatchObject({
      method: 'POST',
      path: '/devices/gw-1/processes/42/signal',
      body: { signal: 'USR1', waitMs: 5000 },
    });
    expect(r.stdout.trim()).toBe('sent USR1 to 42 (app --serve, user pi) on gw-1');
  });

  it('kill shows the process and asks; "n" sends nothing, "y" sends it', async () => {
    const handler: Handler = (req, res) =>
      req.method === 'GET'
        ? json(res, 200, list([proc({ pid: 42, cmdline: 'app --serve', user: 'pi' })]))
        : json(res, 200, { pid: 42, signal: 'TERM', name: 'app', cmdline: 'app --serve', user: 'pi', gone: false });
    const no = await outpost(handler, ['kill', 'gw-1', '42'], { stdin: terminal('n') });
    expect(no.code).toBe(1);
    // The question itself goes to the process's stderr (readline), the answer decides.
    expect(no.stderr).toContain('no signal sent');
    expect(requests().map((q) => q.method)).toEqual(['GET']);
    expect(Object.fromEntries(requests()[0]!.query)).toEqual({ pid: '42', fast: 'true', limit: '1' });
    await api?.close();
    const yes = await outpost(handler, ['kill', 'gw-1', '42'], { stdin: terminal('y') });
    expect(yes.code).toBe(0);
    expect(yes.stdout).toContain('sent TERM to 42 (app --serve, user pi) on gw-1: it is still running');
  });

  it('kill of a pid that is not there says so before asking', async () => {
    const r = await outpost((_req, res) => json(res, 200, list([])), ['kill', 'gw-1', '42'], { stdin: terminal('y') });
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe('error: no process with pid 42 on gw-1 (E_NOT_FOUND)');
  });

  it("kill reports the device's refusal in one line", async () => {
    const r = await outpost(
      (_req, res) => apiError(res, 403, 'E_DENIED', 'refusing to signal pid 7: it is the agent itself'),
      ['kill', 'gw-1', '7', '--yes'],
    );
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe('error: refusing to signal pid 7: it is the agent itself (E_DENIED)');
  });
});

describe('services', () => {
  it('ls is the default and passes the filters; status and actions name the full unit', async () => {
    const handler: Handler = (req, res) => {
      if (req.path.endsWith('/services')) {
        return json(res, 200, { backend: 'systemd', units: [{ ...status, enabled: null }] });
      }
      if (req.method === 'GET') return json(res, 200, status);
      return json(res, 200, { unit: 'nginx.service', action: 'restart', status });
    };
    const ls = await outpost(handler, ['services', 'gw-1', 'ls', '--state', 'failed', '--type', 'timer']);
    expect(Object.fromEntries(requests()[0]!.query)).toEqual({ type: 'timer', state: 'failed' });
    expect(ls.stdout).toMatch(
      /^UNIT\s+LOAD\s+ACTIVE\s+SUB\s+ENABLED\s+DESCRIPTION\nnginx\.service\s+loaded\s+active\s+running\s+-\s+web$/m,
    );
    await api?.close();
    const st = await outpost(handler, ['services', 'gw-1', 'status', 'nginx']);
    expect(requests()[0]!.path).toBe('/devices/gw-1/services/nginx.service');
    expect(st.stdout).toMatch(/^state\s+active \(running\)$/m);
    expect(st.stdout).toMatch(/^memory\s+1\.0M$/m);
    await api?.close();
    const rs = await outpost(handler, ['services', 'gw-1', 'restart', 'nginx']);
    expect(requests()[0]).toMatchObject({ method: 'POST', path: '/devices/gw-1/services/nginx.service/restart' });
    expect(rs.stdout.trim()).toBe('restarted nginx.service on gw-1: now active (running), enabled');
  });

  it('a hostile unit name never reaches the server', async () => {
    const r = await outpost((_req, res) => json(res, 200, {}), ['services', 'gw-1', 'start', '$(id)']);
    expect(r.code).toBe(2);
    expect(requests()).toEqual([]);
  });
});

describe('reboot, shutdown and power', () => {
  const ack = { action: 'reboot', scheduledAt: '2025-01-01T10:00:30.000Z', reason: 'r' };

  it('reboot --yes sends the delay in seconds and the reason, to the device id', async () => {
    const r = await outpost(
      (req, res) => (req.method === 'GET' ? json(res, 200, device()) : json(res, 200, ack)),
      ['reboot', 'gw-1', '--yes', '--delay', '30s', '--reason', 'r'],
    );
    expect(r.code).toBe(0);
    expect(requests()[1]).toMatchObject({
      method: 'POST',
      path: '/devices/d-1/reboot',
      body: { delaySeconds: 30, reason: 'r' },
    });
    expect(r.stdout.trim()).toBe('gw-1 (d-1) will reboot at 2025-01-01T10:00:30.000Z');
  });

  it('shutdown asks on a terminal; "n" schedules nothing', async () => {
    const r = await outpost((_req, res) => json(res, 200, device()), ['shutdown', 'gw-1'], { stdin: terminal('n') });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('no shutdown');
    expect(requests().map((q) => q.method)).toEqual(['GET']);
  });

  it('the demo device (this computer) never really reboots: its power command does nothing', () => {
    const base = { agentBin: '/a.js', broker: 'mqtts://localhost:8883', caFile: '/ca', stateDir: '/s', logFile: '/l' };
    expect(DEMO_POWER_COMMAND).toBe('/bin/true');
    expect(agentEnv(base, {}).OUTPOST_AGENT_POWER_COMMAND).toBe('/bin/true');
    expect(agentEnv(base, { OUTPOST_AGENT_POWER_COMMAND: '/opt/mine' }).OUTPOST_AGENT_POWER_COMMAND).toBe('/opt/mine');
  });

  it('power shows what is pending and the last attempt', async () => {
    const r = await outpost(
      (_req, res) =>
        json(res, 200, { pending: ack, last: { action: 'shutdown', at: 'T', ok: false, error: 'exit 1' } }),
      ['power', 'gw-1'],
    );
    expect(r.stdout).toMatch(/^pending\s+reboot at 2025-01-01T10:00:30\.000Z$/m);
    expect(r.stdout).toMatch(/^last\s+shutdown at T: failed: exit 1$/m);
  });
});

describe('waiting for a power cycle', () => {
  const before = device() as unknown as Device;
  /** A stub that answers the device states in turn, then the last one forever. */
  async function client(states: Record<string, unknown>[]): Promise<ApiClient> {
    let i = 0;
    api = await stubApi((_req, res) => json(res, 200, device(states[Math.min(i++, states.length - 1)])));
    const c = new ApiClient(api.url, 'tok');
    clients.push(c);
    return c;
  }
  const later = '2025-01-01T00:05:00.000Z';

  it('sees the device go offline and come back (a new onlineSince)', async () => {
    const c = await client([{}, { online: false, onlineSince: null }, { online: false }, { onlineSince: later }]);
    const r = await waitForPowerCycle(c, before, { comeBack: true, timeoutMs: 60_000, started: Date.now(), pollMs: 5 });
    expect(r.downAfter).toBeGreaterThanOrEqual(0);
    expect(r.backAfter).toBeGreaterThanOrEqual(r.downAfter);
    expect(requests()).toHaveLength(4);
  });

  it('counts a reconnection it did not see drop as a cycle; a shutdown ends at offline', async () => {
    const quick = await client([{}, { onlineSince: later }]);
    expect(
      (await waitForPowerCycle(quick, before, { comeBack: true, timeoutMs: 60_000, started: Date.now(), pollMs: 5 }))
        .backAfter,
    ).not.toBeNull();
    await api?.close();
    const off = await client([{ online: false }]);
    expect(
      await waitForPowerCycle(off, before, { comeBack: false, timeoutMs: 60_000, started: Date.now(), pollMs: 5 }),
    ).toMatchObject({ backAfter: null });
  });

  it('stops waiting when the device says the action failed', async () => {
    const c = await client([{}]);
    await expect(
      waitForPowerCycle(c, before, {
        comeBack: true,
        timeoutMs: 60_000,
        started: Date.now(),
        pollMs: 5,
        failure: async () => 'the reboot failed on gw-1 (d-1): shutdown: exit 1',
      }),
    ).rejects.toThrow('the reboot failed on gw-1 (d-1): shutdown: exit 1');
  });

  it('gives up with E_TIMEOUT naming the phase', async () => {
    const c = await client([{ online: false }]);
    await expect(
      waitForPowerCycle(c, before, { comeBack: true, timeoutMs: 30, started: Date.now(), pollMs: 5 }),
    ).rejects.toMatchObject({ code: 'E_TIMEOUT', message: 'gw-1 (d-1) did not come back online within 0s' });
  });
});
