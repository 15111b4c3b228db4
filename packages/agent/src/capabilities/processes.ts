/**
 * `processes/list` and `processes/signal` (docs/protocol.md §Processes). The list
 * reads /proc twice, `sampleMs` apart, and gives each process's CPU % as the
 * ticks it used in between over the ticks that passed (percent of one CPU, like
 * top); with `fast`, or for a process born during the sample, over its lifetime.
 * Signals go to one pid only, never to the agent, its parents or its group leader.
 */
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  MAX_PAYLOAD_BYTES,
  OutpostError,
  PROCESS_CMDLINE_MAX,
  PROCESS_LIST_DEFAULT_LIMIT,
  PROCESS_SAMPLE_DEFAULT_MS,
  type ProcessInfo,
  type ProcessList,
  type ProcessListArgs,
  type ProcessSignal,
  type ProcessSignalArgs,
  type ProcessSignalResult,
} from '@outpost/protocol';
import { action, type Capability, type CommandContext } from './capability.js';
import { formatCmdline, ProcFs, type ProcStat } from './procfs.js';

/** Reads of /proc files in flight at once. */
const BATCH = 64;
/** The answer must fit one MQTT payload with room for the envelope. */
const RESULT_BUDGET_BYTES = MAX_PAYLOAD_BYTES - 4096;
const DEFAULT_WAIT_MS = 2000;
const WAITED_SIGNALS: ReadonlySet<ProcessSignal> = new Set(['TERM', 'KILL']);

export interface ProcessesOptions {
  /** Where proc(5) is mounted (tests point it at a crafted tree). */
  procRoot?: string;
  passwdPath?: string;
}

/** Runs `fn` over `items`, `BATCH` at a time, keeping the defined answers. */
async function mapBatched<T, R>(items: readonly T[], fn: (item: T) => Promise<R | undefined>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += BATCH) {
    for (const r of await Promise.all(items.slice(i, i + BATCH).map(fn))) if (r !== undefined) out.push(r);
  }
  return out;
}

const round1 = (n: number): number => Math.round(n * 10) / 10;

interface Row {
  info: ProcessInfo;
  starttime: number;
}

function compare(sort: NonNullable<ProcessListArgs['sort']>): (a: Row, b: Row) => number {
  switch (sort) {
    case 'cpu':
      return (a, b) => a.info.cpu - b.info.cpu;
    case 'mem':
      return (a, b) => a.info.rssBytes - b.info.rssBytes;
    case 'pid':
      return (a, b) => a.info.pid - b.info.pid;
    case 'name':
      return (a, b) => (a.info.name < b.info.name ? -1 : a.info.name > b.info.name ? 1 : 0);
    case 'start':
      return (a, b) => a.starttime - b.starttime;
  }
}

/** Sorts, ties broken by pid (ascending) so the order is stable between calls. */
export function sortRows(rows: Row[], sort: NonNullable<ProcessListArgs['sort']>, order: 'asc' | 'desc'): Row[] {
  const by = compare(sort);
  const sign = order === 'asc' ? 1 : -1;
  return rows.sort((a, b) => sign * by(a, b) || a.info.pid - b.info.pid);
}

/** The longest prefix of `items` whose JSON fits `budget` bytes next to the rest of the answer. */
export function fitting<T>(items: readonly T[], budget: number): T[] {
  let used = 2;
  const out: T[] = [];
  for (const item of items) {
    used += Buffer.byteLength(JSON.stringify(item)) + 1;
    if (used > budget) break;
    out.push(item);
  }
  return out;
}

export async function listProcesses(procfs: ProcFs, args: ProcessListArgs, signal?: AbortSignal): Promise<ProcessList> {
  const hz = await procfs.clockTicks();
  const sort = args.sort ?? 'cpu';
  const order = args.order ?? (sort === 'pid' || sort === 'name' ? 'asc' : 'desc');
  const sampleMs = args.fast ? 0 : (args.sampleMs ?? PROCESS_SAMPLE_DEFAULT_MS);

  const wanted = args.pids ? new Set(args.pids) : undefined;
  const allPids = async () => (await procfs.pids()).filter((p) => !wanted || wanted.has(p));

  // First reading: CPU ticks only, keyed by pid and start time (a reused pid is another process).
  const before = new Map<number, ProcStat>();
  let t1 = 0;
  if (sampleMs > 0) {
    t1 = performance.now();
    for (const s of await mapBatched(await allPids(), (pid) => procfs.stat(pid))) before.set(s.pid, s);
    await sleep(sampleMs, undefined, signal ? { signal } : {}).catch(() => {
      throw new OutpostError('E_INTERNAL', 'agent stopped while the command was running');
    });
  }
  const [bootTime, memTotal, uptime, users] = await Promise.all([
    procfs.bootTime(),
    procfs.memTotalBytes(),
    procfs.uptime(),
    procfs.userTable(),
  ]);
  const t2 = performance.now();
  const elapsedTicks = ((t2 - t1) / 1000) * hz;
  const filter = args.filter?.toLowerCase();

  const rows = await mapBatched(await allPids(), async (pid): Promise<Row | undefined> => {
    const [st, status, rawCmdline] = await Promise.all([procfs.stat(pid), procfs.status(pid), procfs.cmdline(pid)]);
    // Gone between reads (any of the three missing): left out, never an error.
    if (!st || !status || !rawCmdline) return undefined;
    const user = users.get(status.uid) ?? String(status.uid);
    if (args.user !== undefined && args.user !== user && args.user !== String(status.uid)) return undefined;
    const cmdline = formatCmdline(rawCmdline, st.comm, PROCESS_CMDLINE_MAX);
    if (filter && !st.comm.toLowerCase().includes(filter) && !cmdline.toLowerCase().includes(filter)) return undefined;
    const prior = before.get(pid);
    let cpu: number;
    if (sampleMs > 0 && prior && prior.starttime === st.starttime && elapsedTicks > 0) {
      cpu = ((st.cpuTicks - prior.cpuTicks) / elapsedTicks) * 100;
    } else {
      const lifetime = uptime * hz - st.starttime;
      cpu = lifetime > 0 ? (st.cpuTicks / lifetime) * 100 : 0;
    }
    return {
      starttime: st.starttime,
      info: {
        pid,
        ppid: st.ppid,
        user,
        uid: status.uid,
        state: st.state.slice(0, 1),
        name: st.comm,
        cpu: round1(Math.max(0, cpu)),
        rssBytes: status.rssBytes,
        mem: memTotal > 0 ? round1((status.rssBytes / memTotal) * 100) : 0,
        threads: status.threads ?? st.threads,
        nice: st.nice,
        startedAt: new Date((bootTime + st.starttime / hz) * 1000).toISOString(),
        cmdline,
      },
    };
  });

  const sorted = sortRows(rows, sort, order);
  const limited = sorted.slice(0, args.limit ?? PROCESS_LIST_DEFAULT_LIMIT).map((r) => r.info);
  const processes = fitting(limited, RESULT_BUDGET_BYTES - 512);
  return {
    at: new Date().toISOString(),
    sampleMs: sampleMs > 0 ? Math.round(t2 - t1) : 0,
    cpuCount: Math.max(1, os.cpus().length),
    memTotalBytes: memTotal,
    total: rows.length,
    truncated: processes.length < limited.length,
    processes,
  };
}

/** Whether the process that had `starttime` has ended: no entry, a zombie, or the pid now belongs to another. */
async function hasEnded(procfs: ProcFs, pid: number, starttime: number): Promise<boolean> {
  const st = await procfs.stat(pid);
  return !st || st.state === 'Z' || st.state === 'X' || st.starttime !== starttime;
}

export async function signalProcess(
  procfs: ProcFs,
  args: ProcessSignalArgs,
  ctx: Pick<CommandContext, 'log' | 'signal'>,
): Promise<ProcessSignalResult> {
  const { pid } = args;
  const name = args.signal ?? 'TERM';
  if (pid <= 1) {
    throw new OutpostError(
      'E_DENIED',
      pid === 1 ? 'refusing to signal PID 1 (init): it would take the whole device down' : 'refusing to signal pid 0',
    );
  }
  const guarded = (await procfs.protectedPids()).get(pid);
  if (guarded) throw new OutpostError('E_DENIED', `refusing to signal pid ${pid}: it is ${guarded}`);

  const st = await procfs.stat(pid);
  const [status, rawCmdline] = await Promise.all([procfs.status(pid), procfs.cmdline(pid)]);
  if (!st) throw new OutpostError('E_NOT_FOUND', `no process with pid ${pid}`);
  if (st.state === 'Z') throw new OutpostError('E_NOT_FOUND', `pid ${pid} (${st.comm}) has already exited (zombie)`);
  const user = status ? await procfs.userName(status.uid) : '?';
  const cmdline = rawCmdline ? formatCmdline(rawCmdline, st.comm, PROCESS_CMDLINE_MAX) : `[${st.comm}]`;
  try {
    process.kill(pid, `SIG${name}`);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ESRCH') throw new OutpostError('E_NOT_FOUND', `no process with pid ${pid}`);
    if (code === 'EPERM') {
      throw new OutpostError('E_DENIED', `not permitted to signal pid ${pid} (${st.comm}, user ${user})`);
    }
    throw err;
  }
  ctx.log.info('signal sent', { pid, signal: name, name: st.comm, user });

  let gone: boolean | null = null;
  const waitMs = args.waitMs ?? DEFAULT_WAIT_MS;
  if (WAITED_SIGNALS.has(name) && waitMs > 0) {
    const deadline = performance.now() + waitMs;
    gone = await hasEnded(procfs, pid, st.starttime);
    while (!gone && performance.now() < deadline && !ctx.signal.aborted) {
      await sleep(50);
      gone = await hasEnded(procfs, pid, st.starttime);
    }
  }
  return { pid, signal: name, name: st.comm, cmdline, user, gone };
}

export function createProcessesCapability(options: ProcessesOptions = {}): Capability {
  const procfs = new ProcFs(options.procRoot, options.passwdPath);
  return {
    name: 'processes',
    actions: {
      list: action('processes/list', async (args, ctx) => listProcesses(procfs, args, ctx.signal)),
      signal: action('processes/signal', async (args, ctx) => signalProcess(procfs, args, ctx)),
    },
  };
}
