/** Users and invitations (admins): invite, list, change role or device scope, remove. */
import { api } from '@outpost/protocol';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../services/index.js';

const { errors, IdParam, Invitation, InviteBody, listOf, NoContent, User, UserPatch, UserRef } = api;

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

  app.patch<{ Params: api.UserRef; Body: api.UserPatch }>(
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

  app.delete<{ Params: api.UserRef }>(
    '/users/:user',
    {
      config: { permission: 'users:write', audit: 'user.delete' },
      schema: {
        summary: 'Remove a user: ends their sessions and revokes their API tokens',
        tags: ['users'],
        params: UserRef,
        response: { 204: NoContent, ...errors },
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

  app.post<{ Body: api.InviteBody }>(
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

  app.delete<{ Params: api.IdParam }>(
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
