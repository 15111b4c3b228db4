/**
 * Whether a connecting client is the device it claims to be (docs/protocol.md
 * §Connecting): the one place that weighs a device secret or a client certificate
 * against the stored device. Pure; the broker supplies the facts, the store the row.
 */
import { timingSafeEqual } from 'node:crypto';
import { secretMatches } from '../secrets.js';
import type { DeviceTable } from '../store/schema.js';
import type { Principal } from './acl.js';

/** A client certificate the TLS layer verified against the Outpost CA: its subject CN and SHA-256 fingerprint. */
export interface VerifiedClientCert {
  certFingerprint: string;
  certCN: string;
}

export type DeviceCredentialsRow = Pick<DeviceTable, 'id' | 'status' | 'secret_hash' | 'cert_fingerprint'>;

function sameFingerprint(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * The device principal, or null when the credentials do not identify `deviceId`:
 * - a deleted or revoked device never connects;
 * - a verified certificate identifies only the device whose id is its CN and whose
 *   stored fingerprint it matches (the password is ignored);
 * - without a certificate the secret must match, and a device enrolled with a
 *   certificate has no secret: it can never log in with a password.
 */
export function authenticateDevice(
  row: DeviceCredentialsRow | undefined,
  deviceId: string,
  secret: string,
  cert?: VerifiedClientCert,
): Principal | null {
  if (!row || row.id !== deviceId || row.status === 'revoked') return null;
  if (cert) {
    if (row.cert_fingerprint === null || cert.certCN !== deviceId) return null;
    if (!sameFingerprint(cert.certFingerprint, row.cert_fingerprint)) return null;
  } else if (row.cert_fingerprint !== null || !secretMatches(secret, row.secret_hash)) {
    return null;
  }
  return { kind: 'device', deviceId, status: row.status as 'pending' | 'accepted' | 'rejected' };
}
