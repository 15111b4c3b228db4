/**
 * The one way to expose a device capability as a typed HTTP route: the route
 * names a catalogue command, maps the request to its args, and answers with the
 * command's result. Underneath it is an ordinary command (stored, audited, with
 * who sent it), sent only to an online device and awaited, so the caller gets
 * the device's answer or its coded error in the same request.
 *
 *   deviceAction(app, services, {
 *     method: 'GET', url: '/devices/:device/processes', command: 'processes/list',
 *     permission: 'devices:read', summary: 'List processes', tags: ['processes'],
 *     querystring: ProcessListQuery, args: (req) => req.query,
 *   });
 */
import { api, type CommandArgs, type CommandName, type CommandResult, commands, OutpostError } from '@outpost/protocol';
import type { TSchema } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { commandOutcome } from '../../services/command-view.js';
import type { Services } from '../../services/index.js';
import type { Permission } from '../auth.js';

/** The request as the args mapper sees it: already validated against the route's schemas. */
export interface ActionRequest {
  params: Record<string, string> & { device: string };
  query: Record<string, unknown>;
  body: unknown;
  raw: FastifyRequest;
}

export interface DeviceActionRoute<N extends CommandName> {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Must contain `:device`, e.g. `/devices/:device/processes/:pid/signal`. */
  url: string;
  command: N;
  permission: Permission;
  /** Audit action name; required for state-changing methods (the auth layer checks). */
  audit?: string;
  summary: string;
  description?: string;
  tags: string[];
  /** Path params besides `device` (default: just `DeviceRef`). */
  params?: TSchema;
  querystring?: TSchema;
  body?: TSchema;
  /** Builds the command's args; default: the body for POST/PUT/PATCH, else the query. */
  args?: (req: ActionRequest) => CommandArgs<N>;
  /** Maps the device's result to the response (default: the result as is, typed by the catalogue). */
  response?: { schema: TSchema; map: (result: CommandResult<N>, req: ActionRequest) => unknown };
  /** How long to wait for the device (default 30 s); then E_TIMEOUT (the command stays visible). */
  timeoutMs?: number;
}

/**
 * Sends `command` to an online device and waits for it: E_OFFLINE at once when the
 * device is not connected (an interactive request must not sit in the offline queue).
 */
export async function runOnDevice<N extends CommandName>(
  services: Services,
  req: FastifyRequest,
  deviceRef: string,
  command: N,
  args: CommandArgs<N>,
  timeoutMs = 30_000,
): Promise<CommandResult<N>> {
  const device = await services.devices.resolve(deviceRef, req.actor);
  if (device.online !== 1) throw new OutpostError('E_OFFLINE', `device ${device.id} is offline`);
  const [capability, action] = command.split('/') as [string, string];
  const ttl = Math.max(1, Math.ceil(timeoutMs / 1000));
  const { created, final } = await services.commands.createAndWait(
    device.id,
    { capability, action, args, ttl },
    req.actor,
    timeoutMs,
  );
  req.auditNote = { target: created.id, deviceId: device.id, details: { command, args } };
  return commandOutcome(final) as CommandResult<N>;
}

export function deviceAction<N extends CommandName>(
  app: FastifyInstance,
  services: Services,
  route: DeviceActionRoute<N>,
): void {
  const spec = commands[route.command];
  const writes = route.method !== 'GET' && route.method !== 'DELETE';
  app.route({
    method: route.method,
    url: route.url,
    config: { permission: route.permission, ...(route.audit ? { audit: route.audit } : {}) },
    schema: {
      summary: route.summary,
      description: route.description ?? `Runs \`${route.command}\` on the device (${spec.summary}).`,
      tags: route.tags,
      params: route.params ?? api.DeviceRef,
      ...(route.querystring ? { querystring: route.querystring } : {}),
      ...(route.body ? { body: route.body } : {}),
      response: { 200: route.response?.schema ?? spec.result, ...api.errors },
    },
    handler: async (req) => {
      const r: ActionRequest = {
        params: req.params as ActionRequest['params'],
        query: (req.query ?? {}) as Record<string, unknown>,
        body: req.body,
        raw: req,
      };
      const args = route.args ? route.args(r) : ((writes ? (r.body ?? {}) : r.query) as CommandArgs<N>);
      const result = await runOnDevice(services, req, r.params.device, route.command, args, route.timeoutMs);
      return route.response ? route.response.map(result, r) : result;
    },
  });
}
