/**
 * A size-capped, in-memory ring of log lines: the agent's own records and each
 * supervised app's output live in one, so `logs/read` and `logs/follow` can answer
 * without any file. When a push would pass the byte cap the oldest lines go first.
 */
import { type LogLine, type LogLineLevel, MAX_LOG_LINE_BYTES } from '@outpost/protocol';
import type { LoggerOptions } from './log.js';

export const DEFAULT_AGENT_LOG_BYTES = 1024 * 1024;
export const DEFAULT_APP_LOG_BYTES = 256 * 1024;

/** What a line costs besides its text (object, numbers, array slot): a rough, fixed estimate. */
const LINE_OVERHEAD_BYTES = 64;

/** A line as the ring keeps it: always timestamped, numbered in push order. */
export interface RingLine {
  seq: number;
  ts: number;
  text: string;
  stream?: 'stdout' | 'stderr';
  level?: LogLineLevel;
}

export type RingInput = Omit<RingLine, 'seq'>;

/** Cuts `text` to at most `maxBytes` UTF-8 bytes (on a character boundary), marking the cut with `…`. */
export function clipText(text: string, maxBytes = MAX_LOG_LINE_BYTES): string {
  if (text.length * 3 <= maxBytes || Buffer.byteLength(text) <= maxBytes) return text;
  const buf = Buffer.from(text, 'utf8').subarray(0, Math.max(0, maxBytes - 3));
  // Dropping a trailing partial character: decoding would turn it into U+FFFD.
  let end = buf.length;
  while (end > 0 && ((buf[end - 1] ?? 0) & 0xc0) === 0x80) end--;
  if (end > 0 && ((buf[end - 1] ?? 0) & 0x80) !== 0) end--;
  return `${buf.subarray(0, end).toString('utf8')}…`;
}

/** The line on the wire: the ring's `seq` stays inside the agent. */
export function toLogLine(l: RingLine): LogLine {
  const line: LogLine = { ts: l.ts, text: l.text };
  if (l.stream) line.stream = l.stream;
  if (l.level) line.level = l.level;
  return line;
}

/** A logger `sink` that copies every record written into `ring` (the agent's own log). */
export function ringSink(ring: LineRing): NonNullable<LoggerOptions['sink']> {
  return (record) => ring.push({ ts: record.ts, level: record.level, text: record.line });
}

export class LineRing {
  private items: RingLine[] = [];
  /** Index of the oldest live item: evicting moves it instead of shifting the array. */
  private start = 0;
  private used = 0;
  private nextSeq = 0;
  private readonly listeners = new Set<(line: RingLine) => void>();
  /** Lines evicted to stay under the cap since the ring was made. */
  dropped = 0;

  constructor(readonly capBytes: number) {
    if (!Number.isInteger(capBytes) || capBytes < 1024) throw new RangeError('a log ring needs at least 1 KiB');
  }

  get bytes(): number {
    return this.used;
  }

  get size(): number {
    return this.items.length - this.start;
  }

  push(input: RingInput): RingLine {
    const line: RingLine = { ...input, text: clipText(input.text), seq: this.nextSeq++ };
    const cost = Buffer.byteLength(line.text) + LINE_OVERHEAD_BYTES;
    this.items.push(line);
    this.used += cost;
    while (this.used > this.capBytes && this.size > 1) {
      const old = this.items[this.start];
      this.start++;
      this.dropped++;
      if (old) this.used -= Buffer.byteLength(old.text) + LINE_OVERHEAD_BYTES;
    }
    if (this.start > 1024 && this.start * 2 > this.items.length) {
      this.items = this.items.slice(this.start);
      this.start = 0;
    }
    for (const listener of this.listeners) {
      try {
        listener(line);
      } catch {
        // A follower's failure must not stop logging or the other followers.
      }
    }
    return line;
  }

  /** Every line kept, oldest first. */
  lines(): RingLine[] {
    return this.items.slice(this.start);
  }

  /** Calls `listener` with each line pushed from now on; returns the unsubscribe. */
  subscribe(listener: (line: RingLine) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get followers(): number {
    return this.listeners.size;
  }

  clear(): void {
    this.items = [];
    this.start = 0;
    this.used = 0;
  }
}
