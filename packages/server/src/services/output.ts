/**
 * In-memory output of running commands, so a stream opened after the command
 * started (the CLI's SSE request) still sees every chunk from seq 0. Bounded per
 * command; dropped a while after the command ends (the result holds the output).
 */
import type { api } from '@outpost/protocol';

/** One chunk of a command's output, as the events stream sends it. */
export type OutputEvent = api.CommandOutputEvent;

export type StreamEvent<C> = { type: 'output'; chunk: OutputEvent } | { type: 'end'; command: C };

interface Buffered<C> {
  chunks: OutputEvent[];
  bytes: number;
  /** Chunks before this seq were evicted to stay under the cap. */
  firstSeq: number;
  listeners: Set<(e: StreamEvent<C>) => void>;
  ended: C | null;
  endedAt: number;
}

const MAX_BYTES_PER_COMMAND = 8 * 1024 * 1024;
const KEEP_AFTER_END_MS = 5 * 60 * 1000;

export class OutputBuffer<C> {
  readonly #byId = new Map<string, Buffered<C>>();

  #entry(id: string): Buffered<C> {
    let e = this.#byId.get(id);
    if (!e) {
      e = { chunks: [], bytes: 0, firstSeq: 0, listeners: new Set(), ended: null, endedAt: 0 };
      this.#byId.set(id, e);
    }
    return e;
  }

  push(id: string, chunk: OutputEvent): void {
    const e = this.#entry(id);
    if (e.ended) return;
    e.chunks.push(chunk);
    e.bytes += chunk.data.length;
    while (e.bytes > MAX_BYTES_PER_COMMAND && e.chunks.length > 1) {
      const old = e.chunks.shift();
      if (old) {
        e.bytes -= old.data.length;
        e.firstSeq = old.seq + 1;
      }
    }
    for (const l of e.listeners) l({ type: 'output', chunk });
  }

  end(id: string, command: C): void {
    const e = this.#entry(id);
    e.ended = command;
    e.endedAt = Date.now();
    for (const l of e.listeners) l({ type: 'end', command });
    e.listeners.clear();
  }

  /** Replays buffered chunks with seq > after, then delivers live events; returns an unsubscribe. */
  subscribe(id: string, after: number, listener: (e: StreamEvent<C>) => void): () => void {
    const e = this.#entry(id);
    for (const c of e.chunks) if (c.seq > after) listener({ type: 'output', chunk: c });
    if (e.ended) {
      listener({ type: 'end', command: e.ended });
      return () => {};
    }
    e.listeners.add(listener);
    return () => e.listeners.delete(listener);
  }

  has(id: string): boolean {
    return this.#byId.has(id);
  }

  sweep(now = Date.now()): void {
    for (const [id, e] of this.#byId) {
      if (e.ended && now - e.endedAt > KEEP_AFTER_END_MS) this.#byId.delete(id);
    }
  }
}
