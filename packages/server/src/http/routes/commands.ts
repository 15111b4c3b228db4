/** Commands: send (optionally waiting for the result), show, list per device, and stream output (SSE). */
import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../services/index.js';
import { Command, DeviceRef, errors, IdParam, listOf } from '../schemas.js';

const SendBody = Type.Object(
  {
    capability: Type.String({ pattern: '^[a-z][a-z0-9-]{0,31}$' }),
    action: Type.String({ pattern: '^[a-z][a-z0-9-]{0,31}$' }),
    args: Type.Optional(Type.Unknown()),
    ttl: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 7 * 24 * 3600, description: 'Seconds it may wait for an offline device.' }),
    ),
  },
  { additionalProperties: false },
);
const SendQuery = Type.Object(
  {
    wait: Type.Optional(Type.Boolean({ description: 'Answer with the result when it comes within `timeout`.' })),
    timeout: Type.Optional(Type.Integer({ minimum: 1, maximum: 300, description: 'Seconds to wait (default 30).' })),
  },
  { additionalProperties: false },
);
const StreamQuery = Type.Object(
  { after: Type.Optional(Type.Integer({ minimum: -1 })) },
  { additionalProperties: false },
);

export async function commandRoutes(app: FastifyInstance, { services }: { services: Services }): Promise<void> {
  const { commands } = services;

  app.post<{ Params: Static<typeof DeviceRef>; Body: Static<typeof SendBody>; Querystring: Static<typeof SendQuery> }>(
    '/devices/:device/commands',
    {
      config: { permission: 'commands:run', audit: 'command.send' },
      schema: {
        summary: 'Send a command to a device',
        description:
          'Queued while the device is offline, until its ttl passes. 200 with the finished command when `wait=true` and it finished in time, else 202.',
        tags: ['commands'],
        params: DeviceRef,
        querystring: SendQuery,
        body: SendBody,
        response: { 200: Command, 202: Command, ...errors },
      },
    },
    async (req, reply) => {
      const created = await commands.create(req.params.device, req.body, req.actor);
      req.auditNote = {
        target: created.id,
        deviceId: created.deviceId,
        details: { command: `${created.capability}/${created.action}`, args: created.args },
      };
      if (!req.query.wait) return reply.status(202).send(created);
      const done = await commands.waitFor(created.id, (req.query.timeout ?? 30) * 1000);
      const finished = done.status === 'succeeded' || done.status === 'failed' || done.status === 'expired';
      return reply.status(finished ? 200 : 202).send(done);
    },
  );
  app.get<{ Params: Static<typeof DeviceRef> }>(
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
  app.get<{ Params: Static<typeof IdParam> }>(
    '/commands/:id',
    {
      config: { permission: 'commands:read' },
      schema: { summary: 'Show a command', tags: ['commands'], params: IdParam, response: { 200: Command, ...errors } },
    },
    async (req) => commands.get(req.params.id, req.actor),
  );
  app.get<{ Params: Static<typeof IdParam>; Querystring: Static<typeof StreamQuery> }>(
    '/commands/:id/events',
    {
      config: { permission: 'commands:read' },
      schema: {
        summary: 'Stream a command (Server-Sent Events)',
        description:
          'Events: `output` `{seq, stream, data(base64)}` for each chunk with seq > `after` (buffered output is replayed first), then one `end` with the final command.',
        tags: ['commands'],
        params: IdParam,
        querystring: StreamQuery,
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
