/**
 * Certificate authentication on the device (docs/protocol.md §Enrollment): an RSA
 * key pair made here, whose private half never leaves the state directory
 * (`device.key`, mode 0600), and the client certificate the server's CA issued
 * for it (`device.crt`).
 */
import { createPrivateKey, generateKeyPair, X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from './log.js';
import { ensureStateDir, writeFileAtomic } from './state.js';

export const deviceKeyPath = (stateDir: string): string => join(stateDir, 'device.key');
export const deviceCertPath = (stateDir: string): string => join(stateDir, 'device.crt');

const generate = promisify(generateKeyPair);
const DAY = 24 * 3600 * 1000;

export interface DeviceKey {
  /** PKCS#8 PEM; written to `device.key` only once the server has certified the public half. */
  privateKey: string;
  /** SPKI PEM, sent in `EnrollRequest.publicKey`. */
  publicKey: string;
}

/** A fresh RSA-2048 key pair (off the event loop: it can take seconds on a small CPU). */
export async function newDeviceKey(): Promise<DeviceKey> {
  const { privateKey, publicKey } = await generate('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return { privateKey, publicKey };
}

/**
 * Why `certificate` is not this device's certificate for `publicKey`, or undefined when it is:
 * it must certify exactly that key, for subject CN = the device id.
 */
export function certificateProblem(certificate: string, publicKey: string, deviceId: string): string | undefined {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certificate);
  } catch {
    return 'the certificate is not a valid X.509 certificate';
  }
  if (cert.publicKey.export({ type: 'spki', format: 'pem' }).toString() !== publicKey)
    return 'the certificate is not for the key this device sent';
  if (!cert.subject.split('\n').includes(`CN=${deviceId}`)) return 'the certificate does not name this device';
  return undefined;
}

/** Stores the key (0600) and the certificate (0644, it is public) in the state directory. */
export function writeDeviceCredentials(stateDir: string, privateKey: string, certificate: string): void {
  ensureStateDir(stateDir);
  writeFileAtomic(deviceKeyPath(stateDir), privateKey, 0o600);
  writeFileAtomic(deviceCertPath(stateDir), certificate, 0o644);
}

/**
 * Loads the key and certificate for a certificate identity. Throws (with the fix) when
 * one is missing, unreadable or they do not belong together. Expiry is only warned
 * about: a device clock is often wrong at boot, and the server judges validity anyway.
 */
export function readDeviceCredentials(stateDir: string, deviceId: string, log: Logger): { key: Buffer; cert: Buffer } {
  const again = 'remove identity.json to enroll again';
  const read = (path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new Error(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}; ${again}`);
    }
  };
  const keyFile = deviceKeyPath(stateDir);
  const key = read(keyFile);
  const cert = read(deviceCertPath(stateDir));
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
    if (!x509.checkPrivateKey(createPrivateKey(key))) throw new Error('mismatch');
  } catch {
    throw new Error(`${deviceCertPath(stateDir)} and ${keyFile} do not belong together; ${again}`);
  }
  if (!x509.subject.split('\n').includes(`CN=${deviceId}`))
    throw new Error(`${deviceCertPath(stateDir)} is not for device ${deviceId}; ${again}`);
  if (statSync(keyFile).mode & 0o077) log.warn('device.key is readable by other users; run chmod 600', { keyFile });
  const validTo = new Date(x509.validTo).getTime();
  if (validTo < Date.now() + 30 * DAY)
    log.warn('the device certificate expires soon or has expired; enroll the device again', { validTo: x509.validTo });
  return { key, cert };
}
