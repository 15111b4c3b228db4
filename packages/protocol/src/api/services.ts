/**
 * systemd services over HTTP (docs/processes-services-power.md): list, one unit's
 * status, and start/stop/restart/enable/disable, each answered by the device.
 */
import { type Static, Type } from '@sinclair/typebox';
import { UnitName, UnitType } from '../capabilities/services.js';

const strict = { additionalProperties: false } as const;

export const ServiceListQuery = Type.Object(
  {
    /** Default `service`. */
    type: Type.Optional(UnitType),
    /** Only units in this active or sub-state (`failed`, `running`...). */
    state: Type.Optional(Type.String({ pattern: '^[a-z-]{1,32}$' })),
  },
  strict,
);
export type ServiceListQuery = Static<typeof ServiceListQuery>;

/** `:device` and `:unit` (a full unit name such as `nginx.service`, URL-encoded). */
export const ServiceUnitRef = Type.Object(
  { device: Type.String({ minLength: 1, maxLength: 128 }), unit: UnitName },
  strict,
);
export type ServiceUnitRef = Static<typeof ServiceUnitRef>;
