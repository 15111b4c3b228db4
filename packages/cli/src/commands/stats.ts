/**
 * `outpost stats DEVICE`: a device's CPU, load, memory, disks, network and
 * temperature now (a fresh sample from the device, or its last stored one when it
 * is offline), live with `--watch`, or as history with `--history 24h`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import type { ApiClient } from '../api.js';
import type { Device, MetricsSample } from '../api-types.js';
import type { Context } from '../context.js';
import { CliError } from '../errors.js';
import { renderHistory, renderStats } from '../metrics-view.js';
import { durationOption, positiveIntOption } from '../parse.js';

interface StatsOptions {
  watch?: boolean;
  interval?: number;
  count?: number;
  history?: number;
  series?: string;
  json?: boolean;
}

/** What one look at a device found: a live sample, or the stored last one (device offline). */
export interface StatsReading {
  device: string;
  name: string;
  live: boolean;
  /** When the server received a stored sample; null for a live one. */
  receivedAt: string | null;
  sample: MetricsSample;
}

/** Points a `--history` sparkline gets. */
const HISTORY_POINTS = 60;

const label = (d: Device) => (d.name && d.name !== d.id ? `${d.name} (${d.id})` : d.id);

/** A live sample when the device is online, else its last stored one. */
export async function readStats(api: ApiClient, d: Device, signal?: AbortSignal): Promise<StatsReading> {
  const base = { device: d.id, name: d.name };
  if (d.online) {
    try {
      return { ...base, live: true, receivedAt: null, sample: await api.liveMetrics(d.id, signal) };
    } catch (err) {
      // It went offline since we looked: fall through to the stored sample.
      if (!(err instanceof CliError) || err.code !== 'E_OFFLINE') throw err;
    }
  }
  try {
    const latest = await api.latestMetrics(d.id, signal);
    return { ...base, live: false, receivedAt: latest.receivedAt, sample: latest.sample };
  } catch (err) {
    if (err instanceof CliError && err.code === 'E_NOT_FOUND')
      throw new CliError(`device ${label(d)} is offline and has sent no metrics yet`, { code: 'E_OFFLINE' });
    throw err;
  }
}

/** Aborted by the first SIGINT/SIGTERM; the caller treats that as a clean end. */
function interruptible(): { signal: AbortSignal; dispose(): void } {
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return {
    signal: stop.signal,
    dispose: () => {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
    },
  };
}

async function watch(ctx: Context, api: ApiClient, d: Device, opts: StatsOptions): Promise<void> {
  const tty = ctx.io.stdout.isTTY === true && !opts.json;
  const { signal, dispose } = interruptible();
  const intervalMs = (opts.interval ?? 2) * 1000;
  let shown = 0;
  let device = d;
  try {
    while (!signal.aborted && (opts.count === undefined || shown < opts.count)) {
      if (shown > 0) await sleep(intervalMs, undefined, { signal });
      let reading: StatsReading;
      try {
        reading = await readStats(api, device, signal);
      } catch (err) {
        if (!(err instanceof CliError) || err.code !== 'E_OFFLINE') throw err;
        // Offline and nothing stored yet: say so and keep watching for it.
        if (tty) ctx.io.stdout.write(`\x1b[H${err.message}; waiting...\x1b[K\n\x1b[J`);
        else ctx.err(`${err.message}; waiting...`);
        shown++;
        device = await api.getDevice(device.id);
        continue;
      }
      if (!reading.live) device = await api.getDevice(device.id);
      shown++;
      if (opts.json) {
        ctx.io.stdout.write(`${JSON.stringify(reading)}\n`);
        continue;
      }
      const frame = renderStats(reading.sample, {
        label: label(device),
        live: reading.live,
        receivedAt: reading.receivedAt,
      });
      // On a terminal: redraw in place (home, each line cleared to its end, the rest below cleared).
      if (tty) ctx.io.stdout.write(`\x1b[H${frame.replace(/\n/g, '\x1b[K\n')}\x1b[J`);
      else ctx.out(`${frame}`);
    }
  } catch (err) {
    if (!signal.aborted) throw err;
  } finally {
    dispose();
  }
}

async function history(ctx: Context, api: ApiClient, d: Device, opts: StatsOptions): Promise<void> {
  const range = (opts.history ?? 3600) * 1000;
  const to = Date.now();
  const h = await api.metricsHistory(d.id, {
    from: new Date(to - range).toISOString(),
    to: new Date(to).toISOString(),
    step: Math.max(1, Math.ceil(range / 1000 / HISTORY_POINTS)),
    ...(opts.series ? { series: opts.series } : {}),
  });
  if (opts.json) return ctx.json(h);
  ctx.out(renderHistory(h));
}

export function registerStats(program: Command, ctx: Context): void {
  program
    .command('stats')
    .description("a device's CPU, load, memory, disks, network and temperature; live or as history")
    .argument('<device>', 'device id or name')
    .option('-w, --watch', 'keep showing fresh samples until Ctrl-C (redrawn in place on a terminal)')
    .option('--interval <seconds>', 'with --watch: seconds between samples (default 2)', durationOption)
    .option('--count <n>', 'with --watch: stop after this many samples', positiveIntOption)
    .option('--history <range>', 'show history instead: 1h, 24h, 7d, ... up to now', durationOption)
    .option('--series <names>', 'with --history: series to show, e.g. cpu,mem,disk:* (default all)')
    .option('--json', 'print as JSON (with --watch: one JSON object per line)')
    .addHelpText(
      'after',
      `
Examples:
  outpost stats gw-12                      a fresh sample now
  outpost stats gw-12 --watch --interval 5
  outpost stats gw-12 --history 24h
  outpost stats gw-12 --history 7d --series cpu,mem,temperature

An offline device shows the last sample it sent. Temperature is n/a, with the
reason, on devices without thermal sensors. History keeps every sample for 24 h,
1-minute averages for 7 days and hourly ones for a year (server settings).`,
    )
    .action(async (ref: string, opts: StatsOptions) => {
      if (opts.history !== undefined && opts.watch) throw new CliError('--history and --watch do not go together');
      if (opts.series !== undefined && opts.history === undefined) throw new CliError('--series needs --history');
      const api = await ctx.api();
      const d = await api.getDevice(ref);
      if (opts.history !== undefined) return history(ctx, api, d, opts);
      if (opts.watch) return watch(ctx, api, d, opts);
      const reading = await readStats(api, d);
      if (opts.json) return ctx.json(reading);
      if (!reading.live) ctx.err(`device ${label(d)} is offline: showing the last sample it sent`);
      ctx.out(renderStats(reading.sample, { label: label(d), live: reading.live, receivedAt: reading.receivedAt }));
    });
}
