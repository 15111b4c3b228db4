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

/** `system/ping`: the cheapest round trip through the agent's command path (liveness, latency). */
export const SystemPingArgs = Type.Object({}, strict);
export const SystemPing = Type.Object({ pong: Type.Literal(true), time: Type.Integer({ minimum: 0 }) }, strict);
export type SystemPing = Static<typeof SystemPing>;
