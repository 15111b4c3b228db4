/**
 * The server's own CA: created once in the data dir, signs a server certificate that
 * real TLS clients accept for localhost, re-issued when the names change.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, unlinkSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, type Server } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { certificateNames, ensureTls, serial, type TlsMaterial } from './ca.js';

const root = mkdtempSync(join(tmpdir(), 'outpost-tls-test-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
const freshDir = () => join(root, `data-${n++}`, 'tls');
const read = (dir: string, name: string) => readFileSync(join(dir, name), 'utf8');
const mode = (path: string) => statSync(path).mode & 0o777;
const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256;

function verifiesAgainst(certPem: string, caPem: string): boolean {
  return new X509Certificate(certPem).verify(new X509Certificate(caPem).publicKey);
}

describe('serial numbers', () => {
  // A DER INTEGER must be minimal: a 0x00 first byte before a byte under 0x80 is padding OpenSSL 3
  // refuses when it loads the certificate ("illegal padding"). 5,000 draws meet a 1-in-128 bug ~39 times.
  it('are 16 bytes, positive and minimal in DER: the first byte is 0x01-0x7f', () => {
    for (let i = 0; i < 5000; i++) {
      const hex = serial();
      expect(hex).toMatch(/^[0-9a-f]{32}$/);
      const first = Number.parseInt(hex.slice(0, 2), 16);
      expect(first).toBeGreaterThanOrEqual(0x01);
      expect(first).toBeLessThanOrEqual(0x7f);
    }
  });
});

describe('ensureTls', () => {
  let dir: string;
  let first: TlsMaterial;

  beforeAll(() => {
    dir = freshDir();
    first = ensureTls(dir, []);
  });

  it('creates the CA and server key pair in the directory', () => {
    for (const f of ['ca.crt', 'ca.key', 'server.crt', 'server.key']) expect(existsSync(join(dir, f)), f).toBe(true);
    expect(first.caFile).toBe(join(dir, 'ca.crt'));
    expect(first.ca).toBe(read(dir, 'ca.crt'));
    expect(first.cert).toBe(read(dir, 'server.crt'));
    expect(first.key).toBe(read(dir, 'server.key'));
    expect(first.key).toContain('-----BEGIN PRIVATE KEY-----');
  });

  it('keeps private keys private (0600) and the directory 0700', () => {
    expect(mode(join(dir, 'ca.key'))).toBe(0o600);
    expect(mode(join(dir, 'server.key'))).toBe(0o600);
    expect(mode(dir)).toBe(0o700);
  });

  it('issues a CA certificate that is a CA and signed by itself', () => {
    const ca = new X509Certificate(first.ca);
    expect(ca.ca).toBe(true);
    expect(ca.subject).toBe(ca.issuer);
    expect(ca.verify(ca.publicKey)).toBe(true);
  });

  it('issues a server certificate signed by the CA, for localhost and the loopback addresses', () => {
    const cert = new X509Certificate(first.cert);
    const ca = new X509Certificate(first.ca);
    expect(cert.ca).toBe(false);
    expect(cert.verify(ca.publicKey)).toBe(true);
    expect(cert.checkIssued(ca)).toBe(true);
    expect(cert.checkHost('localhost')).toBe('localhost');
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(cert.checkIP('::1')).toBe('::1');
    expect(cert.checkHost('evil.example')).toBeUndefined();
    expect(new Date(cert.validTo).getTime()).toBeGreaterThan(Date.now() + 365 * 24 * 3600 * 1000);
  });

  it('the server key belongs to the server certificate', async () => {
    const { createPrivateKey } = await import('node:crypto');
    expect(new X509Certificate(first.cert).checkPrivateKey(createPrivateKey(first.key))).toBe(true);
  });

  it('calling again keeps the same CA and server certificate', () => {
    const again = ensureTls(dir, []);
    expect(again).toEqual(first);
  });

  it('a new extra hostname re-issues the server certificate but keeps the CA', () => {
    const dir2 = freshDir();
    const a = ensureTls(dir2, []);
    const caKey = read(dir2, 'ca.key');
    const b = ensureTls(dir2, ['outpost.example.com', '10.1.2.3']);
    expect(b.ca).toBe(a.ca);
    expect(read(dir2, 'ca.key')).toBe(caKey);
    expect(fingerprint(b.cert)).not.toBe(fingerprint(a.cert));
    expect(b.key).not.toBe(a.key);
    const cert = new X509Certificate(b.cert);
    expect(cert.checkHost('outpost.example.com')).toBe('outpost.example.com');
    expect(cert.checkIP('10.1.2.3')).toBe('10.1.2.3');
    expect(cert.checkHost('localhost')).toBe('localhost');
    expect(verifiesAgainst(b.cert, b.ca)).toBe(true);
    expect(mode(join(dir2, 'server.key'))).toBe(0o600);
    // The same names again: nothing changes.
    expect(ensureTls(dir2, ['10.1.2.3', 'outpost.example.com'])).toEqual(b);
  });

  it('a deleted server key re-issues the server certificate under the same CA', () => {
    const dir2 = freshDir();
    const a = ensureTls(dir2, []);
    unlinkSync(join(dir2, 'server.key'));
    const b = ensureTls(dir2, []);
    expect(b.ca).toBe(a.ca);
    expect(fingerprint(b.cert)).not.toBe(fingerprint(a.cert));
    expect(verifiesAgainst(b.cert, b.ca)).toBe(true);
  });

  it('a regenerated CA (ca.key deleted) also re-issues the server certificate under it', () => {
    // Operators rotate the CA by deleting it; a server cert from the old CA would fail every client.
    const dir2 = freshDir();
    const a = ensureTls(dir2, []);
    unlinkSync(join(dir2, 'ca.key'));
    const b = ensureTls(dir2, []);
    expect(b.ca).not.toBe(a.ca);
    expect(verifiesAgainst(b.cert, b.ca), 'server.crt verifies against the new ca.crt').toBe(true);
  });

  it('certificateNames always includes localhost and the loopback addresses, without duplicates', () => {
    const names = certificateNames(['localhost', 'a.example', 'a.example']);
    expect(names.slice(0, 3)).toEqual(['localhost', '127.0.0.1', '::1']);
    expect(names).toContain('a.example');
    expect(new Set(names).size).toBe(names.length);
  });
});

describe('a real TLS handshake', () => {
  let tls: TlsMaterial;
  let server: Server;
  let port: number;

  beforeAll(async () => {
    tls = ensureTls(freshDir(), []);
    server = createServer({ key: tls.key, cert: tls.cert }, (socket) => socket.end('hello'));
    server.on('tlsClientError', () => {});
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  /** Connects and resolves with the server's greeting, or rejects with the client-side TLS error. */
  function handshake(opts: { ca?: string; servername?: string }): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port, ...opts }, () => {
        let data = '';
        socket.setEncoding('utf8');
        socket.on('data', (d: string) => {
          data += d;
        });
        socket.on('end', () => resolve(data));
      });
      socket.on('error', reject);
    });
  }

  it('succeeds with the CA and servername localhost', async () => {
    await expect(handshake({ ca: tls.ca, servername: 'localhost' })).resolves.toBe('hello');
  });

  it('fails without the CA (system roots do not know it)', async () => {
    await expect(handshake({ servername: 'localhost' })).rejects.toMatchObject({
      code: expect.stringMatching(
        /SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT/,
      ),
    });
  });

  it('fails for a name the certificate does not carry', async () => {
    await expect(handshake({ ca: tls.ca, servername: 'evil.example' })).rejects.toMatchObject({
      code: 'ERR_TLS_CERT_ALTNAME_INVALID',
    });
  });

  it('fails against a different CA', async () => {
    const other = ensureTls(freshDir(), []);
    await expect(handshake({ ca: other.ca, servername: 'localhost' })).rejects.toBeInstanceOf(Error);
  });
});
