/**
 * The CLI end of a byte stream (docs/protocol.md §Byte streams, §WebSocket clients): a
 * WebSocket to a stream route of the server (bearer token, the CLI's CA) that carries the
 * stream's frames as binary messages, wrapped in a StreamDuplex so callers pipe with
 * backpressure. Text messages are the server's JSON events: `opened`, `error`, `end`.
 */
import { type api, type ErrorBody, messageBytes, StreamDuplex } from '@outpost/protocol';
import WebSocket from 'ws';
import type { ApiClient } from './api.js';
import { apiError, CliError, networkError } from './errors.js';

export interface StreamSocket {
  /** The client end of the stream: write to send, read what the device sends. */
  stream: StreamDuplex;
  /** Once the server opened the stream on the device. */
  opened: Promise<{ sid: string; commandId: string; deviceId: string }>;
  /**
   * The opening command once it is final (e.g. a shell's exit status), or null when the
   * connection ended without it; rejects with a CliError when the stream was refused.
   */
  result: Promise<api.Command | null>;
  /** The first error the server reported for the stream, if any. */
  error(): ErrorBody | null;
  /** Closes the connection (the server aborts the stream if it is still open). */
  close(): void;
}

/** Frames a client may have queued on the WebSocket before it counts as stalled. */
const TICK_MS = 2000;

/** Opens `path` (an API path such as `/devices/gw-1/terminal`) as a byte stream. */
export function openStreamSocket(
  client: ApiClient,
  path: string,
  query: Record<string, string | number | boolean | undefined> = {},
): StreamSocket {
  const o = client.socketOptions(path, query);
  const ws = new WebSocket(o.url, {
    headers: o.headers,
    ...(o.ca ? { ca: o.ca } : {}),
    maxPayload: 2 * 1024 * 1024,
    perMessageDeflate: false,
  });
  let lastError: ErrorBody | null = null;
  let final: api.Command | null = null;
  const stream = new StreamDuplex({
    send: (frame) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(frame, { binary: true });
    },
  });
  stream.on('error', () => {}); // reported through `result` and the caller's own listeners
  const ticker = setInterval(() => stream.endpoint.tick(), TICK_MS);
  ticker.unref();

  let resolveOpened: (v: { sid: string; commandId: string; deviceId: string }) => void = () => {};
  let rejectOpened: (e: Error) => void = () => {};
  const opened = new Promise<{ sid: string; commandId: string; deviceId: string }>((res, rej) => {
    resolveOpened = res;
    rejectOpened = rej;
  });
  opened.catch(() => {});

  const result = new Promise<api.Command | null>((resolve, reject) => {
    ws.on('unexpected-response', (req, res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        if (text.length < 64 * 1024) text += d;
      });
      res.on('end', () => {
        req.destroy(); // a handled refusal leaves the request to us (ws docs)
        const err = apiError(res.statusCode ?? 500, text);
        rejectOpened(err);
        reject(err);
        stream.destroy();
      });
    });
    ws.on('error', (err) => {
      const e = err instanceof CliError ? err : networkError(err, o.url.replace(/^ws/, 'http'));
      rejectOpened(e);
      reject(e);
      if (!stream.destroyed) stream.destroy();
    });
    ws.on('message', (data, isBinary) => {
      const bytes = messageBytes(data);
      if (isBinary) {
        stream.receive(bytes);
        return;
      }
      let event: { type?: string; [k: string]: unknown };
      try {
        event = JSON.parse(bytes.toString('utf8')) as typeof event;
      } catch {
        return;
      }
      if (event.type === 'opened') {
        resolveOpened(event as unknown as { sid: string; commandId: string; deviceId: string });
      } else if (event.type === 'error') {
        lastError ??= event.error as ErrorBody;
      } else if (event.type === 'end') {
        final = event.command as api.Command;
      }
    });
    ws.on('close', () => {
      clearInterval(ticker);
      if (!stream.endpoint.closed) {
        const e = lastError ?? { code: 'E_OFFLINE' as const, message: 'the connection to the server was lost' };
        stream.abort(e.code, e.message);
      }
      if (final) {
        resolve(final);
        return;
      }
      if (lastError) {
        const err = new CliError(lastError.message, { code: lastError.code });
        rejectOpened(err);
        reject(err);
        return;
      }
      rejectOpened(new CliError('the server closed the connection', { code: 'E_OFFLINE' }));
      resolve(null);
    });
  });
  result.catch(() => {});

  return {
    stream,
    opened,
    result,
    error: () => lastError,
    close: () => {
      clearInterval(ticker);
      ws.close();
    },
  };
}
