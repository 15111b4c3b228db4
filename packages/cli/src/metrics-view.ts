/**
 * Plain-text views of device metrics for `outpost stats`: the live sample (bars for
 * CPU, cores, memory and disks; rates for disk I/O and network) and history as a
 * table with a sparkline per series. Pure functions of the API's answers.
 */
import type { MetricSeries, MetricsHistory, MetricsSample } from './api-types.js';
import { formatDuration } from './duration.js';
import { renderTable } from './table.js';

const BLOCKS = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/** `[██████░░░░]` for a percentage; out-of-range values are clamped. */
export function bar(percent: number, width = 20): string {
  const filled = Math.round((Math.min(100, Math.max(0, percent)) / 100) * width);
  return `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
}

export function pct(value: number | null | undefined): string {
  return value === null || value === undefined ? '-' : `${value.toFixed(1)}%`;
}

/** Bytes in binary units: `512 B`, `1.5 KiB`, `3.2 GiB`. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${Math.round(v)} B` : `${v.toFixed(1)} ${units[i]}`;
}

export function formatRate(n: number | null | undefined): string {
  return n === null || n === undefined ? '-' : `${formatBytes(n)}/s`;
}

/** Value with its unit, as a history table shows it. */
export function formatValue(v: number, unit: string): string {
  if (unit === 'B/s') return formatRate(v);
  if (unit === '%') return `${v.toFixed(1)}%`;
  if (unit === '°C') return `${v.toFixed(1)} °C`;
  return v.toFixed(2);
}

export interface StatsHeader {
  /** `gw-12 (d-abc)` or just the id. */
  label: string;
  /** False for the stored last sample of an offline device. */
  live: boolean;
  /** When the server received a stored sample. */
  receivedAt?: string | null;
}

const clock = (ms: number) =>
  new Date(ms)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');

/** The whole live view; lines never end in spaces, so a redraw in place leaves no debris. */
export function renderStats(m: MetricsSample, head: StatsHeader): string {
  const lines: string[] = [];
  const p = m.processes;
  const when = head.live
    ? `sampled ${clock(m.ts)} over ${m.window.toFixed(1)} s`
    : `last sample, received ${head.receivedAt ? clock(Date.parse(head.receivedAt)) : '?'} (device offline)`;
  lines.push(`${head.label}  up ${formatDuration(m.uptime)}  ${when}`);
  lines.push(`Tasks   ${p.total} processes, ${p.running} running, ${p.blocked} blocked, ${p.threads} threads`);
  const c = m.cpu;
  lines.push(
    `CPU     ${pct(c.usage).padStart(6)}  ${bar(c.usage)}  user ${pct(c.user)}  system ${pct(c.system)}  iowait ${pct(c.iowait)}  steal ${pct(c.steal)}`,
  );
  const cells = c.cores.map((v, i) => `${`cpu${i}`.padEnd(6)}${pct(v).padStart(6)}  ${bar(v ?? 0, 10)}`);
  for (let i = 0; i < cells.length; i += 3) lines.push(`  ${cells.slice(i, i + 3).join('   ')}`);
  lines.push(
    `Load    ${m.load.avg1.toFixed(2)}  ${m.load.avg5.toFixed(2)}  ${m.load.avg15.toFixed(2)}  (1, 5, 15 min)`,
  );
  const mem = m.memory;
  lines.push(
    `Memory  ${pct(mem.usedPercent).padStart(6)}  ${bar(mem.usedPercent)}  ${formatBytes(mem.used)} of ${formatBytes(mem.total)}, available ${formatBytes(mem.available)}, cache ${formatBytes(mem.cached)}, buffers ${formatBytes(mem.buffers)}`,
  );
  lines.push(
    m.swap.total > 0
      ? `Swap    ${pct(m.swap.usedPercent).padStart(6)}  ${bar(m.swap.usedPercent)}  ${formatBytes(m.swap.used)} of ${formatBytes(m.swap.total)}`
      : 'Swap    none',
  );
  const t = m.temperature;
  lines.push(
    t
      ? `Temp    ${t.celsius.toFixed(1)} °C  (${t.zones.map((z) => `${z.type || z.zone} ${z.celsius.toFixed(1)}`).join(', ')})`
      : `Temp    n/a: ${m.temperatureReason ?? 'no reading'}`,
  );
  lines.push('');
  if (m.disks.length > 0) {
    lines.push(
      renderTable(
        ['DISK', 'USED', '', 'SIZE', 'FREE', 'TYPE', 'DEVICE'],
        m.disks.map((d) => [
          d.mount,
          pct(d.usedPercent),
          bar(d.usedPercent, 10),
          formatBytes(d.total),
          formatBytes(d.available),
          d.fsType,
          d.device,
        ]),
      ).trimEnd(),
    );
  } else lines.push(`DISK  none${m.disksReason ? `: ${m.disksReason}` : ''}`);
  if (m.diskIo.length > 0) {
    lines.push('');
    lines.push(
      renderTable(
        ['DISK I/O', 'READ', 'WRITE', 'READ OPS', 'WRITE OPS', 'BUSY'],
        m.diskIo.map((d) => [
          d.device,
          formatRate(d.readBytesPerSec),
          formatRate(d.writeBytesPerSec),
          d.readsPerSec === null ? '-' : `${d.readsPerSec.toFixed(1)}/s`,
          d.writesPerSec === null ? '-' : `${d.writesPerSec.toFixed(1)}/s`,
          pct(d.busyPercent),
        ]),
      ).trimEnd(),
    );
  }
  if (m.network.length > 0) {
    lines.push('');
    lines.push(
      renderTable(
        ['INTERFACE', 'RX', 'TX', 'RX TOTAL', 'TX TOTAL', 'ERRORS', 'DROPS'],
        m.network.map((n) => [
          n.interface,
          formatRate(n.rxBytesPerSec),
          formatRate(n.txBytesPerSec),
          formatBytes(n.rxBytes),
          formatBytes(n.txBytes),
          `${n.rxErrors}/${n.txErrors}`,
          `${n.rxDropped}/${n.txDropped}`,
        ]),
      ).trimEnd(),
    );
  }
  return `${lines.map((l) => l.trimEnd()).join('\n')}\n`;
}

/**
 * One character per step of the range, oldest left: the bucket's average on the
 * series' scale (0-100 for percentages), a space where there was no sample.
 */
export function sparkline(series: MetricSeries, from: number, to: number, stepSeconds: number): string {
  const stepMs = stepSeconds * 1000;
  const start = Math.floor(from / stepMs) * stepMs;
  const slots = Math.max(1, Math.ceil((to - start) / stepMs));
  const values: (number | undefined)[] = new Array(slots).fill(undefined);
  for (const [t, avg] of series.points) {
    const i = Math.floor((t - start) / stepMs);
    if (i >= 0 && i < slots) values[i] = avg;
  }
  const present = values.filter((v): v is number => v !== undefined);
  if (present.length === 0) return '';
  const [lo, hi] = series.unit === '%' ? [0, 100] : [Math.min(0, ...present), Math.max(...present)];
  return values
    .map((v) => {
      if (v === undefined) return ' ';
      const level = hi > lo ? Math.round(((v - lo) / (hi - lo)) * (BLOCKS.length - 1)) : 0;
      return BLOCKS[Math.min(BLOCKS.length - 1, Math.max(0, level))];
    })
    .join('')
    .trimEnd();
}

/** History as a table: each series' last, lowest, mean and highest value, and its sparkline. */
export function renderHistory(h: MetricsHistory): string {
  const from = Date.parse(h.from);
  const to = Date.parse(h.to);
  const rows = h.series
    .filter((s) => s.points.length > 0)
    .map((s) => {
      const avgs = s.points.map((p) => p[1]);
      const count = avgs.length;
      const mean = avgs.reduce((a, b) => a + b, 0) / count;
      const last = avgs[count - 1] ?? 0;
      return [
        s.name,
        formatValue(last, s.unit),
        formatValue(Math.min(...s.points.map((p) => p[2])), s.unit),
        formatValue(mean, s.unit),
        formatValue(Math.max(...s.points.map((p) => p[3])), s.unit),
        sparkline(s, from, to, h.step),
      ];
    });
  const head = `${h.device}  ${clock(from)} → ${clock(to)}  every ${formatDuration(h.step)} (${h.resolution === 'raw' ? 'every sample' : `${h.resolution} rollups`})`;
  if (rows.length === 0) return `${head}\nno samples in this range\n`;
  return `${head}\n${renderTable(['SERIES', 'LAST', 'MIN', 'AVG', 'MAX', 'HISTORY'], rows)}`;
}
