/**
 * The device end of a port forward's TCP connection: tries the checked
 * addresses of a target in order (as `ssh -L` does, so `localhost` works
 * whether the service listens on 127.0.0.1 or ::1) and turns socket failures
 * into coded errors (docs/protocol.md §Port forwarding):
 *
 *   refused, unreachable, no route  → E_NOT_FOUND  (nothing to forward to there)
 *   no answer within the timeout    → E_TIMEOUT
 *   the agent is stopping           → E_OFFLINE    (the device is going away)
 */
import { connect, type Socket } from 'node:net';
import { OutpostError } from '@outpost/protocol';
import type { CheckedAddress } from './forward-targets.js';

export const FORWARD_CONNECT_TIMEOUT_MS = 10_000;

const UNREACHABLE: Record<string, string> = {
  ECONNREFUSED: 'connection refused (nothing listens there)',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EADDRNOTAVAIL: 'address not available',
  ECONNRESET: 'connection reset while connecting',
};

const where = (a: CheckedAddress, port: number) => (a.family === 6 ? `[${a.address}]:${port}` : `${a.address}:${port}`);

function connectOne(a: CheckedAddress, port: number, timeoutMs: number, signal: AbortSignal): Promise<Socket> {
  return new Promise((resolve, reject) => {
    // Half-open: the target's FIN ends one direction only; the other keeps flowing until the client's FIN.
    const socket = connect({ host: a.address, port, family: a.family, allowHalfOpen: true });
    const timer = setTimeout(
      () => fail(Object.assign(new Error('connect timed out'), { code: 'ETIMEDOUT' })),
      timeoutMs,
    );
    const onAbort = () => fail(Object.assign(new Error('aborted'), { code: 'ABORT_ERR' }));
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      socket.removeListener('error', fail);
      socket.removeListener('connect', ok);
    };
    function fail(err: NodeJS.ErrnoException): void {
      done();
      socket.destroy();
      reject(err);
    }
    function ok(): void {
      done();
      resolve(socket);
    }
    socket.once('error', fail);
    socket.once('connect', ok);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Connects to the first address that answers; the error of the last attempt
 * decides the code. The socket comes back with no error listener of ours: the caller owns it.
 */
export async function connectTarget(
  addresses: readonly CheckedAddress[],
  port: number,
  signal: AbortSignal,
  timeoutMs = FORWARD_CONNECT_TIMEOUT_MS,
): Promise<{ socket: Socket; address: CheckedAddress }> {
  const deadline = Date.now() + timeoutMs;
  let last: { err: NodeJS.ErrnoException; address: CheckedAddress } | undefined;
  for (const address of addresses) {
    if (signal.aborted) break;
    const left = deadline - Date.now();
    if (left <= 0) break;
    try {
      return { socket: await connectOne(address, port, left, signal), address };
    } catch (err) {
      last = { err: err as NodeJS.ErrnoException, address };
    }
  }
  if (signal.aborted) throw new OutpostError('E_OFFLINE', 'the agent is stopping');
  if (!last) throw new OutpostError('E_TIMEOUT', `no answer from port ${port} within ${timeoutMs} ms`);
  const code = last.err.code ?? 'error';
  const at = where(last.address, port);
  if (code === 'ETIMEDOUT' || Date.now() >= deadline) {
    throw new OutpostError('E_TIMEOUT', `no answer from ${at} within ${timeoutMs} ms`, { errno: code });
  }
  const reason = UNREACHABLE[code] ?? `connection failed (${code})`;
  throw new OutpostError('E_NOT_FOUND', `cannot connect to ${at} from the device: ${reason}`, { errno: code });
}
