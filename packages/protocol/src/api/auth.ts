/**
 * Logging in and out (`/auth/*`, `/sessions`, `/whoami`): password → browser
 * session or personal API token, invitation acceptance, password change.
 */
import { type Static, Type } from '@sinclair/typebox';
import { User, UserName } from './users.js';

const strict = { additionalProperties: false } as const;
const Password = Type.String({ minLength: 1, maxLength: 1024 });

export const LoginBody = Type.Object({ name: UserName, password: Password }, strict);
export type LoginBody = Static<typeof LoginBody>;

export const Session = Type.Object({
  id: Type.String(),
  userId: Type.String(),
  userName: Type.String(),
  createdAt: Type.String(),
  lastSeenAt: Type.String(),
  expiresAt: Type.String(),
  ip: Type.Union([Type.String(), Type.Null()]),
  userAgent: Type.Union([Type.String(), Type.Null()]),
});
export type Session = Static<typeof Session>;

/** `POST /auth/login`: the session cookie is set in a header; the CSRF token comes here. */
export const LoginResponse = Type.Object({ user: User, csrfToken: Type.String(), session: Session });
export type LoginResponse = Static<typeof LoginResponse>;

/** `POST /auth/token`: a password exchanged for a personal API token. */
export const TokenLoginBody = Type.Object(
  {
    name: UserName,
    password: Password,
    tokenName: Type.String({ minLength: 1, maxLength: 128 }),
    ttl: Type.Optional(Type.Integer({ minimum: 60, maximum: 365 * 86400 })),
  },
  strict,
);
export type TokenLoginBody = Static<typeof TokenLoginBody>;

export const TokenLogin = Type.Object({
  id: Type.String(),
  token: Type.String(),
  role: Type.String(),
  expiresAt: Type.Union([Type.String(), Type.Null()]),
});
export type TokenLogin = Static<typeof TokenLogin>;

export const AcceptInvitationBody = Type.Object(
  { code: Type.String({ minLength: 1, maxLength: 200 }), password: Password },
  strict,
);
export type AcceptInvitationBody = Static<typeof AcceptInvitationBody>;

export const PasswordBody = Type.Object(
  { current: Type.Optional(Password), new: Password },
  { ...strict, description: '`current` may be left out only by a user who has no password yet.' },
);
export type PasswordBody = Static<typeof PasswordBody>;

export const PasswordChanged = Type.Object({ endedSessions: Type.Integer() });
export type PasswordChanged = Static<typeof PasswordChanged>;

export const WhoAmI = Type.Object({
  kind: Type.String(),
  id: Type.String(),
  userId: Type.Union([Type.String(), Type.Null()]),
  name: Type.String(),
  role: Type.String(),
  /** Each non-empty list is a device scope: a device must carry one of its tags (user's, then token's). */
  scopes: Type.Array(Type.Array(Type.String())),
});
export type WhoAmI = Static<typeof WhoAmI>;
