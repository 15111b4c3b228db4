/**
 * `outpost top`, `outpost ps` and `outpost kill`: a device's processes as a
 * top-like table (optionally redrawn), a ps-like listing, and one signal to one
 * process, asked for confirmation like other destructive commands.
 */
import {
  type api,
  PROCESS_SIGNALS,
  PROCESS_SORT_KEYS,
  type ProcessInfo,
  type ProcessList,
  type ProcessSignal,
  type ProcessSignalResult,
  type ProcessSortKey,
} from '@outpost/protocol';
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { ApiClient } from '../api.js';
import type { Context } from '../context.js';
import { formatDuration } from '../duration.js';
import { CliError } from '../errors.js';
import { durationOption, positiveIntOption } from '../parse.js';
import { confirm } from '../prompt.js';
import { renderTable } from '../table.js';

const enc = encodeURIComponent;

/** Compact sizes like top: `812K`, `12.3M`, `1.9G`. */
export function compactBytes(n: number): string {
  const units = ['K', 'M', 'G', 'T'];
  let v = n / 1024;
  if (v < 1) return `${n}B`;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v >= 100 || i === 0 ? Math.round(v) : v.toFixed(1)}${units[i]}`;
}

/** `HH:MM` for a start today, `Mon DD` before, like ps(1)'s START column. */
export function startColumn(iso: string, now = new Date()): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '-';
  if (d.toDateString() === now.toDateString()) {
    return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
  }
  return d.toLocaleDateString('en-US', { month: 'short', day: '2-digit' });
}

/** `KILL`, `sigkill` and `SIGKILL` all name KILL; anything outside the allowed set is a usage error. */
export function signalOption(value: string): ProcessSignal {
  const name = value.trim().toUpperCase().replace(/^SIG/, '');
  if (!(PROCESS_SIGNALS as readonly string[]).includes(name)) {
    throw new InvalidArgumentError(`unknown signal '${value}' (allowed: ${PROCESS_SIGNALS.join(', ')})`);
  }
  return name as ProcessSignal;
}

/** The table both `top` and `ps` print; `width` cuts the command column to fit a terminal. */
export function renderProcesses(processes: readonly ProcessInfo[], width?: number, now = new Date()): string {
  const rows = processes.map((p) => [
    String(p.pid),
    p.user,
    p.state,
    p.cpu.toFixed(1),
    p.mem.toFixed(1),
    compactBytes(p.rssBytes),
    String(p.threads),
    startColumn(p.startedAt, now),
    p.cmdline,
  ]);
  const table = renderTable(['PID', 'USER', 'S', '%CPU', '%MEM', 'RSS', 'THR', 'START', 'COMMAND'], rows);
  if (!width || width < 40) return table;
  return table
    .split('\n')
    .map((line) => cutLine(line, width))
    .join('\n');
}

/** A line cut to `width` characters (0: not cut), so a redrawn screen never wraps. */
export function cutLine(line: string, width: number): string {
  const chars = [...line];
  return width > 0 && chars.length > width ? chars.slice(0, width).join('') : line;
}

/** The line above the table: how many processes, the device's size and what CPU % means here. */
export function summaryLine(list: ProcessList, device: string): string {
  const sampled = list.sampleMs > 0 ? `CPU % over ${list.sampleMs} ms` : 'CPU % over each lifetime';
  const shown = list.processes.length < list.total ? `, top ${list.processes.length}` : '';
  return `${device}  ${new Date(list.at).toLocaleTimeString()}  ${list.total} processes${shown}  ${list.cpuCount} CPUs  ${compactBytes(list.memTotalBytes)} memory  (${sampled}, 100 = one CPU)`;
}

export function listProcesses(api: ApiClient, device: string, query: api.ProcessListQuery): Promise<ProcessList> {
  return api.call('GET', `/devices/${enc(device)}/processes`, { query: { ...query } });
}

export function sendSignal(
  api: ApiClient,
  device: string,
  pid: number,
  body: api.ProcessSignalBody,
): Promise<ProcessSignalResult> {
  return api.call('POST', `/devices/${enc(device)}/processes/${pid}/signal`, { body });
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

interface TopOptions {
  sort: ProcessSortKey;
  limit: number;
  watch?: boolean;
  interval: number;
  json?: boolean;
}

async function top(ctx: Context, device: string, opts: TopOptions): Promise<void> {
  const api = await ctx.api();
  const query: api.ProcessListQuery = { sort: opts.sort, limit: opts.limit };
  const tty = ctx.io.stdout.isTTY === true;
  const width = tty ? (process.stdout.columns ?? 0) : 0;
  const snapshot = async () => {
    const list = await listProcesses(api, device, query);
    if (opts.json) return opts.watch ? ctx.out(JSON.stringify(list)) : ctx.json(list);
    const text = `${cutLine(summaryLine(list, device), width)}\n\n${renderProcesses(list.processes, width)}`;
    // Redraw in place on a terminal (home, clear screen); elsewhere one snapshot after another.
    if (opts.watch && tty) ctx.io.stdout.write(`\x1b[H\x1b[2J${text}`);
    else ctx.out(opts.watch ? `${text}\n` : text);
  };
  if (!opts.watch) return snapshot();

  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    while (!stop.signal.aborted) {
      try {
        await snapshot();
      } catch (err) {
        // A device that drops off (a reboot) is waited for; anything else ends the watch.
        const code = (err as CliError).code;
        if (code !== 'E_OFFLINE' && code !== 'E_TIMEOUT') throw err;
        ctx.err(`${new Date().toLocaleTimeString()}  ${(err as Error).message}; still watching`);
      }
      await pause(opts.interval * 1000, stop.signal);
    }
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}

function describeOutcome(r: ProcessSignalResult, device: string): string {
  const what = `${r.pid} (${r.cmdline}, user ${r.user}) on ${device}`;
  if (r.gone === true) return `sent ${r.signal} to ${what}: it has ended`;
  if (r.gone === false) return `sent ${r.signal} to ${what}: it is still running`;
  return `sent ${r.signal} to ${what}`;
}

export function registerProcesses(program: Command, ctx: Context): void {
  program
    .command('top')
    .description("a device's busiest processes, like top: CPU % sampled on the device")
    .argument('<device>', 'device id or name')
    .addOption(new Option('--sort <key>', 'sort by').choices(PROCESS_SORT_KEYS).default('cpu'))
    .option('--limit <n>', 'how many processes to show', positiveIntOption, 20)
    .option('-w, --watch', 'refresh until Ctrl-C (redrawn in place on a terminal)')
    .addOption(
      new Option('--interval <duration>', 'time between refreshes with --watch')
        .argParser(durationOption)
        .default(3, '3s, like top'),
    )
    .option('--json', 'print the list as JSON (one line per refresh with --watch)')
    .addHelpText('after', '\nExamples:\n  outpost top gw-12\n  outpost top gw-12 --sort mem --limit 10 --watch')
    .action((device: string, opts: TopOptions) => top(ctx, device, opts));

  program
    .command('ps')
    .description("list a device's processes, like ps: CPU % is over each process's lifetime")
    .argument('<device>', 'device id or name')
    .option('--filter <text>', 'only processes whose name or command line contains this')
    .option('--user <name>', 'only processes of this user (name or uid)')
    .addOption(new Option('--sort <key>', 'sort by').choices(PROCESS_SORT_KEYS).default('pid'))
    .addOption(
      new Option('--order <order>', 'sort order; by default desc for cpu, mem and start, else asc').choices([
        'asc',
        'desc',
      ]),
    )
    .option('--limit <n>', 'at most this many (max 1000)', positiveIntOption, 1000)
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExamples:\n  outpost ps gw-12\n  outpost ps gw-12 --filter nginx --json')
    .action(
      async (
        device: string,
        opts: {
          filter?: string;
          user?: string;
          sort: ProcessSortKey;
          order?: 'asc' | 'desc';
          limit: number;
          json?: boolean;
        },
      ) => {
        const api = await ctx.api();
        const query: api.ProcessListQuery = { sort: opts.sort, limit: Math.min(opts.limit, 1000), fast: true };
        if (opts.filter !== undefined) query.filter = opts.filter;
        if (opts.user !== undefined) query.user = opts.user;
        if (opts.order !== undefined) query.order = opts.order;
        const list = await listProcesses(api, device, query);
        if (opts.json) return ctx.json(list);
        if (list.processes.length === 0) return ctx.err('no processes match');
        ctx.out(renderProcesses(list.processes));
        if (list.truncated || list.processes.length < list.total) {
          ctx.err(`(${list.processes.length} of ${list.total} shown)`);
        }
      },
    );

  program
    .command('kill')
    .description('send a signal to one process on a device (asks first unless --yes)')
    .argument('<device>', 'device id or name')
    .argument('<pid>', 'process id', positiveIntOption)
    .option('-s, --signal <name>', `one of ${PROCESS_SIGNALS.join(', ')}`, signalOption, 'TERM' as ProcessSignal)
    .addOption(
      new Option(
        '--wait <duration>',
        'for TERM and KILL: how long to wait for it to end (default 2s, at most 10s)',
      ).argParser(durationOption),
    )
    .option('-y, --yes', 'do not ask for confirmation')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExamples:\n  outpost kill gw-12 4711\n  outpost kill gw-12 4711 --signal KILL --yes')
    .action(
      async (
        device: string,
        pid: number,
        opts: { signal: ProcessSignal; wait?: number; yes?: boolean; json?: boolean },
      ) => {
        const api = await ctx.api();
        if (!opts.yes) {
          const found = await listProcesses(api, device, { pid: String(pid), fast: true, limit: 1 });
          const p = found.processes[0];
          if (!p) throw new CliError(`no process with pid ${pid} on ${device}`, { code: 'E_NOT_FOUND' });
          const question = `Send ${opts.signal} to ${pid} (${p.cmdline}, user ${p.user}) on ${device}?`;
          if (!(await confirm(ctx, question, `refusing to send ${opts.signal}`))) {
            ctx.err('no signal sent');
            ctx.exitCode = 1;
            return;
          }
        }
        const body: api.ProcessSignalBody = { signal: opts.signal };
        if (opts.wait !== undefined) body.waitMs = Math.min(10_000, opts.wait * 1000);
        const result = await sendSignal(api, device, pid, body);
        if (opts.json) return ctx.json(result);
        ctx.out(describeOutcome(result, device));
        if (result.gone === false) {
          ctx.err(`(waited ${formatDuration(opts.wait ?? 2)}; try --signal KILL if it must go)`);
        }
      },
    );
}
