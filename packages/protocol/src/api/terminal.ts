/**
 * Terminals over the HTTP API (docs/terminal.md): a WebSocket at
 * `GET /devices/{device}/terminal` carrying one byte stream to a PTY on the device, and
 * the recorded sessions admins can list and download (`/terminal-sessions`).
 */
import { type Static, Type } from '@sinclair/typebox';
import { TERM_PATTERN, TerminalCols, TerminalRows } from '../capabilities/terminal.js';
import { ID_PATTERN } from '../topics.js';
import { Time } from './common.js';

const strict = { additionalProperties: false } as const;

export const TerminalQuery = Type.Object(
  {
    cols: Type.Optional(TerminalCols),
    rows: Type.Optional(TerminalRows),
    term: Type.Optional(Type.String({ pattern: TERM_PATTERN })),
    /**
     * A one-off program instead of the shell: its argv as a JSON array of strings
     * (`["top","-b"]`), run in the PTY without a shell.
     */
    argv: Type.Optional(Type.String({ minLength: 2, maxLength: 16384 })),
  },
  strict,
);
export type TerminalQuery = Static<typeof TerminalQuery>;

export const TerminalSession = Type.Object(
  {
    /** The session id, also its byte stream's id. */
    id: Type.String({ pattern: ID_PATTERN }),
    deviceId: Type.String(),
    /** The `terminal/open` command that ran it. */
    commandId: Type.String(),
    /** Who opened it (`user:NAME`) and their name. */
    user: Type.String(),
    userName: Type.Union([Type.String(), Type.Null()]),
    startedAt: Type.String({ format: 'date-time' }),
    endedAt: Time,
    cols: Type.Integer(),
    rows: Type.Integer(),
    term: Type.String(),
    /** The one-off program, or null for the shell. */
    command: Type.Union([Type.Array(Type.String()), Type.Null()]),
    exitCode: Type.Union([Type.Integer(), Type.Null()]),
    signal: Type.Union([Type.String(), Type.Null()]),
    /** `exit`, `closed`, `idle`, `link-lost`, `stopped`, or an error code when it failed to run. */
    reason: Type.Union([Type.String(), Type.Null()]),
    durationMs: Type.Union([Type.Integer(), Type.Null()]),
    /** Whether an asciicast recording exists, and its size. */
    recorded: Type.Boolean(),
    recordingBytes: Type.Integer({ minimum: 0 }),
  },
  strict,
);
export type TerminalSession = Static<typeof TerminalSession>;

export const TerminalSessionQuery = Type.Object(
  {
    device: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  },
  strict,
);
export type TerminalSessionQuery = Static<typeof TerminalSessionQuery>;
