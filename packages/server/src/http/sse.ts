/**
 * Server-Sent Events, the one way a route streams events to an HTTP client
 * (command output, log follows): takes the reply over, sends `event:`/`data:`
 * pairs and a keep-alive comment every 15 s, and tells the route once when the
 * stream ends, whether the route closed it or the client went away.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';

const KEEPALIVE_MS = 15_000;

export interface EventStream {
  send(event: string, data: unknown): void;
  /** Ends the stream (idempotent). */
  close(): void;
  /** True once the stream ended, by either side. */
  readonly closed: boolean;
  /** Runs once when the stream ends; `byClient` is true when the client left first. */
  onEnd(fn: (byClient: boolean) => void): void;
}

export function openEventStream(
  req: FastifyRequest,
  reply: FastifyReply,
  headers: Record<string, string> = {},
): EventStream {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-store',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
    ...headers,
  });
  const keepalive = setInterval(() => res.write(': keepalive\n\n'), KEEPALIVE_MS);
  const listeners: ((byClient: boolean) => void)[] = [];
  let ended = false;
  const end = (byClient: boolean) => {
    if (ended) return;
    ended = true;
    clearInterval(keepalive);
    res.end();
    for (const fn of listeners) fn(byClient);
  };
  req.raw.on('close', () => end(true));
  return {
    send: (event, data) => {
      if (!ended) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    },
    close: () => end(false),
    get closed() {
      return ended;
    },
    onEnd: (fn) => {
      listeners.push(fn);
    },
  };
}
