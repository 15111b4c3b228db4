/**
 * `services/*`: systemd units on the device (docs/protocol.md §Services): list,
 * status, and start/stop/restart/enable/disable one unit. A device whose PID 1 is
 * not systemd answers E_UNSUPPORTED.
 */
import { type Static, Type } from '@sinclair/typebox';

const strict = { additionalProperties: false } as const;

export const UNIT_TYPES = ['service', 'socket', 'timer', 'target', 'mount', 'path'] as const;
export type UnitType = (typeof UNIT_TYPES)[number];
export const UnitType = Type.Union(UNIT_TYPES.map((t) => Type.Literal(t)));

/**
 * A unit name: systemd's own characters (letters, digits, `:_.@-` and `\` escapes are
 * left out on purpose), a known type suffix, never a leading `-` (it would read as an
 * option) and never `..`. No `/`, space, `;`, `$`, quote or other shell character passes.
 */
export const UNIT_NAME_PATTERN = `^(?!-)(?!.*\\.\\.)[A-Za-z0-9:_.@-]{1,240}\\.(${UNIT_TYPES.join('|')})$`;
export const UnitName = Type.String({ pattern: UNIT_NAME_PATTERN, maxLength: 255 });

export function isUnitName(value: string): boolean {
  return new RegExp(UNIT_NAME_PATTERN).test(value);
}

export const SERVICE_ACTIONS = ['start', 'stop', 'restart', 'enable', 'disable'] as const;
export type ServiceAction = (typeof SERVICE_ACTIONS)[number];

export const ServiceListArgs = Type.Object(
  {
    /** Default `service`. */
    type: Type.Optional(UnitType),
    /** Only units whose active state or sub-state is this, e.g. `failed`, `active`, `running`. */
    state: Type.Optional(Type.String({ pattern: '^[a-z-]{1,32}$' })),
  },
  strict,
);
export type ServiceListArgs = Static<typeof ServiceListArgs>;

export const ServiceUnit = Type.Object(
  {
    unit: Type.String(),
    description: Type.String(),
    /** `loaded`, `not-found`, `masked`... */
    load: Type.String(),
    /** `active`, `inactive`, `failed`, `activating`... */
    active: Type.String(),
    /** `running`, `exited`, `dead`, `listening`... */
    sub: Type.String(),
    /** `enabled`, `disabled`, `static`, `masked`...; null when systemd did not say. */
    enabled: Type.Union([Type.String(), Type.Null()]),
  },
  strict,
);
export type ServiceUnit = Static<typeof ServiceUnit>;

export const ServiceList = Type.Object({ backend: Type.Literal('systemd'), units: Type.Array(ServiceUnit) }, strict);
export type ServiceList = Static<typeof ServiceList>;

export const ServiceStatusArgs = Type.Object({ unit: UnitName }, strict);
export type ServiceStatusArgs = Static<typeof ServiceStatusArgs>;

export const ServiceStatus = Type.Object(
  {
    ...ServiceUnit.properties,
    /** Main process id, null when none runs. */
    mainPid: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()]),
    /** When it last entered the active state (ISO 8601), null if never. */
    activeSince: Type.Union([Type.String(), Type.Null()]),
    /** systemd's `Result`: `success`, `exit-code`, `signal`, `timeout`... */
    result: Type.Union([Type.String(), Type.Null()]),
    restarts: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]),
    memoryBytes: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]),
    /** The unit file. */
    path: Type.Union([Type.String(), Type.Null()]),
  },
  strict,
);
export type ServiceStatus = Static<typeof ServiceStatus>;

export const ServiceActionArgs = Type.Object({ unit: UnitName }, strict);
export type ServiceActionArgs = Static<typeof ServiceActionArgs>;

/** What an action answers: which action on which unit, and the unit's status after it. */
export const ServiceActionResult = Type.Object(
  {
    unit: Type.String(),
    action: Type.Union(SERVICE_ACTIONS.map((a) => Type.Literal(a))),
    status: ServiceStatus,
  },
  strict,
);
export type ServiceActionResult = Static<typeof ServiceActionResult>;
