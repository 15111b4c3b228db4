/** Personal API tokens (`/api-tokens`): bearer credentials of a user with a role ceiling and a device scope. */
import { type Static, Type } from '@sinclair/typebox';
import { Tag } from './common.js';
import { Role } from './users.js';

export const CreateApiTokenBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 128 }),
    role: Type.Optional(Type.Union(Role.anyOf, { description: 'Role ceiling (default: yours).' })),
    ttl: Type.Optional(
      Type.Integer({ minimum: 60, maximum: 365 * 86400, description: 'Seconds until it expires (default: never).' }),
    ),
    tags: Type.Optional(
      Type.Array(Tag, { maxItems: 32, description: 'Limit the token to devices with any of these tags.' }),
    ),
  },
  { additionalProperties: false },
);
export type CreateApiTokenBody = Static<typeof CreateApiTokenBody>;

export const ApiToken = Type.Object({
  id: Type.String(),
  name: Type.String(),
  role: Type.String({ description: 'Role ceiling given at creation.' }),
  effectiveRole: Type.String({
    description: "What the token can do now: the ceiling, lowered to its user's current role.",
  }),
  tags: Type.Array(Type.String()),
  userId: Type.Union([Type.String(), Type.Null()]),
  userName: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(),
  expiresAt: Type.Union([Type.String(), Type.Null()]),
  lastUsedAt: Type.Union([Type.String(), Type.Null()]),
  revokedAt: Type.Union([Type.String(), Type.Null()]),
  token: Type.Optional(Type.String({ description: 'Only in the create response: shown once.' })),
});
export type ApiToken = Static<typeof ApiToken>;
