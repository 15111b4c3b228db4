/**
 * Files end to end: a real server, a real agent process whose only file root is
 * a temp directory, the HTTP routes and the real `outpost` CLI. Every route is
 * tried with `..` and with a symlink out of the root; the device downloads from
 * an HTTP server this test starts on 127.0.0.1 (no internet here).
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, realpathSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useOnlineDevice } from '../fixture.js';
import { onlineAgent, runCli, tempDir } from '../helpers.js';
import { ensureNode18 } from '../node18.js';

let root = '';
let outside = '';
let http: Server;
let origin = '';
const payload = randomBytes(200 * 1024);
const sha = createHash('sha256').update(payload).digest('hex');

const q = (path: string) => encodeURIComponent(path);

// Registered before the fixture, so the roots exist before the agent starts and the HTTP server closes last.
beforeAll(async () => {
  root = realpathSync(tempDir('outpost-files-root-'));
  outside = realpathSync(tempDir('outpost-files-outside-'));
  writeFileSync(join(outside, 'secret'), 'top secret');
  symlinkSync(outside, join(root, 'escape'));
  http = createServer((req, res) => {
    if (req.url === '/payload.bin') {
      res.writeHead(200, { 'content-length': payload.length });
      res.end(payload);
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  origin = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => http.close(r));
});

const fx = useOnlineDevice({ agent: () => ({ args: ['--file-roots', root] }) });

describe('file routes', () => {
  it('make, list, stat, move and delete through the API', async () => {
    const mk = await fx.ts.api('POST', `/devices/${fx.deviceId}/files/mkdir`, {
      path: `${root}/a/b`,
      recursive: true,
      mode: 0o750,
    });
    expect(mk.status).toBe(200);
    expect(mk.body).toEqual({ path: `${root}/a/b`, created: true });
    expect(statSync(join(root, 'a/b')).mode & 0o7777).toBe(0o750);
    writeFileSync(join(root, 'a/f.txt'), 'hello');

    const ls = await fx.ts.api('GET', `/devices/${fx.deviceId}/files?path=${q(`${root}/a`)}`);
    expect(ls.status).toBe(200);
    expect(ls.body.entries.map((e: any) => [e.name, e.type])).toEqual([
      ['b', 'dir'],
      ['f.txt', 'file'],
    ]);
    const st = await fx.ts.api('GET', `/devices/${fx.deviceId}/files?path=${q(`${root}/escape`)}&stat=true`);
    expect(st.body.entry).toMatchObject({ type: 'symlink', target: outside });

    const mv = await fx.ts.api('POST', `/devices/${fx.deviceId}/files/move`, {
      from: `${root}/a/f.txt`,
      to: `${root}/a/b/g.txt`,
    });
    expect(mv.status).toBe(200);
    expect(readFileSync(join(root, 'a/b/g.txt'), 'utf8')).toBe('hello');

    const notEmpty = await fx.ts.api('DELETE', `/devices/${fx.deviceId}/files?path=${q(`${root}/a`)}`);
    expect(notEmpty.status).toBe(409);
    expect(notEmpty.body.error.code).toBe('E_CONFLICT');
    const rm = await fx.ts.api('DELETE', `/devices/${fx.deviceId}/files?path=${q(`${root}/a`)}&recursive=true`);
    expect(rm.status).toBe(200);
    expect(existsSync(join(root, 'a'))).toBe(false);

    // Every change is an audited, stored command.
    const audit = await fx.ts.api('GET', `/audit?device=${fx.deviceId}`);
    const actions = audit.body.items.map((e: any) => e.action);
    for (const a of ['file.mkdir', 'file.move', 'file.delete']) expect(actions).toContain(a);
  });

  it('refuses `..` and symlink escapes on every route, and leaves the outside untouched', async () => {
    const dotdot = `${root}/../${outside.split('/').pop()}/secret`;
    const viaLink = `${root}/escape/secret`;
    const tries: [string, string, unknown?][] = [];
    for (const p of [dotdot, viaLink, `${outside}/secret`]) {
      tries.push(
        ['GET', `/devices/${fx.deviceId}/files?path=${q(p)}`],
        ['GET', `/devices/${fx.deviceId}/files?path=${q(p)}&stat=true`],
        ['POST', `/devices/${fx.deviceId}/files/mkdir`, { path: `${p}-dir`, recursive: true }],
        ['DELETE', `/devices/${fx.deviceId}/files?path=${q(p)}&recursive=true`],
        ['POST', `/devices/${fx.deviceId}/files/move`, { from: p, to: `${root}/stolen` }],
        ['POST', `/devices/${fx.deviceId}/files/move`, { from: `${root}/escape`, to: `${p}-moved` }],
        ['POST', `/devices/${fx.deviceId}/files/fetch`, { url: `${origin}/payload.bin`, path: p }],
      );
    }
    for (const [method, url, body] of tries) {
      const r = await fx.ts.api(method, url, body);
      expect([400, 403], `${method} ${url} ${JSON.stringify(body ?? '')}: ${r.text}`).toContain(r.status);
      expect(['E_BAD_ARGS', 'E_DENIED']).toContain(r.body.error.code);
    }
    expect(readdirSync(outside)).toEqual(['secret']);
    expect(readFileSync(join(outside, 'secret'), 'utf8')).toBe('top secret');
    // The root itself can be listed, never deleted.
    expect((await fx.ts.api('GET', `/devices/${fx.deviceId}/files?path=${q(root)}`)).status).toBe(200);
    const rootDel = await fx.ts.api('DELETE', `/devices/${fx.deviceId}/files?path=${q(root)}&recursive=true`);
    expect(rootDel.body.error.code).toBe('E_DENIED');
  });

  it('fetch downloads on the device with a checksum; a wrong one writes nothing', async () => {
    const ok = await fx.ts.api('POST', `/devices/${fx.deviceId}/files/fetch`, {
      url: `${origin}/payload.bin`,
      path: `${root}/p.bin`,
      sha256: sha,
    });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ size: payload.length, sha256: sha });
    expect(readFileSync(join(root, 'p.bin')).equals(payload)).toBe(true);
    const bad = await fx.ts.api('POST', `/devices/${fx.deviceId}/files/fetch`, {
      url: `${origin}/payload.bin`,
      path: `${root}/q.bin`,
      sha256: '0'.repeat(64),
    });
    expect(bad.status).toBe(409);
    expect(bad.body.error.code).toBe('E_CONFLICT');
    expect(readdirSync(root).filter((n) => n.startsWith('q') || n.includes('outpost-'))).toEqual([]);
    const missing = await fx.ts.api('POST', `/devices/${fx.deviceId}/files/fetch`, {
      url: `${origin}/nope`,
      path: `${root}/n`,
    });
    expect(missing.body.error.code).toBe('E_NOT_FOUND');
  });

  it('rejects malformed requests at the server before they reach the device', async () => {
    const rel = await fx.ts.api('GET', `/devices/${fx.deviceId}/files?path=relative`);
    expect(rel.status).toBe(400);
    const extra = await fx.ts.api('POST', `/devices/${fx.deviceId}/files/mkdir`, { path: `${root}/x`, evil: true });
    expect(extra.status).toBe(400);
    const ftp = await fx.ts.api('POST', `/devices/${fx.deviceId}/files/fetch`, { url: 'ftp://x/y', path: `${root}/x` });
    expect(ftp.status).toBe(400);
    expect(existsSync(join(root, 'x'))).toBe(false);
  });
});

describe('the CLI', () => {
  it('mkdir -p, ls -l, mv, rm -r and fetch', async () => {
    const spec = (p: string) => `${fx.deviceId}:${root}${p}`;
    expect((await runCli(fx.ts, ['mkdir', '-p', '-m', '700', spec('/c/d')])).code).toBe(0);
    expect(statSync(join(root, 'c/d')).mode & 0o7777).toBe(0o700);
    writeFileSync(join(root, 'c/e.txt'), 'x'.repeat(42));
    const ls = await runCli(fx.ts, ['ls', '-l', spec('/c')]);
    expect(ls.code).toBe(0);
    expect(ls.stdout).toMatch(/^drwx------ +\d+:\d+ +\d+ +\S+ +d$/m);
    expect(ls.stdout).toMatch(/^-rw\S+ +\d+:\d+ +42 +\S+ +e\.txt$/m);
    const json = await runCli(fx.ts, ['ls', '--json', spec('/c')]);
    expect(JSON.parse(json.stdout).entries).toHaveLength(2);

    expect((await runCli(fx.ts, ['mv', spec('/c/e.txt'), spec('/c/d/e.txt')])).code).toBe(0);
    const clash = await runCli(fx.ts, ['mv', spec('/c/d'), spec('/c/d/e.txt')]);
    expect(clash.code).not.toBe(0);
    expect(clash.stderr).toMatch(/error: .*\(E_(BAD_ARGS|CONFLICT)\)/);

    const fetched = await runCli(fx.ts, [
      'fetch',
      fx.deviceId,
      `${origin}/payload.bin`,
      `${root}/c/f.bin`,
      '--sha256',
      sha,
    ]);
    expect(fetched.code, fetched.stderr).toBe(0);
    expect(fetched.stderr).toContain(`sha256 ${sha}`);
    expect(readFileSync(join(root, 'c/f.bin')).equals(payload)).toBe(true);
    const badSum = await runCli(fx.ts, [
      'fetch',
      fx.deviceId,
      `${origin}/payload.bin`,
      `${root}/c/g.bin`,
      '--sha256',
      'f'.repeat(64),
    ]);
    expect(badSum.code).toBe(1);
    expect(badSum.stderr).toMatch(/checksum mismatch.*\(E_CONFLICT\)/);

    const rm = await runCli(fx.ts, ['rm', spec('/c')]);
    expect(rm.stderr).toMatch(/not empty.*\(E_CONFLICT\)/);
    expect((await runCli(fx.ts, ['rm', '-r', spec('/c')])).code).toBe(0);
    expect(existsSync(join(root, 'c'))).toBe(false);

    const escaped = await runCli(fx.ts, ['ls', spec('/escape/')]);
    expect(escaped.code).toBe(1);
    expect(escaped.stderr).toMatch(/outside the allowed roots.*\(E_DENIED\)/);
    const usage = await runCli(fx.ts, ['ls', 'no-colon-here']);
    expect(usage.code).toBe(2);
  }, 120_000);
});

describe('on Node 18', () => {
  // The agent must run on Debian 12's Node 18 (fetched once, see test/node18.ts).
  it('lists, uploads, downloads and deletes with an agent running on Node 18', async (ctx) => {
    const found = ensureNode18();
    if (found.skip !== undefined) {
      console.warn(`skipping: ${found.skip}`);
      return ctx.skip();
    }
    const node18 = found.node;
    const root18 = realpathSync(tempDir('outpost-files-node18-'));
    const { agent: old, device: d18 } = await onlineAgent(fx.ts, { node: node18, args: ['--file-roots', root18] });
    try {
      const src = join(root18, 'src.bin');
      writeFileSync(src, payload);
      const local = join(tempDir('outpost-files-node18-local-'), 'back.bin');
      const down = await runCli(fx.ts, ['cp', '--json', `${d18.id}:${src}`, local]);
      expect(down.code, down.stderr).toBe(0);
      expect(readFileSync(local).equals(payload)).toBe(true);
      const up = await runCli(fx.ts, ['cp', '--json', local, `${d18.id}:${root18}/up.bin`]);
      expect(up.code, up.stderr).toBe(0);
      expect(JSON.parse(up.stdout).sha256).toBe(sha);
      const ls = await runCli(fx.ts, ['ls', `${d18.id}:${root18}`]);
      expect(ls.stdout.split('\n').filter(Boolean).sort()).toEqual(['src.bin', 'up.bin']);
      expect((await runCli(fx.ts, ['rm', `${d18.id}:${root18}/up.bin`])).code).toBe(0);
      expect(existsSync(join(root18, 'up.bin'))).toBe(false);
    } finally {
      await old.stop();
    }
  }, 120_000);
});
