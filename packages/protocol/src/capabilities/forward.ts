/**
 * `forward/open`: TCP port forwarding (docs/protocol.md §Port forwarding). The
 * server opens a byte stream `sid` and asks the device to connect it to
 * `host:port` as seen from the device; the command lasts as long as the TCP
 * connection and answers with the bytes carried each way.
 */
import { type Static, Type } from '@sinclair/typebox';
import { ID_PATTERN } from '../topics.js';

const strict = { additionalProperties: false } as const;

/**
 * A forward target's host as the device will resolve it: a DNS name (letters,
 * digits, `-`, `_`, `.`), an IPv4 address or an IPv6 address without brackets
 * or zone. Whether it is *allowed* is the device's decision (`forwardAllow`).
 */
export const FORWARD_HOST_PATTERN = '^(?:[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,252})|[0-9A-Fa-f:.]{2,45})$';

export const ForwardHost = Type.String({ minLength: 1, maxLength: 253, pattern: FORWARD_HOST_PATTERN });
export type ForwardHost = Static<typeof ForwardHost>;

/** A TCP port a connection can be made to (0 cannot). */
export const ForwardPort = Type.Integer({ minimum: 1, maximum: 65_535 });

export const ForwardOpenArgs = Type.Object(
  {
    /** The byte stream (`tty/{sid}/in|out`) the server opened for this connection. */
    sid: Type.String({ pattern: ID_PATTERN }),
    host: ForwardHost,
    port: ForwardPort,
  },
  strict,
);
export type ForwardOpenArgs = Static<typeof ForwardOpenArgs>;

/**
 * How a forwarded connection ended: `closed` (both sides half-closed cleanly),
 * `target-error` (the device's TCP connection failed or was reset), `client-closed`
 * (the client aborted the stream: its local connection was reset, or it went away),
 * `link-lost` (the device's link stayed down past the grace period), `stopped` (the
 * agent stopped).
 */
export const ForwardEndReason = Type.Union([
  Type.Literal('closed'),
  Type.Literal('target-error'),
  Type.Literal('client-closed'),
  Type.Literal('link-lost'),
  Type.Literal('stopped'),
]);
export type ForwardEndReason = Static<typeof ForwardEndReason>;

export const ForwardOpenResult = Type.Object(
  {
    reason: ForwardEndReason,
    /** The address the device actually connected to (a name may resolve to several). */
    address: Type.String({ maxLength: 64 }),
    /** Bytes read from the stream and written to the target. */
    bytesToTarget: Type.Integer({ minimum: 0 }),
    /** Bytes read from the target and written to the stream. */
    bytesFromTarget: Type.Integer({ minimum: 0 }),
    durationMs: Type.Integer({ minimum: 0 }),
  },
  strict,
);
export type ForwardOpenResult = Static<typeof ForwardOpenResult>;
