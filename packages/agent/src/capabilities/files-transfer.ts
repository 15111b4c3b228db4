/**
 * `files/upload`, `files/upload-status` and `files/download`: whole files over
 * a byte stream (docs/files.md §Transfers). An upload lands in the transfer's
 * partial file `.<name>.outpost-part-<transfer>` beside the target, hashed as it
 * is written; a later attempt with the same transfer id resumes it (the part is
 * re-hashed first). Only a complete file with the announced size and SHA-256
 * replaces the target, atomically; a mismatch or a full disk removes the part.
 * An interrupted stream keeps it for the next attempt.
 */
import { createHash, type Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';
import {
  type FilesDownloadArgs,
  type FilesDownloadEnd,
  type FilesDownloadResult,
  type FilesDownloadStart,
  type FilesUploadArgs,
  type FilesUploadResult,
  type FilesUploadStatusArgs,
  type FilesUploadStatusResult,
  OutpostError,
  type StreamDuplex,
} from '@outpost/protocol';
import { acceptStream } from '../streams.js';
import type { CommandContext } from './capability.js';
import { type FileSandbox, fsError, type Located } from './files-paths.js';
import {
  checkWritable,
  commitTemp,
  createTemp,
  DEFAULT_FILE_MODE,
  discardTemp,
  openTemp,
  resolveOwnership,
  type TempFile,
  tempName,
} from './files-write.js';

/** Receive window of a transfer stream: a few frames in flight keep the link busy. */
export const TRANSFER_WINDOW = 4 * 1024 * 1024;
/** Bytes read from disk at a time for a download (the stream cuts them into frames). */
const READ_CHUNK = 256 * 1024;
/** How much an upload buffers while a write is in flight; written together by the next one. */
const WRITE_BATCH = 1024 * 1024;
/** How long a finished upload waits for the sender to acknowledge the end of the stream. */
const FIN_WAIT_MS = 10_000;

/** The partial file's name for a transfer to `name`. */
export const partName = (name: string, transfer: string): string => tempName(name, 'part', transfer);

/** Hashes the first `length` bytes of an open file. */
async function hashPrefix(handle: FileHandle, length: number, hash: Hash): Promise<void> {
  const buf = Buffer.allocUnsafe(READ_CHUNK);
  let pos = 0;
  while (pos < length) {
    const { bytesRead } = await handle.read(buf, 0, Math.min(buf.length, length - pos), pos);
    if (bytesRead === 0) throw new OutpostError('E_CONFLICT', 'the partial file shrank while it was being read');
    hash.update(buf.subarray(0, bytesRead));
    pos += bytesRead;
  }
}

/** Writes every byte of `bufs` at `position`, however the kernel splits the writes. */
async function writevAll(handle: FileHandle, bufs: Buffer[], position: number): Promise<void> {
  let rest = bufs;
  let at = position;
  while (rest.length > 0) {
    let written = (await handle.writev(rest, at)).bytesWritten;
    at += written;
    const left: Buffer[] = [];
    for (const b of rest) {
      if (written >= b.length) written -= b.length;
      else {
        left.push(written > 0 ? b.subarray(written) : b);
        written = 0;
      }
    }
    rest = left;
  }
}

/** The part to write into: a fresh one at offset 0, the existing one (checked, cut to `offset`) to resume. */
async function openPart(target: Located, args: FilesUploadArgs, hash: Hash): Promise<TempFile> {
  const name = partName(target.name, args.transfer);
  const offset = args.offset ?? 0;
  if (offset === 0) {
    // A part left by an earlier attempt of the same transfer is started over.
    const old = await openTemp(target, name).catch((err: unknown) => {
      if (err instanceof OutpostError && err.code === 'E_NOT_FOUND') return undefined;
      throw err;
    });
    if (old) await discardTemp(old);
    return createTemp(target, name);
  }
  const part = await openTemp(target, name).catch((err: unknown) => {
    if (err instanceof OutpostError && err.code === 'E_NOT_FOUND') {
      throw new OutpostError('E_CONFLICT', `nothing to resume: no partial upload of this transfer at ${target.path}`);
    }
    throw err;
  });
  try {
    const have = (await part.handle.stat()).size;
    if (have < offset) {
      throw new OutpostError('E_CONFLICT', `cannot resume at ${offset}: only ${have} bytes are on the device`, {
        size: have,
      });
    }
    // Bytes past the resume point are dropped: the sender starts again from there.
    if (have > offset) await part.handle.truncate(offset);
    await hashPrefix(part.handle, offset, hash);
    return part;
  } catch (err) {
    await part.handle.close().catch(() => {});
    throw fsError(err, target.path);
  }
}

export async function upload(
  sandbox: FileSandbox,
  args: FilesUploadArgs,
  ctx: CommandContext,
): Promise<FilesUploadResult> {
  const started = Date.now();
  const offset = args.offset ?? 0;
  if (offset > args.size) throw new OutpostError('E_BAD_ARGS', `offset ${offset} is past the size ${args.size}`);
  const owner = await resolveOwnership(args.owner, args.group);
  const overwrite = args.overwrite ?? true;
  return sandbox.with(args.path, async (target) => {
    await checkWritable(target, overwrite, await sandbox.isRoot(target.real));
    const hash = createHash('sha256');
    const part = await openPart(target, args, hash);
    let stream: StreamDuplex;
    try {
      stream = acceptStream(ctx, args.sid, { window: TRANSFER_WINDOW });
    } catch (err) {
      await part.handle.close().catch(() => {});
      throw err;
    }
    let position = offset;
    /** Set when the part must go: its content is wrong or the disk is full. */
    let spoiled = false;
    try {
      /** A failure of ours while receiving (the stream itself was fine). */
      let failure: OutpostError | undefined;
      const writeBatch = async (bufs: Buffer[]): Promise<void> => {
        const total = bufs.reduce((n, b) => n + b.length, 0);
        if (position + total > args.size) {
          spoiled = true;
          failure = new OutpostError('E_BAD_ARGS', `more bytes than the announced size of ${args.size}`);
          throw failure;
        }
        try {
          await writevAll(part.handle, bufs, position);
        } catch (err) {
          failure = fsError(err, target.path);
          // A full disk: the part goes, so the device is not left full (docs/files.md §Transfers).
          if (failure.code === 'E_TOO_LARGE') spoiled = true;
          throw failure;
        }
        for (const b of bufs) hash.update(b);
        position += total;
      };
      // Frames that arrive while a write is in flight are written together: one system call per
      // batch, not one per 64 KiB frame, so the disk keeps up with the link.
      const sink = new Writable({
        highWaterMark: WRITE_BATCH,
        writev(chunks, cb) {
          writeBatch(chunks.map((c) => c.chunk as Buffer)).then(() => cb(), cb);
        },
      });
      try {
        await new Promise<void>((resolve, reject) => {
          sink.once('finish', resolve);
          sink.once('error', reject);
          stream.once('error', reject);
          stream.once('close', () => {
            if (!stream.readableEnded) reject(stream.endpoint.error ?? new OutpostError('E_INTERNAL', 'stream closed'));
          });
          stream.pipe(sink);
        });
      } catch (err) {
        if (failure) {
          // The sender hears our reason, not a bare reset.
          if (!stream.destroyed) stream.abort(failure.code, failure.message);
          throw failure;
        }
        // The stream was aborted (the client went away, the link was lost): the part stays to resume.
        const reason = stream.endpoint.error ?? (err instanceof OutpostError ? err : undefined);
        throw new OutpostError(
          reason?.code ?? 'E_INTERNAL',
          `upload interrupted at ${position} of ${args.size} bytes${reason ? ` (${reason.message})` : ''}; resume it`,
          { received: position },
        );
      }
      if (position !== args.size) {
        // The sender ended early: a later attempt can still complete it.
        throw new OutpostError('E_BAD_ARGS', `upload ended at ${position} of ${args.size} bytes; resume it`, {
          received: position,
        });
      }
      const sha256 = hash.digest('hex');
      if (sha256 !== args.sha256) {
        spoiled = true;
        throw new OutpostError(
          'E_CONFLICT',
          'checksum mismatch: the received file does not have the announced SHA-256',
          {
            expected: args.sha256,
            actual: sha256,
          },
        );
      }
      await commitTemp(part, target, { mode: args.mode ?? DEFAULT_FILE_MODE, overwrite, ...(owner ? { owner } : {}) });
      // Our side has nothing to send: closing it lets the stream end cleanly both ways.
      stream.end();
      // The file is in place whatever happens now; a peer that never acknowledges our FIN only delays the answer.
      await Promise.race([stream.done, new Promise((r) => setTimeout(r, FIN_WAIT_MS).unref())]);
      ctx.log.info('uploaded', { path: target.path, size: args.size, resumedFrom: offset });
      return { path: target.path, size: args.size, sha256, resumedFrom: offset, durationMs: Date.now() - started };
    } catch (err) {
      const e = fsError(err, target.path);
      if (spoiled) {
        await discardTemp(part);
        ctx.log.warn('upload failed; partial file removed', { path: target.path, code: e.code, message: e.message });
      } else {
        await part.handle.close().catch(() => {});
        ctx.log.info('upload stopped; partial file kept to resume', { path: target.path, received: position });
      }
      if (!stream.destroyed) stream.abort(e.code, e.message);
      throw e;
    }
  });
}

export async function uploadStatus(
  sandbox: FileSandbox,
  args: FilesUploadStatusArgs,
): Promise<FilesUploadStatusResult> {
  return sandbox.with(args.path, async (target) => {
    // The same checks an upload makes first, so a client learns of a refused path before it sends anything.
    await checkWritable(target, true, await sandbox.isRoot(target.real));
    const result = { path: target.path, transfer: args.transfer };
    try {
      const part = await openTemp(target, partName(target.name, args.transfer));
      try {
        return { ...result, size: (await part.handle.stat()).size, exists: true };
      } finally {
        await part.handle.close();
      }
    } catch (err) {
      if (err instanceof OutpostError && err.code === 'E_NOT_FOUND') return { ...result, size: 0, exists: false };
      throw err;
    }
  });
}

export async function download(
  sandbox: FileSandbox,
  args: FilesDownloadArgs,
  ctx: CommandContext,
): Promise<FilesDownloadResult> {
  const started = Date.now();
  const offset = args.offset ?? 0;
  const { handle, path, stat } = await sandbox.openRead(args.path);
  try {
    const size = stat.size;
    if (offset > size)
      throw new OutpostError('E_BAD_ARGS', `offset ${offset} is past the end of the file (${size} bytes)`);
    const hash = createHash('sha256');
    // The answer names the whole file's hash, so a resumed download can be checked end to end.
    await hashPrefix(handle, offset, hash);
    const stream = acceptStream(ctx, args.sid, { window: TRANSFER_WINDOW });
    const startMsg: FilesDownloadStart = {
      kind: 'start',
      size,
      offset,
      mode: stat.mode & 0o7777,
      mtime: Math.trunc(stat.mtimeMs),
    };
    let position = offset;
    try {
      stream.sendControl(startMsg);
      while (position < size) {
        // A fresh buffer each time: the stream keeps written chunks until they are acknowledged.
        const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, size - position));
        const { bytesRead } = await handle.read(buf, 0, buf.length, position);
        if (bytesRead === 0) throw new OutpostError('E_CONFLICT', `${path} shrank while it was being sent`);
        const chunk = buf.subarray(0, bytesRead);
        hash.update(chunk);
        position += bytesRead;
        if (!stream.write(chunk)) await waitDrain(stream);
      }
      const endMsg: FilesDownloadEnd = { kind: 'end', sha256: hash.digest('hex'), size };
      stream.sendControl(endMsg);
      stream.end();
      const error = await stream.done;
      if (error) throw error;
      return { path, size, sha256: endMsg.sha256, sent: size - offset, durationMs: Date.now() - started };
    } catch (err) {
      const e = err instanceof OutpostError ? err : fsError(err, path);
      if (!stream.destroyed) stream.abort(e.code, e.message);
      const reason = stream.endpoint.error;
      // The receiver went away: say so, with where it stopped (it resumes from its own count).
      if (reason && reason !== e && !(err instanceof OutpostError))
        throw new OutpostError(reason.code, `download interrupted: ${reason.message}`, { sent: position - offset });
      throw e;
    }
  } finally {
    await handle.close().catch(() => {});
  }
}

/** Resolves on `drain`, rejects if the stream is destroyed first. */
function waitDrain(stream: StreamDuplex): Promise<void> {
  return new Promise((resolve, reject) => {
    const onDrain = () => {
      stream.off('close', onClose);
      resolve();
    };
    const onClose = () => {
      stream.off('drain', onDrain);
      reject(stream.endpoint.error ?? new OutpostError('E_INTERNAL', 'stream closed'));
    };
    stream.once('drain', onDrain);
    stream.once('close', onClose);
  });
}
