/**
 * Writing a file atomically inside the sandbox: the bytes go to a temp file in
 * the target's own directory (same file system, so the final rename is atomic),
 * opened O_CREAT|O_EXCL|O_NOFOLLOW through the checked parent descriptor; on
 * success it is fsynced, given its mode and owner, renamed over the target and
 * the directory fsynced; on any failure it is removed, so no half file remains.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { type FileHandle, lstat, open, readFile, rename, unlink } from 'node:fs/promises';
import { OutpostError } from '@outpost/protocol';
import { fileTypeOf, fsError, isSpecial, type Located } from './files-paths.js';

const { O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_NOFOLLOW, O_RDONLY, O_DIRECTORY } = constants;

/** Default mode of a file written by an action. */
export const DEFAULT_FILE_MODE = 0o644;

export interface Ownership {
  uid?: number;
  gid?: number;
}

/** A temp file being written next to its target. */
export interface TempFile {
  handle: FileHandle;
  /** Its name in the target's directory. */
  name: string;
  /** Its path through the parent descriptor. */
  at: string;
}

/**
 * Checks that `target` may be written: it is not a root, not a directory, not a
 * special file; and that it does not exist when `overwrite` is false.
 */
export async function checkWritable(target: Located, overwrite: boolean, isRoot: boolean): Promise<void> {
  if (isRoot || target.name === '') throw new OutpostError('E_DENIED', `refusing to replace a root: ${target.path}`);
  if (!target.stat) return;
  const type = fileTypeOf(target.stat);
  if (type === 'dir') throw new OutpostError('E_CONFLICT', `is a directory: ${target.path}`);
  if (isSpecial(type)) throw new OutpostError('E_DENIED', `not a regular file (${type}): ${target.path}`);
  if (!overwrite) throw new OutpostError('E_CONFLICT', `already exists: ${target.path} (pass overwrite)`);
}

/** The hidden name of a temp file for `name`: `.name.outpost-<tag>-<id>`, kept within NAME_MAX. */
export function tempName(name: string, tag: string, id = randomBytes(6).toString('hex')): string {
  const suffix = `.outpost-${tag}-${id}`;
  const room = 255 - suffix.length - 1;
  return `.${Buffer.from(name)
    .subarray(0, Math.max(1, room))
    .toString('utf8')
    .replace(/\uFFFD+$/, '')}${suffix}`;
}

/** Creates a new temp file in the target's directory (never an existing file, never through a symlink). */
export async function createTemp(target: Located, name: string, mode = 0o600): Promise<TempFile> {
  const at = target.parent.at(name);
  try {
    const handle = await open(at, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
    return { handle, name, at };
  } catch (err) {
    throw fsError(err, target.path);
  }
}

/** Opens an existing temp file (a resumed upload's part) for read and write, never through a symlink. */
export async function openTemp(target: Located, name: string): Promise<TempFile> {
  const at = target.parent.at(name);
  try {
    const handle = await open(at, O_RDWR | O_NOFOLLOW);
    const st = await handle.stat();
    if (!st.isFile()) {
      await handle.close();
      throw new OutpostError('E_CONFLICT', `the partial file of this transfer is not a regular file: ${target.path}`);
    }
    return { handle, name, at };
  } catch (err) {
    throw fsError(err, target.path);
  }
}

/** Removes a temp file; errors are ignored (it may already be gone). */
export async function discardTemp(temp: TempFile): Promise<void> {
  await temp.handle.close().catch(() => {});
  await unlink(temp.at).catch(() => {});
}

/**
 * Makes the temp file the target: fsync, mode, owner, rename over the target
 * (the target's type is checked again just before), fsync the directory.
 */
export async function commitTemp(
  temp: TempFile,
  target: Located,
  opts: { mode: number; owner?: Ownership; overwrite: boolean },
): Promise<void> {
  try {
    await temp.handle.sync();
    if (opts.owner && (opts.owner.uid !== undefined || opts.owner.gid !== undefined)) {
      await temp.handle.chown(opts.owner.uid ?? -1, opts.owner.gid ?? -1);
    }
    // After chown: changing the owner clears setuid/setgid bits, the mode must come last.
    await temp.handle.chmod(opts.mode);
    await temp.handle.close();
    // The target may have changed since it was located: a directory or special file must not be replaced.
    const now = await lstat(target.parent.at(target.name)).catch(() => undefined);
    if (now) {
      const type = fileTypeOf(now);
      if (type === 'dir') throw new OutpostError('E_CONFLICT', `is a directory: ${target.path}`);
      if (isSpecial(type)) throw new OutpostError('E_DENIED', `not a regular file (${type}): ${target.path}`);
      if (!opts.overwrite) throw new OutpostError('E_CONFLICT', `already exists: ${target.path} (pass overwrite)`);
    }
    await rename(temp.at, target.parent.at(target.name));
  } catch (err) {
    await discardTemp(temp);
    throw fsError(err, target.path);
  }
  await syncDir(target);
}

/** fsyncs the target's directory so the rename survives a power cut; best effort. */
async function syncDir(target: Located): Promise<void> {
  try {
    const dir = await open(target.parent.at(''), O_RDONLY | O_DIRECTORY);
    await dir.sync().catch(() => {});
    await dir.close();
  } catch {
    // Some file systems refuse fsync on directories; the rename is still atomic.
  }
}

/** Numeric ids for a user and group given as names or numbers (from /etc/passwd and /etc/group). */
export async function resolveOwnership(owner?: string, group?: string): Promise<Ownership | undefined> {
  if (owner === undefined && group === undefined) return undefined;
  const result: Ownership = {};
  if (owner !== undefined) result.uid = await lookupId(owner, '/etc/passwd', 'user');
  if (group !== undefined) result.gid = await lookupId(group, '/etc/group', 'group');
  return result;
}

async function lookupId(name: string, file: string, what: string): Promise<number> {
  if (/^[0-9]+$/.test(name)) {
    const id = Number(name);
    if (!Number.isSafeInteger(id) || id > 0xfffffffe)
      throw new OutpostError('E_BAD_ARGS', `invalid ${what} id: ${name}`);
    return id;
  }
  let text = '';
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new OutpostError('E_NOT_FOUND', `no such ${what}: ${name} (cannot read ${file})`);
  }
  for (const line of text.split('\n')) {
    const [n, , id] = line.split(':');
    if (n === name && id !== undefined && /^[0-9]+$/.test(id)) return Number(id);
  }
  throw new OutpostError('E_NOT_FOUND', `no such ${what}: ${name}`);
}
