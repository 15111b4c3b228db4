/**
 * `terminal/open`: an interactive terminal on the device (docs/terminal.md). The server
 * opens a byte stream `sid`; the device runs a shell (or a one-off program) in a PTY and
 * carries its input and output on that stream. The command lasts as long as the session
 * and answers with how it ended. Resizes travel as CONTROL messages (`TerminalControl`).
 */
import { type Static, Type } from '@sinclair/typebox';
import { ID_PATTERN } from '../topics.js';

const strict = { additionalProperties: false } as const;

/** Terminal sizes: 1 to 1000 columns and rows. */
export const TerminalCols = Type.Integer({ minimum: 1, maximum: 1000 });
export const TerminalRows = Type.Integer({ minimum: 1, maximum: 1000 });
/** A terminfo name such as `xterm-256color`. */
export const TERM_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$';
export const DEFAULT_TERM = 'xterm-256color';

export const TerminalOpenArgs = Type.Object(
  {
    /** The byte stream (`tty/{sid}/in|out`) the server opened for this session. */
    sid: Type.String({ pattern: ID_PATTERN }),
    cols: TerminalCols,
    rows: TerminalRows,
    /** `TERM` for the session (default xterm-256color). */
    term: Type.Optional(Type.String({ pattern: TERM_PATTERN })),
    /**
     * A one-off program and its arguments, run in the PTY instead of the shell (no shell
     * involved: the first element is looked up in PATH).
     */
    command: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 4096 }), { minItems: 1, maxItems: 256 })),
  },
  strict,
);
export type TerminalOpenArgs = Static<typeof TerminalOpenArgs>;

/** How a session ended: the program exited, the user closed it, it sat idle, or its link was lost. */
export const TerminalEndReason = Type.Union([
  Type.Literal('exit'),
  Type.Literal('closed'),
  Type.Literal('idle'),
  Type.Literal('link-lost'),
  Type.Literal('stopped'),
]);
export type TerminalEndReason = Static<typeof TerminalEndReason>;

export const TerminalOpenResult = Type.Object(
  {
    /** The program's exit code, or null when a signal ended it. */
    exitCode: Type.Union([Type.Integer({ minimum: 0, maximum: 255 }), Type.Null()]),
    /** The signal that ended it (`SIGHUP`...), or null. */
    signal: Type.Union([Type.String({ maxLength: 16 }), Type.Null()]),
    reason: TerminalEndReason,
    durationMs: Type.Integer({ minimum: 0 }),
  },
  strict,
);
export type TerminalOpenResult = Static<typeof TerminalOpenResult>;

/** CONTROL messages a terminal client sends (docs/terminal.md §Protocol). */
export const TerminalControl = Type.Object(
  {
    type: Type.Literal('resize'),
    cols: TerminalCols,
    rows: TerminalRows,
  },
  strict,
);
export type TerminalControl = Static<typeof TerminalControl>;
