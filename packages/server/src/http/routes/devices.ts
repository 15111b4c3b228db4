/** Devices: list and filter, show, accept/reject/revoke, rename and tag, delete, presence history. */
import { api } from '@outpost/protocol';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../services/index.js';

const { Device, DeviceRef, DeviceListQuery, DevicePatch, PresenceEntry, errors, listOf, NoContent } = api;

export async function deviceRoutes(app: FastifyInstance, { services }: { services: Services }): Promise<void> {
  const { devices } = services;
  type WithDevice = { Params: api.DeviceRef };

  app.get<{ Querystring: api.DeviceListQuery }>(
    '/devices',
    {
      config: { permission: 'devices:read' },
      schema: {
        summary: 'List devices',
        tags: ['devices'],
        querystring: DeviceListQuery,
        response: { 200: listOf(Device), ...errors },
      },
    },
    async (req) => ({ items: await devices.list(req.query, req.actor) }),
  );
  app.get<WithDevice>(
    '/devices/:device',
    {
      config: { permission: 'devices:read' },
      schema: {
        summary: 'Show a device (by id or unique name)',
        tags: ['devices'],
        params: DeviceRef,
        response: { 200: Device, ...errors },
      },
    },
    async (req) => devices.get(req.params.device, req.actor),
  );
  for (const [action, status] of [
    ['accept', 'accepted'],
    ['reject', 'rejected'],
    ['revoke', 'revoked'],
  ] as const) {
    app.post<WithDevice>(
      `/devices/:device/${action}`,
      {
        config: { permission: 'devices:write', audit: `device.${action}` },
        schema: {
          summary: `${action[0]?.toUpperCase()}${action.slice(1)} a device`,
          tags: ['devices'],
          params: DeviceRef,
          response: { 200: Device, ...errors },
        },
      },
      async (req) => {
        const d = await devices.setStatus(req.params.device, status, req.actor);
        req.auditNote = { target: d.id, deviceId: d.id };
        return d;
      },
    );
  }
  app.patch<WithDevice & { Body: api.DevicePatch }>(
    '/devices/:device',
    {
      config: { permission: 'devices:write', audit: 'device.update' },
      schema: {
        summary: 'Rename or tag a device',
        tags: ['devices'],
        params: DeviceRef,
        body: DevicePatch,
        response: { 200: Device, ...errors },
      },
    },
    async (req) => {
      const d = await devices.update(req.params.device, req.body, req.actor);
      req.auditNote = { target: d.id, deviceId: d.id, details: req.body };
      return d;
    },
  );
  app.delete<WithDevice>(
    '/devices/:device',
    {
      config: { permission: 'devices:write', audit: 'device.delete' },
      schema: {
        summary: 'Delete a device and its history',
        tags: ['devices'],
        params: DeviceRef,
        response: { 204: NoContent, ...errors },
      },
    },
    async (req, reply) => {
      const d = await devices.remove(req.params.device, req.actor);
      req.auditNote = { target: d.id, deviceId: d.id };
      return reply.status(204).send();
    },
  );
  app.get<WithDevice>(
    '/devices/:device/presence',
    {
      config: { permission: 'devices:read' },
      schema: {
        summary: 'Online/offline history, newest first',
        tags: ['devices'],
        params: DeviceRef,
        response: { 200: listOf(PresenceEntry), ...errors },
      },
    },
    async (req) => ({ items: await devices.presence(req.params.device, req.actor) }),
  );
}
