/**
 * Device authentication at CONNECT, the whole table: secret devices by secret,
 * certificate devices by a verified certificate only, never a revoked or deleted one.
 */
import { describe, expect, it } from 'vitest';
import { hashSecret, secretMatches } from '../secrets.js';
import { authenticateDevice, type DeviceCredentialsRow } from './device-auth.js';

const ID = 'd-abcdefghijklmnopqrst';
const SECRET = 'ops_secret';
const FP = 'ab'.repeat(32);
const secretDevice: DeviceCredentialsRow = {
  id: ID,
  status: 'accepted',
  secret_hash: hashSecret(SECRET),
  cert_fingerprint: null,
};
// As enrollment stores it: an empty secret hash and the certificate's fingerprint.
const certDevice: DeviceCredentialsRow = { id: ID, status: 'accepted', secret_hash: '', cert_fingerprint: FP };
const cert = { certFingerprint: FP, certCN: ID };

describe('authenticateDevice', () => {
  it('a secret device connects with its secret, in every status but revoked', () => {
    for (const status of ['pending', 'accepted', 'rejected'] as const) {
      expect(authenticateDevice({ ...secretDevice, status }, ID, SECRET)).toEqual({
        kind: 'device',
        deviceId: ID,
        status,
      });
    }
    expect(authenticateDevice({ ...secretDevice, status: 'revoked' }, ID, SECRET)).toBeNull();
  });

  it('a secret device is refused with a wrong or empty secret, or another id', () => {
    expect(authenticateDevice(secretDevice, ID, 'ops_wrong')).toBeNull();
    expect(authenticateDevice(secretDevice, ID, '')).toBeNull();
    expect(authenticateDevice(secretDevice, 'd-other', SECRET)).toBeNull();
    expect(authenticateDevice(undefined, ID, SECRET)).toBeNull();
  });

  it('a certificate device connects with its certificate (any password), in every status but revoked', () => {
    expect(authenticateDevice(certDevice, ID, '', cert)).toEqual({ kind: 'device', deviceId: ID, status: 'accepted' });
    expect(authenticateDevice(certDevice, ID, 'anything', cert)?.kind).toBe('device');
    expect(authenticateDevice({ ...certDevice, status: 'pending' }, ID, '', cert)).toMatchObject({ status: 'pending' });
    expect(authenticateDevice({ ...certDevice, status: 'revoked' }, ID, '', cert)).toBeNull();
    expect(authenticateDevice(undefined, ID, '', cert)).toBeNull();
  });

  it('a certificate device can never log in with a password, whatever it is', () => {
    for (const pw of ['', 'ops_secret', 'x'.repeat(64)]) expect(authenticateDevice(certDevice, ID, pw)).toBeNull();
    // Its stored hash is empty, which no secret's SHA-256 can match either.
    expect(secretMatches('', '')).toBe(false);
    expect(secretMatches('anything', '')).toBe(false);
  });

  it('refuses a certificate with another CN or another fingerprint', () => {
    expect(authenticateDevice(certDevice, ID, '', { ...cert, certCN: 'd-other' })).toBeNull();
    expect(authenticateDevice(certDevice, ID, '', { ...cert, certFingerprint: 'cd'.repeat(32) })).toBeNull();
    expect(authenticateDevice(certDevice, ID, '', { ...cert, certFingerprint: FP.toUpperCase() })).toBeNull();
    expect(authenticateDevice(certDevice, ID, '', { ...cert, certFingerprint: '' })).toBeNull();
  });

  it('a secret device is refused when it presents a certificate, even with the right secret', () => {
    // A verified certificate speaks for its device: a secret device has none on record.
    expect(authenticateDevice(secretDevice, ID, SECRET, cert)).toBeNull();
  });
});
