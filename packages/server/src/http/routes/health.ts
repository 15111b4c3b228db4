/** Liveness and where devices connect: `/health` (public). */
import { api, PROTOCOL_VERSION } from '@outpost/protocol';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../services/index.js';
import { VERSION } from '../../version.js';

export async function healthRoutes(app: FastifyInstance, { services }: { services: Services }): Promise<void> {
  app.get(
    '/health',
    {
      config: { public: true },
      schema: {
        summary: 'Liveness probe, and the broker URLs devices should use',
        tags: ['system'],
        security: [],
        response: { 200: api.Health },
      },
    },
    async (): Promise<api.Health> => ({
      status: 'ok',
      version: VERSION,
      protocol: PROTOCOL_VERSION,
      ...services.endpoints,
    }),
  );
}
