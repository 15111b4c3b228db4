/**
 * The metrics rollup and retention job (docs/metrics.md §Retention): folds closed
 * minutes of samples into 1-minute rollups, closed hours of those into 1-hour
 * rollups, then deletes what is past its tier's retention, never anything not yet
 * rolled up. Progress is stored (`metrics_rollup_state`), so a restart resumes and
 * a second server replica doing the same work changes nothing (inserts ignore
 * buckets that exist, progress only moves forward).
 */
import { sql } from 'kysely';
import type { Logger } from '../log.js';
import type { MetricsRetention } from '../metrics-retention.js';
import type { Db } from '../store/db.js';
import {
  type Aggregate,
  fold,
  parseStored,
  rounded,
  type SeriesAggregates,
  type SeriesValues,
  single,
} from './metrics-series.js';

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;
/** A minute is closed this long after it ends (a sample being stored right then carries a time inside it). */
const GRACE_MS = 10_000;
/** Work per run is bounded; a backlog (after downtime) is worked off over the next runs. */
const MAX_CHUNKS_PER_RUN = 48;
const INSERT_BATCH = 500;

export const floorTo = (t: number, unit: number): number => Math.floor(t / unit) * unit;

export interface RollupReport {
  minuteBuckets: number;
  hourBuckets: number;
  deleted: { samples: number; minute: number; hour: number };
}

type Tier = { resolution: 60 | 3600; unit: number; chunk: number };
const MINUTES: Tier = { resolution: 60, unit: MINUTE_MS, chunk: HOUR_MS };
const HOURS: Tier = { resolution: 3600, unit: HOUR_MS, chunk: 24 * HOUR_MS };

export class MetricsRollup {
  constructor(
    private readonly db: Db,
    private readonly retention: MetricsRetention,
    private readonly now: () => number,
    private readonly log: Logger,
  ) {}

  async run(): Promise<RollupReport> {
    const minuteBuckets = await this.roll(MINUTES);
    const hourBuckets = await this.roll(HOURS);
    const deleted = await this.expire();
    if (minuteBuckets + hourBuckets + deleted.samples + deleted.minute + deleted.hour > 0)
      this.log.debug({ minuteBuckets, hourBuckets, deleted }, 'metrics rolled up');
    return { minuteBuckets, hourBuckets, deleted };
  }

  /** Every bucket of the tier before this time is rolled up; null before the first run. */
  async doneUntil(resolution: 60 | 3600): Promise<number | null> {
    const row = await this.db
      .selectFrom('metrics_rollup_state')
      .select('done_until')
      .where('resolution', '=', resolution)
      .executeTakeFirst();
    return row ? Number(row.done_until) : null;
  }

  /** Where the tier's input ends: closed minutes of samples, or hours whose minutes are all rolled. */
  private async inputEnd(tier: Tier): Promise<number> {
    if (tier === MINUTES) return floorTo(this.now() - GRACE_MS, MINUTE_MS);
    return floorTo((await this.doneUntil(60)) ?? 0, HOUR_MS);
  }

  /** The earliest input at or after `from` (to skip empty stretches in one step), or null. */
  private async nextInput(tier: Tier, from: number, end: number): Promise<number | null> {
    const row =
      tier === MINUTES
        ? await this.db
            .selectFrom('metrics_samples')
            .select((eb) => eb.fn.min('at').as('first'))
            .where('at', '>=', from)
            .where('at', '<', end)
            .executeTakeFirst()
        : await this.db
            .selectFrom('metrics_rollups')
            .select((eb) => eb.fn.min('bucket').as('first'))
            .where('resolution', '=', 60)
            .where('bucket', '>=', from)
            .where('bucket', '<', end)
            .executeTakeFirst();
    return row?.first === null || row?.first === undefined ? null : Number(row.first);
  }

  /** The tier's input in [from, to) as (device, time, aggregates) rows. */
  private async input(tier: Tier, from: number, to: number): Promise<[string, number, SeriesAggregates][]> {
    if (tier === MINUTES) {
      const rows = await this.db
        .selectFrom('metrics_samples')
        .select(['device_id', 'at', 'series'])
        .where('at', '>=', from)
        .where('at', '<', to)
        .execute();
      return rows.map((r) => {
        const aggs: SeriesAggregates = {};
        for (const [name, v] of Object.entries(parseStored<number>(r.series) as SeriesValues))
          if (typeof v === 'number') aggs[name] = single(v);
        return [r.device_id, Number(r.at), aggs];
      });
    }
    const rows = await this.db
      .selectFrom('metrics_rollups')
      .select(['device_id', 'bucket', 'series'])
      .where('resolution', '=', 60)
      .where('bucket', '>=', from)
      .where('bucket', '<', to)
      .execute();
    return rows.map((r) => [r.device_id, Number(r.bucket), parseStored<Aggregate>(r.series)]);
  }

  private async roll(tier: Tier): Promise<number> {
    const end = await this.inputEnd(tier);
    let from = await this.doneUntil(tier.resolution);
    if (from === null) {
      const first = await this.nextInput(tier, 0, end);
      from = first === null ? end : floorTo(first, tier.unit);
      await this.setDone(this.db, tier, from);
    }
    let buckets = 0;
    for (let i = 0; i < MAX_CHUNKS_PER_RUN && from < end; i++) {
      const to = Math.min(end, from + tier.chunk);
      const input = await this.input(tier, from, to);
      if (input.length === 0) {
        const next = await this.nextInput(tier, to, end);
        const skipTo = next === null ? end : floorTo(next, tier.unit);
        await this.setDone(this.db, tier, skipTo);
        from = skipTo;
        continue;
      }
      const grouped = new Map<string, { device: string; bucket: number; aggs: SeriesAggregates }>();
      for (const [device, t, aggs] of input) {
        const bucket = floorTo(t, tier.unit);
        const key = `${device}\n${bucket}`;
        let g = grouped.get(key);
        if (!g) {
          g = { device, bucket, aggs: {} };
          grouped.set(key, g);
        }
        for (const [name, v] of Object.entries(aggs)) if (Array.isArray(v) && v.length === 4) fold(g.aggs, name, v);
      }
      const rows = [...grouped.values()].map((g) => ({
        device_id: g.device,
        resolution: tier.resolution,
        bucket: g.bucket,
        series: JSON.stringify(rounded(g.aggs)),
      }));
      await this.db.transaction().execute(async (trx) => {
        for (let k = 0; k < rows.length; k += INSERT_BATCH) {
          await trx
            .insertInto('metrics_rollups')
            .values(rows.slice(k, k + INSERT_BATCH))
            // A replica (or a run before a crash) already wrote it: same input, same result.
            .onConflict((oc) => oc.columns(['device_id', 'resolution', 'bucket']).doNothing())
            .execute();
        }
        await this.setDone(trx, tier, to);
      });
      buckets += rows.length;
      from = to;
    }
    return buckets;
  }

  private async setDone(db: Pick<Db, 'insertInto'>, tier: Tier, doneUntil: number): Promise<void> {
    await db
      .insertInto('metrics_rollup_state')
      .values({ resolution: tier.resolution, done_until: doneUntil })
      .onConflict((oc) =>
        oc
          .column('resolution')
          .doUpdateSet({ done_until: (eb) => eb.ref('excluded.done_until') })
          // Progress never goes back, whichever replica writes last.
          .where('metrics_rollup_state.done_until', '<', sql<number>`excluded.done_until`),
      )
      .execute();
  }

  /** Deletes past retention; samples and minutes only once the next tier holds them. */
  private async expire(): Promise<RollupReport['deleted']> {
    const now = this.now();
    const minutesDone = (await this.doneUntil(60)) ?? 0;
    const hoursDone = (await this.doneUntil(3600)) ?? 0;
    const samples = await this.db
      .deleteFrom('metrics_samples')
      .where('at', '<', Math.min(now - this.retention.raw * 1000, minutesDone))
      .executeTakeFirst();
    const minute = await this.db
      .deleteFrom('metrics_rollups')
      .where('resolution', '=', 60)
      .where('bucket', '<', Math.min(now - this.retention.minute * 1000, hoursDone))
      .executeTakeFirst();
    const hour = await this.db
      .deleteFrom('metrics_rollups')
      .where('resolution', '=', 3600)
      .where('bucket', '<', now - this.retention.hour * 1000)
      .executeTakeFirst();
    return {
      samples: Number(samples.numDeletedRows),
      minute: Number(minute.numDeletedRows),
      hour: Number(hour.numDeletedRows),
    };
  }
}
