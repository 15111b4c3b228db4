/**
 * `apps/*`: install, uninstall, start, stop, restart, list and inspect supervised
 * apps (docs/apps-and-logs.md). The work is the supervisor's (apps/supervisor.ts);
 * this module maps the catalogue's actions onto it and ties it to the agent's
 * lifecycle: autostart apps start with the agent, every app stops with it.
 */
import type { AppSupervisor } from '../apps/supervisor.js';
import { action, type Capability } from './capability.js';

export function createAppsCapability(supervisor: AppSupervisor): Capability {
  return {
    name: 'apps',
    actions: {
      install: action('apps/install', (args) => supervisor.install(args)),
      uninstall: action('apps/uninstall', (args) => supervisor.uninstall(args.name)),
      start: action('apps/start', (args) => supervisor.startApp(args.name)),
      stop: action('apps/stop', (args) => supervisor.stopApp(args.name)),
      restart: action('apps/restart', (args) => supervisor.restartApp(args.name)),
      list: action('apps/list', async () => ({ apps: supervisor.list() })),
      status: action('apps/status', async (args) => supervisor.status(args.name)),
    },
    start: (host) => supervisor.start(host),
    stop: () => supervisor.stop(),
  };
}
