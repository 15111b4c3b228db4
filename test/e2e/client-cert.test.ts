/**
 * Devices that authenticate with a client certificate from the server's CA
 * (`outpost-agent --auth certificate`), end to end: a real server, real agent
 * processes and raw MQTT clients playing devices that try to get in without the
 * right certificate. Revocation drops the device at once and its certificate
 * stops working at the next CONNECT.
 */
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { EnrollResponse, parseJson, topics } from '@outpost/protocol';
import mqtt from 'mqtt';
import forge from 'node-forge';
import { describe, expect, it } from 'vitest';
import { useOnlineDevice } from '../fixture.js';
import { onlineAgent, rawClient, sendCommand, spawnAgent, type TestAgent, waitUntil } from '../helpers.js';

const fx = useOnlineDevice({ agent: { args: ['--auth', 'certificate'] } });

const files = (a: TestAgent) => ({
  key: readFileSync(join(a.stateDir, 'device.key'), 'utf8'),
  cert: readFileSync(join(a.stateDir, 'device.crt'), 'utf8'),
});

/** Connects over mqtts:// (optionally with a client certificate); 'connected' or the refusal. */
async function attempt(opts: {
  clientId: string;
  username?: string;
  password?: string;
  key?: string;
  cert?: string;
  url?: string;
}): Promise<string> {
  const { url, ...rest } = opts;
  try {
    const c = await mqtt.connectAsync(url ?? `mqtts://127.0.0.1:${fx.ts.server.mqttPort}`, {
      ca: fx.ts.ca,
      reconnectPeriod: 0,
      connectTimeout: 5000,
      ...rest,
    });
    await c.endAsync(true);
    return 'connected';
  } catch (err) {
    return String((err as Error).message);
  }
}

describe('enrollment with --auth certificate', () => {
  it('leaves no secret anywhere: the identity says certificate, the key stays on the device (0600)', async () => {
    const id = JSON.parse(readFileSync(join(fx.agent.stateDir, 'identity.json'), 'utf8'));
    expect(id).toMatchObject({ deviceId: fx.device.id, auth: 'certificate' });
    expect(id).not.toHaveProperty('secret');
    expect(statSync(join(fx.agent.stateDir, 'device.key')).mode & 0o777).toBe(0o600);
    expect(statSync(join(fx.agent.stateDir, 'identity.json')).mode & 0o777).toBe(0o600);

    const { key, cert } = files(fx.agent);
    const x509 = new X509Certificate(cert);
    expect(x509.verify(new X509Certificate(fx.ts.ca).publicKey)).toBe(true);
    expect(x509.subject.split('\n')).toContain(`CN=${fx.device.id}`);
    expect(x509.checkPrivateKey(createPrivateKey(key))).toBe(true);

    // The server keeps the certificate's fingerprint and a secret hash nothing matches; never the key.
    const row = await fx.ts.server.services.devices.row(fx.device.id);
    expect(row?.cert_fingerprint).toBe(createHash('sha256').update(x509.raw).digest('hex'));
    expect(row?.secret_hash).toBe('');
    const keyBody = key.split('\n')[5] ?? 'unreachable';
    expect(readFileSync(fx.ts.logFile, 'utf8')).not.toContain(keyBody);
    expect(fx.agent.output()).not.toContain(keyBody);
    expect(fx.agent.output()).toContain('"auth":"certificate"');
  });

  it('the device runs commands over its certificate-authenticated link', async () => {
    const r = await sendCommand(fx.ts, fx.device.id, 'exec', 'run', { argv: ['echo', 'over a client certificate'] });
    expect(r.status).toBe(200);
    expect(r.body.status).toBe('succeeded');
    expect(r.body.result.stdout).toBe('over a client certificate\n');
  });

  it('a public key the server cannot certify is refused before the token is used', async () => {
    const created = await fx.ts.api('POST', '/enrollment-tokens', { autoAccept: true, maxUses: 1 });
    const nonce = 'nbadkey0123456789';
    const c = await rawClient(fx.ts, { clientId: `enroll-${nonce}`, username: 'enroll', password: created.body.token });
    await c.subscribeAsync(topics.enrollResponse(nonce), { qos: 1 });
    const answer = new Promise<Buffer>((r) => c.once('message', (_t, p) => r(p)));
    const facts = { hostname: 'h', os: 'o', kernel: 'k', arch: 'a', macs: [], ips: [], agentVersion: '0.0.0' };
    await c.publishAsync(
      topics.enrollRequest(nonce),
      JSON.stringify({ nonce, token: created.body.token, facts, publicKey: 'not a key' }),
      { qos: 1 },
    );
    const res = parseJson(EnrollResponse, await answer, 'enrollment response');
    await c.endAsync(true);
    expect(res).toMatchObject({ ok: false, error: { code: 'E_BAD_ARGS' } });
    const token = (await fx.ts.api('GET', '/enrollment-tokens')).body.items.find((t: any) => t.id === created.body.id);
    expect(token.uses).toBe(0);
  });
});

describe('only the right certificate gets a certificate device in', () => {
  it('its id with no certificate is refused, whatever the password', async () => {
    for (const password of [undefined, '', 'ops_guess', 'x'.repeat(64)]) {
      expect(await attempt({ clientId: fx.device.id, username: fx.device.id, password }), String(password)).toMatch(
        /Bad username|Not authorized/i,
      );
    }
  });

  it("another device's certificate is refused for its id (and works for its own)", async () => {
    const { agent: other, device: otherDevice } = await onlineAgent(fx.ts, { args: ['--auth', 'certificate'] });
    const creds = files(other);
    await other.stop();
    expect(await attempt({ clientId: fx.device.id, username: fx.device.id, ...creds })).toMatch(
      /Bad username|Not authorized/i,
    );
    expect(await attempt({ clientId: fx.device.id, username: otherDevice.id, ...creds })).toMatch(
      /Bad username|Not authorized/i,
    );
    // Control: the same certificate opens its own device, so the refusals above are about the id.
    expect(await attempt({ clientId: otherDevice.id, username: otherDevice.id, ...creds })).toBe('connected');
  });

  it('a self-signed certificate with the right CN, even over the device key, is refused', async () => {
    const { key } = files(fx.agent);
    const fk = forge.pki.privateKeyFromPem(key) as forge.pki.rsa.PrivateKey;
    const cert = forge.pki.createCertificate();
    cert.publicKey = forge.pki.setRsaPublicKey(fk.n, fk.e);
    cert.serialNumber = '01';
    cert.validity.notBefore = new Date(Date.now() - 86_400_000);
    cert.validity.notAfter = new Date(Date.now() + 86_400_000);
    const subject = [
      { name: 'commonName', value: fx.device.id },
      { name: 'organizationName', value: 'Outpost' },
    ];
    cert.setSubject(subject);
    cert.setIssuer(
      new X509Certificate(fx.ts.ca).subject.split('\n').map((l) => {
        const [k, v] = l.split('=');
        return k === 'CN' ? { name: 'commonName', value: v } : { name: 'organizationName', value: v };
      }),
    );
    cert.setExtensions([{ name: 'extKeyUsage', clientAuth: true }]);
    cert.sign(fk, forge.md.sha256.create());
    const forged = forge.pki.certificateToPem(cert);
    expect(await attempt({ clientId: fx.device.id, username: fx.device.id, key, cert: forged })).toMatch(
      /Not authorized/i,
    );
    // The server's log stream is written asynchronously.
    await waitUntil(
      () => /client certificate not verified/.test(readFileSync(fx.ts.logFile, 'utf8')),
      'log line',
      5000,
    );
  });

  it('the agent refuses certificate authentication over wss://, and the WebSocket endpoint takes no password for it', async () => {
    const refused = spawnAgent(fx.ts, {
      enroll: await fx.ts.enrollmentToken(),
      transport: 'wss',
      args: ['--auth', 'certificate'],
    });
    expect(await waitUntil(() => refused.proc.exitCode, 'agent to exit')).toBe(2);
    expect(refused.output()).toMatch(/certificate authentication works only over mqtts:\/\//);
    const wss = `wss://127.0.0.1:${fx.ts.server.httpPort}/mqtt`;
    expect(await attempt({ url: wss, clientId: fx.device.id, username: fx.device.id, password: 'x' })).toMatch(
      /Bad username|Not authorized/i,
    );
  });
});

describe('revocation', () => {
  it('drops the device at once, and its certificate is refused at the next CONNECT', async () => {
    expect((await fx.ts.device(fx.device.id)).online).toBe(true);
    const logBefore = readFileSync(fx.ts.logFile, 'utf8').length;
    const started = Date.now();
    const r = await fx.ts.api('POST', `/devices/${fx.device.id}/revoke`);
    expect(r.body.status).toBe('revoked');
    // The agent sees its link drop and its next CONNECT refused.
    await waitUntil(() => /connection lost; reconnecting/.test(fx.agent.output()), 'agent link dropped', 5000);
    await waitUntil(() => /refused this device/.test(fx.agent.output()), 'agent reconnect refused', 10_000);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect((await fx.ts.device(fx.device.id)).online).toBe(false);
    expect(await attempt({ clientId: fx.device.id, username: fx.device.id, ...files(fx.agent) })).toMatch(
      /Bad username|Not authorized/i,
    );
    // Refused by the store (revoked), not by the TLS layer: the certificate itself is still valid.
    const logSince = () => readFileSync(fx.ts.logFile, 'utf8').slice(logBefore);
    await waitUntil(() => /client certificate does not identify this device/.test(logSince()), 'log line', 5000);
    expect(logSince()).not.toMatch(/client certificate not verified/);
  });
});
