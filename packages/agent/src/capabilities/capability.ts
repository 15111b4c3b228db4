/**
 * The one interface every capability module implements: a name and its actions.
 * The router validates args against the protocol's command catalogue before an
 * action runs, and validates what the action returns against the result schema.
 */
import type { CommandArgs, CommandName, CommandResult, StreamDuplex } from '@outpost/protocol';
import type { AgentConfig } from '../config.js';
import type { Logger } from '../log.js';
import type { LineRing } from '../log-ring.js';

export type OutputStream = 'stdout' | 'stderr';

/** What an action gets besides its args. */
export interface CommandContext {
  /** The command id (for logs; the router owns the wire). */
  readonly commandId: string;
  /** Streams output to the server as `out/{id}` chunks, in call order. */
  emit(stream: OutputStream, chunk: Buffer): void;
  /**
   * Aborted when the agent stops or the command is cancelled (`command/cancel`; the
   * reason is then a CommandCancelled); the action should end promptly.
   */
  readonly signal: AbortSignal;
  readonly log: Logger;
  readonly config: AgentConfig;
  /**
   * Accepts the byte stream `sid` the server asked for in this command's args
   * (docs/protocol.md §Byte streams): a Duplex with backpressure, plus `control` events.
   * The command's result goes out when the action returns; a stream still open then is
   * aborted. Throws E_BAD_ARGS for an invalid sid, E_CONFLICT for one in use. The router
   * always provides it; call it through `acceptStream(ctx, sid)` (streams.ts), which
   * answers E_UNSUPPORTED where it is absent (hand-made contexts in unit tests).
   */
  openStream?(sid: string, opts?: { window?: number }): StreamDuplex;
}

/** Resolves with the result (`data`), or throws an OutpostError; anything else becomes E_INTERNAL. */
export type ActionHandler = (args: unknown, ctx: CommandContext) => Promise<unknown>;

/** What a capability with a lifecycle gets when the agent starts it. */
export interface CapabilityHost {
  readonly config: AgentConfig;
  readonly log: Logger;
  /** The agent's own log records, as written (source `agent` of `logs/*`). */
  readonly agentLog: LineRing;
}

export interface Capability {
  /** The `{capability}` topic level, e.g. `exec`. */
  readonly name: string;
  /** Keyed by the `{action}` topic level, e.g. `run`. */
  readonly actions: Readonly<Record<string, ActionHandler>>;
  /**
   * Optional: called once when the agent starts (identity known, before it connects),
   * for work that lives beyond one command (supervised apps start here). Failures are
   * logged, never fatal.
   */
  start?(host: CapabilityHost): Promise<void>;
  /** Optional: called once when the agent stops, while running commands wind down; should end within a few seconds. */
  stop?(): Promise<void>;
}

/** The abort reason of a command stopped by `command/cancel` (not by the agent stopping). */
export class CommandCancelled extends Error {
  override readonly name = 'CommandCancelled';
  constructor() {
    super('command cancelled');
  }
}

export function isCancelled(signal: AbortSignal): boolean {
  return signal.aborted && signal.reason instanceof CommandCancelled;
}

/** Types an action by its catalogue entry, so args and result match the protocol at compile time. */
export function action<N extends CommandName>(
  _command: N,
  handler: (args: CommandArgs<N>, ctx: CommandContext) => Promise<CommandResult<N>>,
): ActionHandler {
  // Safe: the router calls a handler only with args that passed `commands[N].args`.
  return handler as ActionHandler;
}
