/**
 * Follows a command to its end: streams its output from the SSE endpoint, resumes with `?after=<seq>`
 * when the link drops, and falls back to polling `GET /commands/{id}` when streaming is not possible.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ApiClient } from './api.js';
import { type Command, type CommandOutputEvent, isFinished } from './api-types.js';
import { CliError } from './errors.js';
import { SseParser } from './sse.js';

export interface FollowOptions {
  onOutput(stream: 'stdout' | 'stderr', bytes: Buffer): void;
  /** Aborting stops following (the command keeps running on the device). */
  signal?: AbortSignal;
  /** Milliseconds without any byte on the stream before it counts as dropped. */
  idleMs?: number;
  pollIntervalMs?: number;
  /** Give up after this long without any answer from the server. */
  giveUpAfterMs?: number;
  /** Stop trying to stream after this many consecutive attempts that received nothing. */
  maxStreamFailures?: number;
}

export interface FollowResult {
  command: Command;
  /** Output chunks written through onOutput. */
  chunks: number;
  /** True when the stream delivered `end`: every chunk the server had was seen, in order. */
  complete: boolean;
  /** True when a seq number was skipped: some output never reached us. */
  gaps: boolean;
}

interface Attempt {
  end?: Command;
  progressed: boolean;
  error?: unknown;
}

export async function followCommand(api: ApiClient, id: string, options: FollowOptions): Promise<FollowResult> {
  const idleMs = options.idleMs ?? 60_000;
  const pollMs = options.pollIntervalMs ?? 1000;
  const giveUpMs = options.giveUpAfterMs ?? 120_000;
  const maxFailures = options.maxStreamFailures ?? 5;
  const signal = options.signal;
  let last = -1;
  let chunks = 0;
  let gaps = false;
  let useStream = true;
  let failures = 0;
  let drained = false;
  let lastContact = Date.now();

  const onEvent = (event: string, data: string): Command | undefined => {
    if (event === 'output') {
      const out = parseOutput(data);
      if (out.seq <= last) return undefined; // replayed after a reconnect
      if (out.seq !== last + 1) gaps = true;
      last = out.seq;
      chunks++;
      options.onOutput(out.stream, Buffer.from(out.data, 'base64'));
    } else if (event === 'end') {
      return parseCommand(data);
    }
    return undefined;
  };

  const streamOnce = async (): Promise<Attempt> => {
    let progressed = false;
    const link = new AbortController();
    const stop = () => link.abort();
    signal?.addEventListener('abort', stop, { once: true });
    try {
      const query = last >= 0 ? { after: last } : {};
      const stream = await api.stream(`/commands/${encodeURIComponent(id)}/events`, query, link.signal, idleMs);
      try {
        const parser = new SseParser();
        for await (const bytes of stream.body) {
          lastContact = Date.now();
          for (const ev of parser.push(bytes)) {
            progressed = true;
            const end = onEvent(ev.event, ev.data);
            if (end) return { end, progressed };
          }
        }
        return { progressed };
      } finally {
        stream.close();
      }
    } catch (error) {
      if (signal?.aborted) throw error;
      return { progressed, error };
    } finally {
      signal?.removeEventListener('abort', stop);
    }
  };

  for (;;) {
    if (useStream) {
      const attempt = await streamOnce();
      if (attempt.end) return { command: attempt.end, chunks, complete: true, gaps };
      failures = attempt.progressed ? 0 : failures + 1;
      const status = attempt.error instanceof CliError ? attempt.error.status : undefined;
      if (status === 401 || status === 403) throw attempt.error;
      // Any other HTTP refusal (no such route, a proxy that buffers): polling still works.
      if (status !== undefined || failures >= maxFailures) useStream = false;
    }
    let command: Command | undefined;
    try {
      command = await api.getCommand(id, signal);
      lastContact = Date.now();
    } catch (err) {
      if (signal?.aborted || (err instanceof CliError && err.status !== undefined)) throw err;
      if (Date.now() - lastContact > giveUpMs) {
        throw new CliError(`lost contact with the server while following command ${id}: ${(err as Error).message}`);
      }
    }
    if (command && isFinished(command)) {
      // The stream replays what the server buffered: one more pass picks up output we missed.
      if (useStream && !drained) {
        drained = true;
        continue;
      }
      return { command, chunks, complete: false, gaps };
    }
    const delay = useStream ? Math.min(250 * 2 ** failures, 5000) : pollMs;
    await sleep(delay, undefined, signal ? { signal } : {});
  }
}

function parseOutput(data: string): CommandOutputEvent {
  const v = parseObject(data, 'output event') as Partial<CommandOutputEvent>;
  if (
    typeof v.seq !== 'number' ||
    !Number.isInteger(v.seq) ||
    (v.stream !== 'stdout' && v.stream !== 'stderr') ||
    typeof v.data !== 'string'
  ) {
    throw new CliError('the server sent a malformed output event');
  }
  return v as CommandOutputEvent;
}

function parseCommand(data: string): Command {
  const v = parseObject(data, 'end event') as Partial<Command>;
  if (typeof v.id !== 'string' || typeof v.status !== 'string')
    throw new CliError('the server sent a malformed end event');
  return v as Command;
}

function parseObject(data: string, what: string): object {
  try {
    const v: unknown = JSON.parse(data);
    if (v && typeof v === 'object') return v;
  } catch {
    // fall through
  }
  throw new CliError(`the server sent a malformed ${what}`);
}
