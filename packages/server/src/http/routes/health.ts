/** Liveness: `/health` (public). */
import { PROTOCOL_VERSION } from '@outpost/protocol';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { VERSION } from '../../version.js';

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
}
