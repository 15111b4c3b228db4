/**
 * `power/*`: reboot or shut the device down after a delay, cancel a pending one,
 * and ask whether one is pending (docs/protocol.md §Power). The agent answers
 * before it acts, so the server always gets the acknowledgement.
 */
import { type Static, Type } from '@sinclair/typebox';

const strict = { additionalProperties: false } as const;

export const POWER_DEFAULT_DELAY_SECONDS = 5;
export const POWER_MAX_DELAY_SECONDS = 3600;
export const POWER_REASON_MAX = 200;

export const POWER_ACTIONS = ['reboot', 'shutdown'] as const;
export type PowerAction = (typeof POWER_ACTIONS)[number];
export const PowerAction = Type.Union(POWER_ACTIONS.map((a) => Type.Literal(a)));

export const PowerArgs = Type.Object(
  {
    /** Seconds to wait before acting (default 5); 0 acts as soon as the acknowledgement has left (~1 s). */
    delaySeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: POWER_MAX_DELAY_SECONDS })),
    /** Why: written to the device's log, and passed to a configured power command. */
    reason: Type.Optional(Type.String({ minLength: 1, maxLength: POWER_REASON_MAX })),
  },
  strict,
);
export type PowerArgs = Static<typeof PowerArgs>;

export const PowerScheduled = Type.Object(
  {
    action: PowerAction,
    /** When the device will act (device clock, ISO 8601). */
    scheduledAt: Type.String({ maxLength: 40 }),
    reason: Type.Union([Type.String(), Type.Null()]),
  },
  strict,
);
export type PowerScheduled = Static<typeof PowerScheduled>;

export const PowerCancelArgs = Type.Object({}, strict);
export const PowerCancelResult = Type.Object(
  {
    /** The action that was called off; null when none was pending. */
    cancelled: Type.Union([PowerScheduled, Type.Null()]),
  },
  strict,
);
export type PowerCancelResult = Static<typeof PowerCancelResult>;

export const PowerStatusArgs = Type.Object({}, strict);
export const PowerStatus = Type.Object(
  {
    pending: Type.Union([PowerScheduled, Type.Null()]),
    /** The last action this agent process attempted and how it went (a successful one rarely reports). */
    last: Type.Union([
      Type.Object(
        {
          action: PowerAction,
          at: Type.String({ maxLength: 40 }),
          ok: Type.Boolean(),
          error: Type.Union([Type.String(), Type.Null()]),
        },
        strict,
      ),
      Type.Null(),
    ]),
  },
  strict,
);
export type PowerStatus = Static<typeof PowerStatus>;
