/**
 * A throwaway certificate authority for the agent's tests: issues client
 * certificates the way the server does (subject CN = device id), so the agent's
 * checks and storage can be tested without the server package.
 */
import { generateKeyPairSync } from 'node:crypto';
import forge from 'node-forge';

export interface TestCa {
  certificate: string;
  /** A certificate for `publicKey` (SPKI PEM) with subject CN `cn`, valid for `days` (negative: already expired). */
  issue(publicKey: string, cn: string, days?: number): string;
}

export function testCa(): TestCa {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const caKey = forge.pki.privateKeyFromPem(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
  const subject = [{ name: 'commonName', value: 'Outpost test CA' }];
  const make = (pub: string, attrs: forge.pki.CertificateField[], days: number, ca: boolean): string => {
    const cert = forge.pki.createCertificate();
    cert.publicKey = forge.pki.publicKeyFromPem(pub);
    cert.serialNumber = `0${Math.floor(Math.random() * 1e12).toString(16)}`;
    const now = Date.now();
    cert.validity.notBefore = new Date(Math.min(now, now + days * 86_400_000) - 86_400_000);
    cert.validity.notAfter = new Date(now + days * 86_400_000);
    cert.setSubject(attrs);
    cert.setIssuer(subject);
    cert.setExtensions(ca ? [{ name: 'basicConstraints', cA: true }] : [{ name: 'extKeyUsage', clientAuth: true }]);
    cert.sign(caKey as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
    return forge.pki.certificateToPem(cert);
  };
  const certificate = make(publicKey.export({ type: 'spki', format: 'pem' }).toString(), subject, 365, true);
  return {
    certificate,
    issue: (pub, cn, days = 730) => make(pub, [{ name: 'commonName', value: cn }], days, false),
  };
}
