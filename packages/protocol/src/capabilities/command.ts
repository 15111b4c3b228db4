/**
 * `command/cancel`: tells the agent to stop a command it is running (a log
 * follow, a long exec). Part of the command protocol itself, so every agent
 * answers it whatever capabilities it has. docs/protocol.md §Cancelling a command.
 */
import { type Static, Type } from '@sinclair/typebox';
import { ID_PATTERN } from '../topics.js';

const strict = { additionalProperties: false } as const;

export const CommandCancelArgs = Type.Object({ id: Type.String({ pattern: ID_PATTERN }) }, strict);
export type CommandCancelArgs = Static<typeof CommandCancelArgs>;

export const CommandCancelResult = Type.Object(
  {
    /**
     * true: the command was running and was told to stop, or had not arrived yet
     * and will be refused when it does; false: it had already finished.
     */
    cancelled: Type.Boolean(),
  },
  strict,
);
export type CommandCancelResult = Static<typeof CommandCancelResult>;
