/** `outpost audit`: read, follow and export the audit log (admins) as a table, JSON lines, CSV or JSON Lines files. */
import { open, rm } from 'node:fs/promises';
import { extname } from 'node:path';
import { type Command, Option } from 'commander';
import type { ApiClient } from '../api.js';
import { AUDIT_FORMATS, type AuditEntry, type AuditFilter, type AuditFormat } from '../api-types.js';
import {
  AUDIT_HEADER,
  type AuditFlags,
  auditFilter,
  auditRow,
  exportAudit,
  type PageLoop,
  RowStream,
  readAudit,
} from '../audit.js';
import type { Context } from '../context.js';
import { CliError } from '../errors.js';
import { durationOption, nonNegativeIntOption, positiveIntOption, timeOption, usage } from '../parse.js';
import { renderTable } from '../table.js';

export interface AuditOptions extends AuditFlags {
  after?: number;
  limit?: number;
  json?: boolean;
  follow?: boolean;
  format?: AuditFormat;
  output?: string;
  interval?: number;
}

/** `--format`, else what the `--output` file's extension says; undefined for the table or JSON lines. */
export function exportFormat(opts: Pick<AuditOptions, 'format' | 'output'>): AuditFormat | undefined {
  if (opts.format) return opts.format;
  if (opts.output === undefined) return undefined;
  const ext = extname(opts.output).toLowerCase();
  if (ext === '.csv') return 'csv';
  if (ext === '.jsonl' || ext === '.ndjson') return 'jsonl';
  throw usage(`--output ${opts.output}: say --format csv or --format jsonl`);
}

/** The server filters by device id; a name is looked up (a deleted device's id is passed as given). */
async function deviceId(api: ApiClient, ref: string): Promise<string> {
  try {
    return (await api.getDevice(ref)).id;
  } catch (err) {
    if (err instanceof CliError && err.code === 'E_NOT_FOUND') return ref;
    throw err;
  }
}

/** Aborts on the first SIGINT/SIGTERM: following ends there, and that is a clean end (exit 0). */
async function untilInterrupted(follow: boolean, run: (signal: AbortSignal) => Promise<unknown>): Promise<void> {
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  if (follow) {
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }
  try {
    await run(stop.signal);
  } catch (err) {
    if (!stop.signal.aborted) throw err;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}

async function exportTo(
  ctx: Context,
  api: ApiClient,
  filter: AuditFilter,
  format: AuditFormat,
  opts: AuditOptions,
  loop: Omit<PageLoop, 'signal'>,
): Promise<void> {
  if (opts.output === undefined) {
    await untilInterrupted(opts.follow === true, (signal) =>
      exportAudit(api, filter, format, { ...loop, signal }, (text) => {
        ctx.io.stdout.write(text);
      }),
    );
    return;
  }
  const file = opts.output;
  // The audit log names people and addresses: keep the file private like the saved login.
  const handle = await open(file, 'w', 0o600).catch((err: Error) => {
    throw new CliError(`cannot write ${file}: ${err.message}`);
  });
  const tty = ctx.io.stderr.isTTY === true;
  let total = 0;
  let ok = false;
  try {
    await untilInterrupted(opts.follow === true, async (signal) => {
      total = await exportAudit(
        api,
        filter,
        format,
        { ...loop, signal },
        async (text) => {
          await handle.write(text);
        },
        (n) => {
          total = n;
          if (tty) ctx.io.stderr.write(`\rexporting: ${n} entries`);
        },
      );
    });
    ok = true;
  } finally {
    await handle.close();
    if (!ok && !opts.follow) await rm(file, { force: true });
  }
  if (tty) ctx.io.stderr.write('\r');
  ctx.err(`exported ${total} ${total === 1 ? 'entry' : 'entries'} to ${file} (${format})`);
}

async function printEntries(
  ctx: Context,
  api: ApiClient,
  filter: AuditFilter,
  opts: AuditOptions,
  loop: Omit<PageLoop, 'signal'>,
): Promise<void> {
  const all: AuditEntry[] = [];
  const rows = new RowStream(AUDIT_HEADER);
  const onEntries = (items: AuditEntry[]) => {
    if (opts.json) {
      for (const e of items) ctx.io.stdout.write(`${JSON.stringify(e)}\n`);
    } else if (opts.follow) {
      // Following: print as they come, so widths can only be guessed; otherwise one aligned table.
      ctx.io.stdout.write(rows.render(items.map(auditRow)));
    } else {
      all.push(...items);
    }
  };
  await untilInterrupted(opts.follow === true, (signal) => readAudit(api, filter, { ...loop, signal }, onEntries));
  if (opts.json || opts.follow) return;
  if (all.length === 0) return ctx.err('no audit entries match');
  ctx.out(renderTable(AUDIT_HEADER, all.map(auditRow)));
}

export function registerAudit(program: Command, ctx: Context): void {
  program
    .command('audit')
    .description('the audit log (admins): who did what, from where, and how it went; oldest first')
    .option('--actor <who>', 'only this user name, or actor reference (token:ID, claimed:NAME)')
    .option('--device <device>', 'only entries about this device (id or name)')
    .option('--action <action>', 'only this action, e.g. device.accept, or a prefix: user.*')
    .option('--since <time>', 'from this time on: 1h, 7d (that long ago) or 2025-01-31T12:00:00Z', (v) => timeOption(v))
    .option('--until <time>', 'before this time (same forms as --since)', (v) => timeOption(v))
    .option('--after <id>', 'only entries after this id (resume where an earlier run stopped)', nonNegativeIntOption)
    .option('--limit <n>', 'stop after this many entries (default: all)', positiveIntOption)
    .addOption(new Option('--json', 'print entries as JSON lines, one object per line').conflicts('format'))
    .addOption(new Option('--format <format>', "the server's export: CSV or JSON Lines").choices(AUDIT_FORMATS))
    .option('-o, --output <file>', 'write the export to a file (mode 0600), format from --format or .csv/.jsonl')
    .option('-f, --follow', 'keep printing new entries as they are recorded, until Ctrl-C')
    .option('--interval <duration>', 'with --follow: how often to ask for new entries (default 2s)', durationOption)
    .addHelpText(
      'after',
      `
Examples:
  outpost audit --since 24h
  outpost audit --actor alice --action 'device.*' --json
  outpost audit --device gw-12 --since 2025-01-01 --until 2025-02-01
  outpost audit --since 1h --follow
  outpost audit --format csv --output audit.csv

Entries are read page by page until the end (or --limit). Failed attempts are recorded too: the RESULT
column shows their error code (E_DENIED...). --follow polls every --interval; Ctrl-C ends it (exit 0).`,
    )
    .action(async (opts: AuditOptions) => {
      const format = exportFormat(opts);
      if (opts.json && opts.output !== undefined) throw usage('--json prints to stdout; for a file use --format jsonl');
      const api = await ctx.api();
      const filter = auditFilter(opts);
      if (filter.device !== undefined) filter.device = await deviceId(api, filter.device);
      const loop: Omit<PageLoop, 'signal'> = {
        follow: opts.follow === true,
        intervalMs: (opts.interval ?? 2) * 1000,
        onRetry: (err) => ctx.err(`outpost: ${err.message}; retrying`),
        ...(opts.after !== undefined ? { after: opts.after } : {}),
        ...(opts.limit !== undefined ? { limit: opts.limit } : {}),
      };
      if (format) return exportTo(ctx, api, filter, format, opts, loop);
      await printEntries(ctx, api, filter, opts, loop);
    });
}
