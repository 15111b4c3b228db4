/**
 * Reading the audit log: filters from flags, paging with `after` (the server answers oldest first),
 * following by polling, and cutting the server's CSV / JSON Lines export into records so that an export
 * can be paged and followed too.
 */
import { StringDecoder } from 'node:string_decoder';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ApiClient } from './api.js';
import type { AuditEntry, AuditFilter, AuditFormat } from './api-types.js';
import { CliError } from './errors.js';

/** Entries per JSON page; the server allows up to 10,000. */
export const JSON_PAGE = 1000;
/** Entries per export page: the server's maximum. */
export const EXPORT_PAGE = 10_000;

export interface AuditFlags {
  actor?: string;
  device?: string;
  action?: string;
  since?: string;
  until?: string;
}

export function auditFilter(flags: AuditFlags): AuditFilter {
  const filter: AuditFilter = {};
  if (flags.actor !== undefined) filter.actor = flags.actor;
  if (flags.device !== undefined) filter.device = flags.device;
  if (flags.action !== undefined) filter.action = flags.action;
  if (flags.since !== undefined) filter.from = flags.since;
  if (flags.until !== undefined) filter.to = flags.until;
  return filter;
}

export const AUDIT_HEADER = ['TIME', 'ACTOR', 'IP', 'ACTION', 'TARGET', 'RESULT'] as const;

/** One table row: the time to the second, who (their name when known), from where, what, on what, how it went. */
export function auditRow(e: AuditEntry): string[] {
  return [
    e.at.replace(/\.\d+Z$/, 'Z'),
    e.actorName ?? e.actor,
    e.ip ?? '-',
    e.action,
    e.target ?? e.deviceId ?? '-',
    e.result === 'ok' ? 'ok' : (e.errorCode ?? e.result),
  ];
}

/**
 * Aligned rows printed as they come (for `--follow`, where the rows to come are unknown): each batch
 * widens the columns to its widest cell before printing, and the header goes out with the first batch,
 * so alignment only shifts when a longer value first appears.
 */
export class RowStream {
  private readonly widths: number[];
  private started = false;
  constructor(private readonly header: readonly string[]) {
    this.widths = header.map((h) => [...h].length);
  }

  /** The lines for a batch of rows (with the header the first time), each ending in a newline. */
  render(rows: readonly (readonly string[])[]): string {
    const clean = rows.map((r) => r.map((c) => c.replace(/[\r\n\t]+/g, ' ')));
    for (const r of clean) {
      r.forEach((c, i) => {
        this.widths[i] = Math.max(this.widths[i] ?? 0, [...c].length);
      });
    }
    const lines = clean.map((r) => this.line(r));
    if (!this.started) lines.unshift(this.line(this.header));
    this.started = true;
    return lines.map((l) => `${l}\n`).join('');
  }

  private line(cells: readonly string[]): string {
    return cells
      .map((c, i) => (i === cells.length - 1 ? c : c + ' '.repeat((this.widths[i] ?? 0) - [...c].length)))
      .join('  ')
      .trimEnd();
  }
}

/**
 * Cuts one page of the server's export into records as it streams by: counts them, remembers the id of
 * the last one (the `after` of the next page) and drops the CSV header of every page but the first.
 * CSV cells may hold quoted line breaks, so records end only at a line break outside quotes.
 */
export class ExportSplitter {
  records = 0;
  lastId: number | undefined;
  private inQuotes = false;
  private inHeader: boolean;
  private firstField = '';
  private inFirstField = true;
  private line = '';

  constructor(
    private readonly format: AuditFormat,
    private readonly keepHeader: boolean,
  ) {
    this.inHeader = format === 'csv';
  }

  /** Takes the next piece of the page and returns what to write out. */
  push(text: string): string {
    return this.format === 'csv' ? this.csv(text) : this.jsonl(text);
  }

  /** The end of the page: a last record without a line break still counts. */
  end(): void {
    const pending = this.format === 'csv' ? (this.inHeader ? '' : this.firstField) : this.line.trim();
    if (pending === '') return;
    this.records++;
    this.lastId = idOf(pending);
  }

  private csv(text: string): string {
    let start = 0;
    let out = '';
    for (let i = 0; i < text.length; i++) {
      const c = text[i];
      if (c === '"') this.inQuotes = !this.inQuotes;
      else if (!this.inQuotes && c === '\n') {
        if (this.inHeader) {
          this.inHeader = false;
          if (!this.keepHeader) start = i + 1;
        } else {
          this.records++;
          this.lastId = idOf(this.firstField);
        }
        this.firstField = '';
        this.inFirstField = true;
      } else if (!this.inQuotes && c === ',') this.inFirstField = false;
      else if (this.inFirstField && c !== '\r') this.firstField += c;
    }
    if (!(this.inHeader && !this.keepHeader)) out = text.slice(start);
    return out;
  }

  private jsonl(text: string): string {
    const lines = (this.line + text).split('\n');
    this.line = lines.pop() ?? '';
    for (const l of lines) {
      if (l.trim() === '') continue;
      this.records++;
      this.lastId = idOf(l);
    }
    return text;
  }
}

function idOf(record: string): number {
  const raw = record.startsWith('{') ? (JSON.parse(record) as { id?: unknown }).id : Number(record);
  if (typeof raw !== 'number' || !Number.isSafeInteger(raw)) {
    throw new CliError('unexpected audit export from the server: a record without a numeric id');
  }
  return raw;
}

export interface PageLoop {
  /** Start after this entry id. */
  after?: number;
  /** Stop after this many entries in all. */
  limit?: number;
  /** Keep polling for new entries once the end is reached, until `signal` aborts. */
  follow?: boolean;
  intervalMs?: number;
  signal: AbortSignal;
  /** In follow mode a lost connection is retried; this hears about each failure. */
  onRetry?: (err: CliError) => void;
}

/**
 * The paging every mode shares: fetch pages after the last id seen; a full page means more are waiting,
 * a short one means the end for now. Resolves to the number of entries read; an abort rejects.
 */
async function pages(
  loop: PageLoop,
  size: number,
  fetch: (after: number | undefined, want: number) => Promise<{ count: number; last: number | undefined }>,
): Promise<number> {
  let after = loop.after;
  let total = 0;
  for (;;) {
    const want = loop.limit === undefined ? size : Math.min(size, loop.limit - total);
    let page: { count: number; last: number | undefined };
    try {
      page = await fetch(after, want);
    } catch (err) {
      // Following survives a server restart; a refusal (any HTTP error) still ends it.
      if (!loop.follow || loop.signal.aborted || !(err instanceof CliError) || err.status !== undefined) throw err;
      loop.onRetry?.(err);
      await sleep(loop.intervalMs ?? 2000, undefined, { signal: loop.signal });
      continue;
    }
    total += page.count;
    if (page.last !== undefined) after = page.last;
    if (loop.limit !== undefined && total >= loop.limit) return total;
    if (page.count >= want) continue;
    if (!loop.follow) return total;
    await sleep(loop.intervalMs ?? 2000, undefined, { signal: loop.signal });
  }
}

/** Reads entries page by page (JSON), handing each non-empty page to `onEntries`. */
export function readAudit(
  api: ApiClient,
  filter: AuditFilter,
  loop: PageLoop,
  onEntries: (items: AuditEntry[]) => void | Promise<void>,
): Promise<number> {
  return pages(loop, JSON_PAGE, async (after, want) => {
    const page = await api.auditPage(filter, after, want, loop.signal);
    if (page.items.length > 0) await onEntries(page.items);
    return { count: page.items.length, last: page.items.at(-1)?.id };
  });
}

/** Streams the server's export page by page into `write`, one CSV header at the top. */
export function exportAudit(
  api: ApiClient,
  filter: AuditFilter,
  format: AuditFormat,
  loop: PageLoop,
  write: (text: string) => void | Promise<void>,
  onPage?: (total: number) => void,
): Promise<number> {
  let first = true;
  let total = 0;
  return pages(loop, EXPORT_PAGE, async (after, want) => {
    const splitter = new ExportSplitter(format, first);
    const decoder = new StringDecoder('utf8');
    const stream = await api.auditExport(filter, format, after, want, loop.signal);
    try {
      for await (const bytes of stream.body) {
        const text = splitter.push(decoder.write(bytes));
        if (text) await write(text);
      }
      const rest = splitter.push(decoder.end());
      if (rest) await write(rest);
      splitter.end();
    } finally {
      stream.close();
    }
    first = false;
    total += splitter.records;
    onPage?.(total);
    return { count: splitter.records, last: splitter.lastId };
  });
}
