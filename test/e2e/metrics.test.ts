/**
 * Metrics end to end: a real agent process (heartbeat 1 s) sampling this machine's
 * /proc, the server storing its samples, the metrics routes (history, latest, live)
 * with their validation errors, `outpost stats` as a process, and a hostile device
 * (raw MQTT client) whose malformed samples are logged and change nothing. The same
 * flow once more on PostgreSQL when 127.0.0.1:5432 answers.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { check, Metrics, topics } from '@outpost/protocol';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useOnlineDevice } from '../fixture.js';
import { onlineAgent, rawClient, runCli, startTestServer, type TestServer, waitUntil } from '../helpers.js';

const fx = useOnlineDevice();

const history = (query: string) => fx.ts.api('GET', `/devices/${fx.device.id}/metrics?${query}`);

describe('samples from a real agent', () => {
  it("arrive with each heartbeat: the device's headline, the last sample, and history points", async () => {
    const d = await waitUntil(
      async () => (await fx.ts.device(fx.device.id))?.metrics && fx.ts.device(fx.device.id),
      'a sample',
    );
    expect(d.metrics.cpu).toBeGreaterThanOrEqual(0);
    expect(d.metrics.cpu).toBeLessThanOrEqual(100);
    expect(d.metrics.mem).toBeGreaterThan(0);
    expect(d.metrics.disk).toBeGreaterThan(0); // this machine has a real root filesystem
    expect(d.metrics.temperature).toBeNull(); // and no thermal zones
    expect(Date.parse(d.metrics.sampledAt)).toBeLessThanOrEqual(Date.now());
    // The list carries it too (from the device row, no other table).
    const listed = (await fx.ts.api('GET', '/devices')).body.items.find((x: any) => x.id === fx.device.id);
    expect(listed.metrics).toMatchObject({ cpu: expect.any(Number), mem: expect.any(Number) });

    const latest = (await fx.ts.api('GET', `/devices/${fx.device.id}/metrics/latest`)).body;
    expect(check(Metrics, latest.sample)).toBe(true);
    expect(latest.sample.cpu.cores).toHaveLength(os.cpus().length);
    expect(latest.sample.memory.total).toBe(os.totalmem());
    expect(latest.sample.temperature).toBeNull();
    expect(latest.sample.temperatureReason).toBe('no thermal zones in /sys/class/thermal');
    // The heartbeat's window is the heartbeat (1 s), not the on-demand half second.
    expect(latest.sample.window).toBeGreaterThanOrEqual(0.9);

    // One-second buckets over the last five minutes, so each 1 s heartbeat is its own point (the
    // default step for an hour is 12 s, and three of those could take longer than the wait).
    const points = await waitUntil(async () => {
      const from = new Date(Date.now() - 300_000).toISOString();
      const h = (await history(`series=cpu,mem,disk:*&step=1&from=${encodeURIComponent(from)}`)).body;
      const cpu = h.series?.find((s: any) => s.name === 'cpu');
      return cpu?.points.length >= 3 ? h : null;
    }, 'three samples in the history');
    expect(points).toMatchObject({ device: fx.device.id, resolution: 'raw' });
    expect(points.series.map((s: any) => s.name)).toEqual(['cpu', 'mem', 'disk:/']);
    for (const s of points.series) {
      expect(s.unit).toBe('%');
      for (const [t, avg, min, max] of s.points) {
        expect(t % (points.step * 1000)).toBe(0);
        expect(min).toBeLessThanOrEqual(avg);
        expect(avg).toBeLessThanOrEqual(max);
        expect(max).toBeLessThanOrEqual(100);
      }
    }
  });

  it('a fresh sample on demand (metrics/sample through the live route)', async () => {
    const r = await fx.ts.api('GET', `/devices/${fx.device.id}/metrics/live`);
    expect(r.status).toBe(200);
    expect(check(Metrics, r.body)).toBe(true);
    expect(r.body.cpu.usage).toBeLessThanOrEqual(100);
    // It ran as a read-only command like any other: visible in the device's commands.
    const cmds = (await fx.ts.api('GET', `/devices/${fx.device.id}/commands`)).body.items;
    expect(cmds.some((c: any) => c.capability === 'metrics' && c.action === 'sample' && c.status === 'succeeded')).toBe(
      true,
    );
  });

  it.each([
    ['from after to', 'from=2030-01-02T00:00:00Z&to=2030-01-01T00:00:00Z', "'from' must be before 'to'"],
    ['a date that is not one', 'from=yesterday', 'from'],
    ['step 0', 'step=0', 'step'],
    ['a fractional step', 'step=1.5', 'step'],
    ['an unknown parameter', 'resolution=raw', "unknown field 'resolution'"],
    ['too many points', 'from=2030-01-01T00:00:00Z&to=2030-01-02T00:00:00Z&step=1', 'over the limit of 10000'],
  ])('history refuses %s with 400 E_BAD_ARGS', async (_label, query, fragment) => {
    const r = await history(query);
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('E_BAD_ARGS');
    expect(r.body.error.message).toContain(fragment);
  });

  it('outpost stats DEVICE --json, the text view, and --history', async () => {
    const json = await runCli(fx.ts, ['stats', fx.device.name, '--json']);
    expect(json.stderr).toBe('');
    expect(json.code).toBe(0);
    const reading = JSON.parse(json.stdout);
    expect(reading).toMatchObject({ device: fx.device.id, live: true, receivedAt: null });
    expect(check(Metrics, reading.sample)).toBe(true);

    const text = await runCli(fx.ts, ['stats', fx.device.id]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^CPU\s+\d+\.\d%/m);
    expect(text.stdout).toContain('Temp    n/a: no thermal zones in /sys/class/thermal');
    expect(text.stdout).toMatch(/^\/\s+\d+\.\d%/m);

    const h = await runCli(fx.ts, ['stats', fx.device.id, '--history', '1h', '--series', 'cpu,mem']);
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(/^cpu\s+\d+\.\d%/m);
    expect(h.stdout).toMatch(/^mem\s+\d+\.\d%/m);
  });

  it('an offline device shows its last stored sample', async () => {
    const { agent: other, device: d } = await onlineAgent(fx.ts);
    await waitUntil(async () => (await fx.ts.device(d.id))?.metrics, 'a sample from the second agent');
    await other.stop();
    await waitUntil(async () => (await fx.ts.device(d.id))?.online === false, 'the second agent offline');
    const r = await runCli(fx.ts, ['stats', d.id, '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ device: d.id, live: false, receivedAt: expect.any(String) });
  });
});

/** A device of our own, enrolled over MQTT, driven by a raw client: it can send anything. */
async function hostileDevice(): Promise<{ id: string; secret: string }> {
  const token = await fx.ts.enrollmentToken();
  const nonce = `n${randomBytes(12).toString('hex')}`;
  const c = await rawClient(fx.ts, { clientId: `enroll-${nonce}`, username: 'enroll', password: token });
  try {
    const answer = new Promise<any>((resolve) => c.on('message', (_t, p) => resolve(JSON.parse(p.toString()))));
    await c.subscribeAsync(topics.enrollResponse(nonce), { qos: 1 });
    const facts = { hostname: 'hostile', os: 'x', kernel: 'x', arch: 'x', macs: [], ips: [], agentVersion: '0' };
    await c.publishAsync(topics.enrollRequest(nonce), JSON.stringify({ nonce, token, facts }), { qos: 1 });
    const res = await answer;
    return { id: res.deviceId, secret: res.secret };
  } finally {
    await c.endAsync(true);
  }
}

describe('malformed samples', () => {
  it('are rejected with a log line and change nothing', async () => {
    const reference = JSON.parse((await runCli(fx.ts, ['stats', fx.device.id, '--json'])).stdout).sample;
    const { id, secret } = await hostileDevice();
    const c = await rawClient(fx.ts, { clientId: id, username: id, password: secret });
    try {
      const send = (metrics: unknown) =>
        c.publishAsync(topics.telemetry(id), JSON.stringify({ ts: Date.now(), uptime: 5, metrics }), { qos: 1 });
      await send(reference);
      const stored = await waitUntil(async () => (await fx.ts.device(id))?.metrics, 'the valid sample stored');
      const count = async () =>
        ((await fx.ts.api('GET', `/devices/${id}/metrics?series=cpu`)).body.series[0]?.points.length ?? 0) as number;
      expect(await count()).toBe(1);

      const bad: [string, unknown][] = [
        ['cpu over 100', { ...reference, cpu: { ...reference.cpu, usage: 150 } }],
        ['a field missing', { ...reference, memory: undefined }],
        ['an unknown field', { ...reference, gpu: 3 }],
        ['the old free form', { cpu: 0.5 }],
        ['negative bytes', { ...reference, network: [{ ...reference.network[0], rxBytes: -1 }] }],
      ];
      for (const [, metrics] of bad) await send(metrics);
      const dropped = () =>
        readFileSync(fx.ts.logFile, 'utf8')
          .split('\n')
          .filter((l) => l.includes(id) && l.includes('malformed device message dropped'));
      await waitUntil(() => dropped().length >= bad.length, 'a log line per malformed sample');
      const lines = dropped().map((l) => JSON.parse(l));
      expect(lines).toHaveLength(bad.length);
      expect(lines.map((l) => l.err)).toEqual(
        expect.arrayContaining([
          expect.stringContaining('invalid telemetry: /metrics/cpu/usage'),
          expect.stringContaining("missing field 'memory'"),
          expect.stringContaining("unknown field 'gpu'"),
        ]),
      );
      // Nothing changed: same headline, same one sample, same latest.
      expect((await fx.ts.device(id)).metrics).toEqual(stored);
      expect(await count()).toBe(1);
      const latest = (await fx.ts.api('GET', `/devices/${id}/metrics/latest`)).body;
      expect(latest.sample).toEqual(reference);
    } finally {
      await c.endAsync(true);
    }
  });
});

describe('on PostgreSQL', () => {
  const ADMIN_URL = process.env.OUTPOST_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const dbName = `outpost_metrics_e2e_${randomBytes(4).toString('hex')}`;
  let pgServer: TestServer | undefined;

  beforeAll(async () => {
    const admin = new pg.Client({ connectionString: ADMIN_URL });
    try {
      await admin.connect();
      await admin.query(`CREATE DATABASE ${dbName}`);
    } catch (err) {
      if (process.env.CI) throw err;
      console.warn(`skipping PostgreSQL metrics test: ${String(err)}`);
      return;
    } finally {
      await admin.end().catch(() => {});
    }
    pgServer = await startTestServer({ database: ADMIN_URL.replace(/\/[^/]*$/, `/${dbName}`) });
  });
  afterAll(async () => {
    await pgServer?.close();
    if (!pgServer) return;
    const admin = new pg.Client({ connectionString: ADMIN_URL });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await admin.end();
  });

  it('stores a real agent samples and answers history', async (ctx) => {
    const s = pgServer;
    if (!s) return ctx.skip();
    const { agent: a, device: d } = await onlineAgent(s);
    try {
      const h = await waitUntil(async () => {
        const from = encodeURIComponent(new Date(Date.now() - 300_000).toISOString());
        const body = (await s.api('GET', `/devices/${d.id}/metrics?series=cpu&step=1&from=${from}`)).body;
        return body.series?.[0]?.points.length >= 2 ? body : null;
      }, 'two samples on PostgreSQL');
      expect(h).toMatchObject({ resolution: 'raw', series: [{ name: 'cpu', unit: '%' }] });
      expect((await s.device(d.id)).metrics.mem).toBeGreaterThan(0);
      expect((await s.api('GET', `/devices/${d.id}/metrics/latest`)).status).toBe(200);
    } finally {
      await a.stop();
    }
  });
});
