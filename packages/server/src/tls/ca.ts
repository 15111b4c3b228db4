/**
 * The server's own certificate authority: generated on first start in
 * `<dataDir>/tls`, it signs the server certificate and the client certificates
 * of devices that authenticate with one. The server certificate is re-issued
 * when its names change.
 */
import { createHash, createPublicKey, generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname as osHostname } from 'node:os';
import { dirname, join } from 'node:path';
import { isValidId, OutpostError } from '@outpost/protocol';
import forge from 'node-forge';

export interface TlsMaterial {
  caFile: string;
  ca: string;
  cert: string;
  key: string;
}

const DAY = 24 * 3600 * 1000;

function newKeyPair(): { privatePem: string; publicPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/**
 * A positive 128-bit serial in minimal DER: the first byte is 0x01-0x7f. Below 0x80
 * keeps it positive; never 0x00, since a leading zero byte before one under 0x80 is
 * padding that OpenSSL 3 refuses ("illegal padding"), 1 certificate in 128 otherwise.
 */
export function serial(): string {
  const b = randomBytes(16);
  b[0] = (b[0] ?? 0) & 0x7f || 0x01;
  return b.toString('hex');
}

function issue(opts: {
  subjectCN: string;
  publicPem: string;
  signerKeyPem: string;
  issuer?: forge.pki.Certificate;
  days: number;
  extensions: object[];
}): string {
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(opts.publicPem);
  cert.serialNumber = serial();
  cert.validity.notBefore = new Date(Date.now() - DAY);
  cert.validity.notAfter = new Date(Date.now() + opts.days * DAY);
  const subject = [
    { name: 'commonName', value: opts.subjectCN },
    { name: 'organizationName', value: 'Outpost' },
  ];
  cert.setSubject(subject);
  cert.setIssuer(opts.issuer ? opts.issuer.subject.attributes : subject);
  cert.setExtensions(opts.extensions);
  cert.sign(forge.pki.privateKeyFromPem(opts.signerKeyPem) as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
  return forge.pki.certificateToPem(cert);
}

function writeSecret(path: string, data: string): void {
  writeFileSync(path, data, { mode: 0o600 });
}

/** The names the server certificate must carry. */
export function certificateNames(extra: readonly string[]): string[] {
  return [...new Set(['localhost', '127.0.0.1', '::1', osHostname(), ...extra])];
}

/** True when the certificate is signed by the CA, valid for 30 more days, and names every name. */
function certCovers(certPem: string, names: string[], caPem: string): boolean {
  const x = new X509Certificate(certPem);
  if (!x.verify(new X509Certificate(caPem).publicKey)) return false;
  if (new Date(x.validTo).getTime() < Date.now() + 30 * DAY) return false;
  const san = x.subjectAltName ?? '';
  return names.every((n) =>
    isIP(n)
      ? san.includes(`IP Address:${n === '::1' ? '0:0:0:0:0:0:0:1' : n}`) || san.includes(`IP Address:${n}`)
      : san.includes(`DNS:${n}`),
  );
}

/** Loads the CA and server certificate from `dir`, creating or renewing what is missing. */
export function ensureTls(dir: string, extraNames: readonly string[]): TlsMaterial {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const caCrt = join(dir, 'ca.crt');
  const caKey = join(dir, 'ca.key');
  const srvCrt = join(dir, 'server.crt');
  const srvKey = join(dir, 'server.key');
  let caCreated = false;
  if (!existsSync(caCrt) || !existsSync(caKey)) {
    caCreated = true;
    const kp = newKeyPair();
    const pem = issue({
      subjectCN: `Outpost CA ${randomBytes(4).toString('hex')}`,
      publicPem: kp.publicPem,
      signerKeyPem: kp.privatePem,
      days: 3650,
      extensions: [
        { name: 'basicConstraints', cA: true, critical: true },
        { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
        { name: 'subjectKeyIdentifier' },
      ],
    });
    writeSecret(caKey, kp.privatePem);
    writeFileSync(caCrt, pem, { mode: 0o644 });
  }
  const ca = readFileSync(caCrt, 'utf8');
  const names = certificateNames(extraNames);
  if (caCreated || !existsSync(srvCrt) || !existsSync(srvKey) || !certCovers(readFileSync(srvCrt, 'utf8'), names, ca)) {
    const kp = newKeyPair();
    const pem = issue({
      subjectCN: names[0] ?? 'localhost',
      publicPem: kp.publicPem,
      signerKeyPem: readFileSync(caKey, 'utf8'),
      issuer: forge.pki.certificateFromPem(ca),
      days: 825,
      extensions: [
        { name: 'basicConstraints', cA: false },
        { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
        { name: 'extKeyUsage', serverAuth: true },
        { name: 'subjectAltName', altNames: names.map((n) => (isIP(n) ? { type: 7, ip: n } : { type: 2, value: n })) },
      ],
    });
    writeSecret(srvKey, kp.privatePem);
    writeFileSync(srvCrt, pem, { mode: 0o644 });
  }
  return { caFile: caCrt, ca, cert: readFileSync(srvCrt, 'utf8'), key: readFileSync(srvKey, 'utf8') };
}

/** Days a device client certificate is valid (docs/protocol.md §Enrollment). */
export const CLIENT_CERT_DAYS = 730;

/** The SHA-256 fingerprint of a certificate's DER bytes, lowercase hex: what the store keeps per device. */
export function certFingerprint(der: Buffer): string {
  return createHash('sha256').update(der).digest('hex');
}

const SPKI_PEM = /^-----BEGIN PUBLIC KEY-----\r?\n[A-Za-z0-9+/=\r\n]+-----END PUBLIC KEY-----\r?\n?$/;

/**
 * Checks a device's public key from an enrollment request: an RSA key of 2048 to
 * 4096 bits as SPKI PEM (node-forge signs only RSA keys). Throws E_BAD_ARGS otherwise.
 */
export function checkDevicePublicKey(pem: string): void {
  let bits: number | undefined;
  try {
    // Exactly one SPKI block: a key parser would also take a certificate or derive a key from a private one.
    if (SPKI_PEM.test(pem)) {
      const key = createPublicKey({ key: pem, format: 'pem', type: 'spki' });
      if (key.asymmetricKeyType === 'rsa') bits = key.asymmetricKeyDetails?.modulusLength;
    }
  } catch {
    // Falls through to the coded error below; the parser's message says nothing useful to a device.
  }
  if (bits === undefined || bits < 2048 || bits > 4096)
    throw new OutpostError('E_BAD_ARGS', 'publicKey must be an RSA public key of 2048 to 4096 bits, SPKI PEM');
}

/**
 * Issues a device's client certificate: subject CN = the device id, clientAuth only,
 * signed by the Outpost CA, random serial. The caller has checked the key.
 */
export function issueClientCertificate(opts: {
  caCert: string;
  caKey: string;
  publicKey: string;
  deviceId: string;
  days?: number;
}): { certificate: string; fingerprint: string } {
  if (!isValidId(opts.deviceId)) throw new OutpostError('E_BAD_ARGS', 'invalid device id');
  const certificate = issue({
    subjectCN: opts.deviceId,
    publicPem: opts.publicKey,
    signerKeyPem: opts.caKey,
    issuer: forge.pki.certificateFromPem(opts.caCert),
    days: opts.days ?? CLIENT_CERT_DAYS,
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', clientAuth: true },
      { name: 'subjectKeyIdentifier' },
    ],
  });
  return { certificate, fingerprint: certFingerprint(new X509Certificate(certificate).raw) };
}

/** Issues a device's client certificate for its public key (checked by the caller). */
export type DeviceCertIssuer = (publicKey: string, deviceId: string) => { certificate: string; fingerprint: string };

/**
 * The issuer the server uses: the CA of `tls` (the one the MQTT listener trusts), its
 * key read from `ca.key` beside it for each certificate rather than kept in memory.
 */
export function deviceCertIssuer(tls: TlsMaterial): DeviceCertIssuer {
  const caKeyFile = join(dirname(tls.caFile), 'ca.key');
  return (publicKey, deviceId) =>
    issueClientCertificate({ caCert: tls.ca, caKey: readFileSync(caKeyFile, 'utf8'), publicKey, deviceId });
}
