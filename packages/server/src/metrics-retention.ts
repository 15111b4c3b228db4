/**
 * The `metricsRetention` setting (docs/metrics.md §Retention): how long every sample,
 * the 1-minute rollups and the 1-hour rollups are kept. Each layer of configuration
 * (file, OUTPOST_METRICS_RETENTION, options) may set some tiers, as whole seconds or
 * durations like `36h`, `7d`, `2w`, `1y`; the tiers left out keep the layer below.
 */
import { OutpostError } from '@outpost/protocol';
import { type Static, Type } from '@sinclair/typebox';

const DAY = 86_400;

export const MetricsRetentionSchema = Type.Object(
  {
    /** Seconds every sample is kept (default 24 h). */
    raw: Type.Integer({ minimum: 3600, maximum: 90 * DAY }),
    /** Seconds the 1-minute rollups are kept (default 7 days). */
    minute: Type.Integer({ minimum: 2 * 3600, maximum: 5 * 366 * DAY }),
    /** Seconds the 1-hour rollups are kept (default 1 year). */
    hour: Type.Integer({ minimum: DAY, maximum: 20 * 366 * DAY }),
  },
  { additionalProperties: false },
);
export type MetricsRetention = Readonly<Static<typeof MetricsRetentionSchema>>;

export const DEFAULT_METRICS_RETENTION: MetricsRetention = { raw: DAY, minute: 7 * DAY, hour: 365 * DAY };

const TIERS = ['raw', 'minute', 'hour'] as const;
const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: DAY, w: 7 * DAY, y: 365 * DAY };

const bad = (where: string, what: string): OutpostError =>
  new OutpostError('E_BAD_ARGS', `invalid configuration: /metricsRetention${where}: ${what}`);

/** `36h` → 129600; a whole number is seconds already. */
export function parseDuration(value: unknown, tier: string): number {
  if (typeof value === 'number' && Number.isInteger(value) && value > 0) return value;
  const m = typeof value === 'string' ? /^\s*(\d{1,9})\s*([smhdwy]?)\s*$/.exec(value) : null;
  if (!m) throw bad(`/${tier}`, 'expected a duration like 24h, 7d or 1y (or whole seconds)');
  return Number(m[1]) * (UNITS[m[2] || 's'] ?? 1);
}

/** `raw=48h,minute=14d` (the environment variable's form) → `{raw: '48h', minute: '14d'}`. */
export function parseRetentionSpec(spec: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of spec.split(',')) {
    if (!part.trim()) continue;
    const [key, value, extra] = part.split('=');
    if (value === undefined || extra !== undefined || !key?.trim()) {
      throw bad(
        '',
        `expected tier=duration pairs such as raw=24h,minute=7d,hour=1y, got '${part.trim().slice(0, 40)}'`,
      );
    }
    out[key.trim()] = value.trim();
  }
  return out;
}

/**
 * Merges the layers (lowest first; each an object, a `tier=duration` string or
 * undefined), checks each tier's range and that coarser tiers are kept at least as
 * long as finer ones (a chart must find the rollups where the samples end).
 */
export function resolveRetention(layers: readonly unknown[]): MetricsRetention {
  const merged: Record<string, number> = { ...DEFAULT_METRICS_RETENTION };
  for (const layer of layers) {
    if (layer === undefined || layer === null) continue;
    const obj = typeof layer === 'string' ? parseRetentionSpec(layer) : layer;
    if (typeof obj !== 'object' || Array.isArray(obj)) throw bad('', 'expected an object such as {"raw": "24h"}');
    for (const [tier, value] of Object.entries(obj as Record<string, unknown>)) {
      if (!(TIERS as readonly string[]).includes(tier)) {
        throw bad('', `unknown tier '${tier.slice(0, 40)}' (expected raw, minute or hour)`);
      }
      if (value !== undefined) merged[tier] = parseDuration(value, tier);
    }
  }
  const limits = MetricsRetentionSchema.properties;
  for (const tier of TIERS) {
    const v = merged[tier] as number;
    const { minimum, maximum } = limits[tier] as { minimum: number; maximum: number };
    if (v < minimum || v > maximum) {
      throw bad(`/${tier}`, `must be between ${human(minimum)} and ${human(maximum)} (got ${human(v)})`);
    }
  }
  if ((merged.minute as number) < (merged.raw as number))
    throw bad('/minute', 'must be at least as long as raw (the 1-minute rollups continue where the samples end)');
  if ((merged.hour as number) < (merged.minute as number))
    throw bad('/hour', 'must be at least as long as minute (the 1-hour rollups continue where the minutes end)');
  return Object.freeze({ raw: merged.raw as number, minute: merged.minute as number, hour: merged.hour as number });
}

/** 90000 → "25h"; whole days, hours or minutes when exact. */
export function human(seconds: number): string {
  if (seconds % DAY === 0) return `${seconds / DAY}d`;
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  if (seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}
