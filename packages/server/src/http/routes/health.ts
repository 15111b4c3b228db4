/** Liveness and where devices connect: `/health` (public). */
import { PROTOCOL_VERSION } from '@outpost/protocol';
import { Type } from '@sinclair/typebox';
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
        response: {
          200: Type.Object({
            status: Type.Literal('ok'),
            version: Type.String(),
            protocol: Type.Integer(),
            mqttUrl: Type.String(),
            wsUrl: Type.Union([Type.String(), Type.Null()]),
          }),
        },
      },
    },
    async () => ({ status: 'ok' as const, version: VERSION, protocol: PROTOCOL_VERSION, ...services.endpoints }),
  );
}
