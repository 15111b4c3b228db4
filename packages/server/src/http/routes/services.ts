/**
 * systemd services on a device (docs/processes-services-power.md): list, status,
 * and one route per action, each run on the device through deviceAction(). A
 * device without systemd answers 501 E_UNSUPPORTED.
 */
import { api, SERVICE_ACTIONS } from '@outpost/protocol';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../services/index.js';
import { deviceAction } from './device-action.js';

const unitOf = (params: Record<string, string>) => ({ unit: String(params.unit) });

export async function serviceRoutes(app: FastifyInstance, { services }: { services: Services }): Promise<void> {
  deviceAction(app, services, {
    method: 'GET',
    url: '/devices/:device/services',
    command: 'services/list',
    permission: 'devices:read',
    summary: "List the device's systemd units (services unless `type` says otherwise)",
    tags: ['services'],
    querystring: api.ServiceListQuery,
    timeoutMs: 30_000,
  });

  deviceAction(app, services, {
    method: 'GET',
    url: '/devices/:device/services/:unit',
    command: 'services/status',
    permission: 'devices:read',
    summary: "One systemd unit's state",
    tags: ['services'],
    params: api.ServiceUnitRef,
    args: (req) => unitOf(req.params),
    timeoutMs: 30_000,
  });

  for (const act of SERVICE_ACTIONS) {
    deviceAction(app, services, {
      method: 'POST',
      url: `/devices/:device/services/:unit/${act}`,
      command: `services/${act}`,
      permission: 'commands:run',
      audit: `service.${act}`,
      summary: `${act[0]?.toUpperCase()}${act.slice(1)} a systemd unit`,
      description: `Runs \`systemctl ${act} -- UNIT\` on the device and answers with the unit's status afterwards.`,
      tags: ['services'],
      params: api.ServiceUnitRef,
      args: (req) => unitOf(req.params),
      // The agent gives systemctl 45 s (a slow unit start); the answer must outlive it.
      timeoutMs: 55_000,
    });
  }
}
