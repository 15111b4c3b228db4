/**
 * Supervised apps of a device (`/devices/:device/apps`): list, show, install,
 * start, stop, restart, remove. Each runs its `apps/*` command on the online
 * device and answers with the device's result, times as ISO strings. The audit
 * entry of an install names the app and its interpreter, never its env values
 * or script text.
 */
import { type AppStatus, type AppsInstallArgs, api } from '@outpost/protocol';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../services/index.js';
import { iso } from '../../services/time.js';
import { deviceAction, runOnDevice } from './device-action.js';

const { App, AppInstallBody, AppList, AppRef, AppRemoved, DeviceRef, errors } = api;

export function appView(s: AppStatus): api.App {
  return {
    ...s,
    lastExit: s.lastExit ? { ...s.lastExit, at: iso(s.lastExit.at) } : null,
    startedAt: iso(s.startedAt),
    nextStartAt: iso(s.nextStartAt),
    installedAt: iso(s.installedAt),
  };
}

/** What the audit log keeps of an install: no env values (they may be credentials), no script text. */
function installSummary(args: AppsInstallArgs): Record<string, unknown> {
  const { env, ...rest } = args;
  const shown: Record<string, unknown> = { ...rest, env: Object.keys(env ?? {}) };
  if ('script' in args) shown.script = `<${Buffer.byteLength(args.script)} bytes>`;
  return shown;
}

export async function appRoutes(app: FastifyInstance, { services }: { services: Services }): Promise<void> {
  deviceAction(app, services, {
    method: 'GET',
    url: '/devices/:device/apps',
    command: 'apps/list',
    permission: 'devices:read',
    summary: 'List the supervised apps of a device',
    tags: ['apps'],
    args: () => ({}),
    response: { schema: AppList, map: (r) => ({ items: r.apps.map(appView) }) },
  });
  deviceAction(app, services, {
    method: 'GET',
    url: '/devices/:device/apps/:name',
    command: 'apps/status',
    permission: 'devices:read',
    summary: "One supervised app's state, pid, restarts and last exit",
    tags: ['apps'],
    params: AppRef,
    args: (req) => ({ name: req.params.name ?? '' }),
    response: { schema: App, map: appView },
  });

  app.post<{ Params: api.DeviceRef; Body: api.AppInstallBody }>(
    '/devices/:device/apps',
    {
      config: { permission: 'commands:run', audit: 'app.install' },
      schema: {
        summary: 'Install a supervised app',
        description:
          'Runs `apps/install`: a script with its interpreter, or a bundle file already on the device with an entry argv. With `autostart` (default true) it starts at once and whenever the agent starts.',
        tags: ['apps'],
        params: DeviceRef,
        body: AppInstallBody,
        response: { 200: App, ...errors },
      },
    },
    async (req) => {
      try {
        return appView(await runOnDevice(services, req, req.params.device, 'apps/install', req.body, 120_000));
      } finally {
        req.auditNote = {
          ...(req.auditNote ?? {}),
          details: { command: 'apps/install', args: installSummary(req.body) },
        };
      }
    },
  );

  for (const verb of ['start', 'stop', 'restart'] as const) {
    deviceAction(app, services, {
      method: 'POST',
      url: `/devices/:device/apps/:name/${verb}`,
      command: `apps/${verb}`,
      permission: 'commands:run',
      audit: `app.${verb}`,
      summary: `${verb[0]?.toUpperCase()}${verb.slice(1)} a supervised app`,
      tags: ['apps'],
      params: AppRef,
      args: (req) => ({ name: req.params.name ?? '' }),
      response: { schema: App, map: appView },
    });
  }

  deviceAction(app, services, {
    method: 'DELETE',
    url: '/devices/:device/apps/:name',
    command: 'apps/uninstall',
    permission: 'commands:run',
    audit: 'app.uninstall',
    summary: 'Stop a supervised app and remove it from the device',
    tags: ['apps'],
    params: AppRef,
    args: (req) => ({ name: req.params.name ?? '' }),
    response: { schema: AppRemoved, map: (r) => r },
  });
}
