/** Enrollment tokens: create (shown once), list, revoke. */
import { api } from '@outpost/protocol';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../services/index.js';

const { CreateEnrollmentTokenBody, EnrollmentToken, errors, IdParam, listOf } = api;

export async function enrollmentRoutes(app: FastifyInstance, { services }: { services: Services }): Promise<void> {
  app.post<{ Body: api.CreateEnrollmentTokenBody }>(
    '/enrollment-tokens',
    {
      config: { permission: 'enrollment:write', audit: 'enrollment-token.create' },
      schema: {
        summary: 'Create an enrollment token',
        tags: ['enrollment'],
        body: CreateEnrollmentTokenBody,
        response: { 201: EnrollmentToken, ...errors },
      },
    },
    async (req, reply) => {
      const created = await services.enrollment.create(req.body, req.actor);
      req.auditNote = { target: created.id, details: req.body };
      return reply.status(201).send(created);
    },
  );
  app.get(
    '/enrollment-tokens',
    {
      config: { permission: 'enrollment:read' },
      schema: {
        summary: 'List enrollment tokens',
        tags: ['enrollment'],
        response: { 200: listOf(EnrollmentToken), ...errors },
      },
    },
    async () => ({ items: await services.enrollment.list() }),
  );
  app.delete<{ Params: api.IdParam }>(
    '/enrollment-tokens/:id',
    {
      config: { permission: 'enrollment:write', audit: 'enrollment-token.revoke' },
      schema: {
        summary: 'Revoke an enrollment token',
        tags: ['enrollment'],
        params: IdParam,
        response: { 200: EnrollmentToken, ...errors },
      },
    },
    async (req) => services.enrollment.revoke(req.params.id, req.actor),
  );
}
