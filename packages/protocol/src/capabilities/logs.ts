/**
 * `logs/read` and `logs/follow`: the tail of one log source of the device, and a
 * live stream of its new lines. Sources: the agent's own log records (`agent`),
 * a supervised app's output (`app:NAME`), a systemd unit's journal (`unit:NAME`)
 * and a file under the agent's allowed log roots (`file:/abs/path`).
 * docs/protocol.md §Logs.
 */
import { type Static, Type } from '@sinclair/typebox';

const strict = { additionalProperties: false } as const;

/** The levels of the agent's log records; journal priorities map onto them. */
export const LOG_LINE_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export const LogLineLevel = Type.Union(LOG_LINE_LEVELS.map((l) => Type.Literal(l)));
export type LogLineLevel = (typeof LOG_LINE_LEVELS)[number];

/**
 * `agent` | `app:NAME` (an app name) | `unit:NAME` (a systemd unit, never starting
 * with `-`) | `file:/ABSOLUTE/PATH`. The agent checks files against its log roots.
 */
export const LOG_SOURCE_PATTERN =
  '^(agent|app:[a-z0-9][a-z0-9_-]{0,63}|unit:[A-Za-z0-9@._\\\\][A-Za-z0-9@._\\\\-]{0,255}|file:/[^\\u0000]{0,4095})$';
export const LogSource = Type.String({ pattern: LOG_SOURCE_PATTERN, maxLength: 4101 });
export type LogSource = Static<typeof LogSource>;

/** The most lines one `logs/read` answers (and one `logs/follow` replays before following). */
export const MAX_LOG_LINES = 10_000;
/** Longer lines are cut to this many bytes (and end with `…`). */
export const MAX_LOG_LINE_BYTES = 16 * 1024;

const Filters = {
  /** A plain substring (case-sensitive), never a pattern. */
  grep: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  /** Only lines at or above this level; for `agent` and `unit:` sources only. */
  level: Type.Optional(LogLineLevel),
  /** Unix epoch milliseconds: only lines logged at or after it (not for `file:` sources, whose lines carry no time). */
  since: Type.Optional(Type.Integer({ minimum: 0 })),
};

export const LogsReadArgs = Type.Object(
  {
    source: LogSource,
    /** The newest N matching lines (default 100). */
    lines: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_LOG_LINES })),
    ...Filters,
  },
  strict,
);
export type LogsReadArgs = Static<typeof LogsReadArgs>;

/** One log line. `ts` is absent for file lines (a file does not say when a line was written). */
export const LogLine = Type.Object(
  {
    /** Unix epoch milliseconds. */
    ts: Type.Optional(Type.Integer({ minimum: 0 })),
    /** For app output: which pipe the line came from. */
    stream: Type.Optional(Type.Union([Type.Literal('stdout'), Type.Literal('stderr')])),
    level: Type.Optional(LogLineLevel),
    text: Type.String(),
  },
  strict,
);
export type LogLine = Static<typeof LogLine>;

export const LogsReadResult = Type.Object(
  {
    source: Type.String(),
    /** Oldest first. */
    lines: Type.Array(LogLine),
    /** Lines were cut or the oldest dropped so the answer fits one message. */
    truncated: Type.Boolean(),
  },
  strict,
);
export type LogsReadResult = Static<typeof LogsReadResult>;

/** The longest a follow may run (a day); the default is an hour. */
export const MAX_FOLLOW_SECONDS = 24 * 3600;
export const DEFAULT_FOLLOW_SECONDS = 3600;

/**
 * Streams new lines as `out` chunks on `stdout`, each chunk one or more `LogLine`
 * JSON objects, one per text line (NDJSON), until cancelled (`command/cancel`),
 * `maxSeconds` pass, the agent stops or the source goes away.
 */
export const LogsFollowArgs = Type.Object(
  {
    source: LogSource,
    /** Lines of history sent first (default 10, 0 for none). */
    lines: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000 })),
    maxSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_FOLLOW_SECONDS })),
    ...Filters,
  },
  strict,
);
export type LogsFollowArgs = Static<typeof LogsFollowArgs>;

export const FollowEndReason = Type.Union([
  Type.Literal('cancelled'),
  Type.Literal('duration'),
  Type.Literal('stopped'),
  Type.Literal('gone'),
]);
export type FollowEndReason = Static<typeof FollowEndReason>;

export const LogsFollowResult = Type.Object(
  {
    source: Type.String(),
    /** Lines streamed, history included. */
    lines: Type.Integer({ minimum: 0 }),
    /** cancelled: `command/cancel`; duration: `maxSeconds` passed; stopped: the agent stopped; gone: the source went away. */
    reason: FollowEndReason,
  },
  strict,
);
export type LogsFollowResult = Static<typeof LogsFollowResult>;
