/**
 * `files/*`: list, stat, mkdir, delete, move and fetch here; upload, upload-status
 * and download over byte streams in files-transfer.ts. Every path is resolved by
 * the sandbox (files-paths.ts) inside the configured roots (docs/files.md). A
 * root itself can be listed but never deleted, moved or replaced; special files
 * (devices, FIFOs, sockets) are shown but never touched.
 */
import { constants } from 'node:fs';
import { lstat, mkdir, open, readdir, readlink, rename, rm, rmdir, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import {
  FILES_LIST_DEFAULT_LIMIT,
  type FileEntry,
  type FilesListResult,
  type FilesMkdirArgs,
  type FilesMoveArgs,
  type FilesMoveResult,
  OutpostError,
} from '@outpost/protocol';
import { action, type Capability, type CapabilityHost } from './capability.js';
import { fetchToFile } from './files-fetch.js';
import { UPLOAD_PARTS_FILE, UploadParts } from './files-parts.js';
import { DirHandle, entryOf, FileSandbox, fileTypeOf, fsError, isSpecial, type Located } from './files-paths.js';
import { download, upload, uploadStatus } from './files-transfer.js';
import { commitTemp, createTemp, discardTemp, tempName } from './files-write.js';

const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW } = constants;
const DEFAULT_DIR_MODE = 0o755;

/**
 * One sandbox and one registry of upload parts per agent, made from the config the
 * agent starts with (or the first action sees, when the agent core is not running).
 * `now` is the clock upload parts age by (tests move it forward).
 */
export function createFilesCapability(options: { now?: () => number } = {}): Capability {
  let sandbox: FileSandbox | undefined;
  let uploadParts: UploadParts | undefined;
  type Host = Pick<CapabilityHost, 'config' | 'log'>;
  const newBox = ({ config, log }: Host) => new FileSandbox(config.fileRoots, `${config.stateDir}/files`, log);
  const box = (host: Host): FileSandbox => {
    sandbox ??= newBox(host);
    return sandbox;
  };
  const parts = ({ config, log }: Host): UploadParts => {
    uploadParts ??= new UploadParts(join(config.stateDir, UPLOAD_PARTS_FILE), log, options.now);
    return uploadParts;
  };
  return {
    name: 'files',
    // Parts of uploads never resumed are removed once idle for `uploadPartTtl` (files-parts.ts). Each
    // sweep resolves the roots afresh: a root mounted after the agent started is found then.
    start: async (host) => parts(host).start(() => newBox(host), host.config.uploadPartTtl),
    stop: async () => uploadParts?.stop(),
    actions: {
      list: action('files/list', (args, ctx) => list(box(ctx), args.path, args.offset ?? 0, args.limit)),
      stat: action('files/stat', (args, ctx) =>
        box(ctx).with(args.path, async (l) => ({ path: l.path, entry: await describe(l) })),
      ),
      mkdir: action('files/mkdir', (args, ctx) => makeDir(box(ctx), args)),
      delete: action('files/delete', (args, ctx) =>
        box(ctx).with(args.path, async (l) => {
          const type = await checkMovable(box(ctx), l, 'delete');
          const at = l.parent.at(l.name);
          try {
            if (type !== 'dir') await unlink(at);
            else if (args.recursive) await rm(at, { recursive: true });
            else await rmdir(at);
          } catch (err) {
            throw fsError(err, l.path);
          }
          ctx.log.info('deleted', { path: l.path, type, recursive: args.recursive === true });
          return { path: l.path, type };
        }),
      ),
      move: action('files/move', async (args, ctx) => {
        const result = await move(box(ctx), args);
        ctx.log.info('moved', { from: result.from, to: result.to, type: result.type });
        return result;
      }),
      fetch: action('files/fetch', (args, ctx) => fetchToFile(box(ctx), args, ctx)),
      upload: action('files/upload', (args, ctx) =>
        parts(ctx).track(box(ctx), args, () => upload(box(ctx), args, ctx)),
      ),
      'upload-status': action('files/upload-status', (args, ctx) => uploadStatus(box(ctx), args)),
      download: action('files/download', (args, ctx) => download(box(ctx), args, ctx)),
    },
  };
}

/** lstat of a located path as an entry, with a symlink's target. */
async function describe(l: Located): Promise<FileEntry> {
  if (!l.stat) throw new OutpostError('E_NOT_FOUND', `no such file or directory: ${l.path}`);
  const name = l.name === '' ? basename(l.path) || '/' : l.name;
  const target = l.stat.isSymbolicLink() ? await readlink(l.parent.at(l.name)).catch(() => undefined) : undefined;
  return entryOf(name, l.stat, target);
}

async function list(sandbox: FileSandbox, input: string, offset: number, limit?: number): Promise<FilesListResult> {
  return sandbox.with(input, async (l) => {
    const self = await describe(l);
    let dir: DirHandle | undefined;
    if (self.type === 'dir') {
      dir = l.name === '' ? l.parent : await sandbox.openDir(l.parent.at(l.name), l.path);
    } else if (self.type === 'symlink') {
      // A symlink to a directory is listed like `ls` does, but only when the directory is inside a root.
      const followed = await stat(l.parent.at(l.name)).catch(() => undefined);
      if (followed?.isDirectory()) dir = await sandbox.openDir(l.parent.at(l.name), l.path);
    }
    if (!dir) return { path: l.path, type: self.type, entries: [self], total: 1, next: null };
    try {
      let names: string[];
      try {
        names = (await readdir(dir.at(''))).sort();
      } catch (err) {
        throw fsError(err, l.path);
      }
      const page = names.slice(offset, offset + (limit ?? FILES_LIST_DEFAULT_LIMIT));
      const entries: FileEntry[] = [];
      for (const name of page) {
        const at = dir.at(name);
        const st = await lstat(at).catch(() => undefined);
        // An entry removed between readdir and lstat is simply not listed.
        if (!st) continue;
        entries.push(entryOf(name, st, st.isSymbolicLink() ? await readlink(at).catch(() => '') : undefined));
      }
      const end = offset + page.length;
      return { path: l.path, type: 'dir', entries, total: names.length, next: end < names.length ? end : null };
    } finally {
      if (dir !== l.parent) await dir.close();
    }
  });
}

/**
 * Checks a path may be deleted or moved away: it exists, is not a root and holds
 * no root, and is not a special file. Returns its type.
 */
async function checkMovable(sandbox: FileSandbox, l: Located, verb: string): Promise<FileEntry['type']> {
  if (l.name === '' || (await sandbox.isRoot(l.real))) {
    throw new OutpostError('E_DENIED', `refusing to ${verb} a root: ${l.path}`);
  }
  if (!l.stat) throw new OutpostError('E_NOT_FOUND', `no such file or directory: ${l.path}`);
  const type = fileTypeOf(l.stat);
  if (isSpecial(type)) throw new OutpostError('E_DENIED', `refusing to ${verb} a special file (${type}): ${l.path}`);
  if (type === 'dir' && (await sandbox.realRoots()).some((r) => r.startsWith(`${l.real}/`))) {
    throw new OutpostError('E_DENIED', `refusing to ${verb} a directory that holds a root: ${l.path}`);
  }
  return type;
}

async function makeDir(sandbox: FileSandbox, args: FilesMkdirArgs): Promise<{ path: string; created: boolean }> {
  const path = sandbox.normalize(args.path);
  const mode = args.mode ?? DEFAULT_DIR_MODE;
  if (!args.recursive) {
    return sandbox.with(path, async (l) => {
      if (l.stat) throw new OutpostError('E_CONFLICT', `already exists: ${path}`);
      const made = await makeOne(sandbox, l.parent, l.name, mode, path);
      await made.close();
      return { path, created: true };
    });
  }
  // Walk up to the deepest ancestor that exists; everything below it is made one level at a time.
  const missing: string[] = [];
  let existing = path;
  for (;;) {
    const st = await lstat(existing).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw fsError(err, path);
    });
    if (st || existing === '/') break;
    missing.unshift(basename(existing));
    existing = dirname(existing);
  }
  let dir = await sandbox.openDir(existing, path);
  try {
    for (const name of missing) {
      const next = await makeOne(sandbox, dir, name, mode, path);
      await dir.close();
      dir = next;
    }
  } finally {
    await dir.close();
  }
  return { path, created: missing.length > 0 };
}

/**
 * Makes `name` in `dir` and opens it without following symlinks; a directory
 * that appeared meanwhile is used as is (mkdir -p). The mode is set exactly.
 */
async function makeOne(
  sandbox: FileSandbox,
  dir: DirHandle,
  name: string,
  mode: number,
  shown: string,
): Promise<DirHandle> {
  const at = dir.at(name);
  let created = true;
  try {
    await mkdir(at, { mode });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw fsError(err, shown);
    created = false;
  }
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(at, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  } catch (err) {
    throw fsError(err, shown);
  }
  const next = new DirHandle(handle.fd, `${dir.real}/${name}`, () => handle.close());
  try {
    await sandbox.checkFd(handle.fd, shown);
    if (created) await handle.chmod(mode);
  } catch (err) {
    await next.close();
    throw fsError(err, shown);
  }
  return next;
}

async function move(sandbox: FileSandbox, args: FilesMoveArgs): Promise<FilesMoveResult> {
  return sandbox.with(args.from, (from) =>
    sandbox.with(args.to, async (to) => {
      const type = await checkMovable(sandbox, from, 'move');
      if (to.name === '' || (await sandbox.isRoot(to.real))) {
        throw new OutpostError('E_DENIED', `refusing to replace a root: ${to.path}`);
      }
      if (to.real === from.real) return { from: from.path, to: to.path, type };
      if (type === 'dir' && to.real.startsWith(`${from.real}/`)) {
        throw new OutpostError('E_BAD_ARGS', `cannot move a directory into itself: ${from.path} → ${to.path}`);
      }
      if (to.stat) {
        const toType = fileTypeOf(to.stat);
        if (isSpecial(toType)) throw new OutpostError('E_DENIED', `refusing to replace a special file: ${to.path}`);
        if (!args.overwrite) throw new OutpostError('E_CONFLICT', `already exists: ${to.path} (pass overwrite)`);
      }
      try {
        await rename(from.parent.at(from.name), to.parent.at(to.name));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw fsError(err, to.path);
        if (type !== 'file') {
          throw new OutpostError(
            'E_UNSUPPORTED',
            `cannot move a ${type} across file systems: ${from.path} → ${to.path}`,
          );
        }
        await copyAcross(from, to, args.overwrite === true);
      }
      return { from: from.path, to: to.path, type };
    }),
  );
}

/** A file moved to another file system: copied to a temp beside the target, renamed in, then the source removed. */
async function copyAcross(from: Located, to: Located, overwrite: boolean): Promise<void> {
  const st = from.stat;
  if (!st) throw new OutpostError('E_NOT_FOUND', `no such file: ${from.path}`);
  const temp = await createTemp(to, tempName(to.name, 'move'));
  try {
    // The source is opened without following a symlink (it may have been swapped since it was checked).
    const source = await open(from.parent.at(from.name), O_RDONLY | O_NOFOLLOW | constants.O_NONBLOCK);
    try {
      if (!(await source.stat()).isFile()) throw new OutpostError('E_CONFLICT', `changed while moving: ${from.path}`);
      const buf = Buffer.allocUnsafe(1024 * 1024);
      for (;;) {
        const { bytesRead } = await source.read(buf, 0, buf.length, null);
        if (bytesRead === 0) break;
        let off = 0;
        while (off < bytesRead) off += (await temp.handle.write(buf, off, bytesRead - off)).bytesWritten;
      }
    } finally {
      await source.close();
    }
  } catch (err) {
    await discardTemp(temp);
    throw fsError(err, to.path);
  }
  // Only root may give a file away; others keep their own ownership, as mv does.
  const owner = process.getuid?.() === 0 ? { owner: { uid: st.uid, gid: st.gid } } : {};
  await commitTemp(temp, to, { mode: st.mode & 0o7777, overwrite, ...owner });
  await unlink(from.parent.at(from.name)).catch((err: unknown) => {
    throw fsError(err, from.path);
  });
}
