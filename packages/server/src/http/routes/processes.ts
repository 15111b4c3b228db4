/**
 * Processes on a device (docs/processes-services-power.md): the list, read by the
 * agent from /proc, and one signal to one process. Both run on the device through
 * deviceAction(), so each is an ordinary, stored command with its result.
 */
import { api, type ProcessListArgs } from '@outpost/protocol';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../services/index.js';
import { deviceAction } from './device-action.js';

/** The query string as `processes/list` args: `pid=1,2` becomes `pids: [1, 2]`. */
export function processListArgs(query: api.ProcessListQuery): ProcessListArgs {
  const { pid, ...rest } = query;
  return pid === undefined ? rest : { ...rest, pids: pid.split(',').map(Number) };
}

export async function processRoutes(app: FastifyInstance, { services }: { services: Services }): Promise<void> {
  // A POST without a body takes the defaults (this plugin's routes only): `curl -X POST …/reboot` works.
  app.addHook('preValidation', async (req) => {
    if (req.method === 'POST' && req.body === undefined) req.body = {};
  });

  deviceAction(app, services, {
    method: 'GET',
    url: '/devices/:device/processes',
    command: 'processes/list',
    permission: 'devices:read',
    summary: "List the device's processes (CPU %, memory, user, command line)",
    description:
      "Read from /proc on the device. CPU % is percent of one CPU over a short sample (`sampleMs`, default 300 ms), or over each process's lifetime with `fast=true`.",
    tags: ['processes'],
    querystring: api.ProcessListQuery,
    args: (req) => processListArgs(req.query as api.ProcessListQuery),
    timeoutMs: 20_000,
  });

  deviceAction(app, services, {
    method: 'POST',
    url: '/devices/:device/processes/:pid/signal',
    command: 'processes/signal',
    permission: 'commands:run',
    audit: 'process.signal',
    summary: 'Send a signal to one process (default TERM)',
    description:
      'Allowed: TERM, KILL, INT, HUP, STOP, CONT, USR1, USR2, QUIT. PID 1, the agent, its parents and its process group leader are refused (E_DENIED). The answer names the process as it was and, for TERM and KILL, whether it ended.',
    tags: ['processes'],
    params: api.ProcessSignalRef,
    body: api.ProcessSignalBody,
    args: (req) => ({ pid: Number(req.params.pid), ...((req.body ?? {}) as api.ProcessSignalBody) }),
    timeoutMs: 20_000,
  });
}
