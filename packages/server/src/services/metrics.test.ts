/**
 * Metrics storage, rollups and retention against both real stores (a SQLite file
 * and, when 127.0.0.1:5432 answers, a throwaway PostgreSQL database) through the
 * real migrations. The job is driven by moving an injected clock, never by sleeping.
 */
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { check, Metrics, OutpostError } from '@outpost/protocol';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../../../test/tmp.js';
import { Bus } from '../bus.js';
import { createLogger } from '../log.js';
import type { MetricsRetention } from '../metrics-retention.js';
import { type Db, openDatabase } from '../store/db.js';
import { DeviceService } from './devices.js';
import { MetricsService } from './metrics.js';

const PG_ADMIN = process.env.OUTPOST_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const pgName = `outpost_metrics_${randomBytes(4).toString('hex')}`;
const silent = createLogger('silent', new Writable({ write: (_c, _e, cb) => cb() }));
const facts = { hostname: 'h', os: 'o', kernel: 'k', arch: 'a', macs: [], ips: [], agentVersion: '0' };

const MIN = 60_000;
const HOUR = 3_600_000;
/** An hour boundary, so buckets are easy to name. */
const T0 = Date.UTC(2030, 0, 1, 0, 0, 0);

/** A complete, valid sample; the arguments set the charted values. */
function sample(v: { cpu: number; mem?: number; root?: number; temp?: number | null; rx?: number | null }): Metrics {
  const m: Metrics = {
    ts: T0,
    window: 15,
    uptime: 100,
    cpu: { usage: v.cpu, user: v.cpu, system: 0, iowait: 0, steal: 0, cores: [v.cpu] },
    load: { avg1: v.cpu / 100, avg5: 0.2, avg15: 0.1 },
    memory: { total: 1000, available: 500, used: 500, free: 400, buffers: 10, cached: 90, usedPercent: v.mem ?? 50 },
    swap: { total: 0, used: 0, free: 0, usedPercent: 0 },
    disks: [
      {
        mount: '/',
        device: '/dev/sda1',
        fsType: 'ext4',
        total: 100,
        used: 40,
        available: 60,
        usedPercent: v.root ?? 40,
        inodesTotal: 10,
        inodesUsedPercent: 10,
      },
    ],
    diskIo: [],
    network: [
      {
        interface: 'eth0',
        rxBytes: 1,
        txBytes: 1,
        rxPackets: 1,
        txPackets: 1,
        rxErrors: 0,
        txErrors: 0,
        rxDropped: 0,
        txDropped: 0,
        rxBytesPerSec: v.rx === undefined ? 100 : v.rx,
        txBytesPerSec: 5,
      },
    ],
    temperature: v.temp === null ? null : { celsius: v.temp ?? 45, zones: [{ zone: 'z0', type: 't', celsius: 45 }] },
    processes: { total: 10, running: 1, blocked: 0, threads: 20 },
  };
  if (v.temp === null) m.temperatureReason = 'no thermal zones in /sys/class/thermal';
  expect(check(Metrics, m)).toBe(true);
  return m;
}

async function openPostgres(): Promise<Db | null> {
  const admin = new pg.Client({ connectionString: PG_ADMIN });
  try {
    await admin.connect();
    await admin.query(`CREATE DATABASE ${pgName}`);
  } catch (err) {
    if (process.env.CI) throw err;
    console.warn(`skipping the PostgreSQL store: ${String(err)}`);
    return null;
  } finally {
    await admin.end().catch(() => {});
  }
  return openDatabase(PG_ADMIN.replace(/\/[^/]*$/, `/${pgName}`), tempDir());
}

const stores: Record<'sqlite' | 'postgres', Db | null> = { sqlite: null, postgres: null };

beforeAll(async () => {
  stores.sqlite = await openDatabase('sqlite', tempDir());
  stores.postgres = await openPostgres();
});

afterAll(async () => {
  await stores.sqlite?.destroy();
  if (stores.postgres) {
    await stores.postgres.destroy();
    const admin = new pg.Client({ connectionString: PG_ADMIN });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${pgName} WITH (FORCE)`);
    await admin.end();
  }
});

async function failure(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'the call should have failed').toBeInstanceOf(OutpostError);
  return `${(err as OutpostError).code}: ${(err as OutpostError).message}`;
}

const retention: MetricsRetention = { raw: 3 * 3600, minute: 6 * 3600, hour: 2 * 86_400 };

describe.each(['sqlite', 'postgres'] as const)('metrics on %s', (kind) => {
  let db: Db;
  let devices: DeviceService;
  let metrics: MetricsService;
  let deviceId: string;
  const clock = { now: T0 };

  const count = async (table: 'metrics_samples' | 'metrics_rollups', resolution?: number) => {
    let q = db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n'));
    if (resolution !== undefined) q = q.where('resolution' as never, '=', resolution as never);
    return Number((await q.executeTakeFirstOrThrow()).n);
  };
  const at = async (ms: number, m: Metrics) => {
    clock.now = ms;
    return metrics.ingest(deviceId, m);
  };

  beforeAll(async () => {
    const store = stores[kind];
    if (!store) return; // each test skips itself
    db = store;
    devices = new DeviceService(db, new Bus(), silent);
    metrics = new MetricsService(db, devices, silent, retention, () => clock.now);
    deviceId = `d-metrics${kind}`;
    await devices.create({
      id: deviceId,
      name: `metrics-${kind}`,
      status: 'accepted',
      secretHash: 'x',
      tags: [],
      facts,
      enrollmentTokenId: 'et-x',
    });
  });

  it('stores samples: the headline on the device row, the full last sample, one row per sample', async (ctx) => {
    if (!stores[kind]) return ctx.skip();
    expect((await devices.get(deviceId)).metrics).toBeNull();
    expect(await failure(metrics.latest(deviceId))).toMatch(/^E_NOT_FOUND: .* has sent no metrics yet/);

    expect(await at(T0 + 5_000, sample({ cpu: 10, temp: 40 }))).toBe(true);
    expect(await at(T0 + 20_000, sample({ cpu: 30, temp: 44 }))).toBe(true);
    const last = sample({ cpu: 50, mem: 61.5, root: 72.25, temp: null });
    expect(await at(T0 + 65_000, last)).toBe(true);
    // Too soon after the last one (a flooding device): not stored.
    expect(await at(T0 + 65_500, sample({ cpu: 99 }))).toBe(false);
    // A device that does not exist: nothing stored, no error.
    expect(await metrics.ingest('d-nosuchdevice', last)).toBe(false);

    expect(await count('metrics_samples')).toBe(3);
    expect((await devices.get(deviceId)).metrics).toEqual({
      cpu: 50,
      mem: 61.5,
      disk: 72.25,
      temperature: null,
      load1: 0.5,
      sampledAt: new Date(T0 + 65_000).toISOString(),
    });
    const latest = await metrics.latest(deviceId);
    expect(latest).toEqual({ device: deviceId, receivedAt: new Date(T0 + 65_000).toISOString(), sample: last });
  });

  it('answers raw history as series with units, bucketed by step, and filters series', async (ctx) => {
    if (!stores[kind]) return ctx.skip();
    clock.now = T0 + 70_000;
    const h = await metrics.history(deviceId, {
      from: new Date(T0).toISOString(),
      to: new Date(T0 + 2 * MIN).toISOString(),
      step: 10,
    });
    expect(h).toMatchObject({ device: deviceId, step: 10, resolution: 'raw' });
    expect(h.series.map((s) => s.name)).toEqual([
      'cpu',
      'mem',
      'load1',
      'load5',
      'load15',
      'temperature',
      'disk:/',
      'net:eth0:rx',
      'net:eth0:tx',
    ]);
    expect(h.series.find((s) => s.name === 'cpu')).toEqual({
      name: 'cpu',
      unit: '%',
      points: [
        [T0, 10, 10, 10],
        [T0 + 20_000, 30, 30, 30],
        [T0 + 60_000, 50, 50, 50],
      ],
    });
    expect(h.series.find((s) => s.name === 'temperature')?.unit).toBe('°C');
    expect(h.series.find((s) => s.name === 'net:eth0:rx')?.unit).toBe('B/s');
    expect(h.series.find((s) => s.name === 'load1')?.unit).toBe('');

    const some = await metrics.history(deviceId, {
      from: new Date(T0).toISOString(),
      to: new Date(T0 + 2 * MIN).toISOString(),
      step: 60,
      series: 'cpu, disk:*',
    });
    // step 60 could use the minute rollups, but none exist yet: the raw tail answers.
    expect(some.series.map((s) => s.name)).toEqual(['cpu', 'disk:/']);
    expect(some.series[0]?.points).toEqual([
      [T0, 20, 10, 30],
      [T0 + MIN, 50, 50, 50],
    ]);
  });

  it('refuses a range that ends before it starts, or more than 10 000 points', async (ctx) => {
    if (!stores[kind]) return ctx.skip();
    const from = new Date(T0).toISOString();
    expect(await failure(metrics.history(deviceId, { from, to: from }))).toBe(
      "E_BAD_ARGS: invalid query: 'from' must be before 'to'",
    );
    expect(
      await failure(metrics.history(deviceId, { from, to: new Date(T0 + 3 * HOUR).toISOString(), step: 1 })),
    ).toMatch(/^E_BAD_ARGS: invalid query: 10800 points .* over the limit of 10000/);
    expect(await failure(metrics.history('no-such-device', {}))).toMatch(/^E_NOT_FOUND/);
  });

  it('rolls closed minutes into avg/min/max, closed hours from the minutes, and resumes where it stopped', async (ctx) => {
    if (!stores[kind]) return ctx.skip();
    clock.now = T0 + 2 * MIN + 15_000;
    const first = await metrics.runJob();
    expect(first?.minuteBuckets).toBe(2);
    expect(first?.hourBuckets).toBe(0);
    const minute = await db
      .selectFrom('metrics_rollups')
      .select(['bucket', 'series'])
      .where('resolution', '=', 60)
      .orderBy('bucket')
      .execute();
    expect(minute.map((r) => [Number(r.bucket), JSON.parse(r.series).cpu])).toEqual([
      [T0, [20, 10, 30, 2]],
      [T0 + MIN, [50, 50, 50, 1]],
    ]);
    // Run again at the same time: nothing new, nothing doubled.
    expect((await metrics.runJob())?.minuteBuckets).toBe(0);

    // A sample in the second hour, then the clock past that hour: the first hour is closed.
    expect(await at(T0 + HOUR + 30_000, sample({ cpu: 90 }))).toBe(true);
    clock.now = T0 + 2 * HOUR + MIN;
    const second = await metrics.runJob();
    expect(second?.minuteBuckets).toBe(1);
    expect(second?.hourBuckets).toBe(2);
    const hours = await db
      .selectFrom('metrics_rollups')
      .select(['bucket', 'series'])
      .where('resolution', '=', 3600)
      .orderBy('bucket')
      .execute();
    // Weighted by sample count: (10 + 30 + 50) / 3.
    expect(hours.map((r) => [Number(r.bucket), JSON.parse(r.series).cpu])).toEqual([
      [T0, [30, 10, 50, 3]],
      [T0 + HOUR, [90, 90, 90, 1]],
    ]);
  });

  it('chooses the tier from range and step, and fills the tail the rollups have not reached', async (ctx) => {
    if (!stores[kind]) return ctx.skip();
    // Not rolled up yet: only in the raw samples.
    expect(await at(T0 + 2 * HOUR + 2 * MIN, sample({ cpu: 70 }))).toBe(true);
    clock.now = T0 + 2 * HOUR + 3 * MIN;
    const byHour = await metrics.history(deviceId, {
      from: new Date(T0).toISOString(),
      to: new Date(clock.now).toISOString(),
      step: 3600,
      series: 'cpu',
    });
    expect(byHour.resolution).toBe('1h');
    expect(byHour.series[0]?.points).toEqual([
      [T0, 30, 10, 50],
      [T0 + HOUR, 90, 90, 90],
      [T0 + 2 * HOUR, 70, 70, 70],
    ]);
    // Within raw retention (3 h) a ~2 h range gets every sample, ~300 points by default.
    const recent = await metrics.history(deviceId, { from: new Date(T0).toISOString(), series: 'cpu' });
    expect(recent).toMatchObject({ resolution: 'raw', step: 25 });
    // From before raw retention: the minute tier, the default step raised to its resolution.
    const byMinute = await metrics.history(deviceId, {
      from: new Date(T0 - HOUR).toISOString(),
      to: new Date(clock.now).toISOString(),
      series: 'cpu',
    });
    expect(byMinute).toMatchObject({ resolution: '1m', step: 60 });
    expect(byMinute.series[0]?.points.map((p) => p[0])).toEqual([T0, T0 + MIN, T0 + HOUR, T0 + 2 * HOUR + 2 * MIN]);
  });

  it('deletes past retention, never before the next tier holds it', async (ctx) => {
    if (!stores[kind]) return ctx.skip();
    const before = await count('metrics_samples');
    expect(before).toBe(5);
    // Raw retention is 3 h: the three samples of hour 0 go, the later ones stay.
    clock.now = T0 + 3 * HOUR + 45 * MIN;
    const r = await metrics.runJob();
    expect(r?.deleted.samples).toBe(3);
    expect(await count('metrics_samples')).toBe(2);
    // The minute tier (6 h) still holds hour 0, and raw history no longer reaches it.
    const old = await metrics.history(deviceId, {
      from: new Date(T0).toISOString(),
      to: new Date(T0 + HOUR).toISOString(),
      step: 30,
      series: 'cpu',
    });
    expect(old.resolution).toBe('1m');
    expect(old.series[0]?.points).toEqual([
      [T0, 20, 10, 30],
      [T0 + MIN, 50, 50, 50],
    ]);

    // Past the minute tier's 6 h: hour 0 answers from the hour rollups only.
    clock.now = T0 + 7 * HOUR;
    await metrics.runJob();
    expect(await count('metrics_rollups', 60)).toBe(2); // hour 1's and hour 2's minutes
    const older = await metrics.history(deviceId, {
      from: new Date(T0).toISOString(),
      to: new Date(T0 + HOUR).toISOString(),
      series: 'cpu',
    });
    expect(older).toMatchObject({ resolution: '1h', step: 3600 });
    expect(older.series[0]?.points).toEqual([[T0, 30, 10, 50]]);

    // Past the hour tier's 2 days: gone.
    clock.now = T0 + 2 * 86_400_000 + 3 * HOUR;
    await metrics.runJob();
    expect(await count('metrics_rollups', 3600)).toBe(0);
    const gone = await metrics.history(deviceId, {
      from: new Date(T0).toISOString(),
      to: new Date(T0 + HOUR).toISOString(),
    });
    expect(gone.series).toEqual([]);
  });

  it("a deleted device's metrics go with it", async (ctx) => {
    if (!stores[kind]) return ctx.skip();
    expect(await at(clock.now + 1000, sample({ cpu: 1 }))).toBe(true);
    expect(await count('metrics_samples')).toBeGreaterThan(0);
    await devices.remove(deviceId);
    expect(await count('metrics_samples')).toBe(0);
    expect(await count('metrics_rollups')).toBe(0);
    const latest = await db.selectFrom('metrics_latest').selectAll().execute();
    expect(latest).toEqual([]);
  });
});
