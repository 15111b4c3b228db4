/**
 * Parsers for the kernel's text files the metrics sampler reads: /proc/stat,
 * /proc/loadavg, /proc/meminfo, /proc/self/mounts, /proc/diskstats and
 * /proc/net/dev (see proc(5)). Pure functions over the file's text, so they are
 * tested against this machine's real files and against fixed examples alike.
 */

/** Jiffies a CPU (or all of them) spent in each state since boot. */
export interface CpuTimes {
  user: number;
  nice: number;
  system: number;
  idle: number;
  iowait: number;
  irq: number;
  softirq: number;
  steal: number;
}

export interface CpuStat {
  total: CpuTimes;
  /** Online cores keyed by their number (`cpu3` → 3), in file order. */
  cores: Map<number, CpuTimes>;
  running: number;
  blocked: number;
}

const int = (s: string | undefined): number => {
  const n = Number(s);
  return Number.isFinite(n) && n >= 0 ? n : 0;
};

function cpuTimes(fields: string[]): CpuTimes {
  // guest and guest_nice (fields 9, 10) are already counted in user and nice.
  return {
    user: int(fields[1]),
    nice: int(fields[2]),
    system: int(fields[3]),
    idle: int(fields[4]),
    iowait: int(fields[5]),
    irq: int(fields[6]),
    softirq: int(fields[7]),
    steal: int(fields[8]),
  };
}

export function parseCpuStat(text: string): CpuStat {
  const stat: CpuStat = { total: cpuTimes([]), cores: new Map(), running: 0, blocked: 0 };
  for (const line of text.split('\n')) {
    if (line.startsWith('cpu')) {
      const fields = line.split(/\s+/);
      const name = fields[0] ?? '';
      if (name === 'cpu') stat.total = cpuTimes(fields);
      else if (/^cpu\d+$/.test(name)) stat.cores.set(Number(name.slice(3)), cpuTimes(fields));
    } else if (line.startsWith('procs_running ')) stat.running = int(line.slice(14));
    else if (line.startsWith('procs_blocked ')) stat.blocked = int(line.slice(14));
  }
  return stat;
}

export function totalJiffies(t: CpuTimes): number {
  return t.user + t.nice + t.system + t.idle + t.iowait + t.irq + t.softirq + t.steal;
}

export interface LoadAvg {
  avg1: number;
  avg5: number;
  avg15: number;
  /** Kernel scheduling entities (threads included): the denominator of the 4th field. */
  threads: number;
}

export function parseLoadavg(text: string): LoadAvg {
  const [a1, a5, a15, tasks] = text.trim().split(/\s+/);
  return { avg1: int(a1), avg5: int(a5), avg15: int(a15), threads: int(tasks?.split('/')[1]) };
}

/** /proc/meminfo as a map of field → bytes (the file says kB, meaning KiB). */
export function parseMeminfo(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const value = line.slice(colon + 1).trim();
    const [num, unit] = value.split(/\s+/);
    out.set(line.slice(0, colon), int(num) * (unit === 'kB' ? 1024 : 1));
  }
  return out;
}

export interface Mount {
  source: string;
  mount: string;
  fsType: string;
}

/** Undoes the octal escapes mount tables use for space, tab, newline and backslash. */
export function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(Number.parseInt(oct, 8)));
}

export function parseMounts(text: string): Mount[] {
  const out: Mount[] = [];
  for (const line of text.split('\n')) {
    const [source, mount, fsType] = line.split(' ');
    if (!source || !mount || !fsType) continue;
    out.push({ source: unescapeMountField(source), mount: unescapeMountField(mount), fsType });
  }
  return out;
}

/** Kernel and virtual filesystems, and read-only images that are always full: no disk usage worth charting. */
const PSEUDO_FS = new Set([
  'autofs',
  'binfmt_misc',
  'bpf',
  'cgroup',
  'cgroup2',
  'configfs',
  'cramfs',
  'debugfs',
  'devpts',
  'devtmpfs',
  'efivarfs',
  'erofs',
  'fusectl',
  'hugetlbfs',
  'iso9660',
  'mqueue',
  'nsfs',
  'proc',
  'pstore',
  'ramfs',
  'romfs',
  'rpc_pipefs',
  'securityfs',
  'selinuxfs',
  'squashfs',
  'sysfs',
  'tmpfs',
  'tracefs',
  'udf',
]);
/** Network filesystems are not the device's disks, and statfs on a dead server can hang. */
const NETWORK_FS = /^(nfs4?|cifs|smb3?|smbfs|ceph|glusterfs|9p|afs|ncpfs|davfs|fuse\.(sshfs|s3fs|rclone|davfs2?))$/;
/** Local filesystems whose source is not a /dev path (flash filesystems, ZFS datasets). */
const LOCAL_SOURCELESS_FS = new Set(['ubifs', 'jffs2', 'yaffs', 'yaffs2', 'zfs']);

/**
 * The mounts that are real local filesystems: backed by a block device (or a flash/ZFS
 * filesystem), plus an overlay root (containers). A filesystem mounted more than once
 * (bind mounts) is kept once, at its shortest mount point.
 */
export function realMounts(mounts: readonly Mount[], max = 64): Mount[] {
  const bySource = new Map<string, Mount>();
  for (const m of mounts) {
    if (PSEUDO_FS.has(m.fsType) || NETWORK_FS.test(m.fsType)) continue;
    const local =
      m.source.startsWith('/dev/') || LOCAL_SOURCELESS_FS.has(m.fsType) || (m.fsType === 'overlay' && m.mount === '/');
    if (!local) continue;
    const seen = bySource.get(m.source);
    if (!seen || m.mount.length < seen.mount.length) bySource.set(m.source, m);
  }
  return [...bySource.values()].slice(0, max);
}

export interface DiskCounters {
  reads: number;
  writes: number;
  readBytes: number;
  writeBytes: number;
  /** Milliseconds with I/O in flight. */
  ioMs: number;
}

/** /proc/diskstats sectors are always 512 bytes, whatever the device's own sector size. */
const SECTOR = 512;

export function parseDiskstats(text: string): Map<string, DiskCounters> {
  const out = new Map<string, DiskCounters>();
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    const name = f[2];
    if (!name || f.length < 14) continue;
    out.set(name, {
      reads: int(f[3]),
      readBytes: int(f[5]) * SECTOR,
      writes: int(f[7]),
      writeBytes: int(f[9]) * SECTOR,
      ioMs: int(f[12]),
    });
  }
  return out;
}

/** RAM disks, loop devices (images), compressed swap, floppies, optical drives, network block devices. */
const VIRTUAL_BLOCK = /^(loop|ram|zram|fd|sr|nbd)\d+$/;

/**
 * The whole disks worth showing: named in /sys/block (so not partitions) when that
 * list is known, not virtual, and used at least once since boot.
 */
export function realDisks(
  stats: Map<string, DiskCounters>,
  wholeDisks: ReadonlySet<string> | null,
  max = 64,
): [string, DiskCounters][] {
  const out: [string, DiskCounters][] = [];
  for (const [name, c] of stats) {
    if (wholeDisks && !wholeDisks.has(name)) continue;
    if (VIRTUAL_BLOCK.test(name) || name.includes('/') || name.includes(':')) continue;
    if (c.reads === 0 && c.writes === 0) continue;
    out.push([name, c]);
    if (out.length >= max) break;
  }
  return out;
}

export interface NetCounters {
  rxBytes: number;
  rxPackets: number;
  rxErrors: number;
  rxDropped: number;
  txBytes: number;
  txPackets: number;
  txErrors: number;
  txDropped: number;
}

/** /proc/net/dev without loopback, in file order. */
export function parseNetDev(text: string): Map<string, NetCounters> {
  const out = new Map<string, NetCounters>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim();
    // The two header lines have '|' and no counters; names never hold whitespace or '/'.
    if (!name || name === 'lo' || /[\s/|]/.test(name)) continue;
    const f = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/);
    if (f.length < 16) continue;
    out.set(name, {
      rxBytes: int(f[0]),
      rxPackets: int(f[1]),
      rxErrors: int(f[2]),
      rxDropped: int(f[3]),
      txBytes: int(f[8]),
      txPackets: int(f[9]),
      txErrors: int(f[10]),
      txDropped: int(f[11]),
    });
  }
  return out;
}
