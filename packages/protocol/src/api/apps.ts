/**
 * Supervised apps (`/devices/:device/apps`): list, show, install, start, stop,
 * restart and remove the programs a device's agent keeps running. The install
 * body is `apps/install`'s args without the name in the path, as the CLI and the
 * scripts library send it.
 */
import { type Static, Type } from '@sinclair/typebox';
import { AppName, AppRestartPolicy, AppState, AppsInstallArgs } from '../capabilities/apps.js';
import { ScriptInterpreter } from '../capabilities/exec.js';
import { DeviceRef } from './common.js';

const Time = Type.Union([Type.String({ format: 'date-time' }), Type.Null()]);

/** An app as the API shows it: the device's `AppStatus` with ISO times. */
export const App = Type.Object({
  name: Type.String(),
  state: AppState,
  pid: Type.Union([Type.Integer(), Type.Null()]),
  restarts: Type.Integer(),
  lastExit: Type.Union([
    Type.Object({
      code: Type.Union([Type.Integer(), Type.Null()]),
      signal: Type.Union([Type.String(), Type.Null()]),
      at: Type.String({ format: 'date-time' }),
    }),
    Type.Null(),
  ]),
  lastError: Type.Union([Type.String(), Type.Null()]),
  startedAt: Time,
  uptime: Type.Union([Type.Number(), Type.Null()]),
  nextStartAt: Time,
  autostart: Type.Boolean(),
  restart: AppRestartPolicy,
  kind: Type.Union([Type.Literal('script'), Type.Literal('bundle')]),
  interpreter: Type.Optional(ScriptInterpreter),
  command: Type.Array(Type.String()),
  cwd: Type.String(),
  env: Type.Array(Type.String()),
  installedAt: Type.String({ format: 'date-time' }),
});
export type App = Static<typeof App>;

export const AppList = Type.Object({ items: Type.Array(App) });
export type AppList = Static<typeof AppList>;

/** `POST /devices/:device/apps`: exactly `apps/install`'s args. */
export const AppInstallBody = AppsInstallArgs;
export type AppInstallBody = Static<typeof AppInstallBody>;

/** `:device` and `:name` in a path. */
export const AppRef = Type.Object(
  { device: DeviceRef.properties.device, name: AppName },
  { additionalProperties: false },
);
export type AppRef = Static<typeof AppRef>;

export const AppRemoved = Type.Object({ name: Type.String(), removed: Type.Literal(true) });
export type AppRemoved = Static<typeof AppRemoved>;
