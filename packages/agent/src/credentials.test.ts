/**
 * The device's key pair and client certificate: made here, stored with the right
 * modes, checked against each other and the device id before the agent uses them.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type TestCa, testCa } from '../test/cert.js';
import {
  certificateProblem,
  type DeviceKey,
  deviceCertPath,
  deviceKeyPath,
  newDeviceKey,
  readDeviceCredentials,
  writeDeviceCredentials,
} from './credentials.js';
import { createLogger, silentLogger } from './log.js';

const DEVICE = 'd-abcdefghijklmnopqrst';
const root = mkdtempSync(join(tmpdir(), 'outpost-credentials-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let ca: TestCa;
let key: DeviceKey;
let other: DeviceKey;
let cert: string;
let stateDir: string;
let n = 0;

beforeAll(async () => {
  ca = testCa();
  [key, other] = await Promise.all([newDeviceKey(), newDeviceKey()]);
  cert = ca.issue(key.publicKey, DEVICE);
});
beforeEach(() => {
  stateDir = join(root, `state-${n++}`);
});

const mode = (path: string) => statSync(path).mode & 0o777;

function problemReading(log = silentLogger): string {
  try {
    readDeviceCredentials(stateDir, DEVICE, log);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected readDeviceCredentials to throw');
}

describe('newDeviceKey', () => {
  it('makes an RSA-2048 pair: PKCS#8 private, SPKI public, different each time', async () => {
    const { createPrivateKey, createPublicKey } = await import('node:crypto');
    expect(key.privateKey).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(key.publicKey).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
    const pub = createPublicKey(key.publicKey);
    expect(pub.asymmetricKeyType).toBe('rsa');
    expect(pub.asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(createPublicKey(createPrivateKey(key.privateKey)).export({ type: 'spki', format: 'pem' })).toBe(
      key.publicKey,
    );
    expect(other.publicKey).not.toBe(key.publicKey);
  });
});

describe('certificateProblem', () => {
  it('accepts the certificate for this key and device', () => {
    expect(certificateProblem(cert, key.publicKey, DEVICE)).toBeUndefined();
  });

  it('names what is wrong with any other certificate', () => {
    expect(certificateProblem(cert, other.publicKey, DEVICE)).toMatch(/not for the key this device sent/);
    expect(certificateProblem(cert, key.publicKey, 'd-someoneelse')).toMatch(/does not name this device/);
    expect(certificateProblem(ca.issue(key.publicKey, `${DEVICE}x`), key.publicKey, DEVICE)).toMatch(
      /does not name this device/,
    );
    expect(certificateProblem('not a certificate', key.publicKey, DEVICE)).toMatch(/not a valid X.509/);
  });
});

describe('device.key and device.crt', () => {
  it('are stored with the key private (0600), the certificate 0644, in a 0700 directory', () => {
    writeDeviceCredentials(stateDir, key.privateKey, cert);
    expect(mode(deviceKeyPath(stateDir))).toBe(0o600);
    expect(mode(deviceCertPath(stateDir))).toBe(0o644);
    expect(mode(stateDir)).toBe(0o700);
    expect(deviceKeyPath(stateDir)).toBe(join(stateDir, 'device.key'));
    expect(deviceCertPath(stateDir)).toBe(join(stateDir, 'device.crt'));
    expect(readFileSync(deviceKeyPath(stateDir), 'utf8')).toBe(key.privateKey);
    const loaded = readDeviceCredentials(stateDir, DEVICE, silentLogger);
    expect(loaded.key.toString()).toBe(key.privateKey);
    expect(loaded.cert.toString()).toBe(cert);
  });

  it('a missing key or certificate stops the agent with the fix, never printing the key', () => {
    writeDeviceCredentials(stateDir, key.privateKey, cert);
    unlinkSync(deviceCertPath(stateDir));
    expect(problemReading()).toMatch(/cannot read .*device\.crt: ENOENT; remove identity\.json to enroll again/);
    writeDeviceCredentials(stateDir, key.privateKey, cert);
    unlinkSync(deviceKeyPath(stateDir));
    expect(problemReading()).toMatch(/cannot read .*device\.key: ENOENT/);
  });

  it('refuses a key that does not belong to the certificate', () => {
    writeDeviceCredentials(stateDir, other.privateKey, cert);
    const msg = problemReading();
    expect(msg).toMatch(/do not belong together/);
    expect(msg).not.toContain('PRIVATE KEY');
  });

  it("refuses another device's certificate", () => {
    writeDeviceCredentials(stateDir, key.privateKey, ca.issue(key.publicKey, 'd-someoneelse'));
    expect(problemReading()).toMatch(/is not for device d-abcdefghijklmnopqrst/);
  });

  it('warns (and still loads) when the key is readable by others or the certificate is about to expire', () => {
    writeDeviceCredentials(stateDir, key.privateKey, ca.issue(key.publicKey, DEVICE, 10));
    chmodSync(deviceKeyPath(stateDir), 0o644);
    const lines: string[] = [];
    readDeviceCredentials(stateDir, DEVICE, createLogger({ level: 'warn', write: (l) => lines.push(l) }));
    expect(lines.join('')).toMatch(/readable by other users/);
    expect(lines.join('')).toMatch(/expires soon or has expired/);
    expect(lines.join('')).not.toContain('PRIVATE KEY');
  });
});
