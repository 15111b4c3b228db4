/** Enrollment tokens: create (shown once), list, revoke. */
import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../services/index.js';
import { EnrollmentToken, errors, IdParam, listOf, Tag } from '../schemas.js';

const CreateBody = Type.Object(
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

export async function enrollmentRoutes(app: FastifyInstance, { services }: { services: Services }): Promise<void> {
  app.post<{ Body: Static<typeof CreateBody> }>(
    '/enrollment-tokens',
    {
      config: { permission: 'enrollment:write', audit: 'enrollment-token.create' },
      schema: {
        summary: 'Create an enrollment token',
        tags: ['enrollment'],
        body: CreateBody,
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
  app.delete<{ Params: Static<typeof IdParam> }>(
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
