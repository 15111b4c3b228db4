/**
 * Port forwarding end to end: the real CLI (`outpost forward`, a process) against a
 * real server and broker, and real agent processes that connect to real TCP services
 * on this machine (standing in for services on the device: agent and service share
 * 127.0.0.1 here). Parallel downloads with checksums, refused and disallowed targets,
 * a device that goes away mid-stream, a viewer, and the audit trail.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createServer as createHttpServer, type Server as HttpServer, get as httpGet } from 'node:http';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { useOnlineDevice } from '../fixture.js';
import {
  asAdmin,
  bearer,
  CLI_BIN,
  onlineAgent,
  request,
  runCli,
  type TestAgent,
  tempDir,
  userToken,
  waitUntil,
} from '../helpers.js';

let viewerToken: string;
let http: HttpServer;
let httpPort: number;
const FILE = randomBytes(20 * 1024 * 1024);
const FILE_SHA = createHash('sha256').update(FILE).digest('hex');
const forwards: Forward[] = [];
const extraAgents: TestAgent[] = [];

const listenOn = async (server: Server | HttpServer, port = 0): Promise<number> => {
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return (server.address() as { port: number }).port;
};

/** A port nothing listens on (it was free a moment ago). */
async function closedPort(): Promise<number> {
  const probe = createServer();
  const port = await listenOn(probe);
  await new Promise<void>((r) => probe.close(() => r()));
  return port;
}

interface Forward {
  proc: ChildProcess;
  port: number;
  stderr(): string;
  events(): any[];
  exited: Promise<number | null>;
}

/** Starts `outpost forward` as a process and waits until it listens. */
async function startForward(args: string[], token = fx.ts.token): Promise<Forward> {
  const home = tempDir('outpost-home-');
  const proc = spawn(process.execPath, [CLI_BIN, 'forward', ...args, '--json', '-v'], {
    env: {
      PATH: process.env.PATH,
      HOME: home,
      XDG_CONFIG_HOME: join(home, '.config'),
      OUTPOST_URL: `https://127.0.0.1:${fx.ts.server.httpPort}`,
      OUTPOST_TOKEN: token,
      OUTPOST_CA: fx.ts.server.caFile,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  proc.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  const events = () =>
    out
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
  const listening = await waitUntil(() => {
    if (proc.exitCode !== null) throw new Error(`outpost forward exited ${proc.exitCode}: ${err}`);
    return events().find((e) => e.event === 'listening');
  }, 'outpost forward listening');
  const f: Forward = { proc, port: listening.port, stderr: () => err, events, exited };
  forwards.push(f);
  return f;
}

/** GET through the forward; resolves with the body's sha256 and length. */
function download(port: number, path = '/file'): Promise<{ sha: string; bytes: number }> {
  return new Promise((resolve, reject) => {
    httpGet({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      const hash = createHash('sha256');
      let bytes = 0;
      res.on('data', (d: Buffer) => {
        hash.update(d);
        bytes += d.length;
      });
      res.on('end', () => resolve({ sha: hash.digest('hex'), bytes }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

/** Connects to a local port and says how the connection ended: `reset`, or `closed` with what it read. */
function connectionOutcome(port: number, send = 'hello\n'): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => s.write(send));
    let got = '';
    s.on('data', (d) => {
      got += d.toString();
    });
    s.on('error', (e: NodeJS.ErrnoException) => resolve(`reset ${e.code}`));
    s.on('close', () => resolve(`closed ${JSON.stringify(got)}`));
  });
}

// A service for the agent to forward to; registered before the fixture, so it closes after the agent has stopped.
beforeAll(async () => {
  http = createHttpServer((req, res) => {
    if (req.url === '/file') {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': FILE.length });
      res.end(FILE);
    } else {
      res.writeHead(200).end(`hello from ${req.url}`);
    }
  });
  httpPort = await listenOn(http);
});
afterAll(async () => {
  await new Promise<void>((r) => (http ? http.close(() => r()) : r()));
});

const fx = useOnlineDevice({
  setup: async ({ ts }) => {
    viewerToken = await userToken(ts, 'vera', 'viewer');
  },
  teardown: async () => {
    for (const f of forwards) if (f.proc.exitCode === null) f.proc.kill('SIGKILL');
    for (const a of extraAgents) await a.stop();
  },
});

describe('outpost forward', () => {
  it('carries ten parallel 20 MB downloads through one forward, byte for byte', async () => {
    const f = await startForward([fx.deviceId, `0:127.0.0.1:${httpPort}`]);
    const results = await Promise.all(Array.from({ length: 10 }, () => download(f.port)));
    for (const r of results) expect(r).toEqual({ sha: FILE_SHA, bytes: FILE.length });
    // Each connection was its own stream, and each closed cleanly with its bytes counted.
    await waitUntil(() => f.events().filter((e) => e.event === 'close').length === 10, 'ten closes');
    const closes = f.events().filter((e) => e.event === 'close');
    expect(new Set(closes.map((e) => e.commandId)).size).toBe(10);
    for (const c of closes) {
      expect(c.error).toBeNull();
      expect(c.received).toBeGreaterThan(FILE.length);
    }
    expect(f.stderr()).toMatch(/#10 127\.0\.0\.1:\d+: closed after [\d.]+s: \d+ B sent, 20\.0 MiB received/);
    // The server kept the trail: who, which device, which target, and the bytes of each.
    const audit = await asAdmin(fx.ts, 'GET', `/audit?action=forward.*&device=${fx.deviceId}`);
    const opened = audit.items.filter((e: any) => e.action === 'forward.open');
    const closed = audit.items.filter((e: any) => e.action === 'forward.close');
    expect(opened.length).toBeGreaterThanOrEqual(10);
    expect(closed.length).toBeGreaterThanOrEqual(10);
    const last = closed.at(-1);
    expect(last).toMatchObject({
      actorName: 'admin',
      target: `127.0.0.1:${httpPort}`,
      deviceId: fx.deviceId,
      result: 'ok',
    });
    expect(last.details).toMatchObject({ reason: 'closed', address: '127.0.0.1', bytesFromTarget: expect.any(Number) });
    expect(last.details.bytesFromTarget).toBeGreaterThan(FILE.length);
    // Ctrl-C stops it cleanly.
    f.proc.kill('SIGINT');
    expect(await f.exited).toBe(0);
    expect(f.stderr()).toMatch(/stopped forwarding 127\.0\.0\.1:\d+ \(10 connections\)/);
  }, 240_000);

  it('carries an upload ended by a half-close, and the answer the target sends after it', async () => {
    // The target answers only after the client's FIN: the FIN must cross as a FIN, not as a close.
    const counter = createServer({ allowHalfOpen: true }, (s) => {
      const hash = createHash('sha256');
      let n = 0;
      s.on('data', (d: Buffer) => {
        hash.update(d);
        n += d.length;
      });
      s.on('end', () => s.end(`${n} ${hash.digest('hex')}`));
    });
    const port = await listenOn(counter);
    try {
      const f = await startForward([fx.deviceId, `0:${port}`]);
      const upload = randomBytes(5 * 1024 * 1024 + 3);
      const answer = await new Promise<string>((resolve, reject) => {
        const s = connect({ port: f.port, host: '127.0.0.1', allowHalfOpen: true }, () => s.end(upload));
        let got = '';
        s.on('data', (d) => {
          got += d.toString();
        });
        s.on('end', () => resolve(got));
        s.on('error', reject);
      });
      expect(answer).toBe(`${upload.length} ${createHash('sha256').update(upload).digest('hex')}`);
      await waitUntil(() => f.events().find((e) => e.event === 'close'), 'the close event');
      expect(f.events().find((e) => e.event === 'close')).toMatchObject({ sent: upload.length, error: null });
      f.proc.kill('SIGINT');
      expect(await f.exited).toBe(0);
    } finally {
      counter.close();
    }
  }, 120_000);

  it('leaves nothing open on the device when local clients reset at any moment of the opening', async () => {
    const held = new Set<Socket>();
    const target = createServer((s) => {
      held.add(s);
      s.on('close', () => held.delete(s));
      s.on('error', () => {});
      s.resume();
    });
    const port = await listenOn(target);
    try {
      const f = await startForward([fx.deviceId, `0:${port}`]);
      // From before the WebSocket is up to after the device connected: the client resets.
      const gone = [0, 10, 30, 60, 100, 200, 400].map(
        (ms) =>
          new Promise<void>((resolve) => {
            const s = connect(f.port, '127.0.0.1', () => setTimeout(() => s.resetAndDestroy(), ms));
            s.on('error', () => {});
            s.on('close', () => resolve());
          }),
      );
      await Promise.all(gone);
      // A client that reset before it was even accepted is skipped; every other one closes.
      const count = (kind: string) => f.events().filter((e) => e.event === kind).length;
      await waitUntil(() => count('open') >= 2 && count('close') === count('open'), 'every opened connection closed');
      // Every forward/open that reached the device ends, and closes its target connection.
      const opens = await waitUntil(
        async () => {
          const r = await asAdmin(fx.ts, 'GET', `/devices/${fx.deviceId}/commands`);
          const mine = r.items.filter((c: any) => c.action === 'open' && c.args.port === port);
          return mine.every((c: any) => ['succeeded', 'failed'].includes(c.status)) && mine;
        },
        'every forward/open finished',
        30_000,
      );
      // The ones the device accepted end as closed by the client.
      expect(opens.some((c: any) => c.result?.reason === 'client-closed')).toBe(true);
      await waitUntil(() => held.size === 0, 'no target connection left', 10_000);
      expect(f.stderr()).not.toMatch(/^outpost: /m);
      f.proc.kill('SIGINT');
      expect(await f.exited).toBe(0);
    } finally {
      target.close();
    }
  }, 120_000);

  it('closes a connection to a refused target with an error, and keeps serving', async () => {
    const port = await closedPort();
    const f = await startForward([fx.deviceId, `0:${port}`]);
    expect(await connectionOutcome(f.port)).toMatch(/^reset ECONNRESET|^closed ""/);
    await waitUntil(() => /E_NOT_FOUND/.test(f.stderr()), 'the refusal reported');
    expect(f.stderr()).toMatch(
      /outpost: #1 127\.0\.0\.1:\d+: cannot connect to (127\.0\.0\.1|\[::1\]):\d+ from the device: connection refused \(nothing listens there\) \(E_NOT_FOUND\)/,
    );
    // Something starts listening there: the same forward now reaches it.
    const late = createServer((s) => s.end('late but here'));
    await listenOn(late, port);
    try {
      expect(await connectionOutcome(f.port)).toBe('closed "late but here"');
    } finally {
      late.close();
    }
    expect(f.proc.exitCode).toBeNull();
    f.proc.kill('SIGTERM');
    expect(await f.exited).toBe(0);
  }, 120_000);

  it('refuses a target outside the device’s forwardAllow with E_DENIED', async () => {
    const f = await startForward([fx.deviceId, `0:127.0.0.2:${httpPort}`]);
    expect(await connectionOutcome(f.port)).toMatch(/^reset ECONNRESET|^closed ""/);
    await waitUntil(() => /E_DENIED/.test(f.stderr()), 'the denial reported');
    expect(f.stderr()).toMatch(
      /forwarding to 127\.0\.0\.2:\d+ is not allowed on this device \(forwardAllow: localhost:\*, 127\.0\.0\.1:\*, \[::1\]:\*\) \(E_DENIED\)/,
    );
    const audit = await waitUntil(async () => {
      const r = await asAdmin(fx.ts, 'GET', `/audit?action=forward.close&device=${fx.deviceId}`);
      return r.items.find((e: any) => e.target === `127.0.0.2:${httpPort}`);
    }, 'the denied forward audited');
    expect(audit).toMatchObject({ result: 'error', errorCode: 'E_DENIED' });
    f.proc.kill('SIGINT');
    expect(await f.exited).toBe(0);
  }, 120_000);

  it('ends open connections with an error when the device goes offline, and stays up to say so', async () => {
    const { agent: leaving } = await onlineAgent(fx.ts);
    extraAgents.push(leaving);
    const id = leaving.identity().deviceId;
    const f = await startForward([id, `0:${httpPort}`]);
    // A download the client reads slowly, so it is mid-stream when the device goes.
    const cut = new Promise<string>((resolve) => {
      httpGet({ host: '127.0.0.1', port: f.port, path: '/file', agent: false }, (res) => {
        let bytes = 0;
        res.on('data', (d: Buffer) => {
          bytes += d.length;
          res.pause();
          setTimeout(() => res.resume(), 20);
        });
        res.on('end', () => resolve(`complete ${bytes}`));
        res.on('error', (e: NodeJS.ErrnoException) => resolve(`cut ${e.code ?? e.message} after ${bytes}`));
        res.on('aborted', () => resolve(`cut after ${bytes}`));
      }).on('error', (e: NodeJS.ErrnoException) => resolve(`cut ${e.code}`));
    });
    await waitUntil(() => f.events().some((e) => e.event === 'open'), 'the download under way');
    await new Promise((r) => setTimeout(r, 500));
    expect(await leaving.stop()).toBe(0);
    expect(await cut).toMatch(/^cut/);
    await waitUntil(() => /\(E_OFFLINE\)/.test(f.stderr()), 'the cut reported');
    expect(f.stderr()).toMatch(/outpost: #1 127\.0\.0\.1:\d+: .*(agent is stopping|offline).* \(E_OFFLINE\)/);
    // Still listening; a new connection is refused at once with the reason.
    await waitUntil(async () => (await fx.ts.device(id))?.online === false, 'the device offline');
    expect(await connectionOutcome(f.port)).toMatch(/^reset ECONNRESET|^closed ""/);
    await waitUntil(() => /#2 .*is offline \(E_OFFLINE\)/.test(f.stderr()), 'the second refusal reported');
    expect(f.proc.exitCode).toBeNull();
    f.proc.kill('SIGINT');
    expect(await f.exited).toBe(0);
  }, 120_000);

  it('is refused to a viewer with E_DENIED before it listens', async () => {
    const r = await runCli(fx.ts, ['forward', fx.deviceId, '0:80'], { env: { OUTPOST_TOKEN: viewerToken } });
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe('error: role viewer may not commands:run (E_DENIED)');
    const check = await request(fx.ts, 'GET', `/devices/${fx.deviceId}/forward?port=80`, {
      headers: bearer(viewerToken),
    });
    expect(check.status).toBe(403);
    // The WebSocket itself is refused before the upgrade, and the device is never asked.
    const upgrade = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(
        `wss://127.0.0.1:${fx.ts.server.httpPort}/api/v1/devices/${fx.deviceId}/forward?port=80`,
        {
          ca: fx.ts.ca,
          headers: bearer(viewerToken),
        },
      );
      ws.on('unexpected-response', (_req, res) => {
        // Left open on purpose: the server must close a connection whose upgrade it refused.
        res.socket.once('close', () => resolve(res.statusCode ?? 0));
        res.resume();
      });
      ws.on('open', () => reject(new Error('a viewer opened a forward')));
      ws.on('error', () => {});
    });
    expect(upgrade).toBe(403);
    const commands = await asAdmin(fx.ts, 'GET', `/devices/${fx.deviceId}/commands`);
    expect(commands.items.filter((c: any) => c.createdBy === 'user:vera')).toEqual([]);
    // Each refusal is in the audit log as a refused forward.open.
    const refused = (await asAdmin(fx.ts, 'GET', '/audit?action=forward.open&actor=vera')).items;
    expect(refused.length).toBeGreaterThanOrEqual(2);
    for (const a of refused) expect(a).toMatchObject({ result: 'error', errorCode: 'E_DENIED' });
  });

  it('refuses bad specs and unknown devices with one clear line', async () => {
    const bad = await runCli(fx.ts, ['forward', fx.deviceId, '8080'], {});
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/'8080': expected LOCALPORT:HOST:PORT or LOCALPORT:PORT/);
    const unknown = await runCli(fx.ts, ['forward', 'no-such-device', '0:80'], {});
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/E_NOT_FOUND/);
  });
});
