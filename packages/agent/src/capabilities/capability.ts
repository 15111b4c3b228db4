/**
 * The one interface every capability module implements: a name and its actions.
 * The router validates args against the protocol's command catalogue before an
 * action runs, and validates what the action returns against the result schema.
 */
import type { CommandArgs, CommandName, CommandResult } from '@outpost/protocol';
import type { AgentConfig } from '../config.js';
import type { Logger } from '../log.js';

export type OutputStream = 'stdout' | 'stderr';

/** What an action gets besides its args. */
export interface CommandContext {
  /** The command id (for logs; the router owns the wire). */
  readonly commandId: string;
  /** Streams output to the server as `out/{id}` chunks, in call order. */
  emit(stream: OutputStream, chunk: Buffer): void;
  /** Aborted when the agent stops; the action should end promptly. */
  readonly signal: AbortSignal;
  readonly log: Logger;
  readonly config: AgentConfig;
}

/** Resolves with the result (`data`), or throws an OutpostError; anything else becomes E_INTERNAL. */
export type ActionHandler = (args: unknown, ctx: CommandContext) => Promise<unknown>;

export interface Capability {
  /** The `{capability}` topic level, e.g. `exec`. */
  readonly name: string;
  /** Keyed by the `{action}` topic level, e.g. `run`. */
  readonly actions: Readonly<Record<string, ActionHandler>>;
}

/** Types an action by its catalogue entry, so args and result match the protocol at compile time. */
export function action<N extends CommandName>(
  _command: N,
  handler: (args: CommandArgs<N>, ctx: CommandContext) => Promise<CommandResult<N>>,
): ActionHandler {
  // Safe: the router calls a handler only with args that passed `commands[N].args`.
  return handler as ActionHandler;
}
