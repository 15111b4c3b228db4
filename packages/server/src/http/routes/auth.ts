/**
 * Logging in and out: password → browser session (cookie + CSRF token) or
 * password → personal API token (the CLI), invitation acceptance, password
 * change, sessions, and `whoami`.
 */
import { api, OutpostError } from '@outpost/protocol';
import type { FastifyInstance } from 'fastify';
import type { Role } from '../../actor.js';
import type { Services } from '../../services/index.js';
import { userView } from '../../services/users.js';
import { clearSessionCookie, setSessionCookie } from '../auth.js';

const {
  AcceptInvitationBody,
  AllQuery,
  errors,
  IdParam,
  listOf,
  LoginBody,
  LoginResponse,
  NoContent,
  PasswordBody,
  PasswordChanged,
  Session,
  TokenLogin,
  TokenLoginBody,
  User,
  WhoAmI,
} = api;

export async function authRoutes(app: FastifyInstance, { services }: { services: Services }): Promise<void> {
  const { sessions, users, tokens } = services;

  app.post<{ Body: api.LoginBody }>(
    '/auth/login',
    {
      config: { public: true, audit: 'auth.login' },
      schema: {
        summary: 'Log in with a password: sets an HttpOnly session cookie and returns the CSRF token',
        tags: ['auth'],
        security: [],
        body: LoginBody,
        response: { 200: LoginResponse, ...errors },
      },
    },
    async (req, reply) => {
      req.auditNote = { claimed: req.body.name };
      const user = await sessions.checkPassword(req.body.name, req.body.password, req.ip);
      const { token, csrfToken, session } = await sessions.login(user, req.ip, req.headers['user-agent']);
      req.actor = {
        kind: 'session',
        id: session.id,
        userId: user.id,
        name: user.name,
        role: user.role as Role,
        scopes: [],
      };
      setSessionCookie(reply, token, services.sessionPolicy.absoluteSeconds);
      return { user: userView(user), csrfToken, session };
    },
  );

  app.post<{ Body: api.TokenLoginBody }>(
    '/auth/token',
    {
      config: { public: true, audit: 'auth.token' },
      schema: {
        summary: 'Log in with a password and get a personal API token (for the CLI); shown once',
        tags: ['auth'],
        security: [],
        body: TokenLoginBody,
        response: { 201: TokenLogin, ...errors },
      },
    },
    async (req, reply) => {
      req.auditNote = { claimed: req.body.name };
      const user = await sessions.checkPassword(req.body.name, req.body.password, req.ip);
      const actor = {
        kind: 'token' as const,
        id: 'login',
        userId: user.id,
        name: user.name,
        role: user.role as Role,
        scopes: [],
      };
      req.actor = actor;
      const created = await tokens.create({ name: req.body.tokenName, ttl: req.body.ttl ?? 30 * 86400 }, actor);
      req.actor = { ...actor, id: created.id };
      req.auditNote = { target: created.id };
      return reply
        .status(201)
        .send({ id: created.id, token: created.token, role: created.role, expiresAt: created.expiresAt });
    },
  );

  app.post<{ Body: api.AcceptInvitationBody }>(
    '/auth/accept-invitation',
    {
      config: { public: true, audit: 'invitation.accept' },
      schema: {
        summary: 'Set a password with an invitation code; creates the account',
        tags: ['auth'],
        security: [],
        body: AcceptInvitationBody,
        response: { 201: User, ...errors },
      },
    },
    async (req, reply) => {
      const user = await users.acceptInvitation(req.body.code, req.body.password, req.ip);
      req.auditNote = { target: user.id, claimed: user.name };
      return reply.status(201).send(user);
    },
  );

  app.post(
    '/auth/logout',
    {
      config: { permission: 'self:write', audit: 'auth.logout' },
      schema: { summary: 'End this browser session', tags: ['auth'], response: { 204: NoContent, ...errors } },
    },
    async (req, reply) => {
      if (req.session) await sessions.end(req.session.id);
      clearSessionCookie(reply);
      return reply.status(204).send();
    },
  );

  app.post<{ Body: api.PasswordBody }>(
    '/auth/password',
    {
      config: { permission: 'self:write', audit: 'auth.password' },
      schema: {
        summary: 'Change your password; ends your other sessions',
        tags: ['auth'],
        body: PasswordBody,
        response: { 200: PasswordChanged, ...errors },
      },
    },
    async (req) => {
      const userId = req.actor.userId;
      const user = userId ? await users.row(userId) : undefined;
      if (!user) throw new OutpostError('E_DENIED', 'only users have passwords');
      if (user.password_hash !== null) {
        if (req.body.current === undefined) throw new OutpostError('E_BAD_ARGS', 'give your current password');
        await sessions.checkPassword(user.name, req.body.current, req.ip);
      }
      await users.setPassword(user.id, req.body.new);
      return { endedSessions: await sessions.endAllFor(user.id, req.session?.id) };
    },
  );

  app.get(
    '/whoami',
    {
      config: { permission: 'self:read' },
      schema: {
        summary: 'The caller: user, role and device scope',
        tags: ['auth'],
        response: { 200: WhoAmI, ...errors },
      },
    },
    async (req) => req.actor,
  );

  app.get<{ Querystring: api.AllQuery }>(
    '/sessions',
    {
      config: { permission: 'self:read' },
      schema: {
        summary: 'Your open sessions (admins: everyone with all=true)',
        tags: ['auth'],
        querystring: AllQuery,
        response: { 200: listOf(Session), ...errors },
      },
    },
    async (req) => {
      if (req.query.all && req.actor.role !== 'admin')
        throw new OutpostError('E_DENIED', "only admins list everyone's sessions");
      return { items: await sessions.list(req.query.all ? undefined : (req.actor.userId ?? '-')) };
    },
  );

  app.delete<{ Params: api.IdParam }>(
    '/sessions/:id',
    {
      config: { permission: 'self:write', audit: 'session.end' },
      schema: {
        summary: "End a session (your own; admins: anyone's)",
        tags: ['auth'],
        params: IdParam,
        response: { 204: NoContent, ...errors },
      },
    },
    async (req, reply) => {
      const mine = await sessions.list(req.actor.userId ?? '-');
      if (req.actor.role !== 'admin' && !mine.some((s) => s.id === req.params.id))
        throw new OutpostError('E_NOT_FOUND', 'session not found');
      await sessions.end(req.params.id);
      return reply.status(204).send();
    },
  );
}
