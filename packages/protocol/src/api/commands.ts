/** Commands (`/devices/:device/commands`, `/commands/:id`): send, show, list, and the output stream. */
import { type Static, Type } from '@sinclair/typebox';
import { ApiError, Time } from './common.js';

export const CommandStatus = Type.Union([
  Type.Literal('queued'),
  Type.Literal('sent'),
  Type.Literal('running'),
  Type.Literal('succeeded'),
  Type.Literal('failed'),
  Type.Literal('expired'),
]);
export type CommandStatus = Static<typeof CommandStatus>;

export const Command = Type.Object({
  id: Type.String(),
  deviceId: Type.String(),
  capability: Type.String(),
  action: Type.String(),
  args: Type.Unknown(),
  status: CommandStatus,
  ttl: Type.Integer(),
  createdAt: Type.String(),
  createdBy: Type.Union([Type.String(), Type.Null()]),
  sentAt: Time,
  startedAt: Time,
  finishedAt: Time,
  expiresAt: Type.String(),
  durationMs: Type.Union([Type.Integer(), Type.Null()]),
  result: Type.Unknown(),
  error: Type.Union([ApiError, Type.Null()]),
});
export type Command = Static<typeof Command>;

export const SendCommandBody = Type.Object(
  {
    capability: Type.String({ pattern: '^[a-z][a-z0-9-]{0,31}$' }),
    action: Type.String({ pattern: '^[a-z][a-z0-9-]{0,31}$' }),
    args: Type.Optional(Type.Unknown()),
    ttl: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 7 * 24 * 3600, description: 'Seconds it may wait for an offline device.' }),
    ),
  },
  { additionalProperties: false },
);
export type SendCommandBody = Static<typeof SendCommandBody>;

export const SendCommandQuery = Type.Object(
  {
    wait: Type.Optional(Type.Boolean({ description: 'Answer with the result when it comes within `timeout`.' })),
    timeout: Type.Optional(Type.Integer({ minimum: 1, maximum: 300, description: 'Seconds to wait (default 30).' })),
  },
  { additionalProperties: false },
);
export type SendCommandQuery = Static<typeof SendCommandQuery>;

/** `GET /commands/:id/events?after=seq`: only output chunks with a larger seq are sent. */
export const CommandEventsQuery = Type.Object(
  { after: Type.Optional(Type.Integer({ minimum: -1 })) },
  { additionalProperties: false },
);
export type CommandEventsQuery = Static<typeof CommandEventsQuery>;

/**
 * The data of one `event: output` of the command events stream (Server-Sent
 * Events, so not in the OpenAPI description); `event: end` carries a `Command`.
 */
export const CommandOutputEvent = Type.Object({
  seq: Type.Integer({ minimum: 0 }),
  stream: Type.Union([Type.Literal('stdout'), Type.Literal('stderr')]),
  /** Raw bytes, base64-encoded. */
  data: Type.String({ contentEncoding: 'base64' }),
});
export type CommandOutputEvent = Static<typeof CommandOutputEvent>;

/**
 * `POST /commands/:id/cancel`: a queued command is finished at once (it never reaches
 * the device); a sent or running one is stopped by the device (`command/cancel`) and
 * ends with its own response. `cancelled` is false when it had already finished there.
 */
export const CancelCommandResult = Type.Object({ cancelled: Type.Boolean(), command: Command });
export type CancelCommandResult = Static<typeof CancelCommandResult>;
