/** `system/info`: identity and platform facts of the device. */
import { type Static, Type } from '@sinclair/typebox';

const strict = { additionalProperties: false } as const;

export const SystemInfoArgs = Type.Object({}, strict);
export type SystemInfoArgs = Static<typeof SystemInfoArgs>;

export const SystemInfo = Type.Object(
  {
    hostname: Type.String(),
    os: Type.Object(
      { id: Type.String(), name: Type.String(), version: Type.String(), prettyName: Type.String() },
      strict,
    ),
    kernel: Type.String(),
    arch: Type.String(),
    uptime: Type.Number({ minimum: 0 }),
    macs: Type.Array(Type.String()),
    ips: Type.Array(Type.String()),
    agentVersion: Type.String(),
    nodeVersion: Type.String(),
  },
  strict,
);
export type SystemInfo = Static<typeof SystemInfo>;
