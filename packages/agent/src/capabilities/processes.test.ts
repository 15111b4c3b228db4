/**
 * `processes/list` and `processes/signal` against this machine's real /proc and real
 * child processes (plus a crafted /proc tree where a process vanishes between the
 * reads of its files, which a live system cannot stage on demand).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { commands, type OutpostError, type ProcessList, parse } from '@outpost/protocol';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { failure, runAction } from '../../test/actions.js';
import { isDead } from '../../test/proc.js';
import { agentConfig } from '../config.js';
import { silentLogger } from '../log.js';
import type { CommandContext } from './capability.js';
import { createProcessesCapability, type ProcessesOptions } from './processes.js';

const dir = mkdtempSync(join(tmpdir(), 'outpost-proc-'));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

const ctx: CommandContext = {
  commandId: 'c1',
  emit: () => {},
  signal: new AbortController().signal,
  log: silentLogger,
  config: agentConfig({ stateDir: dir }),
};

/** Runs an action the way the router does: args validated first, the result checked against its schema. */
async function run(name: 'list' | 'signal', args: unknown, options?: ProcessesOptions): Promise<any> {
  return runAction(createProcessesCapability(options), `processes/${name}`, args, ctx);
}

/** A child that lives until killed; detached so it is not in the test runner's process group. */
function child(argv: string[]): ChildProcess {
  const [program, ...rest] = argv as [string, ...string[]];
  const c = spawn(program, rest, { stdio: 'ignore', detached: true });
  children.push(c);
  return c;
}

describe('processes/list on the real /proc', () => {
  it('lists this process with its parent, user, memory, threads, start time and command line', async () => {
    const list: ProcessList = await run('list', { pids: [process.pid], fast: true });
    expect(list.total).toBe(1);
    const me = list.processes[0]!;
    expect(me).toMatchObject({ pid: process.pid, ppid: process.ppid, uid: process.getuid?.() });
    expect(me.user).toBe(process.getuid?.() === 0 ? 'root' : me.user);
    expect(me.rssBytes).toBeGreaterThan(10 * 1024 * 1024);
    expect(me.mem).toBeGreaterThan(0);
    expect(me.threads).toBeGreaterThan(1);
    expect(me.cmdline).toContain(process.argv0.split('/').pop() ?? 'node');
    // Started before this test ran, and not before the machine booted.
    expect(Date.parse(me.startedAt)).toBeLessThanOrEqual(Date.now());
    expect(Date.parse(me.startedAt)).toBeGreaterThan(Date.now() - 7 * 86_400_000);
    expect(list.memTotalBytes).toBeGreaterThan(me.rssBytes);
  });

  it('samples CPU between two readings: a busy loop uses CPU, a sleeping process does not', async () => {
    const busy = child(['sh', '-c', 'while :; do :; done']);
    const idle = child(['sleep', '1000']);
    const list: ProcessList = await run('list', { pids: [busy.pid!, idle.pid!], sampleMs: 400, sort: 'pid' });
    expect(list.sampleMs).toBeGreaterThanOrEqual(400);
    const byPid = new Map(list.processes.map((p) => [p.pid, p]));
    expect(byPid.get(busy.pid!)?.cpu).toBeGreaterThan(0);
    expect(byPid.get(idle.pid!)?.cpu).toBe(0);
    expect(byPid.get(idle.pid!)).toMatchObject({ name: 'sleep', cmdline: 'sleep 1000', state: 'S' });
    // fast: lifetime averages, no sample.
    const fast: ProcessList = await run('list', { pids: [busy.pid!], fast: true });
    expect(fast.sampleMs).toBe(0);
    expect(fast.processes[0]?.cpu).toBeGreaterThan(0);
    busy.kill('SIGKILL');
  });

  it('filters by a substring of the command line, by user and by pid, and reports the total before the limit', async () => {
    const marker = String(900_000 + Math.floor(Math.random() * 99_999));
    const a = child(['sleep', `${marker}1`]);
    const b = child(['sleep', `${marker}2`]);
    const found: ProcessList = await run('list', { filter: marker, fast: true, sort: 'pid' });
    expect(found.processes.map((p) => p.pid).sort()).toEqual([a.pid, b.pid].sort());
    const limited: ProcessList = await run('list', { filter: marker, fast: true, limit: 1 });
    expect(limited).toMatchObject({ total: 2, truncated: false });
    expect(limited.processes).toHaveLength(1);
    const me = String(process.getuid?.() ?? 0);
    const mine: ProcessList = await run('list', { filter: marker, user: me, fast: true });
    expect(mine.total).toBe(2);
    const nobody: ProcessList = await run('list', { filter: marker, user: 'no-such-user', fast: true });
    expect(nobody.total).toBe(0);
    const upper: ProcessList = await run('list', { filter: 'SLEEP', pids: [a.pid!], fast: true });
    expect(upper.total).toBe(1);
  });

  it('sorts by each key in both orders, ties broken by pid', async () => {
    for (const sort of ['cpu', 'mem', 'pid', 'name', 'start'] as const) {
      for (const order of ['asc', 'desc'] as const) {
        const list: ProcessList = await run('list', { sort, order, fast: true, limit: 1000 });
        const key = (p: ProcessList['processes'][number]) =>
          sort === 'mem' ? p.rssBytes : sort === 'start' ? Date.parse(p.startedAt) : sort === 'name' ? p.name : p[sort];
        const keys = list.processes.map(key);
        const sorted = [...keys].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
        if (order === 'desc') sorted.reverse();
        // Start times are whole ticks apart at most; compare at the resolution the answer carries.
        expect(keys, `${sort} ${order}`).toEqual(sorted);
      }
    }
  });

  it('keeps listing while processes come and go between its reads', async () => {
    // A shell starting and ending short-lived processes as fast as it can, while we list.
    const churn = child(['sh', '-c', 'while :; do /bin/true; done']);
    for (let i = 0; i < 5; i++) {
      const list: ProcessList = await run('list', { sampleMs: 50, limit: 1000 });
      expect(list.processes.length).toBeGreaterThan(0);
    }
    churn.kill('SIGKILL');
  });

  it('refuses a sort key, order or limit outside the protocol (E_BAD_ARGS)', () => {
    for (const args of [{ sort: 'rss' }, { order: 'up' }, { limit: 0 }, { limit: 1001 }, { sampleMs: 10 }]) {
      expect(() => parse(commands['processes/list'].args, args, 'args'), JSON.stringify(args)).toThrow(/args/);
    }
  });
});

describe('processes/list on a crafted /proc', () => {
  const root = join(dir, 'proc');
  const stat = (pid: number, comm: string, ticks: number, start: number) =>
    `${pid} (${comm}) S 1 ${pid} ${pid} 0 -1 4194560 100 0 0 0 ${ticks} 0 0 0 20 0 1 0 ${start} 1000 50`;
  const status = (uid: number, rssKb: number) =>
    `Name:\tx\nUid:\t${uid}\t${uid}\t${uid}\t${uid}\nVmRSS:\t${rssKb} kB\nThreads:\t3\n`;
  function proc(pid: number, files: Record<string, string>) {
    mkdirSync(join(root, String(pid)), { recursive: true });
    for (const [name, text] of Object.entries(files)) writeFileSync(join(root, String(pid), name), text);
  }
  mkdirSync(root, { recursive: true });
  writeFileSync(join(root, 'uptime'), '1000.00 1800.00\n');
  writeFileSync(join(root, 'stat'), 'cpu  1 2 3\nbtime 1700000000\n');
  writeFileSync(join(root, 'meminfo'), 'MemTotal:        1000000 kB\nMemFree: 1 kB\n');
  const passwd = join(dir, 'passwd');
  writeFileSync(passwd, 'root:x:0:0:root:/root:/bin/sh\npi:x:1000:1000::/home/pi:/bin/sh\n');
  // A name with spaces and parentheses: fields are counted from the last ')'.
  proc(100, { stat: stat(100, 'odd) (name', 500, 1000), status: status(1000, 2048), cmdline: 'odd\0--flag\0' });
  // Gone after its stat was read: no status, no cmdline.
  proc(101, { stat: stat(101, 'gone', 10, 2000) });
  // Gone before its cmdline was read.
  proc(102, { stat: stat(102, 'half', 10, 2000), status: status(0, 10) });
  // A kernel thread: empty cmdline, no VmRSS; a uid /etc/passwd does not name.
  proc(103, {
    stat: stat(103, 'kworker/0:1', 0, 5),
    status: 'Uid:\t4242\t4242\t4242\t4242\nThreads:\t1\n',
    cmdline: '',
  });

  it('leaves out processes that vanished between reads, and parses odd names and kernel threads', async () => {
    const list: ProcessList = await run('list', { fast: true, sort: 'pid' }, { procRoot: root, passwdPath: passwd });
    expect(list.processes.map((p) => p.pid)).toEqual([100, 103]);
    const [odd, kthread] = list.processes;
    expect(odd).toMatchObject({
      name: 'odd) (name',
      user: 'pi',
      uid: 1000,
      cmdline: 'odd --flag',
      rssBytes: 2048 * 1024,
    });
    expect(odd?.mem).toBe(0.2);
    // 500 ticks over (1000 s × HZ − 1000 ticks) of life, HZ being this machine's.
    expect(odd?.cpu).toBeGreaterThan(0);
    expect(kthread).toMatchObject({ name: 'kworker/0:1', user: '4242', cmdline: '[kworker/0:1]', rssBytes: 0 });
    expect(Date.parse(kthread!.startedAt)).toBeGreaterThanOrEqual(1_700_000_000_000);
  });

  it('re-reads /etc/passwd when it changes', async () => {
    const cap = { procRoot: root, passwdPath: passwd };
    expect((await run('list', { pids: [103], fast: true }, cap)).processes[0].user).toBe('4242');
    writeFileSync(passwd, 'root:x:0:0::/root:/bin/sh\nsvc:x:4242:4242::/:/bin/false\n');
    const later = new Date(Date.now() + 5000);
    const { utimesSync } = await import('node:fs');
    utimesSync(passwd, later, later);
    expect((await run('list', { pids: [103], fast: true }, cap)).processes[0].user).toBe('svc');
  });

  it('cuts a long command line at 512 characters and says so with …', async () => {
    proc(104, { stat: stat(104, 'long', 1, 10), status: status(0, 1), cmdline: `${'x'.repeat(2000)}\0` });
    const list: ProcessList = await run('list', { pids: [104], fast: true }, { procRoot: root, passwdPath: passwd });
    expect(list.processes[0]?.cmdline).toBe(`${'x'.repeat(512)}…`);
  });
});

describe('processes/signal', () => {
  it('sends TERM to a process and reports it as it was, and that it ended', async () => {
    const c = child(['sleep', '1001']);
    const r = await run('signal', { pid: c.pid, signal: 'TERM' });
    expect(r).toMatchObject({ pid: c.pid, signal: 'TERM', name: 'sleep', cmdline: 'sleep 1001', gone: true });
    await vi.waitFor(() => expect(isDead(c.pid!)).toBe(true));
  });

  it('STOP and CONT change the state and do not wait for an end', async () => {
    const c = child(['sleep', '1002']);
    expect(await run('signal', { pid: c.pid, signal: 'STOP' })).toMatchObject({ gone: null });
    await vi.waitFor(async () => {
      const list = await run('list', { pids: [c.pid], fast: true });
      expect(list.processes[0]?.state).toBe('T');
    });
    expect(await run('signal', { pid: c.pid, signal: 'CONT' })).toMatchObject({ gone: null });
    expect(isDead(c.pid!)).toBe(false);
  });

  it('reports a process that ignores TERM as still running after the wait', async () => {
    const c = child(['sh', '-c', "trap '' TERM; while :; do sleep 1; done"]);
    await new Promise((r) => setTimeout(r, 200)); // let the shell install its trap
    const r = await run('signal', { pid: c.pid, signal: 'TERM', waitMs: 300 });
    expect(r.gone).toBe(false);
    expect((await run('signal', { pid: c.pid, signal: 'KILL' })).gone).toBe(true);
  });

  it('refuses PID 1 with E_DENIED', async () => {
    const err = await failure(run('signal', { pid: 1, signal: 'KILL' }));
    expect(err.code).toBe('E_DENIED');
    expect(err.message).toContain('PID 1');
    expect((await failure(run('signal', { pid: 0 }))).code).toBe('E_DENIED');
  });

  it('refuses the agent itself and its parent with E_DENIED', async () => {
    const self = await failure(run('signal', { pid: process.pid, signal: 'TERM' }));
    expect(self).toMatchObject({
      code: 'E_DENIED',
      message: `refusing to signal pid ${process.pid}: it is the agent itself`,
    });
    const parent = await failure(run('signal', { pid: process.ppid, signal: 'KILL' }));
    expect(parent.code).toBe('E_DENIED');
    expect(parent.message).toMatch(/parent of the agent|process group/);
    expect(isDead(process.ppid)).toBe(false);
  });

  it('answers E_NOT_FOUND for a pid no process has', async () => {
    // PID_MAX_LIMIT itself is never a pid: pids are below pid_max, which is at most that.
    const err = await failure(run('signal', { pid: 4_194_304, signal: 'TERM' }));
    expect(err).toMatchObject({ code: 'E_NOT_FOUND', message: 'no process with pid 4194304' });
  });

  it('refuses an unknown signal name, a negative pid and a signal by number (E_BAD_ARGS)', () => {
    for (const args of [
      { pid: 5, signal: 'SEGV' },
      { pid: 5, signal: 'SIGTERM' },
      { pid: 5, signal: 9 },
      { pid: -5 },
    ]) {
      let err: unknown;
      try {
        parse(commands['processes/signal'].args, args, 'args');
      } catch (e) {
        err = e;
      }
      expect((err as OutpostError)?.code, JSON.stringify(args)).toBe('E_BAD_ARGS');
    }
  });
});
