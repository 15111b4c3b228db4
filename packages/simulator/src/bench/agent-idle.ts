/**
 * Agent idle cost: a real server and a real agent process (the bundle, every
 * capability registered, default settings: a heartbeat every 15 s), enrolled and
 * then left alone. The agent's resident memory is sampled each second from
 * /proc/<pid>/status and its CPU time read from /proc/<pid>/stat at the start
 * and end of the window; CPU % is that time over the window's wall time.
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
  /** Unmeasured time after the agent comes online, for start-up work (and its garbage) to settle. */
  settleSeconds: number;
  resources: Resources;
  progress: (msg: string) => void;
}

/** Memory figures in KiB. */
export interface AgentIdleResult {
  seconds: number;
  heartbeatSeconds: number;
  /** Capabilities of the command catalogue, all of which the bundle registers. */
  capabilities: string[];
  samples: number;
  rss: { median: number; min: number; max: number };
  rssAnon: number;
  rssFile: number;
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

/** VmRSS, RssAnon and RssFile of /proc/<pid>/status, in KiB. */
export function residentKiB(status: string): { rss: number; anon: number; file: number } {
  const field = (name: string) => {
    const m = new RegExp(`^${name}:\\s+(\\d+)\\s+kB$`, 'm').exec(status);
    if (!m?.[1]) throw new Error(`no ${name} in /proc/<pid>/status`);
    return Number(m[1]);
  };
  return { rss: field('VmRSS'), anon: field('RssAnon'), file: field('RssFile') };
}

export async function runAgentIdle(options: AgentIdleOptions): Promise<AgentIdleResult> {
  const { resources, progress } = options;
  const dataDir = resources.tempDir('outpost-bench-idle-');
  const { server, api } = await startBenchServer(resources, dataDir);

  const token = await api('POST', '/enrollment-tokens', { name: 'bench-idle', maxUses: 1, autoAccept: true });
  if (token.status !== 201) throw new Error(`enrollment token: ${JSON.stringify(token.body)}`);
  progress('agent idle: starting a real agent process with default settings');
  const agentDir = join(dataDir, 'agent');
  // Only what a device must be told: where the server is, its CA, and a state dir of our own.
  const agent = resources.spawn(
    process.execPath,
    [AGENT_BIN, '--server', `mqtts://127.0.0.1:${server.mqttPort}`, '--ca', server.caFile, '--state-dir', agentDir],
    { env: { ...process.env, OUTPOST_AGENT_ENROLL_TOKEN: String(token.body.token) } },
  );
  const pid = agent.pid;
  if (pid === undefined) throw new Error('the agent process did not start');
  const deviceId = await agentOnline(api, resources, agent, agentDir, 60_000);

  progress(`agent idle: online; letting it settle for ${options.settleSeconds} s`);
  await sleep(options.settleSeconds * 1000);

  progress(`agent idle: measuring for ${options.seconds} s`);
  const hz = clockTicks();
  const lastSeen = async () => String((await api('GET', `/devices/${deviceId}`)).body.lastSeen);
  const seen = new Set<string>([await lastSeen()]);
  const rows: ReturnType<typeof residentKiB>[] = [];
  const t0 = performance.now();
  const ticks0 = cpuTicks(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  const end = t0 + options.seconds * 1000;
  while (performance.now() < end) {
    rows.push(residentKiB(readFileSync(`/proc/${pid}/status`, 'utf8')));
    // Reading the device over the API costs the server, not the agent.
    if (rows.length % 5 === 0) seen.add(await lastSeen());
    await sleep(Math.max(0, Math.min(1000, end - performance.now())));
  }
  const ticks1 = cpuTicks(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  const elapsed = (performance.now() - t0) / 1000;
  seen.add(await lastSeen());
  if (agent.exitCode !== null) throw new Error(`agent exited during the measurement: ${resources.tail(agent)}`);

  const cpuSeconds = (ticks1 - ticks0) / hz;
  const rss = rows.map((r) => r.rss);
  return {
    seconds: elapsed,
    heartbeatSeconds: DEFAULT_HEARTBEAT_SECONDS,
    capabilities: [...new Set(Object.keys(commands).map((k) => k.split('/')[0] ?? k))].sort(),
    samples: rows.length,
    rss: { median: median(rss), min: Math.min(...rss), max: Math.max(...rss) },
    rssAnon: median(rows.map((r) => r.anon)),
    rssFile: median(rows.map((r) => r.file)),
    cpuSeconds,
    cpuPercent: (cpuSeconds / elapsed) * 100,
    clockTicksPerSecond: hz,
    heartbeatsSeen: seen.size - 1,
  };
}
