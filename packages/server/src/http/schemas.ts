/** Response and shared schemas for the HTTP API (they also feed the OpenAPI description). */
import { ID_PATTERN } from '@outpost/protocol';
import { Type } from '@sinclair/typebox';

const strict = { additionalProperties: false } as const;
const Time = Type.Union([Type.String({ format: 'date-time' }), Type.Null()]);

export const ErrorResponse = Type.Object(
  { error: Type.Object({ code: Type.String(), message: Type.String(), details: Type.Optional(Type.Unknown()) }) },
  { $id: 'Error' },
);

export const Tag = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$' });
export const DeviceRef = Type.Object({ device: Type.String({ minLength: 1, maxLength: 128 }) }, strict);
export const IdParam = Type.Object({ id: Type.String({ pattern: ID_PATTERN }) }, strict);

export const Device = Type.Object({
  id: Type.String(),
  name: Type.String(),
  status: Type.Union([
    Type.Literal('pending'),
    Type.Literal('accepted'),
    Type.Literal('rejected'),
    Type.Literal('revoked'),
  ]),
  online: Type.Boolean(),
  tags: Type.Array(Type.String()),
  hostname: Type.Union([Type.String(), Type.Null()]),
  os: Type.Union([Type.String(), Type.Null()]),
  kernel: Type.Union([Type.String(), Type.Null()]),
  arch: Type.Union([Type.String(), Type.Null()]),
  agentVersion: Type.Union([Type.String(), Type.Null()]),
  macs: Type.Array(Type.String()),
  ips: Type.Array(Type.String()),
  heartbeat: Type.Union([Type.Integer(), Type.Null()]),
  firstSeen: Time,
  lastSeen: Time,
  onlineSince: Time,
  enrolledAt: Type.String(),
});

export const EnrollmentToken = Type.Object({
  id: Type.String(),
  name: Type.String(),
  tags: Type.Array(Type.String()),
  autoAccept: Type.Boolean(),
  maxUses: Type.Union([Type.Integer(), Type.Null()]),
  uses: Type.Integer(),
  expiresAt: Time,
  revokedAt: Time,
  createdAt: Type.String(),
  state: Type.Union([
    Type.Literal('active'),
    Type.Literal('expired'),
    Type.Literal('revoked'),
    Type.Literal('used-up'),
  ]),
  token: Type.Optional(Type.String({ description: 'Only in the create response: shown once.' })),
});

export const Command = Type.Object({
  id: Type.String(),
  deviceId: Type.String(),
  capability: Type.String(),
  action: Type.String(),
  args: Type.Unknown(),
  status: Type.Union(['queued', 'sent', 'running', 'succeeded', 'failed', 'expired'].map((s) => Type.Literal(s))),
  ttl: Type.Integer(),
  createdAt: Type.String(),
  createdBy: Type.Union([Type.String(), Type.Null()]),
  sentAt: Time,
  startedAt: Time,
  finishedAt: Time,
  expiresAt: Type.String(),
  durationMs: Type.Union([Type.Integer(), Type.Null()]),
  result: Type.Unknown(),
  error: Type.Union([
    Type.Object({ code: Type.String(), message: Type.String(), details: Type.Optional(Type.Unknown()) }),
    Type.Null(),
  ]),
});

export const listOf = <T extends ReturnType<typeof Type.Object>>(item: T) => Type.Object({ items: Type.Array(item) });

/** Standard error responses every authenticated route may give. */
export const errors = {
  400: ErrorResponse,
  401: ErrorResponse,
  403: ErrorResponse,
  404: ErrorResponse,
} as const;
