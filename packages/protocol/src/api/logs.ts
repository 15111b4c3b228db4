/**
 * Logs (`GET /devices/:device/logs`): the tail of one log source of a device
 * (`logs/read`), or with `follow=true` a Server-Sent Events stream of its new
 * lines (`logs/follow`, stopped on the device when the client goes away).
 */
import { type Static, Type } from '@sinclair/typebox';
import { LOG_SOURCE_PATTERN, LogLineLevel, MAX_FOLLOW_SECONDS, MAX_LOG_LINES } from '../capabilities/logs.js';

export const LogsQuery = Type.Object(
  {
    source: Type.Optional(
      Type.String({
        pattern: LOG_SOURCE_PATTERN,
        maxLength: 4101,
        description:
          '`agent` (default), `app:NAME`, `unit:NAME` (systemd journal) or `file:/PATH` (under the log roots)',
      }),
    ),
    lines: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: MAX_LOG_LINES,
        description:
          'The newest N lines (default 100); with `follow`, the history sent first (default 10, at most 1000)',
      }),
    ),
    since: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 64,
        description: 'Only lines since then: a duration ago (`90s`, `10m`, `2h`, `7d`) or a date-time',
      }),
    ),
    grep: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: 'A plain substring, not a pattern' })),
    level: Type.Optional(LogLineLevel),
    follow: Type.Optional(Type.Boolean({ description: 'Stream new lines as Server-Sent Events' })),
    maxSeconds: Type.Optional(
      Type.Integer({ minimum: 1, maximum: MAX_FOLLOW_SECONDS, description: 'Longest a follow runs (default 3600)' }),
    ),
  },
  { additionalProperties: false },
);
export type LogsQuery = Static<typeof LogsQuery>;

/** One line as the API shows it; `time` is null for file lines. */
export const LogLineView = Type.Object({
  time: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  stream: Type.Optional(Type.Union([Type.Literal('stdout'), Type.Literal('stderr')])),
  level: Type.Optional(LogLineLevel),
  text: Type.String(),
});
export type LogLineView = Static<typeof LogLineView>;

export const LogsView = Type.Object({
  source: Type.String(),
  lines: Type.Array(LogLineView),
  truncated: Type.Boolean(),
});
export type LogsView = Static<typeof LogsView>;

/**
 * The follow stream (Server-Sent Events, so not in the OpenAPI description):
 * `event: start` `{commandId}`, then one `event: line` per line (`LogLineView`),
 * then `event: end` with the finished `Command`, whose result says why it ended.
 */
export const LogsStartEvent = Type.Object({ commandId: Type.String() });
export type LogsStartEvent = Static<typeof LogsStartEvent>;
