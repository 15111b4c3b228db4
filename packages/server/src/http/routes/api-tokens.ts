/** Personal API tokens: create (shown once), list with last use, revoke. */
import { api, OutpostError } from '@outpost/protocol';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../services/index.js';

const { AllQuery, ApiToken, CreateApiTokenBody, errors, IdParam, listOf, NoContent } = api;

export async function apiTokenRoutes(app: FastifyInstance, { services }: { services: Services }): Promise<void> {
  const { tokens } = services;
  app.post<{ Body: api.CreateApiTokenBody }>(
    '/api-tokens',
    {
      config: { permission: 'self:write', audit: 'api-token.create' },
      schema: {
        summary: 'Create a personal API token',
        tags: ['auth'],
        body: CreateApiTokenBody,
        response: { 201: ApiToken, ...errors },
      },
    },
    async (req, reply) => {
      const created = await tokens.create(req.body, req.actor);
      req.auditNote = { target: created.id, details: { name: created.name, role: created.role, tags: created.tags } };
      return reply.status(201).send(created);
    },
  );
  app.get<{ Querystring: api.AllQuery }>(
    '/api-tokens',
    {
      config: { permission: 'self:read' },
      schema: {
        summary: 'Your API tokens (admins: everyone with all=true)',
        tags: ['auth'],
        querystring: AllQuery,
        response: { 200: listOf(ApiToken), ...errors },
      },
    },
    async (req) => {
      if (req.query.all && req.actor.role !== 'admin')
        throw new OutpostError('E_DENIED', "only admins list everyone's tokens");
      return { items: await tokens.list(req.query.all ? undefined : (req.actor.userId ?? '-')) };
    },
  );
  app.delete<{ Params: api.IdParam }>(
    '/api-tokens/:id',
    {
      config: { permission: 'self:write', audit: 'api-token.revoke' },
      schema: {
        summary: "Revoke an API token (yours; admins: anyone's)",
        tags: ['auth'],
        params: IdParam,
        response: { 204: NoContent, ...errors },
      },
    },
    async (req, reply) => {
      await tokens.revoke(req.params.id, req.actor);
      return reply.status(204).send();
    },
  );
}
