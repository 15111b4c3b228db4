/**
 * One forwarded connection of `outpost forward`: the accepted local socket piped
 * both ways, with backpressure, into its own byte stream (a WebSocket to the
 * server's forward route), half-closing each way on its own. It settles with how
 * the connection ended: the bytes each way, and the error when it did not end
 * cleanly (the local socket is then reset, so the local client sees it failed).
 */
import type { Socket } from 'node:net';
import type { ApiClient } from './api.js';
import { CliError } from './errors.js';
import { openStreamSocket } from './stream-socket.js';

export interface ConnectionOutcome {
  /** Bytes read from the local client and sent toward the target. */
  sent: number;
  /** Bytes received from the target and written to the local client. */
  received: number;
  durationMs: number;
  /** Why the connection failed, or null after a clean close both ways. */
  error: { code: string; message: string } | null;
  /** The error was the local client's own doing (it reset its connection), not the device's or the server's. */
  byLocalClient: boolean;
  /** The `forward/open` command that carried it, when it got that far. */
  commandId: string | null;
}

/** How long a finished connection waits for the server's account of it (the command's result). */
const RESULT_WAIT_MS = 15_000;

export interface ForwardTarget {
  deviceId: string;
  host: string;
  port: number;
}

/** Runs one local connection through the device until both sides are done or it fails. */
export function forwardConnection(
  api: ApiClient,
  target: ForwardTarget,
  local: Socket,
  onOpened: (commandId: string) => void = () => {},
): { outcome: Promise<ConnectionOutcome>; close: () => void } {
  const started = Date.now();
  const sock = openStreamSocket(api, `/devices/${encodeURIComponent(target.deviceId)}/forward`, {
    host: target.host,
    port: target.port,
  });
  const stream = sock.stream;
  let sent = 0;
  let received = 0;
  let commandId: string | null = null;
  let localError: string | null = null;

  local.setNoDelay(true);
  local.on('data', (chunk: Buffer) => {
    sent += chunk.length;
  });
  stream.on('data', (chunk: Buffer) => {
    received += chunk.length;
  });
  local.on('error', (err: NodeJS.ErrnoException) => {
    // The local client reset its connection: the device resets the target's too.
    localError = `the local connection failed (${err.code ?? err.message})`;
    stream.abort('E_OFFLINE', localError);
  });
  // Until the device accepts the stream, what the client sends waits in the stream's buffer (bounded by backpressure).
  local.pipe(stream);
  stream.pipe(local);
  sock.opened.then(
    (o) => {
      commandId = o.commandId;
      onOpened(o.commandId);
    },
    () => {},
  );

  const outcome = (async (): Promise<ConnectionOutcome> => {
    const aborted = await stream.done;
    if (aborted) {
      local.unpipe(stream);
      stream.unpipe(local);
      if (!local.destroyed) local.resetAndDestroy();
      // Given up here (the local client reset): close the WebSocket now, so the server aborts the
      // stream even if our RESET could not go out yet (the socket was still connecting).
      if (localError) sock.close();
    }
    // The server's account: the final command, or why the stream was refused before it began. The
    // server closes the socket once the command is final; a server that does not is not waited for.
    const final = await Promise.race([
      sock.result.then(
        (command) => ({ command, refused: null as unknown }),
        (err: unknown) => ({ command: null, refused: err }),
      ),
      new Promise<{ command: null; refused: null }>((resolve) =>
        setTimeout(() => resolve({ command: null, refused: null }), RESULT_WAIT_MS).unref(),
      ),
    ]);
    if (!aborted) {
      // Both directions finished: the local socket has ended both ways, or does in a moment.
      if (!local.destroyed) local.destroySoon();
    }
    let error: ConnectionOutcome['error'] = null;
    if (localError) {
      error = { code: 'E_OFFLINE', message: localError };
    } else if (final.refused) {
      const e = final.refused;
      error = {
        code: e instanceof CliError && e.code ? e.code : 'E_INTERNAL',
        message: e instanceof Error ? e.message : String(e),
      };
    } else if (aborted) {
      const serverSaid = sock.error();
      const failed = final.command?.status === 'failed' ? final.command.error : null;
      error = failed
        ? { code: failed.code, message: failed.message }
        : serverSaid
          ? { code: serverSaid.code, message: serverSaid.message }
          : { code: aborted.code, message: aborted.message };
    }
    sock.close();
    return {
      sent,
      received,
      durationMs: Date.now() - started,
      error,
      byLocalClient: localError !== null,
      commandId: commandId ?? final.command?.id ?? null,
    };
  })();

  return {
    outcome,
    close: () => {
      // Ctrl-C: the server aborts the stream and the device closes the target connection.
      sock.close();
      if (!local.destroyed) local.destroy();
    },
  };
}
