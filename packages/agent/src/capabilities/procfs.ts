/**
 * Reading processes straight from /proc (proc(5)), with no `ps`: one process's
 * stat, status and cmdline, the pid list, boot time, total memory, clock ticks
 * and user names from /etc/passwd. A process may end between any two reads, so
 * every per-process read answers `undefined` for a pid that is gone instead of
 * throwing.
 */
import { execFile } from 'node:child_process';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** The fields of /proc/[pid]/stat the agent uses. */
export interface ProcStat {
  pid: number;
  /** `comm`: the kernel's name, at most 15 bytes; may hold spaces and parentheses. */
  comm: string;
  state: string;
  ppid: number;
  pgrp: number;
  session: number;
  /** utime + stime, in clock ticks. */
  cpuTicks: number;
  nice: number;
  threads: number;
  /** Start time after boot, in clock ticks. */
  starttime: number;
}

/**
 * Parses /proc/[pid]/stat. `comm` sits in parentheses and may itself contain `)`,
 * so the fields are counted from the last `)` (proc(5) fields 3 onwards).
 */
export function parseStat(text: string): ProcStat | undefined {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const pid = Number(text.slice(0, open).trim());
  const rest = text
    .slice(close + 1)
    .trim()
    .split(/\s+/);
  // rest[0] is field 3 (state); field N is rest[N - 3].
  const field = (n: number): number => Number(rest[n - 3]);
  const state = rest[0];
  if (!Number.isInteger(pid) || pid < 1 || state === undefined || rest.length < 20) return undefined;
  const parsed: ProcStat = {
    pid,
    comm: text.slice(open + 1, close),
    state,
    ppid: field(4),
    pgrp: field(5),
    session: field(6),
    cpuTicks: field(14) + field(15),
    nice: field(19),
    threads: field(20),
    starttime: field(22),
  };
  const numbers = [parsed.ppid, parsed.pgrp, parsed.session, parsed.cpuTicks, parsed.nice, parsed.threads];
  return numbers.every(Number.isFinite) && Number.isFinite(parsed.starttime) ? parsed : undefined;
}

/** The fields of /proc/[pid]/status the agent uses. */
export interface ProcStatus {
  /** Real uid (first of the four on the `Uid:` line). */
  uid: number;
  /** VmRSS in bytes; 0 for kernel threads, which have no such line. */
  rssBytes: number;
  threads: number | undefined;
}

export function parseStatus(text: string): ProcStatus | undefined {
  let uid: number | undefined;
  let rssBytes = 0;
  let threads: number | undefined;
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const key = line.slice(0, colon);
    const value = line.slice(colon + 1).trim();
    if (key === 'Uid') uid = Number(value.split(/\s+/)[0]);
    else if (key === 'VmRSS') rssBytes = Number(value.split(/\s+/)[0]) * 1024;
    else if (key === 'Threads') threads = Number(value);
  }
  if (uid === undefined || !Number.isInteger(uid) || uid < 0) return undefined;
  return { uid, rssBytes: Number.isFinite(rssBytes) ? rssBytes : 0, threads };
}

/** Arguments from /proc/[pid]/cmdline (NUL-separated) joined by spaces, cut at `max` characters plus `…`. */
export function formatCmdline(raw: Buffer, comm: string, max: number): string {
  const args = raw.toString('utf8').split('\0');
  while (args.length > 0 && args[args.length - 1] === '') args.pop();
  // Kernel threads and zombies have no command line: show the name in brackets, like ps.
  const text = args.length === 0 ? `[${comm}]` : args.join(' ');
  const chars = [...text];
  return chars.length > max ? `${chars.slice(0, max).join('')}…` : text;
}

/** Errors that mean "this process is gone" (or never was), not a failure of the listing. */
function vanished(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ESRCH' || code === 'EINVAL';
}

async function readOrGone(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (err) {
    if (vanished(err)) return undefined;
    // Some files (another user's, under hidepid) cannot be read: treat the process as not visible.
    if ((err as NodeJS.ErrnoException).code === 'EACCES' || (err as NodeJS.ErrnoException).code === 'EPERM') {
      return undefined;
    }
    throw err;
  }
}

export class ProcFs {
  private ticks: Promise<number> | undefined;
  private users: { mtimeMs: number; byUid: Map<number, string> } | undefined;

  constructor(
    readonly root = '/proc',
    private readonly passwdPath = '/etc/passwd',
  ) {}

  /** Every numeric entry of /proc. */
  async pids(): Promise<number[]> {
    const names = await readdir(this.root);
    return names.filter((n) => /^\d+$/.test(n)).map(Number);
  }

  async stat(pid: number): Promise<ProcStat | undefined> {
    const raw = await readOrGone(join(this.root, String(pid), 'stat'));
    return raw ? parseStat(raw.toString('utf8')) : undefined;
  }

  async status(pid: number): Promise<ProcStatus | undefined> {
    const raw = await readOrGone(join(this.root, String(pid), 'status'));
    return raw ? parseStatus(raw.toString('utf8')) : undefined;
  }

  async cmdline(pid: number): Promise<Buffer | undefined> {
    return readOrGone(join(this.root, String(pid), 'cmdline'));
  }

  /** Seconds since boot. */
  async uptime(): Promise<number> {
    const text = (await readFile(join(this.root, 'uptime'), 'utf8')).split(' ')[0];
    return Number(text);
  }

  /** Boot time, in seconds since the epoch (`btime` of /proc/stat). */
  async bootTime(): Promise<number> {
    const m = /^btime\s+(\d+)/m.exec(await readFile(join(this.root, 'stat'), 'utf8'));
    if (m?.[1]) return Number(m[1]);
    return Date.now() / 1000 - (await this.uptime());
  }

  async memTotalBytes(): Promise<number> {
    const m = /^MemTotal:\s+(\d+)\s*kB/m.exec(await readFile(join(this.root, 'meminfo'), 'utf8'));
    return m?.[1] ? Number(m[1]) * 1024 : 0;
  }

  /** USER_HZ, the unit of the tick counts in stat: `getconf CLK_TCK`, asked once; 100 when it cannot say. */
  clockTicks(): Promise<number> {
    this.ticks ??= new Promise((resolve) => {
      execFile('getconf', ['CLK_TCK'], { timeout: 2000 }, (err, stdout) => {
        const n = Number(String(stdout).trim());
        resolve(!err && Number.isInteger(n) && n > 0 ? n : 100);
      });
    });
    return this.ticks;
  }

  /** The user name for a uid from /etc/passwd, re-read only when the file changes; the uid itself if unnamed. */
  async userName(uid: number): Promise<string> {
    return (await this.userTable()).get(uid) ?? String(uid);
  }

  async userTable(): Promise<Map<number, string>> {
    let mtimeMs = -1;
    try {
      mtimeMs = (await stat(this.passwdPath)).mtimeMs;
    } catch {
      return new Map();
    }
    if (this.users?.mtimeMs === mtimeMs) return this.users.byUid;
    const byUid = new Map<number, string>();
    try {
      for (const line of (await readFile(this.passwdPath, 'utf8')).split('\n')) {
        const [name, , uid] = line.split(':');
        const n = Number(uid);
        // The first entry for a uid wins, as in getpwuid(3).
        if (name && uid !== undefined && uid !== '' && Number.isInteger(n) && !byUid.has(n)) byUid.set(n, name);
      }
    } catch {
      return new Map();
    }
    this.users = { mtimeMs, byUid };
    return byUid;
  }

  /**
   * The pids a signal must never reach: the agent itself, every ancestor up to PID 1,
   * and the leader of the agent's process group (typically its supervising shell).
   */
  async protectedPids(self = process.pid): Promise<Map<number, string>> {
    const out = new Map<number, string>([[self, 'the agent itself']]);
    const me = await this.stat(self);
    if (me && me.pgrp > 1 && !out.has(me.pgrp)) out.set(me.pgrp, "the leader of the agent's process group");
    let pid = me?.ppid ?? 0;
    for (let depth = 0; pid > 1 && depth < 64; depth++) {
      if (!out.has(pid)) out.set(pid, 'a parent of the agent');
      pid = (await this.stat(pid))?.ppid ?? 0;
    }
    return out;
  }
}
