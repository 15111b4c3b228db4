/**
 * The agent's state directory (mode 0700) and its identity file `identity.json`
 * (mode 0600): the device id and the secret the server issued at enrollment, or
 * `auth: "certificate"` when the device authenticates with `device.key` and
 * `device.crt` beside it (credentials.ts). Files are written to a temporary name,
 * synced, then renamed, so a crash never leaves half a file behind.
 */
import { chmodSync, closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ID_PATTERN, OutpostError, parse } from '@outpost/protocol';
import { type Static, Type } from '@sinclair/typebox';

const common = {
  server: Type.String({ minLength: 1, maxLength: 2048 }),
  deviceId: Type.String({ pattern: ID_PATTERN }),
  enrolledAt: Type.String({ minLength: 1, maxLength: 64 }),
};
/** A secret identity (files from before certificates have no `auth`), or a certificate one, which has no secret. */
export const Identity = Type.Union([
  Type.Object(
    { ...common, auth: Type.Optional(Type.Literal('secret')), secret: Type.String({ minLength: 1, maxLength: 256 }) },
    { additionalProperties: false },
  ),
  Type.Object({ ...common, auth: Type.Literal('certificate') }, { additionalProperties: false }),
]);
export type Identity = Static<typeof Identity>;

export const identityPath = (stateDir: string): string => join(stateDir, 'identity.json');

/** Creates the state directory if needed and makes sure only the agent's user can read it. */
export function ensureStateDir(stateDir: string): void {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  chmodSync(stateDir, 0o700);
}

/** Writes `data` to `path` atomically: temp file with `mode`, fsync, rename, fsync the directory. */
export function writeFileAtomic(path: string, data: string, mode = 0o600): void {
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w', mode);
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  chmodSync(tmp, mode);
  renameSync(tmp, path);
  syncDir(dirname(path));
}

function syncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Some filesystems refuse fsync on a directory; the rename is still atomic.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** The stored identity, or undefined when the device has not enrolled yet. A corrupt file is an error. */
export function readIdentity(stateDir: string): Identity | undefined {
  const path = identityPath(stateDir);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new OutpostError('E_INTERNAL', `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new OutpostError('E_BAD_ARGS', `${path} is not valid JSON; remove it to enroll again`);
  }
  try {
    return parse(Identity, json, path);
  } catch (err) {
    throw new OutpostError('E_BAD_ARGS', `${(err as Error).message}; remove it to enroll again`);
  }
}

export function writeIdentity(stateDir: string, identity: Identity): void {
  ensureStateDir(stateDir);
  writeFileAtomic(identityPath(stateDir), `${JSON.stringify(identity, null, 2)}\n`, 0o600);
}
