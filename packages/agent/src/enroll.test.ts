import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { check, DeviceStatus, EnrollRequest, type EnrollResponse, ID_PATTERN, topics } from '@outpost/protocol';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { startBroker, type TestBroker } from '../test/broker.js';
import { testCa } from '../test/cert.js';
import { type AgentHandle, startAgent } from './agent.js';
import { agentConfig } from './config.js';
import { newDeviceKey } from './credentials.js';
import { EnrollmentRejected, enroll, newNonce } from './enroll.js';
import { collectFacts } from './facts.js';
import { createLogger, silentLogger } from './log.js';

const TOKEN = 'enroll-token-0123456789abcdef';
const DEVICE = 'd-enrolled0000000000001';
const SECRET = 'k'.repeat(43);

let stateDir: string;
let broker: TestBroker | undefined;
let agent: AgentHandle | undefined;
beforeEach(() => {
  stateDir = mkdtempSync(join(tmpdir(), 'outpost-enroll-'));
});
afterEach(async () => {
  await agent?.stop();
  await broker?.close();
  agent = undefined;
  broker = undefined;
  rmSync(stateDir, { recursive: true, force: true });
});

/**
 * A broker that plays the server's enrollment role: user `enroll` with the right
 * token may connect, and each request is answered with `answer(request)` (or not at all).
 */
async function enrollmentServer(answer: (req: unknown) => EnrollResponse | undefined): Promise<TestBroker> {
  const b = await startBroker({
    hooks: {
      authenticate: (_client, username, password, done) => {
        const pw = password?.toString();
        done(null, (username === 'enroll' && pw === TOKEN) || (username === DEVICE && pw === SECRET));
      },
    },
  });
  b.broker.subscribe(
    'outpost/v1/enroll/+/req',
    (packet, cb) => {
      const nonce = packet.topic.split('/')[3] ?? '';
      const response = answer(JSON.parse(Buffer.from(packet.payload).toString()));
      cb();
      if (response) void b.publish(topics.enrollResponse(nonce), response);
    },
    () => {},
  );
  return b;
}

const accepted: EnrollResponse = { ok: true, deviceId: DEVICE, secret: SECRET, status: 'accepted' };

describe('enrollment', () => {
  it('makes nonces that are valid ids', () => {
    for (let i = 0; i < 50; i++) expect(newNonce()).toMatch(new RegExp(ID_PATTERN));
  });

  it('enrolls with a token, stores the identity (0600), then connects as the device', async () => {
    const requests: unknown[] = [];
    broker = await enrollmentServer((req) => {
      requests.push(req);
      return accepted;
    });
    const b = broker;
    const lines: string[] = [];
    const log = createLogger({ level: 'debug', write: (l) => lines.push(l) });
    agent = await startAgent(agentConfig({ stateDir, server: b.url, allowInsecure: true, enrollToken: TOKEN }), {
      log,
    });
    expect(agent.deviceId).toBe(DEVICE);
    expect(requests).toHaveLength(1);
    expect(check(EnrollRequest, requests[0])).toBe(true);
    const path = join(stateDir, 'identity.json');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(stateDir).mode & 0o777).toBe(0o700);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toMatchObject({ server: b.url, deviceId: DEVICE, secret: SECRET });
    await vi.waitFor(() => expect(b.on(topics.status(DEVICE)).length).toBe(1), { timeout: 15_000 });
    expect(check(DeviceStatus, b.on(topics.status(DEVICE))[0]?.json())).toBe(true);
    const logged = lines.join('');
    expect(logged).not.toContain(TOKEN);
    expect(logged).not.toContain(SECRET);

    // Restarting with the token again uses the stored identity, no second enrollment.
    await agent.stop();
    agent = await startAgent(agentConfig({ stateDir, server: b.url, allowInsecure: true, enrollToken: TOKEN }), {
      log: silentLogger,
    });
    expect(agent.deviceId).toBe(DEVICE);
    expect(requests).toHaveLength(1);
  });

  it('fails for good when the broker refuses the token, without saying the token', async () => {
    broker = await enrollmentServer(() => accepted);
    const config = agentConfig({ stateDir, server: broker.url, allowInsecure: true, enrollToken: 'wrong-token-xyz' });
    const err = await startAgent(config, { log: silentLogger }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(EnrollmentRejected);
    expect((err as Error).message).toMatch(/^enrollment token rejected/);
    expect((err as Error).message).not.toContain('wrong-token-xyz');
  });

  it('fails for good when the server answers E_EXPIRED', async () => {
    broker = await enrollmentServer(() => ({ ok: false, error: { code: 'E_EXPIRED', message: 'token expired' } }));
    const config = agentConfig({ stateDir, server: broker.url, allowInsecure: true, enrollToken: TOKEN });
    await expect(startAgent(config, { log: silentLogger })).rejects.toThrow('enrollment token rejected: token expired');
  });

  it('retries when the server does not answer in time, with a new nonce', async () => {
    const nonces: string[] = [];
    broker = await enrollmentServer((req) => {
      nonces.push((req as { nonce: string }).nonce);
      return nonces.length < 2 ? undefined : accepted;
    });
    const result = await enroll({
      server: broker.url,
      token: TOKEN,
      facts: collectFacts(),
      protocolVersion: 4,
      log: silentLogger,
      backoff: { baseMs: 50, capMs: 100 },
      responseTimeoutMs: 300,
    });
    expect(result).toEqual({ deviceId: DEVICE, secret: SECRET, status: 'accepted' });
    expect(nonces).toHaveLength(2);
    expect(nonces[0]).not.toBe(nonces[1]);
  });

  it('asks for a certificate with the public key, and takes only one for that key and device', async () => {
    const ca = testCa();
    const [key, other] = await Promise.all([newDeviceKey(), newDeviceKey()]);
    const requests: unknown[] = [];
    let answer: (req: { publicKey?: string }) => EnrollResponse = () => accepted;
    broker = await enrollmentServer((req) => {
      requests.push(req);
      return answer(req as { publicKey?: string });
    });
    const b = broker;
    const attempt = () =>
      enroll({
        server: b.url,
        token: TOKEN,
        facts: collectFacts(),
        publicKey: key.publicKey,
        protocolVersion: 4,
        log: silentLogger,
        responseTimeoutMs: 5000,
      });

    answer = (req) => ({
      ok: true,
      deviceId: DEVICE,
      certificate: ca.issue(req.publicKey ?? '', DEVICE),
      status: 'pending',
    });
    const result = await attempt();
    expect(requests[0]).toMatchObject({ publicKey: key.publicKey });
    expect(check(EnrollRequest, requests[0])).toBe(true);
    expect(result.secret).toBeUndefined();
    expect(result).toMatchObject({ deviceId: DEVICE, status: 'pending' });
    expect(result.certificate).toContain('-----BEGIN CERTIFICATE-----');

    // Each of these created a device on the server: final, not retried (another attempt would use the token again).
    const wrong: [string, EnrollResponse, RegExp][] = [
      ['a secret instead', accepted, /did not issue a certificate/],
      [
        'a certificate for another key',
        { ok: true, deviceId: DEVICE, certificate: ca.issue(other.publicKey, DEVICE), status: 'accepted' },
        /not for the key this device sent/,
      ],
      [
        'a certificate for another device',
        { ok: true, deviceId: DEVICE, certificate: ca.issue(key.publicKey, 'd-other'), status: 'accepted' },
        /does not name this device/,
      ],
      [
        'garbage',
        { ok: true, deviceId: DEVICE, certificate: 'x', status: 'accepted' },
        /not a valid X.509 certificate/,
      ],
    ];
    for (const [label, response, message] of wrong) {
      answer = () => response;
      const before = requests.length;
      const err = await attempt().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, label).toBeInstanceOf(EnrollmentRejected);
      expect((err as Error).message, label).toMatch(message);
      expect(requests.length - before, label).toBe(1);
    }
  });

  it('without a public key, an answer with no secret is final too', async () => {
    broker = await enrollmentServer(() => ({ ok: true, deviceId: DEVICE, certificate: 'x', status: 'accepted' }));
    await expect(
      enroll({ server: broker.url, token: TOKEN, facts: collectFacts(), protocolVersion: 4, log: silentLogger }),
    ).rejects.toThrow(/sent no device secret/);
  });

  it('refuses to start with neither identity nor token', async () => {
    const config = agentConfig({ stateDir, server: 'mqtt://127.0.0.1:1', allowInsecure: true });
    await expect(startAgent(config, { log: silentLogger })).rejects.toThrow(/not enrolled/);
  });
});
