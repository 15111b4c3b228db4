/**
 * Where supervised apps live on the device: `<state-dir>/apps/NAME/` holds
 * `manifest.json` (what to run and how, 0600), `files/` (the script, or the
 * unpacked bundle) and, between agent runs, `output.jsonl` (the output ring) and
 * `run.json` (the pid of a running instance, to find it again after an agent crash).
 * An install is prepared in a temporary directory and renamed into place.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  accessSync,
  chmodSync,
  constants,
  copyFileSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, delimiter, isAbsolute, join } from 'node:path';
import {
  APP_NAME_PATTERN,
  AppRestartPolicy,
  type AppsInstallArgs,
  OutpostError,
  parse,
  ScriptInterpreter,
} from '@outpost/protocol';
import { type Static, Type } from '@sinclair/typebox';
import { findInterpreter } from '../capabilities/script-file.js';
import { writeFileAtomic } from '../state.js';

const appNameRe = new RegExp(APP_NAME_PATTERN);
const strict = { additionalProperties: false } as const;

/** The manifest on disk; `version` lets a later agent read an older layout. */
export const AppManifest = Type.Object(
  {
    version: Type.Literal(1),
    name: Type.String({ pattern: APP_NAME_PATTERN }),
    kind: Type.Union([Type.Literal('script'), Type.Literal('bundle')]),
    /** script apps: the interpreter and the script's file name inside `files/`. */
    interpreter: Type.Optional(ScriptInterpreter),
    script: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    /** bundle apps: the entry argv (a relative entry[0] is inside `files/`). */
    entry: Type.Optional(Type.Array(Type.String(), { minItems: 1 })),
    args: Type.Array(Type.String()),
    env: Type.Record(Type.String(), Type.String()),
    cwd: Type.Optional(Type.String({ minLength: 1 })),
    autostart: Type.Boolean(),
    restart: AppRestartPolicy,
    installedAt: Type.Integer({ minimum: 0 }),
  },
  strict,
);
export type AppManifest = Static<typeof AppManifest>;

/** The interpreter runs `files/app.SUFFIX`; node takes `.cjs` as CommonJS whatever surrounds it. */
const SCRIPT_FILE: Record<ScriptInterpreter, string> = {
  sh: 'app.sh',
  bash: 'app.bash',
  python3: 'app.py',
  node: 'app.cjs',
};

/** Where PATH lookups go when the environment has none. */
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const TAR_TIMEOUT_MS = 120_000;

export function checkAppName(name: string): void {
  if (!appNameRe.test(name)) {
    throw new OutpostError(
      'E_BAD_ARGS',
      `invalid app name ${JSON.stringify(name.slice(0, 80))}: use a-z, 0-9, _ and -`,
    );
  }
}

export const appsDir = (stateDir: string): string => join(stateDir, 'apps');
export const appDir = (stateDir: string, name: string): string => join(appsDir(stateDir), name);
export const filesDir = (stateDir: string, name: string): string => join(appDir(stateDir, name), 'files');

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** `program`'s absolute path on `pathVar`, or undefined. */
export function findOnPath(program: string, pathVar: string | undefined): string | undefined {
  for (const dir of (pathVar ?? DEFAULT_PATH).split(delimiter)) {
    if (!dir || !isAbsolute(dir)) continue;
    const candidate = join(dir, program);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** The command line an app runs, resolved now (PATH, the interpreter, its files). */
export function commandLine(stateDir: string, m: AppManifest, pathVar: string | undefined): string[] {
  const files = filesDir(stateDir, m.name);
  if (m.kind === 'script') {
    if (!m.interpreter || !m.script) throw new OutpostError('E_INTERNAL', `manifest of ${m.name} names no script`);
    return [findInterpreter(m.interpreter, pathVar), join(files, m.script), ...m.args];
  }
  const [program = '', ...rest] = m.entry ?? [];
  let resolved: string;
  if (isAbsolute(program)) resolved = program;
  else if (program.includes('/')) resolved = join(files, program);
  else {
    const found = findOnPath(program, pathVar);
    if (!found) throw new OutpostError('E_NOT_FOUND', `program not found: ${program}`);
    resolved = found;
  }
  if (!isExecutable(resolved)) throw new OutpostError('E_NOT_FOUND', `not an executable file: ${program}`);
  return [resolved, ...rest, ...m.args];
}

/** Every manifest under `apps/`; a broken one is reported to `onBad` and skipped. */
export function readManifests(stateDir: string, onBad: (name: string, reason: string) => void): AppManifest[] {
  let names: string[];
  try {
    names = readdirSync(appsDir(stateDir));
  } catch {
    return [];
  }
  const out: AppManifest[] = [];
  for (const name of names.sort()) {
    if (!appNameRe.test(name)) {
      // Interrupted installs and removals: a crash between their steps leaves these behind.
      if (name.startsWith('.')) rmSync(join(appsDir(stateDir), name), { recursive: true, force: true });
      continue;
    }
    try {
      const json: unknown = JSON.parse(readFileSync(join(appDir(stateDir, name), 'manifest.json'), 'utf8'));
      const m = parse(AppManifest, json, `manifest of app ${name}`);
      if (m.name !== name) throw new Error('its name does not match its directory');
      out.push(m);
    } catch (err) {
      onBad(name, (err as Error).message);
    }
  }
  return out;
}

function run(program: string, argv: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(program, argv, { timeout: TAR_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') reject(new OutpostError('E_UNSUPPORTED', `${program} is not installed on this device`));
        else {
          const first =
            String(stderr)
              .split('\n')
              .find((l) => l.trim()) ?? 'failed';
          reject(new OutpostError('E_BAD_ARGS', `the bundle could not be unpacked: ${first.slice(0, 300)}`));
        }
        return;
      }
      resolve(String(stdout));
    });
  });
}

/** Unpacks a tar archive into `dest` after checking no member is absolute or climbs with `..`. */
async function unpack(archive: string, gzip: boolean, dest: string): Promise<void> {
  const z = gzip ? ['-z'] : [];
  const listing = await run('tar', ['-t', ...z, '-f', archive]);
  for (const member of listing.split('\n')) {
    if (!member) continue;
    if (member.startsWith('/') || member.split('/').includes('..')) {
      throw new OutpostError('E_BAD_ARGS', `the bundle has an unsafe member ${JSON.stringify(member.slice(0, 200))}`);
    }
  }
  // -o: do not restore the archive's owners (GNU and BusyBox tar alike).
  await run('tar', ['-x', ...z, '-o', '-f', archive, '-C', dest]);
}

/** Puts the app's files in `dest`: the script, or the bundle unpacked or copied. */
async function writeFiles(
  args: AppsInstallArgs,
  dest: string,
): Promise<Pick<AppManifest, 'kind' | 'interpreter' | 'script' | 'entry'>> {
  if ('script' in args) {
    const file = SCRIPT_FILE[args.interpreter];
    writeFileSync(join(dest, file), args.script, { mode: 0o600, flag: 'wx' });
    return { kind: 'script', interpreter: args.interpreter, script: file };
  }
  if (args.bundle.split('/').includes('..'))
    throw new OutpostError('E_BAD_ARGS', "a bundle path must not contain '..'");
  let real: string;
  try {
    real = realpathSync(args.bundle);
    if (!statSync(real).isFile()) throw new OutpostError('E_BAD_ARGS', `${args.bundle} is not a regular file`);
  } catch (err) {
    if (err instanceof OutpostError) throw err;
    throw new OutpostError('E_NOT_FOUND', `bundle not found: ${args.bundle}`);
  }
  if (/\.(tar\.gz|tgz)$/i.test(real)) await unpack(real, true, dest);
  else if (/\.tar$/i.test(real)) await unpack(real, false, dest);
  else {
    const target = join(dest, basename(real));
    copyFileSync(real, target);
    chmodSync(target, statSync(real).mode & 0o777);
  }
  const program = args.entry[0] ?? '';
  if (!isAbsolute(program) && program.includes('/')) {
    if (program.split('/').includes('..'))
      throw new OutpostError('E_BAD_ARGS', "the entry must not climb out of the app with '..'");
    if (!isExecutable(join(dest, program))) {
      throw new OutpostError('E_BAD_ARGS', `the entry ${program} is not an executable file of the bundle`);
    }
  }
  return { kind: 'bundle', entry: [...args.entry] };
}

/**
 * Prepares an install in a temporary directory beside the apps (same filesystem, so
 * it can be renamed into place) and returns its manifest and directory. Nothing
 * under `apps/NAME/` changes until `commitInstall`.
 */
export async function prepareInstall(
  stateDir: string,
  args: AppsInstallArgs,
  now: number,
): Promise<{ manifest: AppManifest; staging: string }> {
  checkAppName(args.name);
  if (args.cwd?.split('/').includes('..')) {
    throw new OutpostError('E_BAD_ARGS', "cwd must not contain '..'");
  }
  mkdirSync(appsDir(stateDir), { recursive: true, mode: 0o700 });
  const staging = join(appsDir(stateDir), `.install-${args.name}-${randomBytes(6).toString('hex')}`);
  mkdirSync(join(staging, 'files'), { recursive: true, mode: 0o700 });
  try {
    const what = await writeFiles(args, join(staging, 'files'));
    const manifest: AppManifest = {
      version: 1,
      name: args.name,
      ...what,
      args: [...(args.args ?? [])],
      env: { ...(args.env ?? {}) },
      ...(args.cwd !== undefined ? { cwd: args.cwd } : {}),
      autostart: args.autostart ?? true,
      restart: args.restart ?? 'always',
      installedAt: now,
    };
    // Checked now, so a missing interpreter or program refuses the install instead of a broken app.
    const pathVar = manifest.env.PATH ?? process.env.PATH;
    if (manifest.kind === 'script' && manifest.interpreter) findInterpreter(manifest.interpreter, pathVar);
    if (manifest.kind === 'bundle') {
      const program = manifest.entry?.[0] ?? '';
      if (!program.includes('/') && !findOnPath(program, pathVar)) {
        throw new OutpostError('E_NOT_FOUND', `program not found on this device: ${program}`);
      }
      if (isAbsolute(program) && !isExecutable(program)) {
        throw new OutpostError('E_NOT_FOUND', `not an executable file: ${program}`);
      }
    }
    writeFileAtomic(join(staging, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`, 0o600);
    return { manifest, staging };
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    throw err;
  }
}

/** Moves a prepared install into `apps/NAME/`, replacing what was there (its output and run files go with it). */
export function commitInstall(stateDir: string, name: string, staging: string): void {
  const dir = appDir(stateDir, name);
  let old: string | undefined;
  try {
    statSync(dir);
    old = join(appsDir(stateDir), `.remove-${name}-${randomBytes(6).toString('hex')}`);
    renameSync(dir, old);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  renameSync(staging, dir);
  if (old) rmSync(old, { recursive: true, force: true });
}

/** Removes `apps/NAME/` (renamed first, so a crash midway leaves no half app behind). */
export function removeApp(stateDir: string, name: string): void {
  const dir = appDir(stateDir, name);
  const doomed = join(appsDir(stateDir), `.remove-${name}-${randomBytes(6).toString('hex')}`);
  try {
    renameSync(dir, doomed);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  rmSync(doomed, { recursive: true, force: true });
}
