/**
 * Reboot and shutdown (docs/processes-services-power.md): the device answers with
 * when it will act, then acts after the delay; a pending action can be cancelled,
 * and its state read. The device's presence history shows it go and come back.
 */
import { api } from '@outpost/protocol';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../services/index.js';
import { deviceAction } from './device-action.js';

export async function powerRoutes(app: FastifyInstance, { services }: { services: Services }): Promise<void> {
  // A POST without a body takes the defaults (this plugin's routes only): `curl -X POST …/reboot` works.
  app.addHook('preValidation', async (req) => {
    if (req.method === 'POST' && req.body === undefined) req.body = {};
  });

  for (const act of ['reboot', 'shutdown'] as const) {
    deviceAction(app, services, {
      method: 'POST',
      url: `/devices/:device/${act}`,
      command: `power/${act}`,
      permission: 'commands:run',
      audit: `device.${act}`,
      summary: act === 'reboot' ? 'Reboot the device after a delay' : 'Power the device off after a delay',
      description:
        'Answers as soon as the device has scheduled it: `{action, scheduledAt, reason}`. 409 E_CONFLICT while another is pending.',
      tags: ['power'],
      body: api.PowerBody,
      timeoutMs: 15_000,
    });
  }

  deviceAction(app, services, {
    method: 'POST',
    url: '/devices/:device/power/cancel',
    command: 'power/cancel',
    permission: 'commands:run',
    audit: 'device.power-cancel',
    summary: 'Call off a pending reboot or shutdown',
    tags: ['power'],
    args: () => ({}),
    timeoutMs: 15_000,
  });

  deviceAction(app, services, {
    method: 'GET',
    url: '/devices/:device/power',
    command: 'power/status',
    permission: 'devices:read',
    summary: 'Whether a reboot or shutdown is pending on the device',
    tags: ['power'],
    timeoutMs: 15_000,
  });
}
