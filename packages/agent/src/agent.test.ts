import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CommandResponse, check, DeviceStatus, Telemetry, topics } from '@outpost/protocol';
import type { AedesOptions, Subscription } from 'aedes';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { freePort, startBroker, type TestBroker } from '../test/broker.js';
import { type AgentHandle, startAgent } from './agent.js';
import { agentConfig } from './config.js';
import { createLogger, silentLogger } from './log.js';
import { writeIdentity } from './state.js';

const DEVICE = 'd-agent1';
const SECRET = 's'.repeat(43);
const fast = { baseMs: 100, capMs: 400 };

let stateDir: string;
let broker: TestBroker | undefined;
let agent: AgentHandle | undefined;

beforeEach(() => {
  stateDir = mkdtempSync(join(tmpdir(), 'outpost-agent-'));
});
afterEach(async () => {
  await agent?.stop();
  await broker?.close();
  agent = undefined;
  broker = undefined;
  rmSync(stateDir, { recursive: true, force: true });
});

/** A broker that, like the server's, accepts only this device's credentials. */
function deviceAuth(accepted: { value: boolean } = { value: true }): AedesOptions {
  return {
    authenticate: (
      _client: unknown,
      username: string | undefined,
      password: Buffer | undefined,
      done: (err: null, ok: boolean) => void,
    ) => done(null, username === DEVICE && password?.toString() === SECRET),
    authorizeSubscribe: (
      _client: unknown,
      sub: Subscription,
      done: (err: Error | null, sub?: Subscription | null) => void,
    ) => done(null, accepted.value ? sub : null), // null: SUBACK 0x80, as the server's broker answers a pending device
  };
}

async function start(url: string, extra: Partial<Parameters<typeof agentConfig>[0]> = {}) {
  writeIdentity(stateDir, { server: url, deviceId: DEVICE, secret: SECRET, enrolledAt: new Date().toISOString() });
  agent = await startAgent(agentConfig({ stateDir, allowInsecure: true, ...extra }), {
    log: silentLogger,
    backoff: fast,
    subscribeRetryMs: 200,
  });
  return agent;
}

const statusTopic = topics.status(DEVICE);
const online = (b: TestBroker) => b.on(statusTopic).filter((m) => (m.json() as DeviceStatus).online);

async function roundTrip(b: TestBroker, id: string, args: unknown): Promise<CommandResponse> {
  await b.publish(topics.command(DEVICE, 'exec', 'run'), { id, args, ts: Date.now() });
  await vi.waitFor(() => expect(b.on(topics.result(DEVICE, id)).length).toBeGreaterThan(0), { timeout: 15_000 });
  return b.on(topics.result(DEVICE, id))[0]?.json() as CommandResponse;
}

describe('agent over a real MQTT broker', () => {
  it('survives the broker being down at boot and connects once it is up: subscribe first, then a retained online status', async () => {
    const port = await freePort();
    const a = await start(`mqtt://127.0.0.1:${port}`);
    await new Promise((r) => setTimeout(r, 800));
    expect(a.connected).toBe(false);
    broker = await startBroker({ port, hooks: deviceAuth() });
    const b = broker;
    await vi.waitFor(() => expect(online(b)).toHaveLength(1), { timeout: 15_000 });
    const status = online(b)[0];
    expect(status?.retain).toBe(true);
    expect(status?.qos).toBe(1);
    expect(check(DeviceStatus, status?.json())).toBe(true);
    expect(status?.json()).toMatchObject({
      online: true,
      protocol: 1,
      heartbeat: 15,
      facts: { agentVersion: '0.1.0' },
    });
    const sub = b.timeline.indexOf(`sub outpost/v1/d/${DEVICE}/cmd/#`);
    expect(sub).toBeGreaterThanOrEqual(0);
    expect(b.timeline.indexOf(`sub outpost/v1/d/${DEVICE}/tty/+/in`)).toBeGreaterThanOrEqual(0);
    expect(sub).toBeLessThan(b.timeline.indexOf(`pub ${statusTopic}`));
    await vi.waitFor(() => expect(a.connected && a.accepted).toBe(true), { timeout: 5000 });
  });

  it('runs a command: output chunks then exactly one response; a re-delivery gets the same response without re-running', async () => {
    broker = await startBroker({ hooks: deviceAuth() });
    const b = broker;
    await start(b.url);
    await vi.waitFor(() => expect(online(b)).toHaveLength(1), { timeout: 15_000 });
    const file = join(stateDir, 'ran');
    const args = { script: `echo once >> '${file}'; echo out; echo err >&2`, shell: true };
    const first = await roundTrip(b, 'cmd-1', args);
    expect(first).toMatchObject({ id: 'cmd-1', ok: true, data: { exitCode: 0, stdout: 'out\n', stderr: 'err\n' } });
    const chunks = b.on(topics.output(DEVICE, 'cmd-1')).map((m) => m.json() as { seq: number; stream: string });
    expect(chunks.map((c) => c.seq)).toEqual(chunks.map((_, i) => i));
    expect(new Set(chunks.map((c) => c.stream))).toEqual(new Set(['stdout', 'stderr']));
    await new Promise((r) => setTimeout(r, 300));
    expect(b.on(topics.result(DEVICE, 'cmd-1'))).toHaveLength(1);

    await b.publish(topics.command(DEVICE, 'exec', 'run'), { id: 'cmd-1', args, ts: Date.now() });
    await vi.waitFor(() => expect(b.on(topics.result(DEVICE, 'cmd-1'))).toHaveLength(2), { timeout: 10_000 });
    expect(b.on(topics.result(DEVICE, 'cmd-1'))[1]?.json()).toEqual(first);
    expect(readFileSync(file, 'utf8')).toBe('once\n');
  });

  it('sends telemetry every heartbeat', async () => {
    broker = await startBroker({ hooks: deviceAuth() });
    const b = broker;
    await start(b.url, { heartbeat: 1 });
    await vi.waitFor(() => expect(b.on(topics.telemetry(DEVICE)).length).toBeGreaterThanOrEqual(2), {
      timeout: 15_000,
    });
    const sample = b.on(topics.telemetry(DEVICE))[0];
    expect(check(Telemetry, sample?.json())).toBe(true);
    expect(sample?.qos).toBe(0);
    // Each heartbeat carries a metrics sample whose window is the heartbeat (primed when it started).
    const metrics = (sample?.json() as Telemetry | undefined)?.metrics;
    expect(metrics?.window).toBeGreaterThanOrEqual(0.9);
    expect(metrics?.cpu.cores.every((c) => c !== null)).toBe(true);
  });

  it('while pending, announces itself, waits, and subscribes once accepted', async () => {
    const accepted = { value: false };
    broker = await startBroker({ hooks: deviceAuth(accepted) });
    const b = broker;
    const a = await start(b.url, { heartbeat: 1 });
    await vi.waitFor(() => expect(online(b)).toHaveLength(1), { timeout: 15_000 });
    expect(a.accepted).toBe(false);
    // A pending device may publish its status and nothing else: no telemetry.
    await new Promise((r) => setTimeout(r, 1500));
    expect(b.on(topics.telemetry(DEVICE))).toHaveLength(0);
    accepted.value = true;
    await vi.waitFor(() => expect(a.accepted).toBe(true), { timeout: 10_000 });
    // Announced again so the server sends the commands it queued.
    await vi.waitFor(() => expect(online(b)).toHaveLength(2), { timeout: 10_000 });
    expect((await roundTrip(b, 'after-accept', { argv: ['true'] })).ok).toBe(true);
  });

  it('when the server drops a pending device (as it does on accept), reconnects with a fresh backoff', async () => {
    const port = await freePort();
    const accepted = { value: false };
    writeIdentity(stateDir, {
      server: `mqtt://127.0.0.1:${port}`,
      deviceId: DEVICE,
      secret: SECRET,
      enrolledAt: new Date().toISOString(),
    });
    const records: { msg: string; retryInMs?: number }[] = [];
    // random() just under 1 puts each delay at the top of its window: 999 ms, then 1998 ms, ...
    const a = await startAgent(agentConfig({ stateDir, allowInsecure: true }), {
      log: createLogger({ level: 'debug', write: (l) => records.push(JSON.parse(l)) }),
      backoff: { baseMs: 1000, capMs: 60_000, random: () => 0.999 },
      subscribeRetryMs: 60_000,
    });
    agent = a;
    const retries = () => records.filter((r) => r.retryInMs !== undefined).map((r) => r.retryInMs);
    await vi.waitFor(() => expect(retries().length).toBeGreaterThanOrEqual(2), { timeout: 15_000 });
    broker = await startBroker({ port, hooks: deviceAuth(accepted) });
    const b = broker;
    await vi.waitFor(() => expect(online(b)).toHaveLength(1), { timeout: 15_000 });
    const before = retries().length;
    accepted.value = true;
    for (const client of Object.values(
      (b.broker as unknown as { clients: Record<string, { close(): void }> }).clients,
    )) {
      client.close();
    }
    await vi.waitFor(() => expect(retries().length).toBe(before + 1), { timeout: 10_000 });
    expect(retries()[before]).toBe(999);
    await vi.waitFor(() => expect(a.accepted).toBe(true), { timeout: 10_000 });
  });

  it('reconnects after the broker restarts, and delivers a response finished while it was away', async () => {
    broker = await startBroker({ hooks: deviceAuth() });
    const port = broker.port;
    const a = await start(broker.url);
    const first = broker;
    await vi.waitFor(() => expect(online(first)).toHaveLength(1), { timeout: 15_000 });
    await first.publish(topics.command(DEVICE, 'exec', 'run'), {
      id: 'across',
      args: { script: 'sleep 1; echo done', shell: true },
      ts: Date.now(),
    });
    await new Promise((r) => setTimeout(r, 300));
    await first.close();
    await vi.waitFor(() => expect(a.connected).toBe(false), { timeout: 10_000 });
    await new Promise((r) => setTimeout(r, 1500));
    broker = await startBroker({ port, hooks: deviceAuth() });
    const second = broker;
    await vi.waitFor(() => expect(second.on(topics.result(DEVICE, 'across'))).toHaveLength(1), { timeout: 15_000 });
    expect(second.on(topics.result(DEVICE, 'across'))[0]?.json()).toMatchObject({
      ok: true,
      data: { stdout: 'done\n' },
    });
    expect(online(second)).toHaveLength(1);
  });

  it('on stop publishes a retained offline status and disconnects', async () => {
    broker = await startBroker({ hooks: deviceAuth() });
    const b = broker;
    const a = await start(b.url);
    await vi.waitFor(() => expect(online(b)).toHaveLength(1), { timeout: 15_000 });
    await a.stop();
    const last = b.on(statusTopic).at(-1);
    expect(last?.json()).toMatchObject({ online: false });
    expect(last?.retain).toBe(true);
    expect(last?.clientId).toBe(DEVICE);
    expect(a.connected).toBe(false);
  });
});
