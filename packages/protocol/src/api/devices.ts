/** Devices (`/devices`): the record, its lifecycle, rename and tag, presence history. */
import { type Static, Type } from '@sinclair/typebox';
import { Tag, Time } from './common.js';
import { DeviceMetricsSummary } from './metrics.js';

/** Where a device is in its lifecycle (not whether it is online: that is `online`). */
export const DeviceStatusName = Type.Union([
  Type.Literal('pending'),
  Type.Literal('accepted'),
  Type.Literal('rejected'),
  Type.Literal('revoked'),
]);
export type DeviceStatusName = Static<typeof DeviceStatusName>;

export const Device = Type.Object({
  id: Type.String(),
  name: Type.String(),
  status: DeviceStatusName,
  online: Type.Boolean(),
  tags: Type.Array(Type.String()),
  hostname: Type.Union([Type.String(), Type.Null()]),
  os: Type.Union([Type.String(), Type.Null()]),
  kernel: Type.Union([Type.String(), Type.Null()]),
  arch: Type.Union([Type.String(), Type.Null()]),
  agentVersion: Type.Union([Type.String(), Type.Null()]),
  macs: Type.Array(Type.String()),
  ips: Type.Array(Type.String()),
  /** Seconds between the device's telemetry samples, once it has said. */
  heartbeat: Type.Union([Type.Integer(), Type.Null()]),
  firstSeen: Time,
  lastSeen: Time,
  onlineSince: Time,
  enrolledAt: Type.String(),
  /** The headline of the last metrics sample (docs/metrics.md); null until the first one. */
  metrics: Type.Union([DeviceMetricsSummary, Type.Null()]),
});
export type Device = Static<typeof Device>;

export const DeviceListQuery = Type.Object(
  {
    status: Type.Optional(DeviceStatusName),
    tag: Type.Optional(Tag),
    online: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type DeviceListQuery = Static<typeof DeviceListQuery>;

export const DevicePatch = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9 _.-]*$' })),
    tags: Type.Optional(Type.Array(Tag, { maxItems: 32 })),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type DevicePatch = Static<typeof DevicePatch>;

export const PresenceEntry = Type.Object({ online: Type.Boolean(), at: Type.String() });
export type PresenceEntry = Static<typeof PresenceEntry>;
