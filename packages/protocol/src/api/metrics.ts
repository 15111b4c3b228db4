/**
 * Device metrics over HTTP (docs/metrics.md): history as chart-ready series
 * (`GET /devices/:device/metrics`), the last stored sample (`…/metrics/latest`), a
 * fresh one from the device (`…/metrics/live`), and the summary shown with every device.
 */
import { type Static, Type } from '@sinclair/typebox';
import { Metrics } from '../capabilities/metrics.js';

const strict = { additionalProperties: false } as const;

/** Storage tiers, finest first: every sample (24 h by default), 1-minute and 1-hour rollups. */
export const MetricsResolution = Type.Union([Type.Literal('raw'), Type.Literal('1m'), Type.Literal('1h')]);
export type MetricsResolution = Static<typeof MetricsResolution>;

export const MetricsQuery = Type.Object(
  {
    /** Start of the range (default: one hour before `to`). */
    from: Type.Optional(Type.String({ format: 'date-time' })),
    /** End of the range, exclusive (default: now). */
    to: Type.Optional(Type.String({ format: 'date-time' })),
    /**
     * Seconds per point (default: the range over about 300 points). Raised to the
     * resolution of the tier that holds the range; at most 10 000 points.
     */
    step: Type.Optional(Type.Integer({ minimum: 1, maximum: 366 * 86_400 })),
    /**
     * Comma-separated series names; a name ending in `*` matches every series with
     * that prefix (`disk:*`, `net:eth0:*`). Default: every series.
     */
    series: Type.Optional(Type.String({ minLength: 1, maxLength: 2048 })),
  },
  strict,
);
export type MetricsQuery = Static<typeof MetricsQuery>;

/** `[t, avg, min, max]`: bucket start (epoch ms), then the mean, lowest and highest value in the bucket. */
export const MetricPoint = Type.Tuple([Type.Integer(), Type.Number(), Type.Number(), Type.Number()]);
export type MetricPoint = Static<typeof MetricPoint>;

export const MetricSeries = Type.Object({
  /** e.g. `cpu`, `mem`, `disk:/`, `net:eth0:rx`, `io:sda:write`, `temperature`. */
  name: Type.String(),
  /** `%`, `B/s`, `°C`, or `` for a load average. */
  unit: Type.String(),
  /** Oldest first; buckets without samples are left out (a gap, not a zero). */
  points: Type.Array(MetricPoint),
});
export type MetricSeries = Static<typeof MetricSeries>;

export const MetricsHistory = Type.Object({
  device: Type.String(),
  from: Type.String(),
  to: Type.String(),
  /** Seconds per point actually used. */
  step: Type.Integer(),
  /** The tier the points come from. */
  resolution: MetricsResolution,
  series: Type.Array(MetricSeries),
});
export type MetricsHistory = Static<typeof MetricsHistory>;

/** The last sample the device sent with its heartbeat, as it sent it. */
export const MetricsLatest = Type.Object({
  device: Type.String(),
  /** When the server received it (the device's own clock is in `sample.ts`). */
  receivedAt: Type.String(),
  sample: Metrics,
});
export type MetricsLatest = Static<typeof MetricsLatest>;

/** The headline of a device's last sample, kept on the device record (cheap to list). */
export const DeviceMetricsSummary = Type.Object(
  {
    /** CPU busy, percent. */
    cpu: Type.Number(),
    /** Memory used, percent. */
    mem: Type.Number(),
    /** Root filesystem used, percent; null when the device reported no `/`. */
    disk: Type.Union([Type.Number(), Type.Null()]),
    /** Hottest thermal zone, °C; null without sensors. */
    temperature: Type.Union([Type.Number(), Type.Null()]),
    load1: Type.Number(),
    /** When the server received the sample. */
    sampledAt: Type.String(),
  },
  strict,
);
export type DeviceMetricsSummary = Static<typeof DeviceMetricsSummary>;
