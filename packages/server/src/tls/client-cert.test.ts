/**
 * Device client certificates from the server's CA: what they say (CN, clientAuth,
 * key usage, validity), which public keys may be certified, and how a real TLS
 * server that asks for client certificates judges them.
 */
import { createHash, createPrivateKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, type Server, type TLSSocket } from 'node:tls';
import { OutpostError } from '@outpost/protocol';
import forge from 'node-forge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CLIENT_CERT_DAYS,
  certFingerprint,
  checkDevicePublicKey,
  ensureTls,
  issueClientCertificate,
  type TlsMaterial,
} from './ca.js';

const root = mkdtempSync(join(tmpdir(), 'outpost-client-cert-test-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const DAY = 24 * 3600 * 1000;
const DEVICE = 'd-abcdefghijklmnopqrst';

function rsaKey(bits = 2048): { privateKey: string; publicKey: string } {
  const kp = generateKeyPairSync('rsa', { modulusLength: bits });
  return {
    privateKey: kp.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKey: kp.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

let tls: TlsMaterial;
let caKey: string;
let device: { privateKey: string; publicKey: string };
let issued: { certificate: string; fingerprint: string };

beforeAll(() => {
  const dir = join(root, 'tls');
  tls = ensureTls(dir, []);
  caKey = readFileSync(join(dir, 'ca.key'), 'utf8');
  device = rsaKey();
  issued = issueClientCertificate({ caCert: tls.ca, caKey, publicKey: device.publicKey, deviceId: DEVICE });
});

describe('issueClientCertificate', () => {
  it('is signed by the CA and names the device as its subject CN', () => {
    const cert = new X509Certificate(issued.certificate);
    const ca = new X509Certificate(tls.ca);
    expect(cert.verify(ca.publicKey)).toBe(true);
    expect(cert.checkIssued(ca)).toBe(true);
    expect(cert.subject).toContain(`CN=${DEVICE}`);
    expect(cert.issuer).toBe(ca.subject);
    expect(cert.ca).toBe(false);
  });

  it('certifies the device key it was given, and no other', () => {
    const cert = new X509Certificate(issued.certificate);
    expect(cert.publicKey.export({ type: 'spki', format: 'pem' })).toBe(device.publicKey);
    expect(cert.checkPrivateKey(createPrivateKey(device.privateKey))).toBe(true);
  });

  it('is for client authentication only, with digitalSignature key usage', () => {
    const cert = new X509Certificate(issued.certificate);
    // Node's keyUsage is the extended key usage: clientAuth (1.3.6.1.5.5.7.3.2), not serverAuth.
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    const f = forge.pki.certificateFromPem(issued.certificate);
    const ku = f.getExtension('keyUsage') as { critical?: boolean; digitalSignature?: boolean; keyCertSign?: boolean };
    expect(ku.critical).toBe(true);
    expect(ku.digitalSignature).toBe(true);
    expect(ku.keyCertSign).toBe(false);
    const bc = f.getExtension('basicConstraints') as { cA?: boolean; critical?: boolean };
    expect(bc.cA).toBe(false);
    expect(bc.critical).toBe(true);
  });

  it('is valid now and for about two years', () => {
    const cert = new X509Certificate(issued.certificate);
    const from = new Date(cert.validFrom).getTime();
    const to = new Date(cert.validTo).getTime();
    expect(from).toBeLessThanOrEqual(Date.now());
    expect(Math.abs(to - (Date.now() + CLIENT_CERT_DAYS * DAY))).toBeLessThan(DAY);
    expect(CLIENT_CERT_DAYS).toBeGreaterThanOrEqual(700);
  });

  it('reports the SHA-256 fingerprint of the DER certificate, and serials are random', () => {
    const cert = new X509Certificate(issued.certificate);
    expect(issued.fingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(issued.fingerprint).toBe(createHash('sha256').update(cert.raw).digest('hex'));
    expect(issued.fingerprint).toBe(cert.fingerprint256.replaceAll(':', '').toLowerCase());
    expect(certFingerprint(cert.raw)).toBe(issued.fingerprint);
    const again = issueClientCertificate({ caCert: tls.ca, caKey, publicKey: device.publicKey, deviceId: DEVICE });
    expect(new X509Certificate(again.certificate).serialNumber).not.toBe(cert.serialNumber);
    expect(again.fingerprint).not.toBe(issued.fingerprint);
  });

  it('refuses a device id that is not a valid id', () => {
    for (const deviceId of ['', 'd/x', 'a b', 'x'.repeat(65)]) {
      expect(() => issueClientCertificate({ caCert: tls.ca, caKey, publicKey: device.publicKey, deviceId })).toThrow(
        OutpostError,
      );
    }
  });
});

describe('checkDevicePublicKey', () => {
  it('accepts RSA keys of 2048 to 4096 bits as SPKI PEM', () => {
    expect(() => checkDevicePublicKey(device.publicKey)).not.toThrow();
    expect(() => checkDevicePublicKey(rsaKey(4096).publicKey)).not.toThrow();
    expect(() => checkDevicePublicKey(device.publicKey.replaceAll('\n', '\r\n'))).not.toThrow();
  });

  const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const weak = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const cases: [string, () => string][] = [
    ['an empty string', () => ''],
    ['garbage', () => 'not a key'],
    ['a 1024-bit RSA key', () => weak.publicKey.export({ type: 'spki', format: 'pem' }).toString()],
    ['an EC key', () => ec.publicKey.export({ type: 'spki', format: 'pem' }).toString()],
    ['a PKCS#1 RSA key', () => weak.publicKey.export({ type: 'pkcs1', format: 'pem' }).toString()],
    ['a private key (a public key could be derived from it)', () => device.privateKey],
    ['a certificate', () => issued.certificate],
    ['two keys in one string', () => device.publicKey + device.publicKey],
    ['a key with text around it', () => `hello\n${device.publicKey}`],
    ['a corrupt key', () => device.publicKey.replace(/[A-Za-z]{8}/, 'AAAAAAAA')],
  ];
  it.each(cases)('refuses %s with E_BAD_ARGS', (_label, pem) => {
    let err: unknown;
    try {
      checkDevicePublicKey(pem());
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(OutpostError);
    expect((err as OutpostError).code).toBe('E_BAD_ARGS');
  });
});

describe('a TLS server that asks for client certificates (as the MQTT listener does)', () => {
  let server: Server;
  let port: number;
  const seen: { authorized: boolean; cn: unknown; fingerprint: string | null }[] = [];

  beforeAll(async () => {
    server = createServer(
      { key: tls.key, cert: tls.cert, requestCert: true, rejectUnauthorized: false, ca: [tls.ca] },
      (socket: TLSSocket) => {
        const peer = socket.getPeerCertificate();
        const presented = Object.keys(peer).length > 0;
        seen.push({
          authorized: socket.authorized,
          cn: presented ? peer.subject?.CN : undefined,
          fingerprint: presented ? certFingerprint(peer.raw) : null,
        });
        socket.end('hello');
      },
    );
    server.on('tlsClientError', () => {});
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  async function present(auth: { key?: string; cert?: string }) {
    await new Promise<void>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port, ca: tls.ca, servername: 'localhost', ...auth }, () => {
        socket.resume();
        socket.on('end', () => resolve());
      });
      socket.on('error', reject);
    });
    return seen.at(-1);
  }

  it('verifies an issued certificate and sees its CN and fingerprint', async () => {
    expect(await present({ key: device.privateKey, cert: issued.certificate })).toEqual({
      authorized: true,
      cn: DEVICE,
      fingerprint: issued.fingerprint,
    });
  });

  it('still lets a client without a certificate in (secret devices), unverified', async () => {
    expect(await present({})).toEqual({ authorized: false, cn: undefined, fingerprint: null });
  });

  it('does not verify a self-signed certificate with a device CN', async () => {
    const own = forge.pki.createCertificate();
    own.publicKey = forge.pki.publicKeyFromPem(device.publicKey);
    own.serialNumber = '01';
    own.validity.notBefore = new Date(Date.now() - DAY);
    own.validity.notAfter = new Date(Date.now() + DAY);
    own.setSubject([{ name: 'commonName', value: DEVICE }]);
    own.setIssuer([{ name: 'commonName', value: DEVICE }]);
    own.setExtensions([{ name: 'extKeyUsage', clientAuth: true }]);
    own.sign(forge.pki.privateKeyFromPem(device.privateKey) as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
    const r = await present({ key: device.privateKey, cert: forge.pki.certificateToPem(own) });
    expect(r?.authorized).toBe(false);
    expect(r?.cn).toBe(DEVICE);
  });

  it('does not verify a device certificate from another Outpost server', async () => {
    const other = ensureTls(join(root, 'other-tls'), []);
    const otherKey = readFileSync(join(root, 'other-tls', 'ca.key'), 'utf8');
    const foreign = issueClientCertificate({
      caCert: other.ca,
      caKey: otherKey,
      publicKey: device.publicKey,
      deviceId: DEVICE,
    });
    expect((await present({ key: device.privateKey, cert: foreign.certificate }))?.authorized).toBe(false);
  });

  it('does not accept the server certificate (serverAuth only) as a client certificate', async () => {
    expect((await present({ key: tls.key, cert: tls.cert }))?.authorized).toBe(false);
  });
});
