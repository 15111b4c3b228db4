/**
 * `unit:` log sources: a systemd unit's journal through `journalctl -u UNIT -o
 * json --no-pager` (argv only, never a shell). A device without journalctl or
 * without any journal files (no systemd, or a volatile journal not written yet)
 * answers E_UNSUPPORTED. The substring filter runs here, not as journalctl's
 * `--grep` pattern, so input is never compiled as a regular expression.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type LogLine, type LogLineLevel, OutpostError } from '@outpost/protocol';
import { clipText } from '../log-ring.js';
import { type LineFilter, levelOfPriority, matches } from './filter.js';

/** Where journald keeps its files: volatile, then persistent (journald.conf(5) Storage=). */
export const JOURNAL_DIRS = ['/run/log/journal', '/var/log/journal'] as const;

export interface JournalBackend {
  /** The journalctl program (default `journalctl`, looked up on PATH). */
  bin: string;
  /** Directories checked for journal files (default JOURNAL_DIRS). */
  dirs: readonly string[];
}

export const systemJournal: JournalBackend = { bin: 'journalctl', dirs: JOURNAL_DIRS };

/** A read stops scanning after this many entries when a substring filter discards most of them. */
const MAX_SCAN_ENTRIES = 200_000;
const READ_TIMEOUT_MS = 15_000;

/** The `-p` value for a minimum level: journalctl shows that priority and the more urgent ones. */
const PRIORITY_OF: Record<LogLineLevel, string> = { error: '3', warn: '4', info: '6', debug: '7' };

async function hasJournalFiles(dirs: readonly string[]): Promise<boolean> {
  for (const dir of dirs) {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries) {
      if (e.isFile() && /\.journal~?$/.test(e.name)) return true;
      if (!e.isDirectory()) continue;
      // <machine-id>/ and <machine-id>.<namespace>/ hold the files.
      try {
        if ((await readdir(join(dir, e.name))).some((n) => /\.journal~?$/.test(n))) return true;
      } catch {
        // Unreadable: as good as absent.
      }
    }
  }
  return false;
}

/** E_UNSUPPORTED unless journalctl can be run and there is a journal for it to read. */
export async function checkJournal(backend: JournalBackend): Promise<void> {
  if (!(await hasJournalFiles(backend.dirs))) {
    throw new OutpostError(
      'E_UNSUPPORTED',
      `this device has no systemd journal (no journal files in ${backend.dirs.join(' or ')}); read its logs with a file: source`,
    );
  }
}

function spawnError(err: unknown): OutpostError {
  if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
    return new OutpostError('E_UNSUPPORTED', 'journalctl is not installed on this device');
  }
  return new OutpostError('E_INTERNAL', 'could not run journalctl');
}

interface JournalEntry {
  line: LogLine;
  cursor: string | undefined;
}

/** One line of `journalctl -o json`: MESSAGE may be a string, an array of bytes or null. */
export function parseJournalEntry(text: string): JournalEntry | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!value || typeof value !== 'object') return undefined;
  const e = value as Record<string, unknown>;
  let message = '';
  if (typeof e.MESSAGE === 'string') message = e.MESSAGE;
  else if (Array.isArray(e.MESSAGE) && e.MESSAGE.every((b) => Number.isInteger(b) && b >= 0 && b <= 255))
    message = Buffer.from(e.MESSAGE as number[]).toString('utf8');
  const line: LogLine = { text: clipText(message.replace(/\r?\n$/, '')) };
  const us = typeof e.__REALTIME_TIMESTAMP === 'string' ? Number(e.__REALTIME_TIMESTAMP) : Number.NaN;
  if (Number.isFinite(us) && us >= 0) line.ts = Math.floor(us / 1000);
  const priority = typeof e.PRIORITY === 'string' ? Number(e.PRIORITY) : Number.NaN;
  if (Number.isInteger(priority) && priority >= 0 && priority <= 7) line.level = levelOfPriority(priority);
  return { line, cursor: typeof e.__CURSOR === 'string' ? e.__CURSOR : undefined };
}

function baseArgs(unit: string, filter: LineFilter): string[] {
  const argv = ['-u', unit, '-o', 'json', '--no-pager', '-q'];
  if (filter.level) argv.push('-p', PRIORITY_OF[filter.level]);
  if (filter.since !== undefined) argv.push('--since', `@${Math.floor(filter.since / 1000)}`);
  return argv;
}

function run(backend: JournalBackend, argv: string[]): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = spawn(backend.bin, argv, {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, SYSTEMD_PAGER: '', SYSTEMD_COLORS: '0', LC_ALL: 'C' },
      });
    } catch (err) {
      reject(spawnError(err));
      return;
    }
    child.once('spawn', () => resolve(child));
    child.once('error', (err) => reject(spawnError(err)));
  });
}

/** Calls `onText` for each complete stdout line of `child`. */
function eachLine(child: ChildProcess, onText: (text: string) => void): void {
  let rest = '';
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    const parts = (rest + chunk).split('\n');
    rest = parts.pop() ?? '';
    for (const p of parts) if (p) onText(p);
  });
}

export interface JournalRead {
  lines: LogLine[];
  truncated: boolean;
  /** The newest entry's cursor, to follow from right after it. */
  cursor: string | undefined;
}

/** The newest `count` entries of `unit` passing `filter`, oldest first. */
export async function readJournal(
  backend: JournalBackend,
  unit: string,
  count: number,
  filter: LineFilter,
): Promise<JournalRead> {
  await checkJournal(backend);
  // Newest first, so the read can stop as soon as it has enough; without a substring filter journalctl counts.
  const argv = [...baseArgs(unit, filter), '-r', ...(filter.grep === undefined ? ['-n', String(count)] : [])];
  const child = await run(backend, argv);
  const found: LogLine[] = [];
  let cursor: string | undefined;
  let scanned = 0;
  let truncated = false;
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (d: string) => {
    if (stderr.length < 2000) stderr += d;
  });
  const stop = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  };
  eachLine(child, (text) => {
    if (found.length >= count) return;
    const entry = parseJournalEntry(text);
    if (!entry) return;
    cursor ??= entry.cursor;
    scanned++;
    if (matches(entry.line, filter)) found.push(entry.line);
    if (found.length >= count) stop();
    else if (scanned >= MAX_SCAN_ENTRIES) {
      truncated = true;
      stop();
    }
  });
  const timer = setTimeout(() => {
    truncated = true;
    stop();
  }, READ_TIMEOUT_MS);
  const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal })),
  );
  clearTimeout(timer);
  if (exit.code !== 0 && exit.signal === null && found.length === 0) {
    const first = stderr.split('\n').find((l) => l.trim() !== '') ?? `exit code ${exit.code}`;
    throw new OutpostError('E_INTERNAL', `journalctl failed: ${first.slice(0, 300)}`);
  }
  return { lines: found.reverse(), truncated, cursor };
}

/**
 * Follows `unit` from right after `cursor` (or from now), calling `onLine` for each
 * new entry passing `filter`. `done` resolves `stopped` once `signal` aborts, or
 * `gone` if journalctl ends by itself.
 */
export async function followJournal(
  backend: JournalBackend,
  unit: string,
  cursor: string | undefined,
  filter: LineFilter,
  onLine: (line: LogLine) => void,
  signal: AbortSignal,
): Promise<{ done: Promise<'stopped' | 'gone'> }> {
  await checkJournal(backend);
  // `since` already shaped the history; the follow itself starts after it.
  const argv = [...baseArgs(unit, { ...filter, since: undefined }), '-f'];
  argv.push(...(cursor !== undefined ? [`--after-cursor=${cursor}`] : ['-n', '0']));
  const child = await run(backend, argv);
  child.stderr?.resume();
  eachLine(child, (text) => {
    const entry = parseJournalEntry(text);
    if (entry && matches(entry.line, filter)) onLine(entry.line);
  });
  const onAbort = (): void => {
    child.kill('SIGTERM');
  };
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  const done = new Promise<'stopped' | 'gone'>((resolve) => {
    child.on('close', () => {
      signal.removeEventListener('abort', onAbort);
      resolve(signal.aborted ? 'stopped' : 'gone');
    });
  });
  return { done };
}
