/**
 * Port forwarding over the HTTP API (docs/forward.md): one WebSocket per TCP
 * connection at `GET /devices/{device}/forward?host=&port=`, each its own byte
 * stream to the device, and the record the server keeps of each.
 */
import { type Static, Type } from '@sinclair/typebox';
import { ForwardHost, ForwardPort } from '../capabilities/forward.js';

const strict = { additionalProperties: false } as const;

/** Where the device connects: `host` as the device resolves it (default `localhost`), and `port`. */
export const ForwardQuery = Type.Object(
  {
    host: Type.Optional(ForwardHost),
    port: ForwardPort,
  },
  strict,
);
export type ForwardQuery = Static<typeof ForwardQuery>;

/**
 * The answer to a plain GET (no WebSocket upgrade) of the forward route: the caller
 * may forward to this device and it is online. The target is judged by the device,
 * per connection.
 */
export const ForwardCheck = Type.Object(
  {
    deviceId: Type.String(),
    deviceName: Type.String(),
    host: ForwardHost,
    port: ForwardPort,
  },
  strict,
);
export type ForwardCheck = Static<typeof ForwardCheck>;
