/** Users and invitations (`/users`, `/invitations`): roles, device scopes, invite codes. */
import { type Static, Type } from '@sinclair/typebox';
import { Tag } from './common.js';

const strict = { additionalProperties: false } as const;

export const Role = Type.Union([Type.Literal('admin'), Type.Literal('operator'), Type.Literal('viewer')]);
export type Role = Static<typeof Role>;

/** A user's login name. */
export const UserName = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9._@-]*$' });

export const User = Type.Object({
  id: Type.String(),
  name: Type.String(),
  email: Type.Union([Type.String(), Type.Null()]),
  role: Type.String(),
  /** Device scope: empty means every device. */
  tags: Type.Array(Type.String()),
  hasPassword: Type.Boolean(),
  createdAt: Type.String(),
});
export type User = Static<typeof User>;

/** `:user` in a path: a user's id or name. */
export const UserRef = Type.Object({ user: Type.String({ minLength: 1, maxLength: 64 }) }, strict);
export type UserRef = Static<typeof UserRef>;

export const InviteBody = Type.Object(
  {
    name: UserName,
    email: Type.Optional(Type.String({ maxLength: 254, pattern: '^[^\\s@]+@[^\\s@]+$' })),
    role: Role,
    tags: Type.Optional(
      Type.Array(Tag, { maxItems: 32, description: 'Limit the user to devices with any of these tags.' }),
    ),
    ttl: Type.Optional(
      Type.Integer({
        minimum: 300,
        maximum: 30 * 86400,
        description: 'Seconds until the code expires (default 7 days).',
      }),
    ),
  },
  strict,
);
export type InviteBody = Static<typeof InviteBody>;

export const UserPatch = Type.Object(
  { role: Type.Optional(Role), tags: Type.Optional(Type.Array(Tag, { maxItems: 32 })) },
  { ...strict, minProperties: 1 },
);
export type UserPatch = Static<typeof UserPatch>;

export const Invitation = Type.Object({
  id: Type.String(),
  name: Type.String(),
  email: Type.Union([Type.String(), Type.Null()]),
  role: Type.String(),
  tags: Type.Array(Type.String()),
  expiresAt: Type.String(),
  usedAt: Type.Union([Type.String(), Type.Null()]),
  revokedAt: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(),
  state: Type.String(),
  code: Type.Optional(Type.String({ description: 'Only in the create response: shown once.' })),
});
export type Invitation = Static<typeof Invitation>;
