/**
 * Reboot and shutdown over HTTP (docs/processes-services-power.md): schedule one,
 * cancel it, or ask whether one is pending. The device acknowledges before it acts.
 */
import { type Static, Type } from '@sinclair/typebox';
import { POWER_MAX_DELAY_SECONDS, POWER_REASON_MAX } from '../capabilities/power.js';

const strict = { additionalProperties: false } as const;

/** The body of `POST /devices/:device/reboot` and `…/shutdown`; `{}` takes the defaults. */
export const PowerBody = Type.Object(
  {
    /** Seconds before the device acts (default 5). */
    delaySeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: POWER_MAX_DELAY_SECONDS })),
    reason: Type.Optional(Type.String({ minLength: 1, maxLength: POWER_REASON_MAX })),
  },
  strict,
);
export type PowerBody = Static<typeof PowerBody>;
