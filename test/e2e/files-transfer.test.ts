/**
 * File transfers end to end: the real `outpost cp` process, the server (in this
 * process), a real agent process, and the byte streams between them over MQTT.
 * A 200 MiB file goes up and comes back with its checksum checked at both ends,
 * while the memory of the server, the agent and the CLI is watched; a copy
 * killed half-way is resumed and sends only the rest; transfer routes refuse
 * paths outside the agent's root.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  createReadStream,
  createWriteStream,
  existsSync,
  readdirSync,
  readFileSync,
  realpathSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { useOnlineDevice } from '../fixture.js';
import { CLI_BIN, request, runCli, tempDir, waitUntil } from '../helpers.js';

const MiB = 1024 * 1024;
let root = '';
let local = '';

/** Writes `mib` MiB of random data without holding it in memory; returns its SHA-256. */
async function bigFile(path: string, mib: number): Promise<string> {
  const hash = createHash('sha256');
  const out = createWriteStream(path);
  for (let i = 0; i < mib; i++) {
    const block = randomBytes(MiB);
    hash.update(block);
    if (!out.write(block)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((r) => out.end(() => r()));
  return hash.digest('hex');
}

/** SHA-256 of a file, streamed (this process hosts the server: it must not hold the file either). */
async function sha(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Peak resident memory of a process, from /proc (kB → bytes). */
function peakRss(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) * 1024;
}

/** `outpost` as a process whose pid we keep (to watch its memory or kill it). */
function cli(args: string[]): {
  proc: ChildProcess;
  done: Promise<{ code: number | null; stdout: string; stderr: string }>;
} {
  const env = {
    PATH: process.env.PATH,
    HOME: tempDir('outpost-home-'),
    OUTPOST_URL: `https://127.0.0.1:${fx.ts.server.httpPort}`,
    OUTPOST_TOKEN: fx.ts.token,
    OUTPOST_CA: fx.ts.server.caFile,
  };
  const proc = spawn(process.execPath, [CLI_BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    proc.on('close', (code) => resolve({ code, stdout, stderr })),
  );
  return { proc, done };
}

const parts = () => readdirSync(root).filter((n) => n.includes('.outpost-part-'));

// Registered before the fixture, so the roots exist before the agent starts.
beforeAll(() => {
  root = realpathSync(tempDir('outpost-xfer-root-'));
  local = realpathSync(tempDir('outpost-xfer-local-'));
  const outside = realpathSync(tempDir('outpost-xfer-outside-'));
  writeFileSync(join(outside, 'secret'), 'top secret');
  symlinkSync(outside, join(root, 'escape'));
});

const fx = useOnlineDevice({ agent: () => ({ args: ['--file-roots', root] }) });

describe('outpost cp', () => {
  it('uploads and downloads 200 MiB, checksummed both ends; memory does not grow with the file size', async () => {
    let serverPeak = 0;
    const sampler = setInterval(() => {
      serverPeak = Math.max(serverPeak, process.memoryUsage().rss);
    }, 50);
    /** Up and back down, checked; the peak RSS of the server, the agent and the uploading CLI. */
    const roundTrip = async (name: string, mib: number) => {
      const src = join(local, name);
      const sum = await bigFile(src, mib);
      const up = cli(['cp', '--json', src, `${fx.deviceId}:${root}/${name}`]);
      let cliPeak = 0;
      const watch = setInterval(() => {
        try {
          cliPeak = Math.max(cliPeak, peakRss(up.proc.pid ?? 0));
        } catch {}
      }, 100);
      const r = await up.done;
      clearInterval(watch);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ size: mib * MiB, sha256: sum, resumedFrom: 0 });
      expect(await sha(join(root, name))).toBe(sum);
      expect(parts()).toEqual([]);
      const back = join(local, `${name}.back`);
      const down = await runCli(fx.ts, ['cp', '--json', `${fx.deviceId}:${root}/${name}`, back], {
        timeoutMs: 600_000,
      });
      expect(down.code, down.stderr).toBe(0);
      expect(JSON.parse(down.stdout)).toMatchObject({ size: mib * MiB, sha256: sum });
      expect(await sha(back)).toBe(sum);
      expect(existsSync(`${back}.outpost-part`)).toBe(false);
      return { server: serverPeak, agent: peakRss(fx.agent.proc.pid ?? 0), cli: cliPeak };
    };
    try {
      // A small transfer first brings every process to its steady state (buffers, TLS, JIT, GC heap sizing).
      const warm = await roundTrip('warm.bin', 40);
      const big = await roundTrip('big.bin', 200);
      const mb = (n: number) => `${(n / MiB).toFixed(0)} MiB`;
      console.info(
        `peak RSS after 40 MiB → after 200 MiB: server ${mb(warm.server)} → ${mb(big.server)}, agent ${mb(warm.agent)} → ${mb(big.agent)}, cli ${mb(warm.cli)} → ${mb(big.cli)}`,
      );
      // Holding the file anywhere would add ≥ 160 MiB (5× the data); the caps are generous but well below that.
      expect(big.server - warm.server, 'server RSS growth').toBeLessThan(100 * MiB);
      expect(big.agent - warm.agent, 'agent RSS growth').toBeLessThan(100 * MiB);
      expect(big.cli - warm.cli, 'CLI RSS growth').toBeLessThan(100 * MiB);
      expect(big.agent, 'agent peak RSS').toBeLessThan(250 * MiB);
    } finally {
      clearInterval(sampler);
    }
  }, 600_000);

  it('an upload killed half-way resumes from what the device has and sends only the rest', async () => {
    const src = join(local, 'resume-up.bin');
    const sum = await bigFile(src, 48);
    const first = cli(['cp', src, `${fx.deviceId}:${root}/resume-up.bin`]);
    await waitUntil(() => parts().some((p) => statSync(join(root, p)).size >= 8 * MiB), 'part file to grow', 120_000);
    first.proc.kill('SIGKILL');
    await first.done;
    // The device keeps the part; wait until it stops growing (the stream was aborted).
    let last = -1;
    await waitUntil(
      () => {
        const size = parts().reduce((n, p) => n + statSync(join(root, p)).size, 0);
        const still = size === last;
        last = size;
        return still;
      },
      'part file to settle',
      60_000,
      1000,
    );
    expect(last).toBeGreaterThan(0);
    expect(last).toBeLessThan(48 * MiB);
    const second = await runCli(fx.ts, ['cp', '--json', src, `${fx.deviceId}:${root}/resume-up.bin`], {
      timeoutMs: 300_000,
    });
    expect(second.code, second.stderr).toBe(0);
    // The server accepts only bodies of exactly size − offset bytes: this attempt sent the rest and no more.
    expect(JSON.parse(second.stdout)).toMatchObject({ sha256: sum, resumedFrom: last });
    expect(second.stderr).toContain('resuming at');
    expect(await sha(join(root, 'resume-up.bin'))).toBe(sum);
    expect(parts()).toEqual([]);
  }, 400_000);

  it('a download killed half-way resumes from the local part', async () => {
    const sum = await bigFile(join(root, 'resume-down.bin'), 48);
    const dst = join(local, 'resume-down.bin');
    const first = cli(['cp', `${fx.deviceId}:${root}/resume-down.bin`, dst]);
    await waitUntil(
      () => existsSync(`${dst}.outpost-part`) && statSync(`${dst}.outpost-part`).size >= 8 * MiB,
      'local part',
      120_000,
    );
    first.proc.kill('SIGKILL');
    await first.done;
    const had = statSync(`${dst}.outpost-part`).size;
    const second = await runCli(fx.ts, ['cp', '--json', `${fx.deviceId}:${root}/resume-down.bin`, dst], {
      timeoutMs: 300_000,
    });
    expect(second.code, second.stderr).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({ sha256: sum, resumedFrom: had });
    expect(await sha(dst)).toBe(sum);
  }, 400_000);
});

describe('transfer routes', () => {
  const put = (query: string, body: Buffer) =>
    request(fx.ts, 'PUT', `/devices/${fx.deviceId}/files/content?${query}`, {
      rawBody: body as unknown as string,
      headers: { authorization: `Bearer ${fx.ts.token}`, 'content-type': 'application/octet-stream' },
    });
  const data = Buffer.from('hello, device');
  const digest = createHash('sha256').update(data).digest('hex');
  const q = (path: string, extra = '') =>
    `path=${encodeURIComponent(path)}&size=${data.length}&sha256=${digest}&transfer=test-transfer-1${extra}`;

  it('uploads a small body, refuses a wrong checksum or length, and leaves no part behind', async () => {
    const ok = await put(q(`${root}/small.txt`, '&mode=384'), data);
    expect(ok.status, ok.text).toBe(200);
    expect(readFileSync(join(root, 'small.txt'), 'utf8')).toBe('hello, device');
    expect(statSync(join(root, 'small.txt')).mode & 0o777).toBe(0o600);
    const wrong = await put(q(`${root}/wrong.txt`).replace(digest, 'e'.repeat(64)), data);
    expect(wrong.status).toBe(409);
    expect(wrong.body.error.code).toBe('E_CONFLICT');
    const short = await put(q(`${root}/short.txt`), data.subarray(0, 5));
    expect(short.status).toBe(400);
    expect(
      readdirSync(root).filter((n) => n.startsWith('wrong') || n.startsWith('short') || n.includes('part')),
    ).toEqual([]);
    const json = await request(fx.ts, 'PUT', `/devices/${fx.deviceId}/files/content?${q(`${root}/j.txt`)}`, {
      body: { not: 'a file' },
      headers: { authorization: `Bearer ${fx.ts.token}` },
    });
    expect(json.status).toBe(400);
  });

  it('downloads with Range, announcing size and mode, with the checksum as a trailer', async () => {
    writeFileSync(join(root, 'r.txt'), '0123456789');
    const res = await request(
      fx.ts,
      'GET',
      `/devices/${fx.deviceId}/files/content?path=${encodeURIComponent(`${root}/r.txt`)}`,
      {
        headers: { authorization: `Bearer ${fx.ts.token}`, range: 'bytes=4-' },
      },
    );
    expect(res.status).toBe(206);
    expect(res.text).toBe('456789');
    expect(res.headers.get('content-range')).toBe('bytes 4-9/10');
    expect(res.headers.get('x-outpost-size')).toBe('10');
  });

  it('refuses `..` and symlink escapes for upload, upload-status and download', async () => {
    const escapes = [`${root}/escape/secret`, `${root}/../escape/secret`, '/etc/passwd'];
    for (const p of escapes) {
      const up = await put(q(p), data);
      const status = await fx.ts.api(
        'GET',
        `/devices/${fx.deviceId}/files/upload-status?path=${encodeURIComponent(p)}&transfer=test-transfer-1`,
      );
      const down = await fx.ts.api('GET', `/devices/${fx.deviceId}/files/content?path=${encodeURIComponent(p)}`);
      for (const r of [up, status, down]) {
        expect([400, 403], `${p}: ${r.text}`).toContain(r.status);
        expect(['E_BAD_ARGS', 'E_DENIED']).toContain(r.body.error.code);
      }
    }
    expect(readFileSync(join(root, 'escape/secret'), 'utf8')).toBe('top secret');
  });
});
