/**
 * What of a metrics sample is charted (docs/metrics.md §Series): the named series
 * extracted from a sample, their units, the headline kept on the device row, and
 * the avg/min/max arithmetic rollups and chart buckets share.
 */
import type { api, Metrics } from '@outpost/protocol';
import type { DeviceTable } from '../store/schema.js';
import { iso } from './time.js';

/** A series' values over a bucket: `[avg, min, max, count]`. */
export type Aggregate = [number, number, number, number];
/** Series name → value (one sample) or aggregate (one bucket). */
export type SeriesValues = Record<string, number>;
export type SeriesAggregates = Record<string, Aggregate>;

const round2 = (n: number): number => Math.round(n * 100) / 100;

/** Every chartable series of a sample. Series that do not apply (no swap, no sensor, no rate yet) are left out. */
export function seriesOf(m: Metrics): SeriesValues {
  const s: SeriesValues = {
    cpu: m.cpu.usage,
    mem: m.memory.usedPercent,
    load1: m.load.avg1,
    load5: m.load.avg5,
    load15: m.load.avg15,
  };
  if (m.swap.total > 0) s.swap = m.swap.usedPercent;
  if (m.temperature) s.temperature = m.temperature.celsius;
  for (const d of m.disks) s[`disk:${d.mount}`] = d.usedPercent;
  for (const d of m.diskIo) {
    if (d.readBytesPerSec !== null) s[`io:${d.device}:read`] = d.readBytesPerSec;
    if (d.writeBytesPerSec !== null) s[`io:${d.device}:write`] = d.writeBytesPerSec;
  }
  for (const n of m.network) {
    if (n.rxBytesPerSec !== null) s[`net:${n.interface}:rx`] = n.rxBytesPerSec;
    if (n.txBytesPerSec !== null) s[`net:${n.interface}:tx`] = n.txBytesPerSec;
  }
  return s;
}

export function unitOf(name: string): string {
  if (name === 'temperature') return '°C';
  if (name.startsWith('load')) return '';
  if (name.startsWith('net:') || name.startsWith('io:')) return 'B/s';
  return '%';
}

const HEADLINE = ['cpu', 'mem', 'swap', 'load1', 'load5', 'load15', 'temperature'];

/** Headline series first in a fixed order, then disks, disk I/O and network by name. */
export function compareSeries(a: string, b: string): number {
  const ia = HEADLINE.indexOf(a);
  const ib = HEADLINE.indexOf(b);
  if (ia >= 0 || ib >= 0) return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib);
  return a < b ? -1 : a > b ? 1 : 0;
}

/** `cpu,disk:*` → a predicate; undefined or `*` selects every series. */
export function seriesFilter(spec: string | undefined): (name: string) => boolean {
  if (spec === undefined) return () => true;
  const exact = new Set<string>();
  const prefixes: string[] = [];
  for (const part of spec.split(',')) {
    const p = part.trim();
    if (!p) continue;
    if (p.endsWith('*')) prefixes.push(p.slice(0, -1));
    else exact.add(p);
  }
  return (name) => exact.has(name) || prefixes.some((p) => name.startsWith(p));
}

/** Folds one value or aggregate into a bucket's aggregates (mutates `into`). */
export function fold(into: SeriesAggregates, name: string, v: Aggregate): void {
  const cur = into[name];
  if (!cur) {
    into[name] = [v[0], v[1], v[2], v[3]];
    return;
  }
  const count = cur[3] + v[3];
  cur[0] = (cur[0] * cur[3] + v[0] * v[3]) / count;
  cur[1] = Math.min(cur[1], v[1]);
  cur[2] = Math.max(cur[2], v[2]);
  cur[3] = count;
}

export const single = (v: number): Aggregate => [v, v, v, 1];

/** Rounds averages for storage and answers (min and max are sample values already). */
export function rounded(aggs: SeriesAggregates): SeriesAggregates {
  const out: SeriesAggregates = {};
  for (const [name, [avg, min, max, count]] of Object.entries(aggs)) out[name] = [round2(avg), min, max, count];
  return out;
}

/** Parses a stored `series` column; a damaged row reads as empty rather than failing a whole chart. */
export function parseStored<T>(text: string): Record<string, T> {
  try {
    const v = JSON.parse(text) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, T>) : {};
  } catch {
    return {};
  }
}

type SummaryColumns = Pick<
  DeviceTable,
  'metrics_at' | 'metrics_cpu' | 'metrics_mem' | 'metrics_disk' | 'metrics_temp' | 'metrics_load1'
>;

export const NO_METRICS: SummaryColumns = {
  metrics_at: null,
  metrics_cpu: null,
  metrics_mem: null,
  metrics_disk: null,
  metrics_temp: null,
  metrics_load1: null,
};

export function summaryColumns(m: Metrics, at: number): SummaryColumns {
  return {
    metrics_at: at,
    metrics_cpu: m.cpu.usage,
    metrics_mem: m.memory.usedPercent,
    metrics_disk: m.disks.find((d) => d.mount === '/')?.usedPercent ?? null,
    metrics_temp: m.temperature?.celsius ?? null,
    metrics_load1: m.load.avg1,
  };
}

/** The device row's headline as the API shows it. */
export function metricsSummary(row: SummaryColumns): api.DeviceMetricsSummary | null {
  if (row.metrics_at === null || row.metrics_cpu === null || row.metrics_mem === null) return null;
  return {
    cpu: row.metrics_cpu,
    mem: row.metrics_mem,
    disk: row.metrics_disk,
    temperature: row.metrics_temp,
    load1: row.metrics_load1 ?? 0,
    sampledAt: iso(row.metrics_at),
  };
}
