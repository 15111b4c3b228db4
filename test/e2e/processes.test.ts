/**
 * Processes end to end: a real server, a real agent process reading this machine's
 * /proc, real processes to list and signal, over the HTTP API and the real CLI.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isDead } from '../../packages/agent/test/proc.js';
import { useOnlineDevice } from '../fixture.js';
import { asAdmin, bearer, CLI_BIN, request, runCli, sendCommand, tempDir, userToken, waitUntil } from '../helpers.js';

let viewerToken: string;
const children: ChildProcess[] = [];
/** Who runs this test, and so the agent and every process it starts. */
const me = userInfo().username;
/** A number no other process on the machine has in its command line. */
const marker = String(800_000_000 + Math.floor(Math.random() * 99_999_999));

/** A `sleep` the agent can see and signal; detached, so it is not in this test's process group. */
function sleeper(suffix: string): ChildProcess {
  const c = spawn('sleep', [`${marker}${suffix}`], { stdio: 'ignore', detached: true });
  children.push(c);
  return c;
}

const fx = useOnlineDevice({
  setup: async ({ ts }) => {
    viewerToken = await userToken(ts, 'vera', 'viewer');
  },
  teardown: () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  },
});

const signal = (pid: number | string, body: unknown, token = fx.ts.token) =>
  request(fx.ts, 'POST', `/devices/${fx.deviceId}/processes/${pid}/signal`, { body, headers: bearer(token) });

describe('GET /devices/:device/processes', () => {
  it('lists the processes of the device, the agent itself among them, busiest first', async () => {
    const r = await fx.ts.api('GET', `/devices/${fx.deviceId}/processes?limit=1000`);
    expect(r.status).toBe(200);
    expect(r.body.total).toBeGreaterThan(3);
    expect(r.body.sampleMs).toBeGreaterThan(0);
    const own = r.body.processes.find((p: any) => p.pid === fx.agent.proc.pid);
    expect(own).toMatchObject({ ppid: process.pid, state: expect.stringMatching(/^[RS]$/) });
    expect(own.cmdline).toContain('outpost-agent');
    const cpus = r.body.processes.map((p: any) => p.cpu);
    expect(cpus).toEqual([...cpus].sort((a, b) => b - a));
  });

  it('filters by command line, pid list and user, sorts, and limits', async () => {
    const a = sleeper('1');
    const b = sleeper('2');
    const found = await fx.ts.api(
      'GET',
      `/devices/${fx.deviceId}/processes?filter=${marker}&sort=pid&order=asc&fast=true`,
    );
    expect(found.body.processes.map((p: any) => p.pid)).toEqual([a.pid, b.pid].sort((x, y) => x! - y!));
    expect(found.body.processes[0]).toMatchObject({ name: 'sleep', user: me, cpu: 0 });
    const byPid = await fx.ts.api('GET', `/devices/${fx.deviceId}/processes?pid=${b.pid},${a.pid}&limit=1&fast=true`);
    expect(byPid.body).toMatchObject({ total: 2 });
    expect(byPid.body.processes).toHaveLength(1);
    const nobody = await fx.ts.api('GET', `/devices/${fx.deviceId}/processes?filter=${marker}&user=nobody&fast=true`);
    expect(nobody.body.total).toBe(0);
  });

  it('refuses a bad query before anything reaches the device (400 E_BAD_ARGS)', async () => {
    for (const q of ['sort=rss', 'limit=0', 'limit=5000', 'pid=1;2', 'pid=-1', 'order=up', 'user=$(id)']) {
      const r = await fx.ts.api('GET', `/devices/${fx.deviceId}/processes?${q}`);
      expect(r.status, q).toBe(400);
      expect(r.body.error.code, q).toBe('E_BAD_ARGS');
    }
  });

  it('a viewer may list, not signal', async () => {
    const c = sleeper('3');
    const list = await request(fx.ts, 'GET', `/devices/${fx.deviceId}/processes?fast=true&limit=1`, {
      headers: bearer(viewerToken),
    });
    expect(list.status).toBe(200);
    const denied = await signal(c.pid!, { signal: 'KILL' }, viewerToken);
    expect(denied.status).toBe(403);
    expect(denied.body.error.code).toBe('E_DENIED');
    expect(isDead(c.pid!)).toBe(false);
  });
});

describe('POST /devices/:device/processes/:pid/signal', () => {
  it('sends TERM, answers with the process as it was and that it ended, and is audited', async () => {
    const c = sleeper('4');
    const r = await signal(c.pid!, { signal: 'TERM' });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      pid: c.pid,
      signal: 'TERM',
      name: 'sleep',
      cmdline: `sleep ${marker}4`,
      user: me,
      gone: true,
    });
    await waitUntil(() => isDead(c.pid!), 'sleep gone');
    const audit = await asAdmin(fx.ts, 'GET', `/audit?action=process.signal&device=${fx.deviceId}`);
    expect(audit.items.at(-1)).toMatchObject({
      action: 'process.signal',
      deviceId: fx.deviceId,
      details: { command: 'processes/signal', args: { pid: c.pid, signal: 'TERM' } },
    });
  });

  it('takes TERM when no signal is named, and STOP/CONT without waiting', async () => {
    const c = sleeper('5');
    expect((await signal(c.pid!, { signal: 'STOP' })).body).toMatchObject({ signal: 'STOP', gone: null });
    expect((await signal(c.pid!, { signal: 'CONT' })).body).toMatchObject({ signal: 'CONT', gone: null });
    // No body at all: TERM, the default.
    const bare = await request(fx.ts, 'POST', `/devices/${fx.deviceId}/processes/${c.pid}/signal`, {
      headers: bearer(fx.ts.token),
    });
    expect(bare.body).toMatchObject({ signal: 'TERM', gone: true });
  });

  it('refuses PID 1 with 403 E_DENIED and a clear reason', async () => {
    const r = await signal(1, { signal: 'KILL' });
    expect(r.status).toBe(403);
    expect(r.body.error).toEqual({
      code: 'E_DENIED',
      message: 'refusing to signal PID 1 (init): it would take the whole device down',
    });
  });

  it('refuses the agent itself and its parent (this test) with 403 E_DENIED; the agent stays up', async () => {
    const self = await signal(fx.agent.proc.pid!, { signal: 'KILL' });
    expect(self.status).toBe(403);
    expect(self.body.error.message).toBe(`refusing to signal pid ${fx.agent.proc.pid}: it is the agent itself`);
    const parent = await signal(process.pid, { signal: 'TERM' });
    expect(parent.status).toBe(403);
    expect(parent.body.error.message).toMatch(/parent of the agent|process group/);
    expect((await fx.ts.device(fx.deviceId)).online).toBe(true);
    expect(isDead(fx.agent.proc.pid!)).toBe(false);
  });

  it('refuses an unknown signal name with 400 E_BAD_ARGS, on the route and as a raw command', async () => {
    const c = sleeper('6');
    const r = await signal(c.pid!, { signal: 'SEGV' });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('E_BAD_ARGS');
    // As a raw command the server checks the catalogue's schema too (the agent's own check: processes.test.ts).
    const raw = await sendCommand(fx.ts, fx.deviceId, 'processes', 'signal', { pid: c.pid, signal: 'SEGV' });
    expect(raw.status).toBe(400);
    expect(raw.body.error.code).toBe('E_BAD_ARGS');
    expect(isDead(c.pid!)).toBe(false);
  });

  it('answers 404 E_NOT_FOUND for a pid no process has', async () => {
    const r = await signal(4_194_304, { signal: 'TERM' });
    expect(r.status).toBe(404);
    expect(r.body.error).toEqual({ code: 'E_NOT_FOUND', message: 'no process with pid 4194304' });
  });

  it('refuses a pid that is not a number (400 E_BAD_ARGS)', async () => {
    for (const pid of ['abc', '-1', '1.5', '99999999']) {
      const r = await signal(pid, { signal: 'TERM' });
      expect(r.status, pid).toBe(400);
      expect(r.body.error.code, pid).toBe('E_BAD_ARGS');
    }
  });
});

describe('the CLI', () => {
  it('ps lists with a filter, as a table and as JSON', async () => {
    const c = sleeper('7');
    const table = await runCli(fx.ts, ['ps', fx.deviceId, '--filter', `${marker}7`]);
    expect(table.code).toBe(0);
    const [header, row] = table.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^PID\s+USER\s+S\s+%CPU\s+%MEM\s+RSS\s+THR\s+START\s+COMMAND$/);
    expect(row).toMatch(new RegExp(`^${c.pid}\\s+${me}\\s+S\\s+0\\.0\\s+.*sleep ${marker}7$`));
    const json = await runCli(fx.ts, ['ps', fx.deviceId, '--filter', `${marker}7`, '--json']);
    expect(JSON.parse(json.stdout).processes[0]).toMatchObject({ pid: c.pid, cmdline: `sleep ${marker}7` });
  });

  it('top shows a summary line and the busiest processes', async () => {
    const r = await runCli(fx.ts, ['top', fx.deviceId, '--limit', '5', '--sort', 'mem']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/ \d+ processes, top 5 +\d+ CPUs .*CPU % over \d+ ms/);
    expect(lines[2]).toMatch(/^PID\s+USER/);
    expect(lines).toHaveLength(3 + 5);
  });

  it('top --watch refreshes until interrupted, then exits 0', async () => {
    const home = tempDir('outpost-home-');
    const proc = spawn(process.execPath, [CLI_BIN, 'top', fx.deviceId, '--watch', '--interval', '1', '--limit', '3'], {
      env: {
        PATH: process.env.PATH,
        HOME: home,
        XDG_CONFIG_HOME: join(home, '.config'),
        OUTPOST_URL: `https://127.0.0.1:${fx.ts.server.httpPort}`,
        OUTPOST_TOKEN: fx.ts.token,
        OUTPOST_CA: fx.ts.server.caFile,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
    await waitUntil(() => (out.match(/^PID\s+USER/gm) ?? []).length >= 2, 'two refreshes', 60_000);
    proc.kill('SIGINT');
    expect(await exited).toBe(0);
  });

  it('kill asks first and, without a terminal, refuses unless --yes', async () => {
    const c = sleeper('8');
    const refused = await runCli(fx.ts, ['kill', fx.deviceId, String(c.pid)]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('refusing to send TERM without --yes when stdin is not a terminal');
    expect(isDead(c.pid!)).toBe(false);
    const done = await runCli(fx.ts, ['kill', fx.deviceId, String(c.pid), '--signal', 'kill', '--yes']);
    expect(done.code).toBe(0);
    expect(done.stdout.trim()).toBe(
      `sent KILL to ${c.pid} (sleep ${marker}8, user ${me}) on ${fx.deviceId}: it has ended`,
    );
  });

  it('kill refuses an unknown signal (exit 2) and reports a refused pid as one line', async () => {
    const bad = await runCli(fx.ts, ['kill', fx.deviceId, '4242', '--signal', 'SEGV', '--yes']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("unknown signal 'SEGV'");
    const init = await runCli(fx.ts, ['kill', fx.deviceId, '1', '--yes']);
    expect(init.code).toBe(1);
    expect(init.stderr.trim()).toBe(
      'error: refusing to signal PID 1 (init): it would take the whole device down (E_DENIED)',
    );
  });
});
