/**
 * The one message envelope (docs/protocol.md §Envelope): a command request, its
 * streamed output chunks and its single final response, plus presence, telemetry
 * and events. Correlation lives in the payload so any MQTT 3.1.1 or 5 broker works.
 */
import { type Static, Type } from '@sinclair/typebox';
import { Metrics } from './capabilities/metrics.js';
import { ErrorCodes } from './errors.js';
import { ID_PATTERN } from './topics.js';

const Id = Type.String({ pattern: ID_PATTERN });
const strict = { additionalProperties: false } as const;

export const CommandRequest = Type.Object(
  {
    id: Id,
    args: Type.Unknown(),
    /** Seconds after `ts` during which the command may still start. */
    ttl: Type.Optional(Type.Integer({ minimum: 1, maximum: 7 * 24 * 3600 })),
    /** Unix epoch milliseconds when the server issued it. */
    ts: Type.Integer({ minimum: 0 }),
  },
  strict,
);
export type CommandRequest = Static<typeof CommandRequest>;

export const ErrorBodySchema = Type.Object(
  {
    code: Type.Union(ErrorCodes.map((c) => Type.Literal(c))),
    message: Type.String({ maxLength: 4096 }),
    details: Type.Optional(Type.Unknown()),
  },
  strict,
);

export const CommandResponse = Type.Union([
  Type.Object({ id: Id, ok: Type.Literal(true), data: Type.Unknown() }, strict),
  Type.Object({ id: Id, ok: Type.Literal(false), error: ErrorBodySchema }, strict),
]);
export type CommandResponse = Static<typeof CommandResponse>;

export const OutputChunk = Type.Object(
  {
    id: Id,
    seq: Type.Integer({ minimum: 0 }),
    stream: Type.Union([Type.Literal('stdout'), Type.Literal('stderr')]),
    /** Raw bytes, base64-encoded: output need not be UTF-8. */
    data: Type.String({ contentEncoding: 'base64' }),
  },
  strict,
);
export type OutputChunk = Static<typeof OutputChunk>;

export const DeviceFacts = Type.Object(
  {
    hostname: Type.String({ maxLength: 255 }),
    os: Type.String({ maxLength: 255 }),
    kernel: Type.String({ maxLength: 255 }),
    arch: Type.String({ maxLength: 64 }),
    macs: Type.Array(Type.String({ maxLength: 64 }), { maxItems: 64 }),
    ips: Type.Array(Type.String({ maxLength: 64 }), { maxItems: 128 }),
    agentVersion: Type.String({ maxLength: 64 }),
  },
  strict,
);
export type DeviceFacts = Static<typeof DeviceFacts>;

/** Retained presence message; the MQTT last will publishes `{online:false}` on a lost link. */
export const DeviceStatus = Type.Object(
  {
    online: Type.Boolean(),
    since: Type.Integer({ minimum: 0 }),
    agentVersion: Type.Optional(Type.String({ maxLength: 64 })),
    protocol: Type.Optional(Type.Integer({ minimum: 1 })),
    heartbeat: Type.Optional(Type.Integer({ minimum: 1, maximum: 3600 })),
    facts: Type.Optional(DeviceFacts),
  },
  strict,
);
export type DeviceStatus = Static<typeof DeviceStatus>;

/**
 * Periodic heartbeat with the device's metrics sample (docs/metrics.md). `metrics` is
 * absent when the agent could not take a sample in time (the heartbeat still goes out).
 */
export const Telemetry = Type.Object(
  {
    ts: Type.Integer({ minimum: 0 }),
    uptime: Type.Number({ minimum: 0 }),
    metrics: Type.Optional(Metrics),
  },
  strict,
);
export type Telemetry = Static<typeof Telemetry>;

export const DeviceEvent = Type.Object(
  {
    ts: Type.Integer({ minimum: 0 }),
    level: Type.Union([Type.Literal('debug'), Type.Literal('info'), Type.Literal('warn'), Type.Literal('error')]),
    source: Type.String({ maxLength: 128 }),
    message: Type.String({ maxLength: 8192 }),
  },
  strict,
);
export type DeviceEvent = Static<typeof DeviceEvent>;

/** Enrollment over MQTT: the agent connects as user `enroll` with the token as password. */
export const ENROLL_USERNAME = 'enroll';
export const EnrollRequest = Type.Object(
  {
    nonce: Id,
    /**
     * The enrollment token again: the embedded broker already checked it at CONNECT,
     * but an external broker cannot, so the server always checks the one in the request.
     */
    token: Type.String({ minLength: 1, maxLength: 256 }),
    facts: DeviceFacts,
    /**
     * Asks for certificate authentication (docs/protocol.md §Enrollment): the device's
     * RSA public key as SPKI PEM. The private key never leaves the device.
     */
    publicKey: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
  },
  strict,
);
export type EnrollRequest = Static<typeof EnrollRequest>;
export const EnrollResponse = Type.Union([
  Type.Object(
    {
      ok: Type.Literal(true),
      deviceId: Id,
      /**
       * Secret authentication: shown once, the agent stores it (mode 0600); the server
       * keeps only a hash. Absent when the request carried a `publicKey`.
       */
      secret: Type.Optional(Type.String({ minLength: 32, maxLength: 256 })),
      /** Certificate authentication: the client certificate (PEM) the server's CA issued for `publicKey`. */
      certificate: Type.Optional(Type.String({ minLength: 1, maxLength: 16384 })),
      status: Type.Union([Type.Literal('accepted'), Type.Literal('pending')]),
    },
    strict,
  ),
  Type.Object({ ok: Type.Literal(false), error: ErrorBodySchema }, strict),
]);
export type EnrollResponse = Static<typeof EnrollResponse>;
