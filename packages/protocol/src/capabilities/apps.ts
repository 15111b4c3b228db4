/**
 * `apps/*`: supervised apps, programs the agent keeps running (seed 001's
 * "sketches", seed 002's "user script as a service"). An app is a script with an
 * explicit interpreter, or a bundle file already on the device with an entry
 * argv; the agent stores it under `<state-dir>/apps/NAME/`, starts it in its own
 * process group, captures its output and restarts it with backoff when it dies.
 * docs/protocol.md §Apps.
 */
import { type Static, Type } from '@sinclair/typebox';
import { MAX_SCRIPT_BYTES, ScriptInterpreter } from './exec.js';

const strict = { additionalProperties: false } as const;

/** App names: lowercase letters, digits, `_` and `-`; no shell or path metacharacters. */
export const APP_NAME_PATTERN = '^[a-z0-9][a-z0-9_-]{0,63}$';
export const AppName = Type.String({ pattern: APP_NAME_PATTERN });

const Arg = Type.String({ maxLength: 8192 });
const AbsolutePath = Type.String({ minLength: 1, maxLength: 4096, pattern: '^/' });

/** always: restart whenever it exits; on-failure: not after exit code 0; never: leave it stopped. */
export const AppRestartPolicy = Type.Union([Type.Literal('always'), Type.Literal('on-failure'), Type.Literal('never')]);
export type AppRestartPolicy = Static<typeof AppRestartPolicy>;

const Common = {
  name: AppName,
  /** Appended to the command line: `$1...` of a script, `sys.argv[1:]`... */
  args: Type.Optional(Type.Array(Arg, { maxItems: 256 })),
  env: Type.Optional(
    Type.Record(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,127}$' }), Type.String({ maxLength: 32768 }), {
      additionalProperties: false,
      maxProperties: 256,
    }),
  ),
  /** Working directory (default: the app's own files directory). */
  cwd: Type.Optional(AbsolutePath),
  /** Start when the agent starts, and at once on install (default true). */
  autostart: Type.Optional(Type.Boolean()),
  restart: Type.Optional(AppRestartPolicy),
  /** Replace an installed app of the same name (default false: E_CONFLICT). */
  replace: Type.Optional(Type.Boolean()),
};

export const AppsInstallArgs = Type.Union([
  // A script run as `INTERPRETER FILE ARGS...`, like exec/run's script form.
  Type.Object(
    { ...Common, script: Type.String({ minLength: 1, maxLength: MAX_SCRIPT_BYTES }), interpreter: ScriptInterpreter },
    strict,
  ),
  // A file already on the device: a .tar, .tar.gz or .tgz archive (unpacked) or a single file
  // (copied), run with `entry` (a relative entry[0] is inside the app's files).
  Type.Object({ ...Common, bundle: AbsolutePath, entry: Type.Array(Arg, { minItems: 1, maxItems: 256 }) }, strict),
]);
export type AppsInstallArgs = Static<typeof AppsInstallArgs>;

export const AppsNameArgs = Type.Object({ name: AppName }, strict);
export type AppsNameArgs = Static<typeof AppsNameArgs>;
export const AppsListArgs = Type.Object({}, strict);
export type AppsListArgs = Static<typeof AppsListArgs>;

/**
 * starting: spawned, not yet running; running; backoff: died, restarting after a delay;
 * crashed: died quickly too many times in a row, retrying only at the longest delay;
 * stopped: not running and not to be restarted.
 */
export const AppState = Type.Union([
  Type.Literal('starting'),
  Type.Literal('running'),
  Type.Literal('backoff'),
  Type.Literal('crashed'),
  Type.Literal('stopped'),
]);
export type AppState = Static<typeof AppState>;

export const AppExit = Type.Object(
  {
    code: Type.Union([Type.Integer(), Type.Null()]),
    signal: Type.Union([Type.String(), Type.Null()]),
    /** Unix epoch milliseconds. */
    at: Type.Integer({ minimum: 0 }),
  },
  strict,
);
export type AppExit = Static<typeof AppExit>;

const Ms = Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]);

export const AppStatus = Type.Object(
  {
    name: Type.String(),
    state: AppState,
    /** The process (and process group) id while it runs. */
    pid: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()]),
    /** Restarts by the supervisor since the app was last started by hand or by the agent's start. */
    restarts: Type.Integer({ minimum: 0 }),
    lastExit: Type.Union([AppExit, Type.Null()]),
    /** Why the last start failed (program not found...), until a start succeeds. */
    lastError: Type.Union([Type.String(), Type.Null()]),
    startedAt: Ms,
    /** Seconds since startedAt while running. */
    uptime: Type.Union([Type.Number({ minimum: 0 }), Type.Null()]),
    /** When the next automatic start is due (backoff, crashed). */
    nextStartAt: Ms,
    autostart: Type.Boolean(),
    restart: AppRestartPolicy,
    kind: Type.Union([Type.Literal('script'), Type.Literal('bundle')]),
    interpreter: Type.Optional(ScriptInterpreter),
    /** The command line it runs (interpreter and script file, or the entry), args included. */
    command: Type.Array(Type.String()),
    cwd: Type.String(),
    /** Names of the environment variables it is given (never their values). */
    env: Type.Array(Type.String()),
    installedAt: Type.Integer({ minimum: 0 }),
  },
  strict,
);
export type AppStatus = Static<typeof AppStatus>;

export const AppsList = Type.Object({ apps: Type.Array(AppStatus) }, strict);
export type AppsList = Static<typeof AppsList>;

export const AppsUninstallResult = Type.Object({ name: Type.String(), removed: Type.Literal(true) }, strict);
export type AppsUninstallResult = Static<typeof AppsUninstallResult>;
