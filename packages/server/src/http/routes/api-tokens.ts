/** Personal API tokens: create (shown once), list with last use, revoke. */
import { OutpostError } from '@outpost/protocol';
import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../services/index.js';
import { errors, IdParam, listOf, Tag } from '../schemas.js';

const CreateBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 128 }),
    role: Type.Optional(
      Type.Union([Type.Literal('admin'), Type.Literal('operator'), Type.Literal('viewer')], {
        description: 'Role ceiling (default: yours).',
      }),
    ),
    ttl: Type.Optional(
      Type.Integer({ minimum: 60, maximum: 365 * 86400, description: 'Seconds until it expires (default: never).' }),
    ),
    tags: Type.Optional(
      Type.Array(Tag, { maxItems: 32, description: 'Limit the token to devices with any of these tags.' }),
    ),
  },
  { additionalProperties: false },
);
const ApiToken = Type.Object({
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
const ListQuery = Type.Object({ all: Type.Optional(Type.Boolean()) }, { additionalProperties: false });

export async function apiTokenRoutes(app: FastifyInstance, { services }: { services: Services }): Promise<void> {
  const { tokens } = services;
  app.post<{ Body: Static<typeof CreateBody> }>(
    '/api-tokens',
    {
      config: { permission: 'self:write', audit: 'api-token.create' },
      schema: {
        summary: 'Create a personal API token',
        tags: ['auth'],
        body: CreateBody,
        response: { 201: ApiToken, ...errors },
      },
    },
    async (req, reply) => {
      const created = await tokens.create(req.body, req.actor);
      req.auditNote = { target: created.id, details: { name: created.name, role: created.role, tags: created.tags } };
      return reply.status(201).send(created);
    },
  );
  app.get<{ Querystring: Static<typeof ListQuery> }>(
    '/api-tokens',
    {
      config: { permission: 'self:read' },
      schema: {
        summary: 'Your API tokens (admins: everyone with all=true)',
        tags: ['auth'],
        querystring: ListQuery,
        response: { 200: listOf(ApiToken), ...errors },
      },
    },
    async (req) => {
      if (req.query.all && req.actor.role !== 'admin')
        throw new OutpostError('E_DENIED', "only admins list everyone's tokens");
      return { items: await tokens.list(req.query.all ? undefined : (req.actor.userId ?? '-')) };
    },
  );
  app.delete<{ Params: Static<typeof IdParam> }>(
    '/api-tokens/:id',
    {
      config: { permission: 'self:write', audit: 'api-token.revoke' },
      schema: {
        summary: "Revoke an API token (yours; admins: anyone's)",
        tags: ['auth'],
        params: IdParam,
        response: { 204: Type.Null(), ...errors },
      },
    },
    async (req, reply) => {
      await tokens.revoke(req.params.id, req.actor);
      return reply.status(204).send();
    },
  );
}
