/**
 * Supervised apps end to end: a real server, a real agent process, real app
 * processes. Install over the API, kill an app and see it come back, a crash
 * loop held in backoff, stops that reap the whole process group, names with
 * metacharacters refused, apps that follow the agent's own stops and crashes,
 * and the CLI.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useOnlineDevice } from '../fixture.js';
import { onlineAgent, runCli, spawnAgent, tempDir, waitUntil } from '../helpers.js';

const fx = useOnlineDevice();

const apps = (suffix = '') => `/devices/${fx.deviceId}/apps${suffix}`;
const status = async (name: string) => (await fx.ts.api('GET', apps(`/${name}`))).body;
const install = (body: Record<string, unknown>) => fx.ts.api('POST', apps(), body);
const appLogs = async (name: string) =>
  (await fx.ts.api('GET', `/devices/${fx.deviceId}/logs?source=app:${name}&lines=100`)).body.lines.map(
    (l: any) => l.text,
  );

/** Live (non-zombie) processes in group `pgid`, read from /proc. */
function groupMembers(pgid: number): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (f[2] === String(pgid) && f[0] !== 'Z') out.push(Number(p));
    } catch {
      // gone while we looked
    }
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return groupMembers(pid).length > 0 || readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return false;
  }
}

describe('supervised apps on a real agent', () => {
  it('installs a script app that runs with a pid, and restarts it after SIGKILL with its output in the logs', async () => {
    const r = await install({
      name: 'ticker',
      script: 'echo "tick from $$"; echo "to stderr" >&2; while true; do sleep 1; done',
      interpreter: 'sh',
    });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ name: 'ticker', state: 'running', restarts: 0, autostart: true, lastExit: null });
    const pid = r.body.pid as number;
    expect(pid).toBeGreaterThan(1);
    expect(alive(pid)).toBe(true);
    expect(new Date(r.body.installedAt).getTime()).not.toBeNaN();

    process.kill(pid, 'SIGKILL');
    const back = await waitUntil(async () => {
      const s = await status('ticker');
      return s.state === 'running' && s.restarts === 1 ? s : null;
    }, 'ticker restarted');
    expect(back.pid).not.toBe(pid);
    expect(back.lastExit).toMatchObject({ code: null, signal: 'SIGKILL' });
    const lines = await waitUntil(async () => {
      const l = await appLogs('ticker');
      return l.filter((t: string) => t.startsWith('tick from')).length === 2 ? l : null;
    }, 'output of both runs');
    expect(lines).toContain(`tick from ${pid}`);
    expect(lines).toContain(`tick from ${back.pid}`);
    expect(lines).toContain('to stderr');
    const list = (await fx.ts.api('GET', apps())).body.items;
    expect(list.map((a: any) => a.name)).toContain('ticker');
  });

  it('holds an app that exits at once in backoff: a few restarts over seconds, never a busy loop', async () => {
    expect((await install({ name: 'crasher', script: 'echo boom; exit 1', interpreter: 'sh' })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 4500));
    const s = await status('crasher');
    expect(['backoff', 'crashed', 'starting', 'running']).toContain(s.state);
    // 1 s doubling: restarts near 1, 3 and 7 s; allow slack for a slow machine, but not a loop.
    expect(s.restarts).toBeGreaterThanOrEqual(1);
    expect(s.restarts).toBeLessThanOrEqual(4);
    expect(s.lastExit).toMatchObject({ code: 1 });
    const booms = (await appLogs('crasher')).filter((t: string) => t === 'boom').length;
    expect(booms).toBeGreaterThanOrEqual(s.restarts + 1); // one more run may have started since
    expect(booms).toBeLessThanOrEqual(s.restarts + 2);
    expect((await fx.ts.api('DELETE', apps('/crasher'))).body).toEqual({ name: 'crasher', removed: true });
    expect((await fx.ts.api('GET', apps('/crasher'))).body.error.code).toBe('E_NOT_FOUND');
  });

  it('stops the whole process group, including children that ignore SIGTERM', async () => {
    const r = await install({
      name: 'family',
      script: "trap '' TERM; sleep 300 & sleep 300 & echo ready; wait",
      interpreter: 'sh',
    });
    const pgid = r.body.pid as number;
    await waitUntil(() => groupMembers(pgid).length === 3, 'the app and its two children');
    const stopped = await fx.ts.api('POST', apps('/family/stop'));
    expect(stopped.status).toBe(200);
    expect(stopped.body).toMatchObject({ state: 'stopped', pid: null });
    expect(groupMembers(pgid)).toEqual([]);
    const started = await fx.ts.api('POST', apps('/family/start'));
    expect(started.body).toMatchObject({ state: 'running', restarts: 0 });
    expect((await fx.ts.api('POST', apps('/family/restart'))).body.pid).not.toBe(started.body.pid);
  });

  it('refuses app names with shell metacharacters at the API and on the device', async () => {
    for (const name of ['x;rm -rf /', '$(reboot)', '../../etc', 'a b', 'A']) {
      const r = await install({ name, script: 'true', interpreter: 'sh' });
      expect(r.status, name).toBe(400);
      expect(r.body.error.code).toBe('E_BAD_ARGS');
    }
    expect((await fx.ts.api('POST', apps(`/${encodeURIComponent('x;id')}/start`))).status).toBe(400);
    // Through the generic commands route the catalogue's pattern refuses it before it is sent
    // (the agent checks it again: packages/agent/src/apps/supervisor.test.ts).
    const sent = await fx.ts.api('POST', `/devices/${fx.deviceId}/commands?wait=true`, {
      capability: 'apps',
      action: 'start',
      args: { name: 'x`id`' },
    });
    expect(sent.status).toBe(400);
    expect(sent.body.error.code).toBe('E_BAD_ARGS');
    expect((await install({ name: 'bash-app', script: 'true', interpreter: 'zsh' })).status).toBe(400);
  });

  it("stops apps when the agent stops, ends a crashed agent's leftovers, and autostarts them again", async () => {
    const { agent: own, device: d } = await onlineAgent(fx.ts);
    const path = `/devices/${d.id}/apps`;
    const first = (await fx.ts.api('POST', path, { name: 'keeper', script: 'exec sleep 300', interpreter: 'sh' })).body;
    expect(first.state).toBe('running');
    await own.stop('SIGTERM');
    expect(alive(first.pid)).toBe(false);

    const again = spawnAgent(fx.ts, { stateDir: own.stateDir });
    const second = await waitUntil(async () => {
      const s = (await fx.ts.api('GET', `${path}/keeper`)).body;
      return s.state === 'running' ? s : null;
    }, 'keeper autostarted');
    // A crashed agent leaves its apps behind; the next one finds them by pid and start time and ends them.
    await again.stop('SIGKILL');
    expect(alive(second.pid)).toBe(true);
    const third = spawnAgent(fx.ts, { stateDir: own.stateDir });
    try {
      const s = await waitUntil(async () => {
        const r = await fx.ts.api('GET', `${path}/keeper`);
        return r.status === 200 && r.body.state === 'running' && r.body.pid !== second.pid ? r.body : null;
      }, 'keeper started by the third agent');
      expect(alive(second.pid)).toBe(false);
      expect(alive(s.pid)).toBe(true);
    } finally {
      await third.stop();
    }
  });

  it('works from the CLI: install, ls, status, logs, stop, rm', async () => {
    const dir = tempDir();
    const script = join(dir, 'hello.py');
    writeFileSync(
      script,
      'import os, sys, time\nprint("hello", sys.argv[1], os.environ["WHO"], flush=True)\ntime.sleep(300)\n',
    );
    const inst = await runCli(fx.ts, [
      'apps',
      'install',
      fx.deviceId,
      'hello',
      '--script',
      script,
      '--interpreter',
      'python3',
      '--env',
      'WHO=world',
      '--',
      'there',
    ]);
    expect(inst.stderr).toBe('');
    expect(inst.code).toBe(0);
    expect(inst.stdout).toMatch(/^installed app hello on d-\w+: running \(pid \d+, up \d+s\)\n$/);
    const ls = await runCli(fx.ts, ['apps', 'ls', fx.deviceId]);
    expect(ls.stdout).toMatch(/^NAME +STATE +PID +RESTARTS/);
    expect(ls.stdout).toMatch(/\nhello +running +\d+ +0 /);
    await waitUntil(
      async () => (await runCli(fx.ts, ['apps', 'logs', fx.deviceId, 'hello'])).stdout === 'hello there world\n',
      'app output',
    );
    const st = await runCli(fx.ts, ['apps', 'status', fx.deviceId, 'hello', '--json']);
    expect(JSON.parse(st.stdout)).toMatchObject({ name: 'hello', interpreter: 'python3', env: ['WHO'] });
    expect((await runCli(fx.ts, ['apps', 'stop', fx.deviceId, 'hello'])).stdout).toBe('app hello: stopped\n');
    const bad = await runCli(fx.ts, ['apps', 'start', fx.deviceId, 'no;pe']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/is not an app name/);
    const missing = await runCli(fx.ts, ['apps', 'install', fx.deviceId, 'x', '--script', script]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--script needs --interpreter/);
    expect((await runCli(fx.ts, ['apps', 'rm', fx.deviceId, 'hello'])).code).toBe(2); // no --yes, stdin not a terminal
    expect((await runCli(fx.ts, ['apps', 'rm', fx.deviceId, 'hello', '--yes'])).stdout).toBe(
      `removed app hello from ${fx.deviceId}\n`,
    );
  });
});
