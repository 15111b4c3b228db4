/**
 * Terminals (docs/terminal.md): `GET /devices/:device/terminal` upgrades to a WebSocket
 * that carries one byte stream to a PTY on the device (binary frames both ways, JSON
 * events from the server); `/terminal-sessions` lists sessions and serves their asciicast
 * recordings to admins. Browsers authenticate with their session cookie and must come from
 * this server's own origin; the CLI sends its bearer token.
 */
import { createReadStream } from 'node:fs';
import { api, check, OutpostError, TerminalOpenArgs } from '@outpost/protocol';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Services } from '../../services/index.js';

const { DeviceRef, errors, IdParam, listOf, TerminalQuery, TerminalSession, TerminalSessionQuery } = api;

const ArgvSchema = TerminalOpenArgs.properties.command;

/** The one-off argv from `?argv=` (a JSON array of strings), validated like the command's args. */
function parseArgv(raw: string | undefined): string[] | undefined {
  if (raw === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new OutpostError('E_BAD_ARGS', 'argv must be a JSON array of strings');
  }
  if (!check(ArgvSchema, value)) throw new OutpostError('E_BAD_ARGS', 'argv must be a JSON array of 1 to 256 strings');
  return value as string[];
}

/**
 * A browser sends its cookie with any WebSocket, even one a hostile page opens (and CSRF
 * tokens cannot ride on a WebSocket handshake): an upgrade authenticated by cookie must
 * come from a page of this server, i.e. carry an Origin of this very host.
 */
export function checkSameOrigin(req: FastifyRequest): void {
  if (!req.session) return; // bearer tokens are never sent by browsers on their own
  if (String(req.headers.upgrade ?? '').toLowerCase() !== 'websocket') return; // nothing to hijack
  const origin = req.headers.origin;
  const host = req.headers.host;
  let originHost: string | null = null;
  try {
    originHost = typeof origin === 'string' ? new URL(origin).host : null;
  } catch {
    originHost = null;
  }
  if (!originHost || !host || originHost !== host) {
    throw new OutpostError('E_DENIED', 'cross-origin WebSocket refused');
  }
}

export async function terminalRoutes(app: FastifyInstance, { services }: { services: Services }): Promise<void> {
  app.route<{ Params: api.DeviceRef; Querystring: api.TerminalQuery }>({
    method: 'GET',
    url: '/devices/:device/terminal',
    config: { permission: 'terminal:open', auditRefused: 'terminal.open' },
    schema: {
      summary: 'Open an interactive terminal on the device (WebSocket)',
      description:
        'Upgrades to a WebSocket carrying one byte stream (docs/protocol.md §Byte streams): binary messages are stream frames both ways; text messages from the server are JSON events `opened`, `error` and `end` (with the `terminal/open` command and its exit status). Operators and admins only; every session is audited and recorded (docs/terminal.md). A request without the upgrade is checked like one, then answered 400.',
      tags: ['terminal'],
      params: DeviceRef,
      querystring: TerminalQuery,
      response: errors,
    },
    preValidation: async (req) => {
      checkSameOrigin(req);
      parseArgv(req.query.argv);
      // Refuse before the upgrade what can be refused: unknown or out-of-scope devices, offline ones.
      const device = await services.devices.resolve(req.params.device, req.actor);
      if (device.online !== 1) throw new OutpostError('E_OFFLINE', `device ${device.id} is offline`);
    },
    handler: async () => {
      throw new OutpostError('E_BAD_ARGS', 'this endpoint speaks WebSocket only: connect with an Upgrade request');
    },
    wsHandler: (socket, req) => {
      const q = req.query;
      services.terminal
        .open(socket, {
          device: req.params.device,
          actor: req.actor,
          ip: req.ip,
          cols: q.cols ?? 80,
          rows: q.rows ?? 24,
          term: q.term,
          command: parseArgv(q.argv),
        })
        .catch((err: unknown) => {
          const e = err instanceof OutpostError ? err : new OutpostError('E_INTERNAL', 'internal error');
          if (!(err instanceof OutpostError)) req.log.error({ err }, 'terminal failed');
          if (socket.readyState === socket.OPEN) {
            socket.send(JSON.stringify({ type: 'error', error: e.toBody() }));
            socket.close(4000, e.code);
          }
        });
    },
  });

  app.get<{ Querystring: api.TerminalSessionQuery }>(
    '/terminal-sessions',
    {
      config: { permission: 'terminal:recordings' },
      schema: {
        summary: 'List terminal sessions, newest first',
        tags: ['terminal'],
        querystring: TerminalSessionQuery,
        response: { 200: listOf(TerminalSession), ...errors },
      },
    },
    async (req) => ({ items: await services.terminal.list(req.actor, req.query) }),
  );

  app.get<{ Params: api.IdParam }>(
    '/terminal-sessions/:id/recording',
    {
      config: { permission: 'terminal:recordings' },
      schema: {
        summary: "Download a terminal session's recording (asciicast v2)",
        tags: ['terminal'],
        params: IdParam,
        response: errors,
      },
    },
    async (req, reply) => {
      const { path, size } = await services.terminal.recording(req.params.id, req.actor);
      return reply
        .header('content-type', 'application/x-asciicast')
        .header('content-length', size)
        .header('content-disposition', `attachment; filename="${req.params.id}.cast"`)
        .send(createReadStream(path, { start: 0, end: Math.max(0, size - 1) }));
    },
  );
}
