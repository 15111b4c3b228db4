/**
 * The embedded broker's CONNECT hook over its real TLS listener (port 0): what it
 * hands the authority for a client with no certificate, a verified one or an
 * unverified one, and a device whose standing changes while it is connecting.
 * The authority is the server's interface to its store; here it records its calls.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import mqtt from 'mqtt';
import forge from 'node-forge';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../log.js';
import { ensureTls, issueClientCertificate, type TlsMaterial } from '../tls/ca.js';
import type { Principal } from './acl.js';
import type { VerifiedClientCert } from './device-auth.js';
import { type BrokerAuthority, createEmbeddedBroker, type EmbeddedBroker } from './embedded.js';

const DEVICE = 'd-abcdefghijklmnopqrst';
const root = mkdtempSync(join(tmpdir(), 'outpost-embedded-test-'));

interface Call {
  deviceId: string;
  secret: string;
  cert: VerifiedClientCert | undefined;
}
let calls: Call[] = [];
let tokenChecks = 0;
/** What the next authenticateDevice answers; may be a promise the test settles later. */
let answer: () => Promise<Principal | null> = async () => null;

const authority: BrokerAuthority = {
  authenticateDevice(deviceId, secret, cert) {
    calls.push({ deviceId, secret, cert });
    return answer();
  },
  async checkEnrollmentToken() {
    tokenChecks++;
    return { ok: true };
  },
};

let tls: TlsMaterial;
let broker: EmbeddedBroker;
let port: number;
let device: { key: string; cert: string; fingerprint: string };
let logText = '';

beforeAll(async () => {
  tls = ensureTls(join(root, 'tls'), []);
  const kp = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const key = kp.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const issued = issueClientCertificate({
    caCert: tls.ca,
    caKey: readFileSync(join(root, 'tls', 'ca.key'), 'utf8'),
    publicKey: kp.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    deviceId: DEVICE,
  });
  device = { key, cert: issued.certificate, fingerprint: issued.fingerprint };
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logText += String(chunk);
      cb();
    },
  });
  broker = await createEmbeddedBroker({
    authority,
    tls: { key: tls.key, cert: tls.cert, clientCa: tls.ca },
    log: createLogger('debug', sink),
  });
  port = await broker.listen(0, '127.0.0.1');
});
afterAll(async () => {
  await broker?.close();
  rmSync(root, { recursive: true, force: true });
});
beforeEach(() => {
  calls = [];
  tokenChecks = 0;
  answer = async () => null;
});

const accepted: Principal = { kind: 'device', deviceId: DEVICE, status: 'accepted' };

/** Connects and resolves 'connected' or the refusal message. */
async function connect(opts: { clientId: string; username?: string; password?: string; key?: string; cert?: string }) {
  try {
    const c = await mqtt.connectAsync(`mqtts://127.0.0.1:${port}`, {
      ca: tls.ca,
      servername: 'localhost',
      reconnectPeriod: 0,
      connectTimeout: 5000,
      ...opts,
    });
    await c.endAsync(true);
    return 'connected';
  } catch (err) {
    return String((err as Error).message);
  }
}

function selfSigned(cn: string): { key: string; cert: string } {
  const keys = forge.pki.rsa.generateKeyPair(1024);
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = '01';
  cert.validity.notBefore = new Date(Date.now() - 86_400_000);
  cert.validity.notAfter = new Date(Date.now() + 86_400_000);
  cert.setSubject([{ name: 'commonName', value: cn }]);
  cert.setIssuer([{ name: 'commonName', value: cn }]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { key: forge.pki.privateKeyToPem(keys.privateKey), cert: forge.pki.certificateToPem(cert) };
}

describe('the CONNECT hook over TLS', () => {
  it('asks the authority with the secret and no certificate when the client shows none', async () => {
    answer = async () => accepted;
    expect(await connect({ clientId: DEVICE, username: DEVICE, password: 'ops_s' })).toBe('connected');
    expect(calls).toEqual([{ deviceId: DEVICE, secret: 'ops_s', cert: undefined }]);
  });

  it('hands over the CN and SHA-256 fingerprint of a certificate the CA verified', async () => {
    answer = async () => accepted;
    expect(await connect({ clientId: DEVICE, username: DEVICE, key: device.key, cert: device.cert })).toBe('connected');
    expect(calls).toEqual([
      { deviceId: DEVICE, secret: '', cert: { certFingerprint: device.fingerprint, certCN: DEVICE } },
    ]);
  });

  it('refuses a certificate the CA did not issue before asking anyone, password or not', async () => {
    answer = async () => accepted;
    const forged = selfSigned(DEVICE);
    expect(await connect({ clientId: DEVICE, username: DEVICE, password: 'ops_s', ...forged })).toMatch(
      /Not authorized/i,
    );
    expect(calls).toEqual([]);
    expect(logText).toMatch(/client certificate not verified/);
  });

  it('a device certificate cannot be used to enroll', async () => {
    const r = await connect({ clientId: 'enroll-n0123456789abcdef', username: 'enroll', password: 'ope_x', ...device });
    expect(r).toMatch(/Not authorized/i);
    expect(tokenChecks).toBe(0);
    expect(await connect({ clientId: 'enroll-n0123456789abcdef', username: 'enroll', password: 'ope_x' })).toBe(
      'connected',
    );
    expect(tokenChecks).toBe(1);
  });

  it('says why it refused a certificate the authority did not accept', async () => {
    expect(await connect({ clientId: DEVICE, username: DEVICE, ...device })).toMatch(/Bad username or password/i);
    expect(logText).toMatch(/client certificate does not identify this device/);
  });

  it('refuses a device whose standing changed (revoke, delete) while its CONNECT was being checked', async () => {
    // The authority read the store before the change; the disconnect must still reach this connection.
    let release: (p: Principal | null) => void = () => {};
    answer = () => new Promise((r) => (release = r));
    const pending = connect({ clientId: DEVICE, username: DEVICE, ...device });
    await expect.poll(() => calls.length).toBe(1);
    broker.disconnect(DEVICE);
    release(accepted);
    expect(await pending).toMatch(/Not authorized/i);
    // The next CONNECT is judged afresh.
    answer = async () => accepted;
    expect(await connect({ clientId: DEVICE, username: DEVICE, ...device })).toBe('connected');
  });
});
