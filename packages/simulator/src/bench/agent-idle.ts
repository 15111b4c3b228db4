/**
 * Agent idle cost: a real server and a real agent process (the bundle, every
 * capability registered, default settings: a heartbeat every 15 s), enrolled and
 * then left alone, next to a bare Node.js process (`setInterval` and nothing else,
 * same node binary and flags) as the runtime's own baseline. The memory of both is
 * sampled each second: RSS from /proc/<pid>/status, PSS and private memory (USS)
 * from /proc/<pid>/smaps_rollup. The agent's CPU time is read from /proc/<pid>/stat
 * at the start and end of the window; CPU % is that time over the window's wall time.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { commands, DEFAULT_HEARTBEAT_SECONDS } from '@outpost/protocol';
import { sleep } from '../pool.js';
import { median } from '../stats.js';
import { agentOnline, startBenchServer } from './admin-api.js';
import type { Resources } from './proc.js';

export interface AgentIdleOptions {
  /** Length of the measured window. */
  seconds: number;
  /** Node.js/V8 flags for the agent and the bare baseline, e.g. `--lite-mode`; none by default. */
  nodeFlags?: readonly string[];
  /** Unmeasured time after the agent comes online, for start-up work (and its garbage) to settle. */
  settleSeconds: number;
  resources: Resources;
  progress: (msg: string) => void;
}

/** Medians over the window, in KiB. */
export interface ProcessMemory {
  rss: number;
  rssAnon: number;
  rssFile: number;
  /** Proportional set size: shared pages divided among the processes that map them. */
  pss: number;
  /** Unique set size: pages no other process maps (Private_Clean + Private_Dirty). */
  uss: number;
}

/** Memory figures in KiB. */
export interface AgentIdleResult {
  seconds: number;
  heartbeatSeconds: number;
  nodeVersion: string;
  nodeFlags: string[];
  /** Capabilities of the command catalogue, all of which the bundle registers. */
  capabilities: string[];
  samples: number;
  rss: { median: number; min: number; max: number };
  rssAnon: number;
  rssFile: number;
  pss: number;
  uss: number;
  /** A bare Node.js process idling beside the agent, sampled at the same moments. */
  bare: ProcessMemory;
  /** user + system CPU time over the window, in seconds. */
  cpuSeconds: number;
  cpuPercent: number;
  clockTicksPerSecond: number;
  /** Heartbeats the server saw during the window (its `lastSeen` moved this many times). */
  heartbeatsSeen: number;
}

const AGENT_BIN = join(dirname(fileURLToPath(import.meta.resolve('@outpost/agent'))), '..', 'bin', 'outpost-agent.js');

/** USER_HZ, the unit of utime/stime in /proc/<pid>/stat (100 on every Linux we know of). */
function clockTicks(): number {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isInteger(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
}

/** utime + stime of a process, in clock ticks (fields 14 and 15 of /proc/<pid>/stat). */
export function cpuTicks(stat: string): number {
  // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error('unreadable /proc/<pid>/stat');
  return utime + stime;
}

/** A `Name:   123 kB` line of a /proc/<pid> file, in KiB. */
function kbField(text: string, name: string, file: string): number {
  const m = new RegExp(`^${name}:\\s+(\\d+)\\s+kB$`, 'm').exec(text);
  if (!m?.[1]) throw new Error(`no ${name} in /proc/<pid>/${file}`);
  return Number(m[1]);
}

/** VmRSS, RssAnon and RssFile of /proc/<pid>/status, in KiB. */
export function residentKiB(status: string): { rss: number; anon: number; file: number } {
  return {
    rss: kbField(status, 'VmRSS', 'status'),
    anon: kbField(status, 'RssAnon', 'status'),
    file: kbField(status, 'RssFile', 'status'),
  };
}

/** PSS and USS (Private_Clean + Private_Dirty) of /proc/<pid>/smaps_rollup (Linux 4.14+), in KiB. */
export function proportionalKiB(smapsRollup: string): { pss: number; uss: number } {
  const f = (name: string) => kbField(smapsRollup, name, 'smaps_rollup');
  return { pss: f('Pss'), uss: f('Private_Clean') + f('Private_Dirty') };
}

type Sample = ReturnType<typeof residentKiB> & ReturnType<typeof proportionalKiB>;

function sample(pid: number): Sample {
  return {
    ...residentKiB(readFileSync(`/proc/${pid}/status`, 'utf8')),
    ...proportionalKiB(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8')),
  };
}

function medians(rows: readonly Sample[]): ProcessMemory {
  const m = (k: keyof Sample) => median(rows.map((r) => r[k]));
  return { rss: m('rss'), rssAnon: m('anon'), rssFile: m('file'), pss: m('pss'), uss: m('uss') };
}

export async function runAgentIdle(options: AgentIdleOptions): Promise<AgentIdleResult> {
  const { resources, progress } = options;
  const nodeFlags = [...(options.nodeFlags ?? [])];
  const dataDir = resources.tempDir('outpost-bench-idle-');
  const { server, api } = await startBenchServer(resources, dataDir);

  const token = await api('POST', '/enrollment-tokens', { name: 'bench-idle', maxUses: 1, autoAccept: true });
  if (token.status !== 201) throw new Error(`enrollment token: ${JSON.stringify(token.body)}`);
  progress(
    `agent idle: starting a real agent process with default settings${nodeFlags.length > 0 ? ` (node ${nodeFlags.join(' ')})` : ''}`,
  );
  const agentDir = join(dataDir, 'agent');
  // Only what a device must be told: where the server is, its CA, and a state dir of our own.
  const agent = resources.spawn(
    process.execPath,
    [
      ...nodeFlags,
      AGENT_BIN,
      '--server',
      `mqtts://127.0.0.1:${server.mqttPort}`,
      '--ca',
      server.caFile,
      '--state-dir',
      agentDir,
    ],
    { env: { ...process.env, OUTPOST_AGENT_ENROLL_TOKEN: String(token.body.token) } },
  );
  const pid = agent.pid;
  if (pid === undefined) throw new Error('the agent process did not start');
  const deviceId = await agentOnline(api, resources, agent, agentDir, 60_000);
  // The runtime alone: what any Node.js program costs before it does anything.
  const bare = resources.spawn(process.execPath, [...nodeFlags, '-e', 'setInterval(() => {}, 1e6)']);
  const barePid = bare.pid;
  if (barePid === undefined) throw new Error('the bare Node.js process did not start');

  progress(`agent idle: online; letting it settle for ${options.settleSeconds} s`);
  await sleep(options.settleSeconds * 1000);

  progress(`agent idle: measuring for ${options.seconds} s`);
  const hz = clockTicks();
  const lastSeen = async () => String((await api('GET', `/devices/${deviceId}`)).body.lastSeen);
  const seen = new Set<string>([await lastSeen()]);
  const rows: Sample[] = [];
  const bareRows: Sample[] = [];
  const t0 = performance.now();
  const ticks0 = cpuTicks(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  const end = t0 + options.seconds * 1000;
  while (performance.now() < end) {
    rows.push(sample(pid));
    bareRows.push(sample(barePid));
    // Reading the device over the API costs the server, not the agent.
    if (rows.length % 5 === 0) seen.add(await lastSeen());
    await sleep(Math.max(0, Math.min(1000, end - performance.now())));
  }
  const ticks1 = cpuTicks(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  const elapsed = (performance.now() - t0) / 1000;
  seen.add(await lastSeen());
  if (agent.exitCode !== null) throw new Error(`agent exited during the measurement: ${resources.tail(agent)}`);
  if (bare.exitCode !== null) throw new Error(`bare Node.js exited during the measurement: ${resources.tail(bare)}`);

  const cpuSeconds = (ticks1 - ticks0) / hz;
  const rss = rows.map((r) => r.rss);
  const agentMemory = medians(rows);
  return {
    seconds: elapsed,
    heartbeatSeconds: DEFAULT_HEARTBEAT_SECONDS,
    nodeVersion: process.version,
    nodeFlags,
    capabilities: [...new Set(Object.keys(commands).map((k) => k.split('/')[0] ?? k))].sort(),
    samples: rows.length,
    rss: { median: median(rss), min: Math.min(...rss), max: Math.max(...rss) },
    rssAnon: agentMemory.rssAnon,
    rssFile: agentMemory.rssFile,
    pss: agentMemory.pss,
    uss: agentMemory.uss,
    bare: medians(bareRows),
    cpuSeconds,
    cpuPercent: (cpuSeconds / elapsed) * 100,
    clockTicksPerSecond: hz,
    heartbeatsSeen: seen.size - 1,
  };
}
