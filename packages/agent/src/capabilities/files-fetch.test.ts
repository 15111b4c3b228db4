/**
 * `files/fetch` against a real HTTP server the test starts on 127.0.0.1:0 (there
 * is no internet here): checksums, size caps with and without Content-Length,
 * redirects and their bound, HTTP errors, the deadline, progress chunks, and
 * that a failed download leaves neither the target nor a temp file behind.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { check, commands, OutpostError, parse } from '@outpost/protocol';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { agentConfig } from '../config.js';
import { silentLogger } from '../log.js';
import type { CommandContext } from './capability.js';
import { createFilesCapability } from './files.js';

const base = realpathSync(mkdtempSync(join(tmpdir(), 'outpost-fetch-')));
const root = join(base, 'root');
const body = randomBytes(300 * 1024);
const sha = createHash('sha256').update(body).digest('hex');
let server: Server;
let origin = '';
const stalled: import('node:http').ServerResponse[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const url = req.url ?? '/';
    const redirect = /^\/redirect\/(\d+)$/.exec(url);
    if (url === '/data') {
      res.writeHead(200, { 'content-length': body.length });
      res.end(body);
    } else if (url === '/chunked') {
      res.writeHead(200);
      // No Content-Length: the cap must be enforced while streaming.
      for (let i = 0; i < 10; i++) res.write(body.subarray(i * 30 * 1024, (i + 1) * 30 * 1024));
      res.end();
    } else if (redirect) {
      const n = Number(redirect[1]);
      res.writeHead(302, { location: n === 0 ? '/data' : `/redirect/${n - 1}` });
      res.end();
    } else if (url === '/to-ftp') {
      res.writeHead(301, { location: 'ftp://127.0.0.1/x' });
      res.end();
    } else if (url === '/short') {
      res.writeHead(200, { 'content-length': body.length });
      res.write(body.subarray(0, 1000));
      setTimeout(() => res.destroy(), 50);
    } else if (url === '/stall') {
      res.writeHead(200, { 'content-length': body.length });
      res.write(body.subarray(0, 10));
      stalled.push(res);
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const r of stalled) r.destroy();
  await new Promise((r) => server.close(r));
  rmSync(base, { recursive: true, force: true });
});

beforeEach(() => {
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
});

function harness() {
  const chunks: string[] = [];
  const ctx: CommandContext = {
    commandId: 'c1',
    emit: (_s, data) => chunks.push(data.toString()),
    signal: new AbortController().signal,
    log: silentLogger,
    config: agentConfig({ stateDir: join(base, 'state'), fileRoots: [root] }),
  };
  return { ctx, chunks };
}

async function fetchFile(args: Record<string, unknown>, h = harness()): Promise<any> {
  const handler = createFilesCapability().actions.fetch;
  if (!handler) throw new Error('files/fetch missing');
  const result = await handler(parse(commands['files/fetch'].args, args, 'args'), h.ctx);
  expect(check(commands['files/fetch'].result, result)).toBe(true);
  return result;
}

async function failure(args: Record<string, unknown>): Promise<OutpostError> {
  try {
    await fetchFile(args);
  } catch (err) {
    if (err instanceof OutpostError) return err;
    throw err;
  }
  throw new Error('fetch succeeded');
}

describe('files/fetch', () => {
  it('downloads into the file with its checksum and mode, reporting progress as out chunks', async () => {
    const h = harness();
    const target = join(root, 'data.bin');
    const r = await fetchFile({ url: `${origin}/data`, path: target, sha256: sha, mode: 0o600 }, h);
    expect(r).toMatchObject({ path: target, size: body.length, sha256: sha, redirects: 0, finalUrl: `${origin}/data` });
    expect(readFileSync(target).equals(body)).toBe(true);
    expect(statSync(target).mode & 0o7777).toBe(0o600);
    const last = JSON.parse(h.chunks.at(-1) ?? '{}');
    expect(last).toEqual({ received: body.length, total: body.length });
    expect(readdirSync(root)).toEqual(['data.bin']);
  });

  it('follows redirects up to the limit, and refuses more, or one to another scheme', async () => {
    const r = await fetchFile({ url: `${origin}/redirect/2`, path: join(root, 'r.bin'), maxRedirects: 3 });
    expect(r).toMatchObject({ redirects: 3, sha256: sha, finalUrl: `${origin}/data` });
    const tooMany = await failure({ url: `${origin}/redirect/5`, path: join(root, 'x'), maxRedirects: 2 });
    expect(tooMany.code).toBe('E_BAD_ARGS');
    expect(tooMany.message).toMatch(/too many redirects/);
    expect((await failure({ url: `${origin}/to-ftp`, path: join(root, 'x') })).message).toMatch(/ftp/);
  });

  it('a wrong checksum, a size over the cap or a short body writes nothing', async () => {
    writeFileSync(join(root, 'keep'), 'old');
    const wrong = await failure({ url: `${origin}/data`, path: join(root, 'keep'), sha256: 'a'.repeat(64) });
    expect(wrong.code).toBe('E_CONFLICT');
    expect(wrong.details).toEqual({ expected: 'a'.repeat(64), actual: sha });
    expect((await failure({ url: `${origin}/data`, path: join(root, 'keep'), maxBytes: 1000 })).code).toBe(
      'E_TOO_LARGE',
    );
    expect((await failure({ url: `${origin}/chunked`, path: join(root, 'keep'), maxBytes: 100_000 })).code).toBe(
      'E_TOO_LARGE',
    );
    expect((await failure({ url: `${origin}/short`, path: join(root, 'keep') })).code).toBe('E_INTERNAL');
    expect(readFileSync(join(root, 'keep'), 'utf8')).toBe('old');
    expect(readdirSync(root)).toEqual(['keep']);
  });

  it('maps HTTP and network failures to codes, and gives up at the deadline', async () => {
    expect((await failure({ url: `${origin}/missing`, path: join(root, 'x') })).code).toBe('E_NOT_FOUND');
    const closed = `http://127.0.0.1:${(server.address() as AddressInfo).port + 1}/`;
    expect(['E_NOT_FOUND', 'E_DENIED']).toContain((await failure({ url: closed, path: join(root, 'x') })).code);
    const slow = await failure({ url: `${origin}/stall`, path: join(root, 'x'), timeoutMs: 1000 });
    expect(slow.code).toBe('E_TIMEOUT');
    expect(readdirSync(root)).toEqual([]);
  });

  it('refuses credentials in the URL, targets outside the roots, and an existing file without overwrite', async () => {
    expect((await failure({ url: `http://u:p@127.0.0.1:1/`, path: join(root, 'x') })).message).toMatch(/credentials/);
    expect((await failure({ url: `${origin}/data`, path: join(base, 'x') })).code).toBe('E_DENIED');
    expect((await failure({ url: `${origin}/data`, path: root })).code).toBe('E_DENIED');
    writeFileSync(join(root, 'keep'), 'old');
    expect((await failure({ url: `${origin}/data`, path: join(root, 'keep'), overwrite: false })).code).toBe(
      'E_CONFLICT',
    );
    await expect(fetchFile({ url: 'ftp://127.0.0.1/x', path: join(root, 'x') })).rejects.toThrow(/pattern/);
  });
});
