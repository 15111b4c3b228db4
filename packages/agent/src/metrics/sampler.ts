/**
 * The metrics sampler: reads /proc and /sys directly (no `top` or `df`) and turns
 * two readings of the kernel's counters into shares and rates (docs/metrics.md).
 * Each sampler keeps its own previous reading, so the heartbeat's windows stay the
 * heartbeat interval whatever on-demand samples are taken with another sampler.
 * It owns no timer: the caller decides when to sample.
 */
import { promises as fsp, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { CpuMetrics, DiskIo, DiskUsage, Metrics, NetworkInterfaceMetrics } from '@outpost/protocol';
import {
  type CpuStat,
  type CpuTimes,
  type DiskCounters,
  type NetCounters,
  parseCpuStat,
  parseDiskstats,
  parseLoadavg,
  parseMeminfo,
  parseMounts,
  parseNetDev,
  realDisks,
  realMounts,
  totalJiffies,
} from './proc.js';
import { readTemperature } from './thermal.js';

export interface SamplerOptions {
  /** Where procfs is mounted (tests point it at a fixture tree). Default `/proc`. */
  procRoot?: string;
  /** Where sysfs is mounted. Default `/sys`. */
  sysRoot?: string;
  /** Wall clock for `ts` (epoch ms). */
  now?: () => number;
  /** Monotonic clock in ms for windows (a wall-clock jump must not make a rate). */
  monotonic?: () => number;
}

/** Shortest window worth a share or a rate: below it jiffies (10 ms) make the numbers jump. */
export const MIN_WINDOW_MS = 500;
/** Longest window a sample may cover (the protocol's limit): an older baseline is read afresh. */
export const MAX_WINDOW_MS = 86_400_000;

interface Reading {
  at: number;
  cpu: CpuStat;
  disks: Map<string, DiskCounters>;
  net: Map<string, NetCounters>;
}

type StatFs = (path: string) => Promise<{
  bsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
}>;
/** fs.promises.statfs exists since Node.js 18.15; the agent runs on any Node 18. */
const statfs = (fsp as { statfs?: StatFs }).statfs;

const round2 = (n: number): number => Math.round(n * 100) / 100;
const percent = (part: number, whole: number): number =>
  whole > 0 ? round2(Math.min(100, Math.max(0, (part / whole) * 100))) : 0;

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** A per-second rate of a counter, or null when it went backwards (wrapped or reset). */
function rate(now: number, before: number | undefined, seconds: number): number | null {
  if (before === undefined || now < before) return null;
  return round2((now - before) / seconds);
}

function cpuShares(now: CpuTimes, before: CpuTimes): { usage: number; total: number; d: CpuTimes } {
  const d: CpuTimes = {
    user: Math.max(0, now.user - before.user),
    nice: Math.max(0, now.nice - before.nice),
    system: Math.max(0, now.system - before.system),
    idle: Math.max(0, now.idle - before.idle),
    iowait: Math.max(0, now.iowait - before.iowait),
    irq: Math.max(0, now.irq - before.irq),
    softirq: Math.max(0, now.softirq - before.softirq),
    steal: Math.max(0, now.steal - before.steal),
  };
  const total = totalJiffies(d);
  return { usage: percent(total - d.idle - d.iowait, total), total, d };
}

export class MetricsSampler {
  private readonly procRoot: string;
  private readonly sysRoot: string;
  private readonly now: () => number;
  private readonly monotonic: () => number;
  private last: Reading | undefined;

  constructor(options: SamplerOptions = {}) {
    this.procRoot = options.procRoot ?? '/proc';
    this.sysRoot = options.sysRoot ?? '/sys';
    this.now = options.now ?? Date.now;
    this.monotonic = options.monotonic ?? (() => performance.now());
  }

  private read(file: string): string {
    return readFileSync(join(this.procRoot, file), 'utf8');
  }

  private counters(): Reading {
    return {
      at: this.monotonic(),
      cpu: parseCpuStat(this.read('stat')),
      disks: parseDiskstats(this.readOptional('diskstats')),
      net: parseNetDev(this.readOptional('net/dev')),
    };
  }

  /** Files some kernels or containers lack: their absence means no disks or interfaces to show. */
  private readOptional(file: string): string {
    try {
      return this.read(file);
    } catch {
      return '';
    }
  }

  /** Takes a reading of the counters only, as the baseline of the next sample. */
  prime(): void {
    this.last = this.counters();
  }

  /** Milliseconds since the baseline was read, or null without one. */
  baselineAge(): number | null {
    return this.last ? this.monotonic() - this.last.at : null;
  }

  /**
   * A sample measured against the previous reading, which it then replaces. Without
   * a baseline (or one older than `maxAgeMs`), it reads one and waits MIN_WINDOW_MS;
   * a baseline younger than that is waited out too. Throws if /proc is unreadable.
   */
  async sample(options: { maxAgeMs?: number; signal?: AbortSignal } = {}): Promise<Metrics> {
    let age = this.baselineAge();
    const maxAge = Math.min(options.maxAgeMs ?? MAX_WINDOW_MS, MAX_WINDOW_MS);
    if (age === null || age > maxAge) {
      this.prime();
      age = 0;
    }
    if (age < MIN_WINDOW_MS) await sleep(MIN_WINDOW_MS - age, options.signal);
    const before = this.last as Reading;
    const current = this.counters();
    this.last = current;
    const seconds = Math.max(0.001, (current.at - before.at) / 1000);

    const load = parseLoadavg(this.read('loadavg'));
    const mem = parseMeminfo(this.read('meminfo'));
    const temperature = readTemperature(this.sysRoot);
    const { disks, reason: disksReason } = await this.diskUsage();
    const memTotal = mem.get('MemTotal') ?? 0;
    const memFree = mem.get('MemFree') ?? 0;
    const buffers = mem.get('Buffers') ?? 0;
    const cached = (mem.get('Cached') ?? 0) + (mem.get('SReclaimable') ?? 0);
    // MemAvailable exists since Linux 3.14; before, free + buffers + cache is the usual estimate.
    const available = Math.min(memTotal, mem.get('MemAvailable') ?? memFree + buffers + cached);
    const swapTotal = mem.get('SwapTotal') ?? 0;
    const swapFree = Math.min(swapTotal, mem.get('SwapFree') ?? 0);

    return {
      ts: this.now(),
      window: round2(seconds) || 0.01,
      uptime: this.uptime(),
      cpu: this.cpu(current.cpu, before.cpu),
      load: { avg1: load.avg1, avg5: load.avg5, avg15: load.avg15 },
      memory: {
        total: memTotal,
        available,
        used: memTotal - available,
        free: memFree,
        buffers,
        cached,
        usedPercent: percent(memTotal - available, memTotal),
      },
      swap: {
        total: swapTotal,
        used: swapTotal - swapFree,
        free: swapFree,
        usedPercent: percent(swapTotal - swapFree, swapTotal),
      },
      disks,
      ...(disksReason ? { disksReason } : {}),
      diskIo: this.diskIo(current.disks, before.disks, seconds),
      network: this.network(current.net, before.net, seconds),
      temperature: temperature.temperature,
      ...(temperature.reason ? { temperatureReason: temperature.reason } : {}),
      processes: {
        total: this.processCount(),
        running: current.cpu.running,
        blocked: current.cpu.blocked,
        threads: load.threads,
      },
    };
  }

  private cpu(now: CpuStat, before: CpuStat): CpuMetrics {
    const all = cpuShares(now.total, before.total);
    const cores: (number | null)[] = [];
    for (const [n, times] of now.cores) {
      const prev = before.cores.get(n);
      cores.push(prev ? cpuShares(times, prev).usage : null);
    }
    const { d, total } = all;
    return {
      usage: all.usage,
      user: percent(d.user + d.nice, total),
      system: percent(d.system + d.irq + d.softirq, total),
      iowait: percent(d.iowait, total),
      steal: percent(d.steal, total),
      cores,
    };
  }

  private uptime(): number {
    const first = Number(this.readOptional('uptime').split(' ')[0]);
    return Number.isFinite(first) && first >= 0 ? first : 0;
  }

  private processCount(): number {
    let n = 0;
    for (const name of readdirSync(this.procRoot)) {
      const c = name.charCodeAt(0);
      if (c >= 48 && c <= 57) n++;
    }
    return n;
  }

  private async diskUsage(): Promise<{ disks: DiskUsage[]; reason?: string }> {
    if (!statfs) return { disks: [], reason: `disk usage needs Node.js 18.15 or later (this is ${process.version})` };
    let mounts: ReturnType<typeof realMounts>;
    try {
      mounts = realMounts(parseMounts(this.read('self/mounts')));
    } catch {
      return { disks: [], reason: 'cannot read /proc/self/mounts' };
    }
    const results = await Promise.all(
      mounts.map(async (m): Promise<DiskUsage | null> => {
        try {
          const s = await statfs(m.mount);
          const total = s.blocks * s.bsize;
          if (total <= 0) return null;
          const available = Math.min(total, s.bavail * s.bsize);
          const used = Math.max(0, total - s.bfree * s.bsize);
          return {
            mount: m.mount,
            device: m.source,
            fsType: m.fsType,
            total,
            used,
            available,
            usedPercent: percent(used, used + available),
            inodesTotal: s.files,
            inodesUsedPercent: s.files > 0 ? percent(s.files - s.ffree, s.files) : null,
          };
        } catch {
          // Unmounted between reading the table and asking, or not ours to look at.
          return null;
        }
      }),
    );
    return { disks: results.filter((d): d is DiskUsage => d !== null) };
  }

  /** The whole disks /sys/block lists, or null when sysfs cannot tell (then every disk counts). */
  private wholeDisks(): Set<string> | null {
    try {
      return new Set(readdirSync(join(this.sysRoot, 'block')));
    } catch {
      return null;
    }
  }

  private diskIo(now: Map<string, DiskCounters>, before: Map<string, DiskCounters>, seconds: number): DiskIo[] {
    return realDisks(now, this.wholeDisks()).map(([device, c]) => {
      const p = before.get(device);
      const busy = p && c.ioMs >= p.ioMs ? percent(c.ioMs - p.ioMs, seconds * 1000) : null;
      return {
        device,
        readBytes: c.readBytes,
        writeBytes: c.writeBytes,
        reads: c.reads,
        writes: c.writes,
        readBytesPerSec: rate(c.readBytes, p?.readBytes, seconds),
        writeBytesPerSec: rate(c.writeBytes, p?.writeBytes, seconds),
        readsPerSec: rate(c.reads, p?.reads, seconds),
        writesPerSec: rate(c.writes, p?.writes, seconds),
        busyPercent: busy,
      };
    });
  }

  private network(
    now: Map<string, NetCounters>,
    before: Map<string, NetCounters>,
    seconds: number,
    max = 64,
  ): NetworkInterfaceMetrics[] {
    let entries = [...now];
    // Hosts with many virtual interfaces: keep the busiest, in the kernel's order.
    if (entries.length > max) {
      const keep = new Set(
        [...entries]
          .sort((a, b) => b[1].rxBytes + b[1].txBytes - (a[1].rxBytes + a[1].txBytes))
          .slice(0, max)
          .map(([name]) => name),
      );
      entries = entries.filter(([name]) => keep.has(name));
    }
    return entries.map(([name, c]) => {
      const p = before.get(name);
      return {
        interface: name,
        ...c,
        rxBytesPerSec: rate(c.rxBytes, p?.rxBytes, seconds),
        txBytesPerSec: rate(c.txBytes, p?.txBytes, seconds),
      };
    });
  }
}
