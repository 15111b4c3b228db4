/**
 * Transport security: HTTPS by default with security headers, no plain-text
 * listener unless asked for, and a requested plain-HTTP listener bound to
 * loopback only.
 */
import { request as httpRequest } from 'node:http';
import { Agent, fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers.js';

let ts: TestServer;
beforeAll(async () => {
  ts = await startTestServer({ insecureHttp: 0 });
});
afterAll(async () => {
  await ts?.close();
});

describe('transport', () => {
  it('the API answers over HTTPS with security headers', async () => {
    const res = await fetch(`https://127.0.0.1:${ts.server.httpPort}/api/v1/health`, {
      dispatcher: new Agent({ connect: { ca: ts.ca } }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('strict-transport-security')).toMatch(/max-age=\d+/);
    expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    const health = (await res.json()) as { mqttUrl: string };
    expect(health.mqttUrl).toBe(`mqtts://localhost:${ts.server.mqttPort}`);
  });

  it('the API docs page is served with its own content security policy', async () => {
    const res = await fetch(`https://127.0.0.1:${ts.server.httpPort}/api/docs/static/index.html`, {
      dispatcher: new Agent({ connect: { ca: ts.ca } }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toBeTruthy();
    const spec = await fetch(`https://127.0.0.1:${ts.server.httpPort}/api/docs/json`, {
      dispatcher: new Agent({ connect: { ca: ts.ca } }),
    });
    const doc = (await spec.json()) as { openapi: string; paths: Record<string, unknown> };
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toContain('/api/v1/devices/{device}/commands');
  });

  it('plain HTTP exists only when asked for, and only on 127.0.0.1', async () => {
    expect(ts.server.plainMqttPort).toBeNull();
    const port = ts.server.insecureHttpPort;
    expect(port).toBeGreaterThan(0);
    const body = await new Promise<string>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, path: '/api/v1/health' }, (res) => {
        let b = '';
        res.on('data', (d: Buffer) => {
          b += d.toString();
        });
        res.on('end', () => resolve(b));
      });
      req.on('error', reject);
      req.end();
    });
    expect(JSON.parse(body).status).toBe('ok');
    // Read the kernel's socket table (no traffic to non-loopback addresses): the listener is bound to 127.0.0.1.
    const { readFileSync } = await import('node:fs');
    const hexPort = (port as number).toString(16).toUpperCase().padStart(4, '0');
    const listening = readFileSync('/proc/net/tcp', 'utf8')
      .split('\n')
      .slice(1)
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f[1]?.endsWith(`:${hexPort}`) && f[3] === '0A')
      .map((f) => f[1]);
    expect(listening).toEqual([`0100007F:${hexPort}`]);
    const v6 = readFileSync('/proc/net/tcp6', 'utf8');
    expect(v6).not.toMatch(new RegExp(`:${hexPort} [0-9A-F]{32}:0000 0A`));
  });

  it('a default server has no plain-text listener at all', async () => {
    const plain = await startTestServer();
    try {
      expect(plain.server.plainMqttPort).toBeNull();
      expect(plain.server.insecureHttpPort).toBeNull();
    } finally {
      await plain.close();
    }
  });
});
