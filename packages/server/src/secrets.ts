/** Random secrets, their hashes, and the data-dir permission check. */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { statSync } from 'node:fs';
import { OutpostError } from '@outpost/protocol';

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/** A random id like `d-k3x9...` (ID_PATTERN-safe). */
export function newId(prefix: string, length = 20): string {
  const bytes = randomBytes(length);
  let s = '';
  for (const b of bytes) s += BASE32[b & 31];
  return `${prefix}-${s}`;
}

/** A 256-bit secret with a readable type prefix (`opt_` API token, `ope_` enrollment, `ops_` device). */
export function newSecret(prefix: string): string {
  return `${prefix}_${randomBytes(32).toString('base64url')}`;
}

/** Secrets are 256-bit random, so a plain SHA-256 is enough to make a stolen database useless. */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export function secretMatches(secret: string, hash: string): boolean {
  const a = Buffer.from(hashSecret(secret), 'hex');
  const b = Buffer.from(hash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Refuses to run with secret files others can read: a leaked CA key or token file is game over. */
export function assertPrivateFile(path: string): void {
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch {
    return;
  }
  if (mode & 0o077) {
    throw new OutpostError(
      'E_DENIED',
      `refusing to start: ${path} is readable by other users (mode ${(mode & 0o777).toString(8)}); run: chmod 600 ${path}`,
    );
  }
}
