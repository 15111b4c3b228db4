/**
 * The file sandbox: every file action resolves its paths here, and nothing
 * outside the configured roots can be reached (docs/files.md §Paths).
 *
 * A path must be absolute, free of NUL and `..`; its parent's real path (symlinks
 * resolved) must lie inside a root. To close the race between checking and
 * acting, the parent directory is opened (O_DIRECTORY|O_NOFOLLOW) and the real
 * path of that open descriptor is checked again through /proc/self/fd; the
 * action then works on `/proc/self/fd/N/name`, so a directory swapped for a
 * symlink after the check cannot redirect it. Final components are never
 * followed unless their target is checked too.
 */
import { constants, existsSync, type Stats } from 'node:fs';
import { lstat, mkdir, open, readlink, realpath, stat } from 'node:fs/promises';
import { basename, dirname, posix } from 'node:path';
import { type FileEntry, type FileType, OutpostError } from '@outpost/protocol';
import type { Logger } from '../log.js';

const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW, O_NONBLOCK } = constants;

/** Whether descriptors can be re-opened by path through procfs (Linux with /proc mounted). */
const PROC_FD = existsSync('/proc/self/fd');

export function fileTypeOf(st: Stats): FileType {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return 'socket';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  return 'other';
}

/** Special files (devices, FIFOs, sockets) are never opened, overwritten, moved or deleted. */
export function isSpecial(type: FileType): boolean {
  return type === 'fifo' || type === 'socket' || type === 'char' || type === 'block' || type === 'other';
}

export function entryOf(name: string, st: Stats, target?: string): FileEntry {
  const entry: FileEntry = {
    name,
    type: fileTypeOf(st),
    size: st.isFile() || st.isSymbolicLink() ? st.size : 0,
    mode: st.mode & 0o7777,
    uid: st.uid,
    gid: st.gid,
    mtime: Math.trunc(st.mtimeMs),
  };
  if (target !== undefined) entry.target = target;
  return entry;
}

/** Maps a failed system call to a coded error that names the path the user gave, never internals. */
export function fsError(err: unknown, path: string): OutpostError {
  if (err instanceof OutpostError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
      return new OutpostError('E_NOT_FOUND', `no such file or directory: ${path}`);
    case 'EACCES':
    case 'EPERM':
      return new OutpostError('E_DENIED', `permission denied: ${path}`);
    case 'EROFS':
      return new OutpostError('E_DENIED', `read-only file system: ${path}`);
    case 'ELOOP':
      return new OutpostError('E_DENIED', `refusing to follow a symlink: ${path}`);
    case 'EEXIST':
      return new OutpostError('E_CONFLICT', `already exists: ${path}`);
    case 'ENOTEMPTY':
      return new OutpostError('E_CONFLICT', `directory not empty: ${path} (delete it with recursive)`);
    case 'EISDIR':
      return new OutpostError('E_CONFLICT', `is a directory: ${path}`);
    case 'ENOTDIR':
      return new OutpostError('E_BAD_ARGS', `not a directory: ${path}`);
    case 'ENAMETOOLONG':
      return new OutpostError('E_BAD_ARGS', `name too long: ${path}`);
    case 'EINVAL':
      return new OutpostError('E_BAD_ARGS', `invalid operation on ${path}`);
    case 'ENOSPC':
    case 'EDQUOT':
      return new OutpostError('E_TOO_LARGE', `no space left on the device for ${path}`);
    case 'EBUSY':
    case 'ETXTBSY':
      return new OutpostError('E_BUSY', `in use: ${path}`);
    default:
      return new OutpostError('E_INTERNAL', `file operation failed on ${path}${code ? ` (${code})` : ''}`);
  }
}

/** An open directory inside the roots; `at(name)` names an entry of it race-free. */
export class DirHandle {
  constructor(
    readonly fd: number,
    /** Its real path, checked inside a root. */
    readonly real: string,
    private readonly close_: () => Promise<void>,
  ) {}

  /** The path of an entry of this directory that the kernel resolves through the open descriptor. */
  at(name: string): string {
    const base = PROC_FD ? `/proc/self/fd/${this.fd}` : this.real;
    return name === '' ? base : `${base}/${name}`;
  }

  close(): Promise<void> {
    return this.close_();
  }
}

/** A path resolved to its (checked) parent directory and final name. */
export interface Located {
  /** The normalized path the caller gave. */
  path: string;
  /** The real path of the parent plus the final name (the final component is not resolved). */
  real: string;
  parent: DirHandle;
  name: string;
  /** `lstat` of the final component, when it exists. */
  stat: Stats | undefined;
}

export class FileSandbox {
  private roots: string[] | undefined;

  constructor(
    private readonly configured: readonly string[],
    private readonly dataDir: string | undefined,
    private readonly log: Logger,
  ) {}

  /** The roots' real paths. The agent's own data folder is made on first use; missing others are skipped. */
  async realRoots(): Promise<string[]> {
    if (this.roots) return this.roots;
    const roots: string[] = [];
    for (const r of this.configured) {
      try {
        if (r === this.dataDir) await mkdir(r, { recursive: true, mode: 0o750 });
        const real = await realpath(r);
        if ((await lstat(real)).isDirectory()) roots.push(real);
        else this.log.warn('file root is not a directory; ignored', { root: r });
      } catch (err) {
        this.log.warn('file root not usable; ignored', { root: r, code: (err as NodeJS.ErrnoException).code });
      }
    }
    this.roots = roots;
    return roots;
  }

  /** Checks the form of a path from the wire: absolute, no NUL, no `..`; returns it normalized. */
  normalize(input: string): string {
    if (typeof input !== 'string' || input === '') throw new OutpostError('E_BAD_ARGS', 'a path is required');
    if (input.includes('\0')) throw new OutpostError('E_BAD_ARGS', 'path contains a NUL byte');
    if (!input.startsWith('/')) throw new OutpostError('E_BAD_ARGS', `path must be absolute: ${input}`);
    if (input.split('/').includes('..')) throw new OutpostError('E_BAD_ARGS', `path must not contain '..': ${input}`);
    const norm = posix.normalize(input);
    return norm.length > 1 && norm.endsWith('/') ? norm.slice(0, -1) : norm;
  }

  /** True when `real` is a root or lies under one. */
  async inside(real: string): Promise<boolean> {
    return (await this.realRoots()).some((r) => real === r || real.startsWith(r === '/' ? '/' : `${r}/`));
  }

  async isRoot(real: string): Promise<boolean> {
    return (await this.realRoots()).includes(real);
  }

  private async denied(path: string): Promise<OutpostError> {
    const roots = await this.realRoots();
    if (roots.length === 0)
      return new OutpostError('E_DENIED', 'file actions are disabled on this device (no file roots)');
    return new OutpostError('E_DENIED', `outside the allowed roots: ${path}`, { roots });
  }

  /**
   * Opens a directory whose real path must lie inside a root, checking the open
   * descriptor's own path afterwards (a swap between the two checks is caught).
   */
  async openDir(path: string, shown = path): Promise<DirHandle> {
    let real: string;
    try {
      real = await realpath(path);
    } catch (err) {
      throw fsError(err, shown);
    }
    if (!(await this.inside(real))) throw await this.denied(shown);
    let handle: Awaited<ReturnType<typeof open>>;
    try {
      handle = await open(real, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    } catch (err) {
      throw fsError(err, shown);
    }
    const dir = new DirHandle(handle.fd, real, () => handle.close());
    try {
      await this.checkFd(handle.fd, shown);
    } catch (err) {
      await dir.close();
      throw err;
    }
    return dir;
  }

  /** Checks, through procfs, that an open descriptor really is inside a root. */
  async checkFd(fd: number, shown: string): Promise<void> {
    if (!PROC_FD) return;
    let real: string;
    try {
      real = await readlink(`/proc/self/fd/${fd}`);
    } catch (err) {
      throw fsError(err, shown);
    }
    if (!(await this.inside(real))) {
      this.log.warn('a path changed while it was being checked; refused', { path: shown });
      throw await this.denied(shown);
    }
  }

  /**
   * Resolves `input` to its parent directory (open, checked) and its final name.
   * The caller must close `parent`. A root itself resolves too; callers that
   * must never act on a root check `isRoot(located.real)`.
   */
  async locate(input: string): Promise<Located> {
    const path = this.normalize(input);
    const root = await this.rootNamed(path);
    if (root !== undefined) {
      // A root is its own "parent": it may be listed, never deleted or moved (callers check isRoot).
      const parent = await this.openDir(path);
      try {
        // stat, not lstat: `/proc/self/fd/N` itself is a (magic) symlink to the open directory.
        return { path, real: root, parent, name: '', stat: await stat(parent.at('')) };
      } catch (err) {
        await parent.close();
        throw fsError(err, path);
      }
    }
    const parent = await this.openDir(dirname(path), path);
    const name = basename(path);
    try {
      let stat: Stats | undefined;
      try {
        stat = await lstat(parent.at(name));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fsError(err, path);
      }
      return { path, real: parent.real === '/' ? `/${name}` : `${parent.real}/${name}`, parent, name, stat };
    } catch (err) {
      await parent.close();
      throw err;
    }
  }

  /** The root's real path when `path` names a root (a real directory, not a symlink to one). */
  private async rootNamed(path: string): Promise<string | undefined> {
    try {
      if (!(await lstat(path)).isDirectory()) return undefined;
      const real = await realpath(path);
      return (await this.isRoot(real)) ? real : undefined;
    } catch {
      return undefined;
    }
  }

  /** Runs `fn` with a located path and always closes its parent. */
  async with<T>(input: string, fn: (l: Located) => Promise<T>): Promise<T> {
    const located = await this.locate(input);
    try {
      return await fn(located);
    } finally {
      await located.parent.close();
    }
  }

  /**
   * Opens an existing regular file for reading, following a final symlink only
   * when its target is inside a root too; special files are refused.
   */
  async openRead(input: string): Promise<{ handle: Awaited<ReturnType<typeof open>>; path: string; stat: Stats }> {
    const path = this.normalize(input);
    let real: string;
    try {
      real = await realpath(path);
    } catch (err) {
      throw fsError(err, path);
    }
    if (!(await this.inside(real))) throw await this.denied(path);
    let handle: Awaited<ReturnType<typeof open>>;
    try {
      // O_NONBLOCK: opening a FIFO must not hang waiting for a writer; it is refused just below.
      handle = await open(real, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    } catch (err) {
      throw fsError(err, path);
    }
    try {
      const stat = await handle.stat();
      const type = fileTypeOf(stat);
      if (type === 'dir') throw new OutpostError('E_BAD_ARGS', `is a directory: ${path}`);
      if (type !== 'file') throw new OutpostError('E_DENIED', `not a regular file (${type}): ${path}`);
      await this.checkFd(handle.fd, path);
      return { handle, path, stat };
    } catch (err) {
      await handle.close();
      throw err;
    }
  }
}
