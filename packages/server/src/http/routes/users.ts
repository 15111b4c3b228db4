/** Users and invitations (admins): invite, list, change role or device scope, remove. */
import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../services/index.js';
import { errors, IdParam, listOf, Tag } from '../schemas.js';
import { User } from './auth.js';

const Role = Type.Union([Type.Literal('admin'), Type.Literal('operator'), Type.Literal('viewer')]);
const UserRef = Type.Object({ user: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false });
const InviteBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9._@-]*$' }),
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
  { additionalProperties: false },
);
const UserPatch = Type.Object(
  { role: Type.Optional(Role), tags: Type.Optional(Type.Array(Tag, { maxItems: 32 })) },
  { additionalProperties: false, minProperties: 1 },
);
const Invitation = Type.Object({
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

export async function userRoutes(app: FastifyInstance, { services }: { services: Services }): Promise<void> {
  const { users, sessions, tokens } = services;

  app.get(
    '/users',
    {
      config: { permission: 'users:read' },
      schema: { summary: 'List users', tags: ['users'], response: { 200: listOf(User), ...errors } },
    },
    async () => ({
      items: await users.list(),
    }),
  );

  app.patch<{ Params: Static<typeof UserRef>; Body: Static<typeof UserPatch> }>(
    '/users/:user',
    {
      config: { permission: 'users:write', audit: 'user.update' },
      schema: {
        summary: "Change a user's role or device scope",
        tags: ['users'],
        params: UserRef,
        body: UserPatch,
        response: { 200: User, ...errors },
      },
    },
    async (req) => {
      const u = await users.update(req.params.user, req.body, req.actor);
      req.auditNote = { target: `user:${u.name}`, details: req.body };
      return u;
    },
  );

  app.delete<{ Params: Static<typeof UserRef> }>(
    '/users/:user',
    {
      config: { permission: 'users:write', audit: 'user.delete' },
      schema: {
        summary: 'Remove a user: ends their sessions and revokes their API tokens',
        tags: ['users'],
        params: UserRef,
        response: { 204: Type.Null(), ...errors },
      },
    },
    async (req, reply) => {
      const u = await users.remove(req.params.user, req.actor);
      await sessions.endAllFor(u.id);
      await tokens.revokeAllFor(u.id);
      req.auditNote = { target: `user:${u.name}` };
      return reply.status(204).send();
    },
  );

  app.post<{ Body: Static<typeof InviteBody> }>(
    '/invitations',
    {
      config: { permission: 'users:write', audit: 'user.invite' },
      schema: {
        summary: 'Invite a user: the code sets a password once',
        tags: ['users'],
        body: InviteBody,
        response: { 201: Invitation, ...errors },
      },
    },
    async (req, reply) => {
      const inv = await users.invite(req.body, req.actor);
      req.auditNote = { target: `user:${inv.name}`, details: { role: inv.role, tags: inv.tags, invitation: inv.id } };
      return reply.status(201).send(inv);
    },
  );

  app.get(
    '/invitations',
    {
      config: { permission: 'users:read' },
      schema: { summary: 'List invitations', tags: ['users'], response: { 200: listOf(Invitation), ...errors } },
    },
    async () => ({
      items: await users.invitations(),
    }),
  );

  app.delete<{ Params: Static<typeof IdParam> }>(
    '/invitations/:id',
    {
      config: { permission: 'users:write', audit: 'invitation.revoke' },
      schema: {
        summary: 'Revoke an open invitation',
        tags: ['users'],
        params: IdParam,
        response: { 200: Invitation, ...errors },
      },
    },
    async (req) => users.revokeInvitation(req.params.id),
  );
}
