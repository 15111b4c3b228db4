/** Commands: send (optionally waiting for the result), show, list per device, and stream output (SSE). */
import { api } from '@outpost/protocol';
import type { FastifyInstance } from 'fastify';
import type { CommandView } from '../../services/commands.js';
import type { Services } from '../../services/index.js';
import { deviceAction } from './device-action.js';

const { Command, CommandEventsQuery, DeviceRef, errors, IdParam, listOf, SendCommandBody, SendCommandQuery } = api;

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
    async (req, reply) => {
      const note = (c: CommandView) => {
        req.auditNote = {
          target: c.id,
          deviceId: c.deviceId,
          details: { command: `${c.capability}/${c.action}`, args: c.args },
        };
      };
      if (!req.query.wait) {
        const created = await commands.create(req.params.device, req.body, req.actor);
        note(created);
        return reply.status(202).send(created);
      }
      const { created, final } = await commands.createAndWait(
        req.params.device,
        req.body,
        req.actor,
        (req.query.timeout ?? 30) * 1000,
      );
      note(created);
      const finished = final.status === 'succeeded' || final.status === 'failed' || final.status === 'expired';
      return reply.status(finished ? 200 : 202).send(final);
    },
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
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-store',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      const send = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
      const keepalive = setInterval(() => res.write(': keepalive\n\n'), 15_000);
      let unsubscribe = () => {};
      const close = () => {
        clearInterval(keepalive);
        unsubscribe();
        res.end();
      };
      req.raw.on('close', close);
      unsubscribe = await commands.stream(req.params.id, req.query.after ?? -1, (e) => {
        if (e.type === 'output') send('output', e.chunk);
        else {
          send('end', e.command);
          close();
        }
      });
    },
  );
}
