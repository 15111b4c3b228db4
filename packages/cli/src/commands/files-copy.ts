/**
 * `outpost cp LOCAL DEVICE:PATH` and `outpost cp DEVICE:PATH LOCAL`: whole files
 * over the device's byte stream, streamed from and to disk (never held in
 * memory), SHA-256 checked end to end, and resumed after an interruption: an
 * upload continues from what the device's partial file holds
 * (`files/upload-status`), a download from the local `.outpost-part` file.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, open, rename, rm, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { api, type FilesStatResult, type FilesUploadResult, type FilesUploadStatusResult } from '@outpost/protocol';
import type { Command as Program } from 'commander';
import type { Context } from '../context.js';
import { CliError } from '../errors.js';
import { usage } from '../parse.js';
import { formatBytes, ProgressBar } from '../progress.js';
import { isRemote, modeOption, parseRemote, type RemotePath } from '../remote-path.js';

const enc = encodeURIComponent;

interface CopyOptions {
  resume?: boolean;
  mode?: number;
  json?: boolean;
}

/** SHA-256 of a file, or of its first `length` bytes, read as a stream. */
async function hashFile(path: string, length?: number, onProgress?: (n: number) => void): Promise<Hash> {
  const hash = createHash('sha256');
  if (length === 0) return hash;
  let done = 0;
  const source = createReadStream(path, length === undefined ? {} : { end: length - 1 });
  for await (const chunk of source as AsyncIterable<Buffer>) {
    hash.update(chunk);
    done += chunk.length;
    onProgress?.(done);
  }
  return hash;
}

/** Counts bytes on their way through, for the progress bar. */
function counter(onBytes: (n: number) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      onBytes(chunk.length);
      cb(null, chunk);
    },
  });
}

/** A stable id for "this file to that place", so running the same copy again resumes it. */
export function transferId(sha256: string, size: number, remote: RemotePath): string {
  return `t${createHash('sha256').update(`${sha256}:${size}:${remote.device}:${remote.path}`).digest('hex').slice(0, 40)}`;
}

const label = (path: string) => (path.length > 40 ? `…${path.slice(-39)}` : path);

async function upload(ctx: Context, local: string, remote: RemotePath, opts: CopyOptions): Promise<void> {
  const st = await stat(local).catch(() => {
    throw new CliError(`cannot read ${local}: no such file`, { exitCode: 1 });
  });
  if (!st.isFile()) throw new CliError(`${local} is not a regular file`);
  const client = await ctx.api();
  const base = `/devices/${enc(remote.device)}/files`;
  let path = remote.path;
  // Into an existing directory, as cp does.
  const target = await client
    .call<FilesStatResult>('GET', base, { query: { path, stat: true } })
    .catch((err: unknown) => {
      if (err instanceof CliError && err.code === 'E_NOT_FOUND') return undefined;
      throw err;
    });
  if (path.endsWith('/') || target?.entry.type === 'dir') path = `${path.replace(/\/+$/, '')}/${basename(local)}`;

  const size = st.size;
  const stderr = ctx.io.stderr as { write(s: string): unknown; isTTY?: boolean };
  const hashing = new ProgressBar(stderr, 'hashing', size);
  const sha256 = (await hashFile(local, undefined, (n) => hashing.update(n))).digest('hex');
  hashing.finish();
  const transfer = transferId(sha256, size, { device: remote.device, path });

  let offset = 0;
  // Also checks the destination before anything is sent (inside the roots, its directory exists).
  const status = await client.call<FilesUploadStatusResult>('GET', `${base}/upload-status`, {
    query: { path, transfer },
  });
  if (opts.resume !== false && status.exists && status.size <= size) offset = status.size;
  if (offset > 0) ctx.err(`resuming at ${formatBytes(offset)} of ${formatBytes(size)}`);

  const bar = new ProgressBar(stderr, label(`${remote.device}:${path}`), size, offset);
  let sent = offset;
  const body = createReadStream(local, { start: offset });
  const counted = body.pipe(
    counter((n) => {
      sent += n;
      bar.update(sent);
    }),
  );
  body.on('error', (err) => counted.destroy(err));
  const query: api.FilesUploadQuery = { path, size, sha256, transfer, offset };
  if (opts.mode !== undefined) query.mode = opts.mode;
  let result: FilesUploadResult;
  try {
    const res = await client.transfer('PUT', `${base}/content`, {
      query: { ...query },
      headers: { 'content-length': String(size - offset) },
      body: counted,
    });
    result = (await res.body.json()) as FilesUploadResult;
    bar.finish(sent);
  } finally {
    bar.finish();
  }
  if (result.sha256 !== sha256 || result.size !== size) {
    throw new CliError('the device reported a different file than the one sent', { code: 'E_CONFLICT' });
  }
  if (opts.json) return ctx.json(result);
  ctx.err(`uploaded ${formatBytes(size)} to ${remote.device}:${result.path} (sha256 ${sha256})`);
}

async function download(ctx: Context, remote: RemotePath, local: string, opts: CopyOptions): Promise<void> {
  const localStat = await stat(local).catch(() => undefined);
  const target = localStat?.isDirectory() ? join(local, basename(remote.path)) : local;
  const part = `${target}.outpost-part`;
  let offset = 0;
  if (opts.resume !== false) offset = (await stat(part).catch(() => undefined))?.size ?? 0;
  else await rm(part, { force: true });

  const client = await ctx.api();
  const res = await client.transfer('GET', `/devices/${enc(remote.device)}/files/content`, {
    query: { path: remote.path },
    headers: offset > 0 ? { range: `bytes=${offset}-` } : {},
  });
  const total = Number(res.headers[api.FILE_SIZE_HEADER]);
  if (!Number.isSafeInteger(total)) {
    res.body.destroy();
    throw new CliError('the server did not say how large the file is: is it an Outpost server?');
  }
  // A server that ignored the range sends everything: start over.
  if (offset > 0 && res.statusCode !== 206) offset = 0;
  if (offset > 0) ctx.err(`resuming at ${formatBytes(offset)} of ${formatBytes(total)}`);
  const hash = offset > 0 ? await hashFile(part, offset) : createHash('sha256');
  if (offset > 0) {
    // Bytes past the resume point (written but not counted) are dropped.
    const h = await open(part, 'r+');
    await h.truncate(offset);
    await h.close();
  }
  const stderr = ctx.io.stderr as { write(s: string): unknown; isTTY?: boolean };
  const bar = new ProgressBar(stderr, label(`${remote.device}:${remote.path}`), total, offset);
  let received = offset;
  const out = createWriteStream(part, { flags: offset > 0 ? 'r+' : 'w', start: offset });
  try {
    await pipeline(
      res.body,
      new Transform({
        transform(chunk: Buffer, _enc, cb) {
          hash.update(chunk);
          received += chunk.length;
          bar.update(received);
          cb(null, chunk);
        },
      }),
      out,
    );
  } catch (err) {
    bar.finish();
    throw new CliError(
      `download interrupted at ${formatBytes(received)} of ${formatBytes(total)}; run the same command again to resume`,
      { cause: err },
    );
  }
  bar.finish(received);
  const expected = res.trailers[api.FILE_SHA256_TRAILER];
  const actual = hash.digest('hex');
  if (typeof expected !== 'string') {
    throw new CliError('the download ended without its checksum; run the same command again to resume');
  }
  if (received !== total || actual !== expected) {
    await rm(part, { force: true });
    throw new CliError(
      received !== total
        ? `received ${received} of ${total} bytes`
        : 'checksum mismatch: the file changed on the device while it was copied; run the command again',
      { code: 'E_CONFLICT' },
    );
  }
  if (opts.mode !== undefined) await chmod(part, opts.mode);
  await rename(part, target);
  if (opts.json) return ctx.json({ path: target, size: total, sha256: actual, resumedFrom: offset });
  ctx.err(`downloaded ${formatBytes(total)} to ${target} (sha256 ${actual})`);
}

export function registerCopy(program: Program, ctx: Context): void {
  program
    .command('cp')
    .description('copy a file between this machine and a device (streamed, checked, resumable)')
    .argument('<from>', 'LOCAL file or DEVICE:/path')
    .argument('<to>', 'DEVICE:/path or LOCAL path')
    .option('--no-resume', 'start over instead of resuming an interrupted copy')
    .option('-m, --mode <mode>', 'octal mode of the copy (default 644 on a device, the umask here)', modeOption)
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
Examples:
  outpost cp firmware.bin gw-12:/var/lib/outpost/files/
  outpost cp gw-12:/var/log/syslog ./syslog
  outpost cp --mode 755 tool gw-12:/tmp/tool

An interrupted copy (Ctrl-C, lost link) resumes when the same command runs again.
Progress (bytes, %, speed, ETA) is shown on stderr when it is a terminal.`,
    )
    .action(async (from: string, to: string, opts: CopyOptions) => {
      const fromRemote = isRemote(from);
      const toRemote = isRemote(to);
      if (fromRemote === toRemote) {
        throw usage('one side must be a device path (DEVICE:/path) and the other a local path');
      }
      if (fromRemote) await download(ctx, parseRemote(from), to, opts);
      else await upload(ctx, from, parseRemote(to), opts);
    });
}
