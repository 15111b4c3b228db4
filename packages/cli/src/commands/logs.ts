/**
 * `outpost logs DEVICE`: the newest lines of a device's log source (the agent's
 * own log by default, `--app`, `--unit` or `--file`), or with `-f` its new lines
 * as they come until Ctrl-C, which closes the stream and so stops the follow on
 * the device (the server cancels it).
 */
import { type api, LOG_LINE_LEVELS, LOG_SOURCE_PATTERN, MAX_LOG_LINES } from '@outpost/protocol';
import { Option, type Command as Program } from 'commander';
import type { ApiClient } from '../api.js';
import type { Command } from '../api-types.js';
import type { Context } from '../context.js';
import { CliError } from '../errors.js';
import { durationOption, nonNegativeIntOption, timeOption, usage } from '../parse.js';
import { SseParser } from '../sse.js';

const enc = encodeURIComponent;
const sourceRe = new RegExp(LOG_SOURCE_PATTERN);

export interface LogsOptions {
  app?: string;
  unit?: string;
  file?: string;
  lines?: number;
  since?: string;
  grep?: string;
  level?: string;
  follow?: boolean;
  maxDuration?: number;
  timestamps?: boolean;
  json?: boolean;
}

/** The `source` for the flags: at most one of --app, --unit, --file; the agent's own log otherwise. */
export function logSource(opts: Pick<LogsOptions, 'app' | 'unit' | 'file'>): string {
  const given = [
    opts.app !== undefined ? `app:${opts.app}` : undefined,
    opts.unit !== undefined ? `unit:${opts.unit}` : undefined,
    opts.file !== undefined ? `file:${opts.file}` : undefined,
  ].filter((s): s is string => s !== undefined);
  if (given.length > 1) throw usage('give at most one of --app, --unit and --file');
  const source = given[0] ?? 'agent';
  if (!sourceRe.test(source)) {
    if (opts.file !== undefined) throw usage('--file needs an absolute path on the device');
    if (opts.app !== undefined) throw usage(`'${opts.app}' is not an app name (a-z, 0-9, _ and -)`);
    throw usage(`'${opts.unit}' is not a systemd unit name`);
  }
  return source;
}

/** The query of `GET /devices/:device/logs` for the options (validated here: usage errors exit 2). */
export function logsQuery(opts: LogsOptions): Record<string, string | number | boolean | undefined> {
  if (!opts.follow && opts.lines === 0) throw usage('-n must be at least 1 (0 is for -f: no history)');
  if (!opts.follow && opts.lines !== undefined && opts.lines > MAX_LOG_LINES) {
    throw usage(`-n is at most ${MAX_LOG_LINES}`);
  }
  if (opts.follow && opts.lines !== undefined && opts.lines > 1000) throw usage('with -f, -n is at most 1000');
  if (!opts.follow && opts.maxDuration !== undefined) throw usage('--max-duration goes with -f');
  return {
    source: logSource(opts),
    lines: opts.lines,
    since: opts.since,
    grep: opts.grep,
    level: opts.level,
    ...(opts.follow ? { follow: true, maxSeconds: opts.maxDuration } : {}),
  };
}

/** One line for people: its text, after its time with --timestamps. */
export function formatLine(line: api.LogLineView, timestamps = false): string {
  return timestamps ? `${line.time ?? '-'} ${line.text}` : line.text;
}

async function readLogs(ctx: Context, api: ApiClient, device: string, opts: LogsOptions): Promise<void> {
  const view = await api.call<api.LogsView>('GET', `/devices/${enc(device)}/logs`, { query: logsQuery(opts) });
  if (opts.json) return ctx.json(view);
  for (const line of view.lines) ctx.out(formatLine(line, opts.timestamps));
  if (view.truncated) ctx.err('outpost: the answer was cut to fit one message; older lines are missing (use -n)');
  if (view.lines.length === 0 && ctx.io.stderr.isTTY) ctx.err('no lines');
}

function parseData(data: string): unknown {
  try {
    return JSON.parse(data);
  } catch {
    throw new CliError('the server sent a malformed event');
  }
}

/** Streams lines until the follow ends on the device or Ctrl-C; returns the exit code. */
export async function followLogs(ctx: Context, api: ApiClient, device: string, opts: LogsOptions): Promise<number> {
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let end: Command | undefined;
  try {
    // The server sends a keep-alive every 15 s: a minute of silence is a dropped link.
    const stream = await api.stream(`/devices/${enc(device)}/logs`, logsQuery(opts), stop.signal, 60_000);
    try {
      const parser = new SseParser();
      for await (const bytes of stream.body) {
        for (const ev of parser.push(bytes)) {
          if (ev.event === 'start' && ctx.io.stderr.isTTY && !opts.json) {
            ctx.err(`following ${logSource(opts)} on ${device}; Ctrl-C to stop`);
          } else if (ev.event === 'line') {
            const line = parseData(ev.data) as api.LogLineView;
            if (opts.json) ctx.io.stdout.write(`${JSON.stringify(line)}\n`);
            else ctx.out(formatLine(line, opts.timestamps));
          } else if (ev.event === 'end') {
            end = parseData(ev.data) as Command;
          }
        }
        if (end) break;
      }
    } finally {
      stream.close();
    }
  } catch (err) {
    if (!stop.signal.aborted) throw err;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
  if (stop.signal.aborted) return 130; // Ctrl-C: closing the stream stopped the follow on the device
  if (!end) throw new CliError('the log stream ended unexpectedly');
  if (end.status === 'failed' && end.error) throw new CliError(end.error.message, { code: end.error.code });
  const reason = (end.result as { reason?: string } | null)?.reason;
  if (reason === 'gone') ctx.err('outpost: the log source went away (app removed or journal ended)');
  if (reason === 'duration') ctx.err('outpost: the follow reached its maximum duration');
  if (reason === 'stopped') ctx.err('outpost: the agent stopped');
  return 0;
}

/** Runs `outpost logs` (and `outpost apps logs`) for the parsed options. */
export async function runLogs(ctx: Context, device: string, opts: LogsOptions): Promise<void> {
  logsQuery(opts); // usage errors before any connection
  const api = await ctx.api();
  if (opts.follow) ctx.exitCode = await followLogs(ctx, api, device, opts);
  else await readLogs(ctx, api, device, opts);
}

/** The options `logs` and `apps logs` share. */
export function addLogOptions(cmd: Program): Program {
  return cmd
    .option(
      '-n, --lines <n>',
      'the newest N lines (default 100); with -f the history shown first (default 10)',
      nonNegativeIntOption,
    )
    .option('--since <when>', 'only lines since then: a duration ago (10m, 2h, 7d) or a time', (v: string) =>
      timeOption(v),
    )
    .option('--grep <text>', 'only lines containing this text (plain text, not a pattern)')
    .option('-f, --follow', 'keep printing new lines until Ctrl-C')
    .option(
      '--max-duration <duration>',
      'with -f: stop following after this long (default 1h, at most 24h)',
      durationOption,
    )
    .option('-t, --timestamps', 'print each line after its time')
    .option('--json', 'print the answer as JSON (with -f: one JSON line per log line)');
}

export function registerLogs(program: Program, ctx: Context): void {
  const cmd = program
    .command('logs')
    .description("print a device's logs: the agent's own, an app's output, a systemd unit's journal or a log file")
    .argument('<device>', 'device id or name')
    .option('--app <name>', "a supervised app's output")
    .option('--unit <unit>', "a systemd unit's journal (devices with systemd)")
    .option('--file <path>', "a file under the agent's log roots (default /var/log and its state dir's logs/)")
    .addOption(
      new Option('--level <level>', 'only lines at or above this level (agent and --unit)').choices([
        ...LOG_LINE_LEVELS,
      ]),
    );
  addLogOptions(cmd)
    .addHelpText(
      'after',
      `
Examples:
  outpost logs gw-12                          the agent's own log
  outpost logs gw-12 --app sensor -f          follow an app's output
  outpost logs gw-12 --unit ssh.service --since 1h
  outpost logs gw-12 --file /var/log/syslog -n 50 --grep error

Ctrl-C stops a follow here and on the device.`,
    )
    .action(async (device: string, opts: LogsOptions) => runLogs(ctx, device, opts));
}
