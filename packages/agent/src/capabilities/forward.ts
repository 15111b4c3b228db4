/**
 * The `forward` capability (docs/forward.md): `forward/open` connects the byte
 * stream the server opened to a TCP port the device can reach, after checking
 * the target against the device's `forwardAllow` rules. Bytes flow both ways
 * with the stream's flow control (a slow side pauses the other), each direction
 * half-closes on its own (a TCP FIN becomes a stream FIN and back), and the
 * command answers, once both are done or the connection is aborted, with how it
 * ended and the bytes carried each way.
 */
import type { Socket } from 'node:net';
import {
  type ForwardEndReason,
  type ForwardOpenArgs,
  type ForwardOpenResult,
  OutpostError,
  type StreamDuplex,
} from '@outpost/protocol';
import { connectTarget } from '../forward-connect.js';
import {
  type CheckedAddress,
  checkForwardTarget,
  type ForwardRule,
  type Lookup,
  parseForwardRules,
} from '../forward-targets.js';
import { acceptStream } from '../streams.js';
import { action, type Capability, type CommandContext, isCancelled } from './capability.js';

/** Forwarded connections one device carries at once; one more is E_BUSY. */
export const MAX_FORWARDS = 64;

export interface ForwardCapabilityOptions {
  /** Name resolution (default: the system resolver); tests give a table. */
  lookup?: Lookup;
}

const display = (a: CheckedAddress, port: number) =>
  a.family === 6 ? `[${a.address}]:${port}` : `${a.address}:${port}`;

export function createForwardCapability(options: ForwardCapabilityOptions = {}): Capability {
  let running = 0;
  // The rules were validated with the config; parsed once per config object.
  let compiled: { source: readonly string[]; rules: ForwardRule[] } | undefined;
  const rulesOf = (source: readonly string[]): ForwardRule[] => {
    if (compiled?.source !== source) compiled = { source, rules: parseForwardRules(source) };
    return compiled.rules;
  };

  const open = action('forward/open', async (args, ctx): Promise<ForwardOpenResult> => {
    if (running >= MAX_FORWARDS) {
      throw new OutpostError('E_BUSY', `${MAX_FORWARDS} forwarded connections are already open on this device`);
    }
    running++;
    try {
      const addresses = await checkForwardTarget(
        rulesOf(ctx.config.forwardAllow),
        args.host,
        args.port,
        options.lookup,
      );
      const { socket, address } = await connectTarget(addresses, args.port, ctx.signal);
      let stream: StreamDuplex;
      try {
        stream = acceptStream(ctx, args.sid);
      } catch (err) {
        socket.destroy();
        throw err;
      }
      return await carry(ctx, args, socket, address, stream);
    } finally {
      running--;
    }
  });

  return { name: 'forward', actions: { open } };
}

/** Pipes socket ⇄ stream until both directions are done or one side aborts. */
async function carry(
  ctx: CommandContext,
  args: ForwardOpenArgs,
  socket: Socket,
  address: CheckedAddress,
  stream: StreamDuplex,
): Promise<ForwardOpenResult> {
  const started = Date.now();
  const target = display(address, args.port);
  const log = ctx.log.child({ sid: args.sid, target });
  log.info('forward opened', { host: args.host });
  let reason: ForwardEndReason | null = null;
  let toTarget = 0;
  let fromTarget = 0;

  socket.setNoDelay(true);
  stream.on('data', (chunk: Buffer) => {
    toTarget += chunk.length;
  });
  socket.on('data', (chunk: Buffer) => {
    fromTarget += chunk.length;
  });
  // pipe() carries backpressure both ways and turns each side's end into the other's FIN.
  stream.pipe(socket);
  socket.pipe(stream);

  socket.on('error', (err: NodeJS.ErrnoException) => {
    const code = err.code ?? 'error';
    reason ??= 'target-error';
    log.info('target connection failed', { errno: code });
    stream.abort(
      code === 'ETIMEDOUT' ? 'E_TIMEOUT' : 'E_NOT_FOUND',
      `the connection to ${target} failed on the device (${code})`,
    );
  });
  const onAbort = (): void => {
    const cancelled = isCancelled(ctx.signal);
    reason ??= cancelled ? 'client-closed' : 'stopped';
    stream.abort('E_OFFLINE', cancelled ? 'the forward was cancelled' : 'the agent is stopping');
  };
  if (ctx.signal.aborted) onAbort();
  else ctx.signal.addEventListener('abort', onAbort, { once: true });

  const error = await stream.done;
  ctx.signal.removeEventListener('abort', onAbort);
  if (error) {
    // The client's RESET: its local connection was reset or it went away; ours (E_OFFLINE): the link stayed down.
    reason ??= stream.abortedByPeer ? 'client-closed' : error.code === 'E_OFFLINE' ? 'link-lost' : 'target-error';
    stream.unpipe(socket);
    // An aborted stream resets the target too, as a reset local connection would.
    if (typeof socket.resetAndDestroy === 'function' && !socket.destroyed) socket.resetAndDestroy();
    else socket.destroy();
  } else {
    // Both FINs were acknowledged: the socket has ended both ways, or will in a moment.
    await new Promise<void>((resolve) => {
      if (socket.destroyed) resolve();
      else {
        socket.once('close', () => resolve());
        setTimeout(() => {
          socket.destroy();
          resolve();
        }, 5000).unref();
      }
    });
  }
  const result: ForwardOpenResult = {
    reason: reason ?? 'closed',
    address: address.address,
    bytesToTarget: toTarget,
    bytesFromTarget: fromTarget,
    durationMs: Date.now() - started,
  };
  log.info('forward closed', { ...result });
  if (!stream.destroyed) stream.destroy();
  return result;
}
