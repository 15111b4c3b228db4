/**
 * Device metrics (docs/metrics.md): history as chart-ready series, the last stored
 * sample, and a fresh sample from the device itself (`metrics/sample`).
 */
import { api } from '@outpost/protocol';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../services/index.js';
import { deviceAction } from './device-action.js';

const { DeviceRef, errors, MetricsHistory, MetricsLatest, MetricsQuery } = api;

export async function metricsRoutes(app: FastifyInstance, { services }: { services: Services }): Promise<void> {
  const { metrics } = services;

  app.get<{ Params: api.DeviceRef; Querystring: api.MetricsQuery }>(
    '/devices/:device/metrics',
    {
      config: { permission: 'devices:read' },
      schema: {
        summary: "A device's metrics history as series ready for a chart",
        description:
          'Points are `[t, avg, min, max]` per `step` seconds, from every sample (the last 24 h by default), 1-minute rollups (7 days) or 1-hour rollups (1 year): the coarsest tier that fits `step` among those still holding `from`. `resolution` says which; `step` is raised to it.',
        tags: ['metrics'],
        params: DeviceRef,
        querystring: MetricsQuery,
        response: { 200: MetricsHistory, ...errors },
      },
    },
    async (req) => metrics.history(req.params.device, req.query, req.actor),
  );

  app.get<{ Params: api.DeviceRef }>(
    '/devices/:device/metrics/latest',
    {
      config: { permission: 'devices:read' },
      schema: {
        summary: 'The last metrics sample the device sent with its heartbeat (also while it is offline)',
        tags: ['metrics'],
        params: DeviceRef,
        response: { 200: MetricsLatest, ...errors },
      },
    },
    async (req) => metrics.latest(req.params.device, req.actor),
  );

  deviceAction(app, services, {
    method: 'GET',
    url: '/devices/:device/metrics/live',
    command: 'metrics/sample',
    permission: 'devices:read',
    summary: 'Ask the device for a fresh metrics sample now',
    tags: ['metrics'],
    timeoutMs: 15_000,
  });
}
