/**
 * Device metrics (docs/metrics.md): stores each heartbeat's sample (headline on the
 * device row, chartable series per sample, the full last sample), answers history
 * as chart-ready series from the tier that fits the range, and runs the rollup and
 * retention job on a timer of its own.
 */
import { type api, type Metrics, OutpostError } from '@outpost/protocol';
import type { Actor } from '../actor.js';
import type { Logger } from '../log.js';
import type { MetricsRetention } from '../metrics-retention.js';
import type { Db } from '../store/db.js';
import type { DeviceService } from './devices.js';
import { floorTo, HOUR_MS, MetricsRollup, MINUTE_MS, type RollupReport } from './metrics-rollup.js';
import {
  type Aggregate,
  compareSeries,
  fold,
  parseStored,
  type SeriesAggregates,
  seriesFilter,
  seriesOf,
  single,
  summaryColumns,
  unitOf,
} from './metrics-series.js';
import { iso } from './time.js';

/** Samples closer together than this (a device misconfigured to flood) are not stored. */
export const MIN_SAMPLE_SPACING_MS = 900;
/** Points a chart gets when it does not say (`step` left out). */
export const DEFAULT_POINTS = 300;
export const MAX_POINTS = 10_000;
/** How often the rollup and retention job runs. */
export const ROLLUP_INTERVAL_MS = 60_000;

type Resolution = api.MetricsResolution;
interface Source {
  resolution: Resolution;
  /** Milliseconds per stored point (0 for raw samples). */
  unit: number;
}
const RAW: Source = { resolution: 'raw', unit: 0 };
const MINUTES: Source = { resolution: '1m', unit: MINUTE_MS };
const HOURS: Source = { resolution: '1h', unit: HOUR_MS };

export class MetricsService {
  private readonly rollup: MetricsRollup;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<RollupReport | undefined> | undefined;

  constructor(
    private readonly db: Db,
    private readonly devices: DeviceService,
    private readonly log: Logger,
    private readonly retention: MetricsRetention,
    /** The clock samples are stamped with and the job measures retention by (tests move it). */
    private readonly now: () => number = Date.now,
  ) {
    this.rollup = new MetricsRollup(db, retention, now, log);
  }

  /**
   * Stores a validated sample from a device's telemetry. Returns false when nothing
   * was stored: the device does not exist (any more), or its last sample is too recent.
   */
  async ingest(deviceId: string, metrics: Metrics): Promise<boolean> {
    const at = this.now();
    const series = seriesOf(metrics);
    const summary = summaryColumns(metrics, at);
    return this.db.transaction().execute(async (trx) => {
      const updated = await trx
        .updateTable('devices')
        .set(summary)
        .where('id', '=', deviceId)
        .where((eb) => eb.or([eb('metrics_at', 'is', null), eb('metrics_at', '<=', at - MIN_SAMPLE_SPACING_MS)]))
        .executeTakeFirst();
      if (Number(updated.numUpdatedRows) === 0) return false;
      await trx
        .insertInto('metrics_samples')
        .values({
          device_id: deviceId,
          at,
          cpu: metrics.cpu.usage,
          mem: metrics.memory.usedPercent,
          swap: metrics.swap.usedPercent,
          load1: metrics.load.avg1,
          disk: summary.metrics_disk,
          temperature: summary.metrics_temp,
          series: JSON.stringify(series),
        })
        .execute();
      const sample = JSON.stringify(metrics);
      await trx
        .insertInto('metrics_latest')
        .values({ device_id: deviceId, at, sample })
        .onConflict((oc) => oc.column('device_id').doUpdateSet({ at, sample }))
        .execute();
      return true;
    });
  }

  /** The last sample the device sent, as it sent it. */
  async latest(ref: string, actor?: Actor): Promise<api.MetricsLatest> {
    const device = await this.devices.resolve(ref, actor);
    const row = await this.db
      .selectFrom('metrics_latest')
      .select(['at', 'sample'])
      .where('device_id', '=', device.id)
      .executeTakeFirst();
    if (!row) throw new OutpostError('E_NOT_FOUND', `device ${device.id} has sent no metrics yet`);
    return { device: device.id, receivedAt: iso(Number(row.at)), sample: JSON.parse(row.sample) as Metrics };
  }

  /** The tier a chart reads: the coarsest whose resolution fits `step` among those still holding `from`. */
  private source(from: number, stepMs: number, now: number): Source {
    const keeps = (seconds: number) => from >= now - seconds * 1000;
    const holding = [
      ...(keeps(this.retention.raw) ? [RAW] : []),
      ...(keeps(this.retention.minute) ? [MINUTES] : []),
      HOURS,
    ];
    const fitting = holding.filter((s) => s.unit <= stepMs);
    return fitting[fitting.length - 1] ?? (holding[0] as Source);
  }

  async history(ref: string, query: api.MetricsQuery, actor?: Actor): Promise<api.MetricsHistory> {
    const device = await this.devices.resolve(ref, actor);
    const now = this.now();
    const to = query.to ? Date.parse(query.to) : now;
    const from = query.from ? Date.parse(query.from) : to - HOUR_MS;
    if (!(from < to)) throw new OutpostError('E_BAD_ARGS', "invalid query: 'from' must be before 'to'");
    const span = to - from;
    const requested = query.step ?? Math.max(1, Math.ceil(span / 1000 / DEFAULT_POINTS));
    const source = this.source(from, requested * 1000, now);
    const step = Math.max(requested, source.unit / 1000);
    const points = Math.ceil(span / (step * 1000));
    if (points > MAX_POINTS) {
      throw new OutpostError(
        'E_BAD_ARGS',
        `invalid query: ${points} points (range / step) is over the limit of ${MAX_POINTS}; raise 'step' or shorten the range`,
      );
    }
    const wanted = seriesFilter(query.series);
    const stepMs = step * 1000;
    const buckets = new Map<number, SeriesAggregates>();
    const add = (t: number, aggs: Record<string, Aggregate>) => {
      const b = floorTo(t, stepMs);
      let into = buckets.get(b);
      if (!into) {
        into = {};
        buckets.set(b, into);
      }
      for (const [name, v] of Object.entries(aggs)) if (wanted(name) && Array.isArray(v)) fold(into, name, v);
    };

    // The chosen tier up to where its rollups reach, then finer tiers for the recent tail.
    const minutesDone = (await this.rollup.doneUntil(60)) ?? Number.NEGATIVE_INFINITY;
    const hoursDone = (await this.rollup.doneUntil(3600)) ?? Number.NEGATIVE_INFINITY;
    const chain: [Source, number][] =
      source === HOURS
        ? [
            [HOURS, hoursDone],
            [MINUTES, minutesDone],
            [RAW, Number.POSITIVE_INFINITY],
          ]
        : source === MINUTES
          ? [
              [MINUTES, minutesDone],
              [RAW, Number.POSITIVE_INFINITY],
            ]
          : [[RAW, Number.POSITIVE_INFINITY]];
    let cursor = from;
    for (const [s, reach] of chain) {
      const end = Math.min(to, reach);
      if (end <= cursor) continue;
      await this.read(device.id, s, cursor, end, add);
      cursor = end;
    }

    const bySeries = new Map<string, api.MetricPoint[]>();
    for (const t of [...buckets.keys()].sort((a, b) => a - b)) {
      for (const [name, [avg, min, max]] of Object.entries(buckets.get(t) ?? {})) {
        let list = bySeries.get(name);
        if (!list) {
          list = [];
          bySeries.set(name, list);
        }
        list.push([t, Math.round(avg * 100) / 100, min, max]);
      }
    }
    return {
      device: device.id,
      from: iso(from),
      to: iso(to),
      step,
      resolution: source.resolution,
      series: [...bySeries.keys()]
        .sort(compareSeries)
        .map((name) => ({ name, unit: unitOf(name), points: bySeries.get(name) ?? [] })),
    };
  }

  private async read(
    deviceId: string,
    s: Source,
    from: number,
    to: number,
    add: (t: number, aggs: Record<string, Aggregate>) => void,
  ): Promise<void> {
    if (s === RAW) {
      const rows = await this.db
        .selectFrom('metrics_samples')
        .select(['at', 'series'])
        .where('device_id', '=', deviceId)
        .where('at', '>=', from)
        .where('at', '<', to)
        .execute();
      for (const r of rows) {
        const aggs: Record<string, Aggregate> = {};
        for (const [name, v] of Object.entries(parseStored<number>(r.series)))
          if (typeof v === 'number') aggs[name] = single(v);
        add(Number(r.at), aggs);
      }
      return;
    }
    const rows = await this.db
      .selectFrom('metrics_rollups')
      .select(['bucket', 'series'])
      .where('device_id', '=', deviceId)
      .where('resolution', '=', s.unit / 1000)
      // The bucket holding `from` starts before it.
      .where('bucket', '>=', floorTo(from, s.unit))
      .where('bucket', '<', to)
      .execute();
    for (const r of rows) add(Number(r.bucket), parseStored<Aggregate>(r.series));
  }

  /** One rollup and retention pass; runs are never concurrent (a slow one makes the next wait). */
  async runJob(): Promise<RollupReport | undefined> {
    if (this.running) return this.running;
    this.running = this.rollup.run().catch((err: unknown) => {
      this.log.error({ err }, 'metrics rollup failed');
      return undefined;
    });
    try {
      return await this.running;
    } finally {
      this.running = undefined;
    }
  }

  /** Starts the job: once now, then every ROLLUP_INTERVAL_MS. */
  start(): void {
    if (this.timer) return;
    void this.runJob();
    this.timer = setInterval(() => void this.runJob(), ROLLUP_INTERVAL_MS);
    this.timer.unref();
  }

  /** Stops the timer and waits for a run in progress, so the store can close under it. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
