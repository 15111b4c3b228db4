/**
 * Files on devices: `outpost ls|rm|mkdir|mv DEVICE:PATH`, `outpost fetch DEVICE
 * URL PATH` (the device downloads), and `outpost cp` between this machine and a
 * device (docs/files.md). Remote paths are written `DEVICE:/absolute/path`.
 */
import type { api, FileEntry, FilesFetchResult, FilesListResult, FilesStatResult } from '@outpost/protocol';
import { InvalidArgumentError, type Command as Program } from 'commander';
import type { ApiClient } from '../api.js';
import type { Context } from '../context.js';
import { CliError } from '../errors.js';
import { followCommand } from '../follow.js';
import { durationOption, usage } from '../parse.js';
import { formatBytes, ProgressBar } from '../progress.js';
import { modeOption, parseRemote, type RemotePath } from '../remote-path.js';
import { renderTable } from '../table.js';
import { registerCopy } from './files-copy.js';

const enc = encodeURIComponent;

const TYPE_CHAR: Record<FileEntry['type'], string> = {
  file: '-',
  dir: 'd',
  symlink: 'l',
  fifo: 'p',
  socket: 's',
  char: 'c',
  block: 'b',
  other: '?',
};

/** `drwxr-xr-x`, with setuid/setgid/sticky shown as ls does. */
export function modeString(type: FileEntry['type'], mode: number): string {
  const rwx = (bits: number, special: boolean, ch: string) =>
    `${bits & 4 ? 'r' : '-'}${bits & 2 ? 'w' : '-'}${bits & 1 ? (special ? ch : 'x') : special ? ch.toUpperCase() : '-'}`;
  return (
    TYPE_CHAR[type] +
    rwx((mode >> 6) & 7, (mode & 0o4000) !== 0, 's') +
    rwx((mode >> 3) & 7, (mode & 0o2000) !== 0, 's') +
    rwx(mode & 7, (mode & 0o1000) !== 0, 't')
  );
}

export function renderLong(entries: readonly FileEntry[]): string {
  return renderTable(
    ['MODE', 'OWNER', 'SIZE', 'MODIFIED', 'NAME'],
    entries.map((e) => [
      modeString(e.type, e.mode),
      `${e.uid}:${e.gid}`,
      String(e.size),
      new Date(e.mtime).toISOString().replace(/\.\d+Z$/, 'Z'),
      e.target !== undefined ? `${e.name} -> ${e.target}` : e.name,
    ]),
  ).replace(/^MODE.*\n/, '');
}

/** Every page of a listing (the agent answers at most 2000 entries at a time). */
async function listAll(client: ApiClient, remote: RemotePath): Promise<FilesListResult> {
  let offset = 0;
  let first: FilesListResult | undefined;
  const entries: FileEntry[] = [];
  for (;;) {
    const page = await client.call<FilesListResult>('GET', `/devices/${enc(remote.device)}/files`, {
      query: { path: remote.path, offset, limit: 2000 },
    });
    first ??= page;
    entries.push(...page.entries);
    if (page.next === null || page.next <= offset) break;
    offset = page.next;
  }
  return { ...(first as FilesListResult), entries, next: null };
}

export function registerFiles(program: Program, ctx: Context): void {
  program
    .command('ls')
    .description('list a directory (or describe a file) on a device')
    .argument('<remote>', 'DEVICE:/path')
    .option('-l, --long', 'mode, owner, size, modification time and symlink targets')
    .option('--json', 'print the listing as JSON')
    .addHelpText('after', '\nExamples:\n  outpost ls gw-12:/var/lib/outpost/files\n  outpost ls -l gw-12:/tmp')
    .action(async (spec: string, opts: { long?: boolean; json?: boolean }) => {
      const remote = parseRemote(spec);
      const listing = await listAll(await ctx.api(), remote);
      if (opts.json) return ctx.json(listing);
      if (listing.entries.length === 0) return;
      if (opts.long) return ctx.out(renderLong(listing.entries));
      ctx.out(listing.entries.map((e) => (e.type === 'dir' ? `${e.name}/` : e.name)).join('\n'));
    });

  program
    .command('stat')
    .description('describe one path on a device (a symlink is not followed)')
    .argument('<remote>', 'DEVICE:/path')
    .option('--json', 'print as JSON')
    .action(async (spec: string, opts: { json?: boolean }) => {
      const remote = parseRemote(spec);
      const r = await (await ctx.api()).call<FilesStatResult>('GET', `/devices/${enc(remote.device)}/files`, {
        query: { path: remote.path, stat: true },
      });
      if (opts.json) return ctx.json(r);
      ctx.out(renderLong([{ ...r.entry, name: r.path }]));
    });

  program
    .command('rm')
    .description('delete a file, symlink or directory on a device')
    .argument('<remote>', 'DEVICE:/path')
    .option('-r, --recursive', 'delete a directory and everything in it')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  outpost rm gw-12:/tmp/old.log\n  outpost rm -r gw-12:/var/lib/outpost/files/cache',
    )
    .action(async (spec: string, opts: { recursive?: boolean; json?: boolean }) => {
      const remote = parseRemote(spec);
      const r = await (await ctx.api()).call<{ path: string; type: string }>(
        'DELETE',
        `/devices/${enc(remote.device)}/files`,
        { query: { path: remote.path, recursive: opts.recursive ? true : undefined } },
      );
      if (opts.json) return ctx.json(r);
      ctx.err(`deleted ${r.type === 'dir' ? 'directory ' : ''}${remote.device}:${r.path}`);
    });

  program
    .command('mkdir')
    .description('make a directory on a device')
    .argument('<remote>', 'DEVICE:/path')
    .option('-p, --parents', 'make missing parents too; no error if it exists')
    .option('-m, --mode <mode>', 'octal mode of the directories made (default 755)', modeOption)
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExample:\n  outpost mkdir -p gw-12:/var/lib/outpost/files/releases/v2')
    .action(async (spec: string, opts: { parents?: boolean; mode?: number; json?: boolean }) => {
      const remote = parseRemote(spec);
      const body: api.FilesMkdirBody = { path: remote.path };
      if (opts.parents) body.recursive = true;
      if (opts.mode !== undefined) body.mode = opts.mode;
      const r = await (await ctx.api()).call<{ path: string; created: boolean }>(
        'POST',
        `/devices/${enc(remote.device)}/files/mkdir`,
        { body },
      );
      if (opts.json) ctx.json(r);
    });

  program
    .command('mv')
    .description('move or rename a file or directory on a device')
    .argument('<from>', 'DEVICE:/path')
    .argument('<to>', 'DEVICE:/path (the same device)')
    .option('-f, --force', 'replace an existing destination')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExample:\n  outpost mv gw-12:/tmp/app.new gw-12:/var/lib/outpost/files/app')
    .action(async (fromSpec: string, toSpec: string, opts: { force?: boolean; json?: boolean }) => {
      const from = parseRemote(fromSpec);
      const to = parseRemote(toSpec);
      if (from.device !== to.device) throw usage('mv works within one device; use cp to copy between places');
      const body: api.FilesMoveBody = { from: from.path, to: to.path };
      if (opts.force) body.overwrite = true;
      const r = await (await ctx.api()).call('POST', `/devices/${enc(from.device)}/files/move`, { body });
      if (opts.json) ctx.json(r);
    });

  registerCopy(program, ctx);

  program
    .command('fetch')
    .description('have a device download an http(s) URL into a file (checked, atomic)')
    .argument('<device>', 'device id or name')
    .argument('<url>', 'http:// or https:// URL, reachable from the device')
    .argument('<path>', 'absolute path of the file on the device')
    .option('--sha256 <hex>', 'refuse the download unless it has this SHA-256')
    .option('-m, --mode <mode>', 'octal mode of the file (default 644)', modeOption)
    .option('--owner <user>', 'owner of the file (name or uid; the agent must run as root)')
    .option('--group <group>', 'group of the file (name or gid)')
    .option('--max-size <bytes>', 'refuse a larger download (default 1 GiB)', (v) => sizeOption(v))
    .option('--timeout <duration>', 'give up after this long (default 10m)', durationOption)
    .option('--no-overwrite', 'fail if the file exists')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      '\nExample:\n  outpost fetch gw-12 https://example.com/fw.bin /var/lib/outpost/files/fw.bin --sha256 9f86d0...',
    )
    .action(async (device: string, url: string, path: string, opts: FetchOptions) => {
      const args = fetchArgs(url, path, opts);
      const client = await ctx.api();
      const command = await client.sendCommand(device, {
        capability: 'files',
        action: 'fetch',
        args,
        ttl: Math.ceil((args.timeoutMs ?? 600_000) / 1000) + 60,
      });
      const bar = new ProgressBar(ctx.io.stderr as { write(s: string): unknown; isTTY?: boolean }, 'fetch', null);
      let received = 0;
      let pending = '';
      const followed = await followCommand(client, command.id, {
        onOutput: (_stream, bytes) => {
          pending += bytes.toString();
          const lines = pending.split('\n');
          pending = lines.pop() ?? '';
          for (const line of lines) {
            try {
              const p = JSON.parse(line) as { received: number; total: number | null };
              received = p.received;
              bar.setTotal(p.total);
              bar.update(received);
            } catch {
              // Not a progress line: ignore it.
            }
          }
        },
      });
      const final = followed.command;
      bar.finish();
      if (final.status !== 'succeeded') {
        const e = final.error;
        throw new CliError(e?.message ?? `fetch ${final.status}`, e?.code ? { code: e.code } : {});
      }
      const r = final.result as FilesFetchResult;
      if (opts.json) return ctx.json(r);
      ctx.err(`fetched ${formatBytes(r.size)} into ${device}:${r.path} (sha256 ${r.sha256})`);
    });
}

interface FetchOptions {
  sha256?: string;
  mode?: number;
  owner?: string;
  group?: string;
  maxSize?: number;
  timeout?: number;
  overwrite?: boolean;
  json?: boolean;
}

export function sizeOption(value: string): number {
  const m = /^(\d+)\s*([kmgt]i?b?)?$/i.exec(value.trim());
  if (!m) throw new InvalidArgumentError('must be a size such as 500000, 200M or 2G');
  const unit = (m[2] ?? '').charAt(0).toLowerCase();
  const scale = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[unit] ?? 1;
  return Number(m[1]) * scale;
}

export function fetchArgs(url: string, path: string, opts: FetchOptions): api.FilesFetchBody {
  if (!path.startsWith('/')) throw usage(`the path on the device must be absolute: ${path}`);
  if (opts.sha256 !== undefined && !/^[0-9a-fA-F]{64}$/.test(opts.sha256)) {
    throw usage('--sha256 takes 64 hex digits');
  }
  const args: api.FilesFetchBody = { url, path };
  if (opts.sha256 !== undefined) args.sha256 = opts.sha256.toLowerCase();
  if (opts.mode !== undefined) args.mode = opts.mode;
  if (opts.owner !== undefined) args.owner = opts.owner;
  if (opts.group !== undefined) args.group = opts.group;
  if (opts.maxSize !== undefined) args.maxBytes = opts.maxSize;
  if (opts.timeout !== undefined) args.timeoutMs = opts.timeout * 1000;
  if (opts.overwrite === false) args.overwrite = false;
  return args;
}
