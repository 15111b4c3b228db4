/**
 * `logs/read` and `logs/follow` (docs/apps-and-logs.md): the agent's own records
 * (its in-memory ring), a supervised app's output (the app's ring), a systemd
 * unit's journal (journalctl, argv only) and files under the configured log
 * roots. A follow streams NDJSON `out` chunks until it is cancelled
 * (`command/cancel`), its `maxSeconds` pass, the agent stops or the source goes.
 */
import {
  DEFAULT_FOLLOW_SECONDS,
  type FollowEndReason,
  type LogLine,
  type LogsFollowArgs,
  type LogsFollowResult,
  type LogsReadArgs,
  type LogsReadResult,
  MAX_PAYLOAD_BYTES,
  OutpostError,
} from '@outpost/protocol';
import type { AppSupervisor } from '../apps/supervisor.js';
import type { AgentConfig } from '../config.js';
import { LineRing, toLogLine } from '../log-ring.js';
import { LineBatcher } from '../logs/batcher.js';
import { followFile, openLogFile, tailLines } from '../logs/file-source.js';
import { checkFilter, type LineFilter, matches, type SourceKind } from '../logs/filter.js';
import { followJournal, type JournalBackend, readJournal, systemJournal } from '../logs/journal-source.js';
import { action, type Capability, type CommandContext, isCancelled } from './capability.js';

export const DEFAULT_READ_LINES = 100;
export const DEFAULT_FOLLOW_LINES = 10;
/** Follows running at once on one agent; each holds a timer, a watcher or a journalctl. */
export const MAX_FOLLOWS = 16;
/** The answer must fit one MQTT payload with room for the envelope. */
const RESULT_BUDGET_BYTES = MAX_PAYLOAD_BYTES - 8192;

export interface LogsOptions {
  /** The journal backend (tests give a stand-in journalctl; default the system's). */
  journal?: JournalBackend;
}

interface Source {
  kind: SourceKind;
  /** The app or unit name, or the file path. */
  target: string;
}

function parseSource(source: string): Source {
  if (source === 'agent') return { kind: 'agent', target: '' };
  const colon = source.indexOf(':');
  const kind = source.slice(0, colon);
  const target = source.slice(colon + 1);
  if (colon > 0 && (kind === 'app' || kind === 'unit' || kind === 'file') && target !== '') return { kind, target };
  // The schema's pattern already refuses anything else; this keeps the types honest.
  throw new OutpostError('E_BAD_ARGS', `unknown log source ${JSON.stringify(source.slice(0, 80))}`);
}

/** The newest `count` lines of a ring passing `filter`, oldest first. */
function fromRing(ring: LineRing, count: number, filter: LineFilter): LogLine[] {
  const all = ring.lines();
  const out: LogLine[] = [];
  for (let i = all.length - 1; i >= 0 && out.length < count; i--) {
    const line = all[i];
    if (line && matches(line, filter)) out.push(toLogLine(line));
  }
  return out.reverse();
}

/** Drops the oldest lines until the answer fits one message. */
export function fitLines(lines: LogLine[], budget = RESULT_BUDGET_BYTES): { lines: LogLine[]; cut: boolean } {
  let total = 0;
  let start = lines.length;
  while (start > 0) {
    const size = Buffer.byteLength(JSON.stringify(lines[start - 1])) + 1;
    if (total + size > budget) break;
    total += size;
    start--;
  }
  return { lines: start === 0 ? lines : lines.slice(start), cut: start > 0 };
}

export function createLogsCapability(apps: AppSupervisor, options: LogsOptions = {}): Capability {
  const journal = options.journal ?? systemJournal;
  /** Set when the agent starts the capability; an agent built without it has an empty one. */
  let agentLog = new LineRing(64 * 1024);
  let following = 0;

  const ringOf = (source: Source): LineRing => (source.kind === 'agent' ? agentLog : apps.ring(source.target));

  const read = async (args: LogsReadArgs, config: AgentConfig): Promise<LogsReadResult> => {
    const source = parseSource(args.source);
    const filter: LineFilter = { grep: args.grep, level: args.level, since: args.since };
    checkFilter(source.kind, filter);
    const count = args.lines ?? DEFAULT_READ_LINES;
    let lines: LogLine[];
    let truncated = false;
    switch (source.kind) {
      case 'agent':
      case 'app':
        lines = fromRing(ringOf(source), count, filter);
        break;
      case 'unit': {
        const r = await readJournal(journal, source.target, count, filter);
        lines = r.lines;
        truncated = r.truncated;
        break;
      }
      case 'file': {
        const file = await openLogFile(source.target, config.logRoots);
        try {
          const r = await tailLines(file, count, filter);
          lines = r.lines;
          truncated = r.truncated;
        } finally {
          await file.handle.close().catch(() => {});
        }
        break;
      }
    }
    const fit = fitLines(lines);
    return { source: args.source, lines: fit.lines, truncated: truncated || fit.cut };
  };

  const follow = async (args: LogsFollowArgs, ctx: CommandContext): Promise<LogsFollowResult> => {
    const source = parseSource(args.source);
    const filter: LineFilter = { grep: args.grep, level: args.level, since: args.since };
    checkFilter(source.kind, filter);
    const history = args.lines ?? DEFAULT_FOLLOW_LINES;
    const out = new LineBatcher(ctx.emit);
    const stop = new AbortController();
    let reason: FollowEndReason | undefined;
    const end = (why: FollowEndReason): void => {
      reason ??= why;
      stop.abort();
    };
    const onAbort = (): void => end(isCancelled(ctx.signal) ? 'cancelled' : 'stopped');
    if (ctx.signal.aborted) onAbort();
    else ctx.signal.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(() => end('duration'), (args.maxSeconds ?? DEFAULT_FOLLOW_SECONDS) * 1000);
    const stopped = new Promise<void>((resolve) =>
      stop.signal.addEventListener('abort', () => resolve(), { once: true }),
    );
    const cleanups: (() => void)[] = [];
    try {
      switch (source.kind) {
        case 'agent':
        case 'app': {
          const ring = ringOf(source);
          for (const line of fromRing(ring, history, filter)) out.add(line);
          cleanups.push(ring.subscribe((line) => (matches(line, filter) ? out.add(toLogLine(line)) : undefined)));
          if (source.kind === 'app') {
            // Uninstalled (or replaced, which keeps the ring): the follow ends when the name is gone.
            const watch = setInterval(() => (apps.has(source.target) ? undefined : end('gone')), 1000);
            cleanups.push(() => clearInterval(watch));
          }
          await stopped;
          break;
        }
        case 'file': {
          const file = await openLogFile(source.target, ctx.config.logRoots);
          if (history > 0) {
            try {
              for (const line of (await tailLines(file, history, filter)).lines) out.add(line);
            } catch (err) {
              await file.handle.close().catch(() => {});
              throw err;
            }
          }
          const f = followFile(
            source.target,
            ctx.config.logRoots,
            file,
            (l) => matches(l, filter) && out.add(l),
            stop.signal,
          );
          await f.done.catch((err: unknown) => {
            ctx.log.warn('log file follow ended', { reason: err instanceof OutpostError ? err.message : String(err) });
            end('gone');
          });
          break;
        }
        case 'unit': {
          let cursor: string | undefined;
          if (history > 0) {
            const r = await readJournal(journal, source.target, history, filter);
            for (const line of r.lines) out.add(line);
            cursor = r.cursor;
          }
          const f = await followJournal(journal, source.target, cursor, filter, (l) => out.add(l), stop.signal);
          const why = await f.done;
          if (why === 'gone') end('gone');
          break;
        }
      }
    } finally {
      clearTimeout(timer);
      ctx.signal.removeEventListener('abort', onAbort);
      for (const c of cleanups) c();
    }
    out.flush();
    return { source: args.source, lines: out.sent, reason: reason ?? 'gone' };
  };

  return {
    name: 'logs',
    actions: {
      read: action('logs/read', (args, ctx) => read(args, ctx.config)),
      follow: action('logs/follow', async (args, ctx) => {
        if (following >= MAX_FOLLOWS)
          throw new OutpostError('E_BUSY', `too many log follows running (limit ${MAX_FOLLOWS})`);
        following++;
        try {
          return await follow(args, ctx);
        } finally {
          following--;
        }
      }),
    },
    start: async (host) => {
      agentLog = host.agentLog;
    },
  };
}
