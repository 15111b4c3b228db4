/** Commands: send (optionally waiting for the result), show, list per device, and stream output (SSE). */
import { api } from '@outpost/protocol';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { CommandView } from '../../services/command-view.js';
import type { Services } from '../../services/index.js';
import type { AuditNote } from '../auth.js';
import { openEventStream } from '../sse.js';
import { deviceAction } from './device-action.js';

const { Command, CommandEventsQuery, DeviceRef, errors, IdParam, listOf, SendCommandBody, SendCommandQuery } = api;

/**
 * Creates a command and answers 202 with it, or with `?wait=true` 200 with the finished
 * command when it ends within `timeout` seconds (202 with its current state if not).
 * `note` names what the audit entry records once the command exists.
 */
export async function sendCommand(
  services: Services,
  req: FastifyRequest,
  reply: FastifyReply,
  deviceRef: string,
  input: api.SendCommandBody,
  query: api.SendCommandQuery,
  note: (created: CommandView) => AuditNote,
): Promise<FastifyReply> {
  if (!query.wait) {
    const created = await services.commands.create(deviceRef, input, req.actor);
    req.auditNote = note(created);
    return reply.status(202).send(created);
  }
  const { created, final } = await services.commands.createAndWait(
    deviceRef,
    input,
    req.actor,
    (query.timeout ?? 30) * 1000,
  );
  req.auditNote = note(created);
  const finished = final.status === 'succeeded' || final.status === 'failed' || final.status === 'expired';
  return reply.status(finished ? 200 : 202).send(final);
}

export async function commandRoutes(app: FastifyInstance, { services }: { services: Services }): Promise<void> {
  const { commands } = services;

  deviceAction(app, services, {
    method: 'GET',
    url: '/devices/:device/info',
    command: 'system/info',
    permission: 'devices:read',
    summary: 'Ask the device for its live facts (hostname, OS, kernel, addresses)',
    tags: ['devices'],
    timeoutMs: 10_000,
  });

  app.post<{ Params: api.DeviceRef; Body: api.SendCommandBody; Querystring: api.SendCommandQuery }>(
    '/devices/:device/commands',
    {
      config: { permission: 'commands:run', audit: 'command.send' },
      schema: {
        summary: 'Send a command to a device',
        description:
          'Queued while the device is offline, until its ttl passes. 200 with the finished command when `wait=true` and it finished in time, else 202.',
        tags: ['commands'],
        params: DeviceRef,
        querystring: SendCommandQuery,
        body: SendCommandBody,
        response: { 200: Command, 202: Command, ...errors },
      },
    },
    async (req, reply) =>
      sendCommand(services, req, reply, req.params.device, req.body, req.query, (c) => ({
        target: c.id,
        deviceId: c.deviceId,
        details: { command: `${c.capability}/${c.action}`, args: c.args },
      })),
  );
  app.get<{ Params: api.DeviceRef }>(
    '/devices/:device/commands',
    {
      config: { permission: 'commands:read' },
      schema: {
        summary: "A device's recent commands, newest first",
        tags: ['commands'],
        params: DeviceRef,
        response: { 200: listOf(Command), ...errors },
      },
    },
    async (req) => ({ items: await commands.listForDevice(req.params.device, req.actor) }),
  );
  app.get<{ Params: api.IdParam }>(
    '/commands/:id',
    {
      config: { permission: 'commands:read' },
      schema: { summary: 'Show a command', tags: ['commands'], params: IdParam, response: { 200: Command, ...errors } },
    },
    async (req) => commands.get(req.params.id, req.actor),
  );
  app.post<{ Params: api.IdParam }>(
    '/commands/:id/cancel',
    {
      config: { permission: 'commands:run', audit: 'command.cancel' },
      schema: {
        summary: 'Cancel a command',
        description:
          'A queued command fails at once without reaching the device; a sent or running one is stopped by the device (`command/cancel`) and ends with its own response. 409 when it already finished.',
        tags: ['commands'],
        params: IdParam,
        response: { 200: api.CancelCommandResult, ...errors },
      },
    },
    async (req) => {
      const out = await commands.cancel(req.params.id, req.actor);
      req.auditNote = { target: out.command.id, deviceId: out.command.deviceId, details: { cancelled: out.cancelled } };
      return out;
    },
  );
  app.get<{ Params: api.IdParam; Querystring: api.CommandEventsQuery }>(
    '/commands/:id/events',
    {
      config: { permission: 'commands:read' },
      schema: {
        summary: 'Stream a command (Server-Sent Events)',
        description:
          'Events: `output` `{seq, stream, data(base64)}` for each chunk with seq > `after` (buffered output is replayed first), then one `end` with the final command.',
        tags: ['commands'],
        params: IdParam,
        querystring: CommandEventsQuery,
      },
    },
    async (req, reply) => {
      await commands.get(req.params.id, req.actor); // 404 before we switch to a stream
      const events = openEventStream(req, reply);
      let unsubscribe: (() => void) | null = null;
      events.onEnd(() => unsubscribe?.());
      unsubscribe = await commands.stream(req.params.id, req.query.after ?? -1, (e) => {
        if (e.type === 'output') events.send('output', e.chunk);
        else {
          events.send('end', e.command);
          events.close();
        }
      });
      if (events.closed) unsubscribe();
    },
  );
}
