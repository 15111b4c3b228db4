/**
 * Where the CLI's login is saved (`$OUTPOST_CONFIG`, `$XDG_CONFIG_HOME/outpost/cli.json`,
 * `~/.config/outpost/cli.json`), how it is written (mode 0600) and how flags, env and the saved file
 * combine into one connection.
 */
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { CliError } from './errors.js';

/** What `outpost login` saves. `ca` is an absolute path to a PEM file; absent means the system CAs. */
export interface SavedLogin {
  server: string;
  token: string;
  ca?: string;
}

/** A server to talk to: the base URL (no `/api/v1`), the bearer token and an optional CA path. */
export interface Connection {
  server: string;
  token: string;
  ca: string | undefined;
}

export interface ConnectionFlags {
  server?: string;
  token?: string;
  tokenFile?: string;
  ca?: string;
}

export function configPath(env: NodeJS.ProcessEnv = process.env, home: string = homedir()): string {
  if (env.OUTPOST_CONFIG) return resolve(env.OUTPOST_CONFIG);
  if (env.XDG_CONFIG_HOME) return join(resolve(env.XDG_CONFIG_HOME), 'outpost', 'cli.json');
  return join(home, '.config', 'outpost', 'cli.json');
}

/** The saved login, or undefined when there is none; a corrupt file is an error naming the file. */
export async function loadLogin(path: string): Promise<SavedLogin | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CliError(`cannot read ${path}: ${(err as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new CliError(`${path} is not valid JSON; fix it or run \`outpost logout\``);
  }
  const v = value as Partial<Record<keyof SavedLogin, unknown>> | null;
  if (!v || typeof v !== 'object' || typeof v.server !== 'string' || typeof v.token !== 'string') {
    throw new CliError(`${path} lacks 'server' and 'token'; run \`outpost login\` again`);
  }
  if (v.ca !== undefined && typeof v.ca !== 'string') throw new CliError(`${path}: 'ca' must be a file path`);
  return typeof v.ca === 'string'
    ? { server: v.server, token: v.token, ca: v.ca }
    : { server: v.server, token: v.token };
}

/** Writes the login atomically with mode 0600 (its directory 0700): it holds a bearer token. */
export async function saveLogin(path: string, login: SavedLogin): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(login, null, 2)}\n`, { mode: 0o600 });
  // writeFile's mode is filtered by the umask and ignored for an existing file; make it exact.
  await chmod(tmp, 0o600);
  await rename(tmp, path);
}

/** Removes the saved login; false when there was none. */
export async function removeLogin(path: string): Promise<boolean> {
  try {
    await rm(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** `https://h:8443/api/v1/` → `https://h:8443`; rejects anything that is not an http(s) URL. */
export function normalizeServerUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw.includes('://') ? raw : `https://${raw}`);
  } catch {
    throw new CliError(`'${raw}' is not a server URL (expected e.g. https://host:8443)`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new CliError(`'${raw}' must be an https:// URL (the API, not the MQTT broker)`);
  }
  const path = url.pathname.replace(/\/+$/, '').replace(/\/api\/v1$/, '');
  return `${url.origin}${path}`;
}

/** Reads a token file, trimming the newline that editors and `echo` add. */
export async function readTokenFile(path: string): Promise<string> {
  let token: string;
  try {
    token = (await readFile(path, 'utf8')).trim();
  } catch (err) {
    throw new CliError(`cannot read token file ${path}: ${(err as Error).message}`);
  }
  if (!token) throw new CliError(`token file ${path} is empty`);
  return token;
}

const NOT_LOGGED_IN =
  'not logged in: run `outpost login --server URL --token-file FILE --ca FILE` (or set OUTPOST_URL and OUTPOST_TOKEN)';

/**
 * Each field comes from the first of: flag, env (`OUTPOST_URL`, `OUTPOST_TOKEN`, `OUTPOST_CA`),
 * saved login. A token file flag counts as a token flag. The saved token is only used for the saved
 * server, so pointing `--server` elsewhere never sends it to another host.
 */
export async function resolveConnection(
  flags: ConnectionFlags,
  env: NodeJS.ProcessEnv,
  saved: SavedLogin | undefined,
): Promise<Connection> {
  const rawServer = flags.server ?? env.OUTPOST_URL ?? saved?.server;
  if (!rawServer) throw new CliError(NOT_LOGGED_IN);
  const server = normalizeServerUrl(rawServer);
  const sameAsSaved = saved !== undefined && normalizeServerUrl(saved.server) === server;
  const token =
    flags.token ??
    (flags.tokenFile ? await readTokenFile(flags.tokenFile) : undefined) ??
    env.OUTPOST_TOKEN ??
    (sameAsSaved ? saved.token : undefined);
  if (!token) throw new CliError(`no token for ${server}: ${NOT_LOGGED_IN.replace('not logged in: ', '')}`);
  const ca = flags.ca ?? env.OUTPOST_CA ?? (sameAsSaved ? saved.ca : undefined);
  return { server, token, ca: ca ? resolve(ca) : undefined };
}
