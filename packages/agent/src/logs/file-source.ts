/**
 * `file:` log sources: the tail of a log file, and following it as it grows
 * (through truncation and rotation, like `tail -F`). Only regular files inside
 * the configured log roots are read: the path may not contain `..`, symlinks are
 * resolved before the check, and the opened descriptor is checked again through
 * /proc so a path swapped between the check and the open cannot escape.
 */
import { constants, type Stats } from 'node:fs';
import { type FileHandle, open, readlink, realpath, stat } from 'node:fs/promises';
import { type LogLine, OutpostError } from '@outpost/protocol';
import { clipText } from '../log-ring.js';
import { type LineFilter, matches } from './filter.js';

const CHUNK_BYTES = 64 * 1024;
/** A tail reads at most this much of a file, backwards, looking for matching lines. */
export const MAX_TAIL_SCAN_BYTES = 64 * 1024 * 1024;
/** A "line" longer than this without a newline is cut and taken as a line. */
const MAX_RAW_LINE_BYTES = 1024 * 1024;
/** A follow reads at most this much per poll, so one burst cannot stall the agent. */
const MAX_READ_PER_POLL = 1024 * 1024;
export const FOLLOW_POLL_MS = 250;
/** A last line without its newline is sent once it has not grown for this long. */
const PARTIAL_FLUSH_MS = 1000;

function isInside(path: string, root: string): boolean {
  return root === '/' || path === root || path.startsWith(`${root}/`);
}

function fsError(err: unknown, path: string): OutpostError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return new OutpostError('E_NOT_FOUND', `no such file: ${path}`);
  if (code === 'EACCES' || code === 'EPERM') return new OutpostError('E_DENIED', `permission denied: ${path}`);
  if (code === 'ELOOP') return new OutpostError('E_DENIED', `${path} changed into a symlink while being opened`);
  return new OutpostError('E_INTERNAL', `cannot read ${path} (${code ?? 'error'})`);
}

async function realRoots(roots: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const r of roots) {
    try {
      out.push(await realpath(r));
    } catch {
      // A root that does not exist (yet) holds nothing to read.
    }
  }
  return out;
}

export interface OpenLog {
  handle: FileHandle;
  /** The resolved path that was checked and opened. */
  real: string;
  stats: Stats;
}

/**
 * Opens `path` for reading if it is a regular file inside one of `roots`:
 * E_BAD_ARGS for `..` or a non-regular file, E_DENIED outside the roots (symlinks
 * included), E_NOT_FOUND when it does not exist.
 */
export async function openLogFile(path: string, roots: readonly string[]): Promise<OpenLog> {
  if (!path.startsWith('/') || path.includes('\0')) {
    throw new OutpostError('E_BAD_ARGS', 'a log file path must be absolute');
  }
  if (path.split('/').includes('..')) throw new OutpostError('E_BAD_ARGS', "a log file path must not contain '..'");
  let real: string;
  try {
    real = await realpath(path);
  } catch (err) {
    throw fsError(err, path);
  }
  const allowed = await realRoots(roots);
  const root = allowed.find((r) => isInside(real, r));
  if (!root) {
    throw new OutpostError('E_DENIED', `${path} is outside the log roots this agent may read (${roots.join(', ')})`, {
      roots,
    });
  }
  let handle: FileHandle;
  try {
    // O_NONBLOCK: opening a FIFO must not hang waiting for a writer; O_NOFOLLOW: the last component was resolved.
    handle = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    throw fsError(err, path);
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw new OutpostError('E_BAD_ARGS', `${path} is not a regular file`);
    let opened: string | undefined;
    try {
      opened = await readlink(`/proc/self/fd/${handle.fd}`);
    } catch {
      // No /proc: the realpath check above stands alone.
    }
    if (opened !== undefined && !isInside(opened, root)) {
      throw new OutpostError('E_DENIED', `${path} moved outside the log roots while being opened`);
    }
    return { handle, real, stats };
  } catch (err) {
    await handle.close().catch(() => {});
    throw err;
  }
}

function decodeLine(raw: Buffer): string {
  const end = raw.length > 0 && raw[raw.length - 1] === 0x0d ? raw.length - 1 : raw.length;
  return clipText(raw.subarray(0, end).toString('utf8'));
}

/**
 * The newest `count` lines passing `filter`, oldest first, read backwards from the
 * end in chunks; `truncated` when the scan limit stopped it before the file's start.
 */
export async function tailLines(
  file: OpenLog,
  count: number,
  filter: LineFilter,
  scanLimit = MAX_TAIL_SCAN_BYTES,
): Promise<{ lines: LogLine[]; truncated: boolean }> {
  const found: LogLine[] = [];
  let pos = file.stats.size;
  let carry = Buffer.alloc(0);
  let scanned = 0;
  let first = true;
  const take = (raw: Buffer): boolean => {
    const line = { text: decodeLine(raw) };
    if (matches(line, filter)) found.push(line);
    return found.length >= count;
  };
  while (pos > 0 && found.length < count) {
    if (scanned >= scanLimit) return { lines: found.reverse(), truncated: true };
    const size = Math.min(CHUNK_BYTES, pos);
    pos -= size;
    const chunk = Buffer.alloc(size);
    const { bytesRead } = await file.handle.read(chunk, 0, size, pos);
    scanned += bytesRead;
    let buf = Buffer.concat([chunk.subarray(0, bytesRead), carry]);
    // A file ending in a newline has no empty last line.
    if (first && buf.length > 0 && buf[buf.length - 1] === 0x0a) buf = buf.subarray(0, buf.length - 1);
    first = false;
    let end = buf.length;
    let done = false;
    for (let i = buf.length - 1; i >= 0; i--) {
      if (buf[i] !== 0x0a) continue;
      if (take(buf.subarray(i + 1, end))) {
        done = true;
        break;
      }
      end = i;
    }
    if (done) break;
    carry = Buffer.from(buf.subarray(0, end));
    if (carry.length > MAX_RAW_LINE_BYTES) {
      if (take(carry.subarray(carry.length - MAX_RAW_LINE_BYTES))) break;
      carry = Buffer.alloc(0);
    }
  }
  if (pos === 0 && found.length < count && carry.length > 0) take(carry);
  return { lines: found.reverse(), truncated: false };
}

export interface FileFollow {
  /** Resolves when the follow ended (signal aborted or the file could not be read any more). */
  done: Promise<void>;
}

/**
 * Follows `path` from its current end (after `file`, already opened and checked),
 * calling `onLine` for each complete new line (timestamped when read). Survives
 * truncation (starts over) and rotation (reopens the new file, checked again).
 */
export function followFile(
  path: string,
  roots: readonly string[],
  file: OpenLog,
  onLine: (line: LogLine) => void,
  signal: AbortSignal,
): FileFollow {
  let current: OpenLog | undefined = file;
  let pos = file.stats.size;
  let partial = Buffer.alloc(0);
  let partialSince = 0;

  const emitLines = (data: Buffer): void => {
    let buf = partial.length > 0 ? Buffer.concat([partial, data]) : data;
    let start = 0;
    for (let i = 0; i < buf.length; i++) {
      if (buf[i] !== 0x0a) continue;
      onLine({ ts: Date.now(), text: decodeLine(buf.subarray(start, i)) });
      start = i + 1;
    }
    buf = buf.subarray(start);
    if (buf.length > MAX_RAW_LINE_BYTES) {
      onLine({ ts: Date.now(), text: decodeLine(buf) });
      buf = Buffer.alloc(0);
    }
    if (buf.length !== partial.length || start > 0) partialSince = Date.now();
    partial = Buffer.from(buf);
  };

  const drain = async (open: OpenLog): Promise<void> => {
    const size = (await open.handle.stat()).size;
    if (size < pos) {
      // Truncated in place (copytruncate): start over from its beginning.
      pos = 0;
      partial = Buffer.alloc(0);
    }
    if (size <= pos) return;
    const want = Math.min(size - pos, MAX_READ_PER_POLL);
    const buf = Buffer.alloc(want);
    const { bytesRead } = await open.handle.read(buf, 0, want, pos);
    pos += bytesRead;
    if (bytesRead > 0) emitLines(buf.subarray(0, bytesRead));
  };

  const poll = async (): Promise<void> => {
    if (current) await drain(current);
    let onDisk: Stats | undefined;
    try {
      onDisk = await stat(path);
    } catch {
      onDisk = undefined; // rotated away and not recreated yet
    }
    const replaced = onDisk && (!current || onDisk.ino !== current.stats.ino || onDisk.dev !== current.stats.dev);
    if (replaced) {
      if (current) {
        await drain(current); // what was written before the rename
        await current.handle.close().catch(() => {});
        current = undefined;
      }
      current = await openLogFile(path, roots);
      pos = 0;
      partial = Buffer.alloc(0);
      await drain(current);
    }
    if (partial.length > 0 && Date.now() - partialSince >= PARTIAL_FLUSH_MS) {
      onLine({ ts: Date.now(), text: decodeLine(partial) });
      partial = Buffer.alloc(0);
    }
  };

  const done = (async () => {
    try {
      while (!signal.aborted) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(wake, FOLLOW_POLL_MS);
          function wake(): void {
            clearTimeout(timer);
            signal.removeEventListener('abort', wake);
            resolve();
          }
          signal.addEventListener('abort', wake, { once: true });
        });
        if (signal.aborted) break;
        await poll();
      }
    } finally {
      await current?.handle.close().catch(() => {});
    }
  })();
  return { done };
}
