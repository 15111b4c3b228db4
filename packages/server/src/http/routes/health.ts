/** Liveness and identity: `/health` (public) and `/whoami`. */
import { PROTOCOL_VERSION } from '@outpost/protocol';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { VERSION } from '../../version.js';
import { errors } from '../schemas.js';

export async function healthRoutes(app: FastifyInstance): Promise<void> {
  app.get(
    '/health',
    {
      config: { public: true },
      schema: {
        summary: 'Liveness probe',
        tags: ['system'],
        response: {
          200: Type.Object({ status: Type.Literal('ok'), version: Type.String(), protocol: Type.Integer() }),
        },
      },
    },
    async () => ({ status: 'ok' as const, version: VERSION, protocol: PROTOCOL_VERSION }),
  );
  app.get(
    '/whoami',
    {
      config: { permission: 'self:read' },
      schema: {
        summary: 'The caller',
        tags: ['system'],
        response: {
          200: Type.Object({ kind: Type.String(), id: Type.String(), name: Type.String(), role: Type.String() }),
          ...errors,
        },
      },
    },
    async (req) => req.actor,
  );
}
