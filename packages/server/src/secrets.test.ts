/** Ids, secrets, their hashes, and the refusal to run with secret files others can read. */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ID_PATTERN, OutpostError } from '@outpost/protocol';
import { afterAll, describe, expect, it } from 'vitest';
import { assertPrivateFile, hashSecret, newId, newSecret, secretMatches } from './secrets.js';

const dir = mkdtempSync(join(tmpdir(), 'outpost-secrets-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('newId', () => {
  it('makes documented device ids: d- and 20 base32 chars, valid topic ids', () => {
    const re = new RegExp(ID_PATTERN);
    for (let i = 0; i < 200; i++) {
      const id = newId('d');
      expect(id).toMatch(/^d-[a-z2-7]{20}$/);
      expect(id).toMatch(re);
    }
  });

  it('honours the length and prefix', () => {
    expect(newId('c', 8)).toMatch(/^c-[a-z2-7]{8}$/);
    expect(newId('tok', 40)).toMatch(new RegExp(ID_PATTERN));
  });

  it('does not repeat', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => newId('d')));
    expect(ids.size).toBe(1000);
  });
});

describe('newSecret', () => {
  it.each(['opt', 'ope', 'ops'])('prefixes %s_ and carries 256 random bits', (prefix) => {
    const s = newSecret(prefix);
    expect(s).toMatch(new RegExp(`^${prefix}_[A-Za-z0-9_-]{43}$`));
    expect(Buffer.from(s.slice(prefix.length + 1), 'base64url')).toHaveLength(32);
  });

  it('fits the EnrollResponse secret bounds and does not repeat', () => {
    const secrets = new Set(Array.from({ length: 1000 }, () => newSecret('ops')));
    expect(secrets.size).toBe(1000);
    for (const s of secrets) expect(s.length >= 32 && s.length <= 256).toBe(true);
  });
});

describe('hashSecret and secretMatches', () => {
  it('hashes to SHA-256 hex, deterministically, never containing the secret', () => {
    const s = newSecret('ops');
    const h = hashSecret(s);
    expect(h).toMatch(/^[0-9a-f]{64}$/);
    expect(hashSecret(s)).toBe(h);
    expect(h).not.toContain(s);
    expect(hashSecret('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('matches only the right secret', () => {
    const s = newSecret('ops');
    const h = hashSecret(s);
    expect(secretMatches(s, h)).toBe(true);
    expect(secretMatches(`${s}x`, h)).toBe(false);
    expect(secretMatches(s.slice(0, -1), h)).toBe(false);
    expect(secretMatches('', h)).toBe(false);
    expect(secretMatches(newSecret('ops'), h)).toBe(false);
  });

  it('a malformed stored hash never matches and never throws', () => {
    const s = newSecret('ops');
    for (const bad of ['', 'zz', hashSecret(s).slice(0, 63), `${hashSecret(s)}00`, s]) {
      expect(secretMatches(s, bad), bad).toBe(false);
    }
  });
});

describe('assertPrivateFile', () => {
  function fileWithMode(name: string, mode: number): string {
    const path = join(dir, name);
    writeFileSync(path, 'secret');
    chmodSync(path, mode);
    return path;
  }

  it.each([0o644, 0o640, 0o604, 0o660, 0o666, 0o601, 0o610].map((m) => [m.toString(8), m] as const))(
    'refuses mode %s with E_DENIED and a chmod hint',
    (_octal, m) => {
      const path = fileWithMode(`key-${m.toString(8)}`, m);
      let thrown: unknown;
      try {
        assertPrivateFile(path);
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(OutpostError);
      expect((thrown as OutpostError).code).toBe('E_DENIED');
      expect((thrown as OutpostError).message).toContain(`chmod 600 ${path}`);
      expect((thrown as OutpostError).message).toContain(`mode ${m.toString(8)}`);
    },
  );

  it.each([0o600, 0o400, 0o700].map((m) => [m.toString(8), m] as const))('accepts mode %s', (_octal, m) => {
    expect(() => assertPrivateFile(fileWithMode(`ok-${m.toString(8)}`, m))).not.toThrow();
  });

  it('accepts a file that does not exist yet', () => {
    expect(() => assertPrivateFile(join(dir, 'missing', 'ca.key'))).not.toThrow();
  });
});
