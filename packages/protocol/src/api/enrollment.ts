/** Enrollment tokens (`/enrollment-tokens`): what a device presents once to get its identity. */
import { type Static, Type } from '@sinclair/typebox';
import { Tag, Time } from './common.js';

export const EnrollmentTokenState = Type.Union([
  Type.Literal('active'),
  Type.Literal('expired'),
  Type.Literal('revoked'),
  Type.Literal('used-up'),
]);
export type EnrollmentTokenState = Static<typeof EnrollmentTokenState>;

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
  state: EnrollmentTokenState,
  token: Type.Optional(Type.String({ description: 'Only in the create response: shown once.' })),
});
export type EnrollmentToken = Static<typeof EnrollmentToken>;

export const CreateEnrollmentTokenBody = Type.Object(
  {
    name: Type.Optional(Type.String({ maxLength: 128 })),
    ttl: Type.Optional(
      Type.Integer({ minimum: 60, maximum: 365 * 24 * 3600, description: 'Seconds until it expires (default 86400).' }),
    ),
    maxUses: Type.Optional(Type.Union([Type.Integer({ minimum: 1, maximum: 1_000_000 }), Type.Null()])),
    tags: Type.Optional(Type.Array(Tag, { maxItems: 32 })),
    autoAccept: Type.Optional(
      Type.Boolean({ description: 'Devices enrolled with it are accepted at once (default false: pending).' }),
    ),
  },
  { additionalProperties: false },
);
export type CreateEnrollmentTokenBody = Static<typeof CreateEnrollmentTokenBody>;
