/**
 * The server's own certificate authority: generated on first start in
 * `<dataDir>/tls`, it signs the server certificate (and later device client
 * certificates). The server certificate is re-issued when its names change.
 */
import { generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname as osHostname } from 'node:os';
import { join } from 'node:path';
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

function serial(): string {
  // Positive 128-bit serial (leading nibble < 8 keeps it positive in DER).
  const b = randomBytes(16);
  b[0] = (b[0] ?? 0) & 0x7f;
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
