import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CommandResponse, topics } from '@outpost/protocol';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { freePort, startBroker, type TestBroker } from '../test/broker.js';
import { isDead } from '../test/proc.js';
import { writeIdentity } from './state.js';

/**
 * The real daemon: the esbuild bundle run by `node` as its own process. Set
 * OUTPOST_TEST_NODE to run it with another node binary (e.g. Node 18).
 */
const NODE = process.env.OUTPOST_TEST_NODE || process.execPath;
const DEVICE = 'd-process1';
const SECRET = 'p'.repeat(43);

let work: string;
let bundle: string;
let broker: TestBroker | undefined;
let child: ChildProcess | undefined;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'outpost-main-'));
  // @ts-expect-error build.mjs is plain JavaScript without type declarations.
  const { buildAgent } = (await import('../build.mjs')) as { buildAgent: (o: { outfile: string }) => Promise<string> };
  bundle = await buildAgent({ outfile: join(work, 'outpost-agent.mjs') });
});
afterAll(() => rmSync(work, { recursive: true, force: true }));
afterEach(async () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await broker?.close();
  broker = undefined;
  child = undefined;
});

interface Run {
  proc: ChildProcess;
  stderr: () => string;
  exit: Promise<number | null>;
}

function run(args: string[], env: NodeJS.ProcessEnv = {}): Run {
  const proc = spawn(NODE, [bundle, ...args], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child = proc;
  let err = '';
  proc.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
  });
  proc.stdout?.resume();
  const exit = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return { proc, stderr: () => err, exit };
}

const deviceAuth = {
  authenticate: (_c: unknown, u: string | undefined, p: Buffer | undefined, done: (e: null, ok: boolean) => void) =>
    done(null, u === DEVICE && p?.toString() === SECRET),
};

describe('outpost-agent process', () => {
  it('waits for a broker that is down at boot, runs commands, and on SIGTERM kills them, goes offline and exits 0', async () => {
    const stateDir = join(work, 'state-sigterm');
    const port = await freePort();
    const url = `mqtt://127.0.0.1:${port}`;
    writeIdentity(stateDir, { server: url, deviceId: DEVICE, secret: SECRET, enrolledAt: new Date().toISOString() });
    const agent = run(['--state-dir', stateDir, '--allow-insecure'], {
      OUTPOST_AGENT_SERVER: url,
      OUTPOST_AGENT_LOG_LEVEL: 'debug',
    });
    await new Promise((r) => setTimeout(r, 1500));
    expect(agent.proc.exitCode).toBeNull();
    broker = await startBroker({ port, hooks: deviceAuth });
    const b = broker;
    const status = topics.status(DEVICE);
    await vi.waitFor(() => expect(b.on(status).length).toBe(1), { timeout: 20_000 });

    await b.publish(topics.command(DEVICE, 'exec', 'run'), {
      id: 'p1',
      args: { argv: ['echo', 'hello'] },
      ts: Date.now(),
    });
    await vi.waitFor(() => expect(b.on(topics.result(DEVICE, 'p1')).length).toBe(1), { timeout: 10_000 });
    expect(b.on(topics.result(DEVICE, 'p1'))[0]?.json()).toMatchObject({ ok: true, data: { stdout: 'hello\n' } });

    const pidFile = join(stateDir, 'bg.pid');
    await b.publish(topics.command(DEVICE, 'exec', 'run'), {
      id: 'p2',
      args: { script: `sleep 1000 & echo $! > '${pidFile}'; wait`, shell: true },
      ts: Date.now(),
    });
    await vi.waitFor(() => expect(readFileSync(pidFile, 'utf8').trim()).toMatch(/^\d+$/), { timeout: 10_000 });
    const bg = Number(readFileSync(pidFile, 'utf8'));

    agent.proc.kill('SIGTERM');
    const code = await Promise.race([agent.exit, new Promise((r) => setTimeout(() => r('timeout'), 15_000))]);
    expect(code).toBe(0);
    const last = b.on(status).at(-1);
    expect(last?.json()).toMatchObject({ online: false });
    expect(last?.retain).toBe(true);
    expect(last?.clientId).toBe(DEVICE);
    const p2 = b.on(topics.result(DEVICE, 'p2'))[0]?.json() as CommandResponse | undefined;
    expect(p2).toMatchObject({ ok: false, error: { code: 'E_INTERNAL' } });
    await vi.waitFor(() => expect(isDead(bg)).toBe(true), { timeout: 5000 });

    // Structured logs only, and never the secret.
    const lines = agent.stderr().trim().split('\n');
    for (const line of lines) expect(() => JSON.parse(line), line).not.toThrow();
    expect(agent.stderr()).not.toContain(SECRET);
  });

  it('stops promptly on SIGTERM while the broker is unreachable', async () => {
    const stateDir = join(work, 'state-down');
    const url = `mqtt://127.0.0.1:${await freePort()}`;
    writeIdentity(stateDir, { server: url, deviceId: DEVICE, secret: SECRET, enrolledAt: new Date().toISOString() });
    const agent = run(['--state-dir', stateDir, '--allow-insecure', '--server', url]);
    await new Promise((r) => setTimeout(r, 1000));
    agent.proc.kill('SIGTERM');
    const code = await Promise.race([agent.exit, new Promise((r) => setTimeout(() => r('timeout'), 10_000))]);
    expect(code).toBe(0);
  });

  it('exits 2 with one clear line when the enrollment token is rejected, never printing it', async () => {
    broker = await startBroker({ hooks: deviceAuth });
    const stateDir = join(work, 'state-reject');
    const token = 'bad-token-that-must-not-leak';
    const agent = run(['--server', broker.url, '--allow-insecure', '--state-dir', stateDir], {
      OUTPOST_AGENT_ENROLL_TOKEN: token,
    });
    expect(await agent.exit).toBe(2);
    const lines = agent.stderr().trim().split('\n');
    expect(lines.at(-1)).toMatch(/^outpost-agent: enrollment token rejected/);
    expect(agent.stderr()).not.toContain(token);
  });

  it('exits 2 with one clear line when it is not enrolled and has no token', async () => {
    const agent = run(['--server', 'mqtts://127.0.0.1:1', '--state-dir', join(work, 'state-none')]);
    expect(await agent.exit).toBe(2);
    expect(agent.stderr()).toMatch(/^outpost-agent: not enrolled: .*identity\.json does not exist/);
  });

  it('exits 2 naming the bad key of its config file', async () => {
    const agent = run(['--config', join(work, 'missing.json')]);
    expect(await agent.exit).toBe(2);
    expect(agent.stderr().trim()).toMatch(/^outpost-agent: cannot read config file .*missing\.json: ENOENT$/);
  });
});
