/** `GET /health` (public): liveness, versions and where devices connect. */
import { type Static, Type } from '@sinclair/typebox';

export const Health = Type.Object({
  status: Type.Literal('ok'),
  version: Type.String(),
  protocol: Type.Integer(),
  mqttUrl: Type.String(),
  /** Null when devices connect to an external broker. */
  wsUrl: Type.Union([Type.String(), Type.Null()]),
});
export type Health = Static<typeof Health>;
