/** Password hashing: scrypt with a random salt, a length policy, and a check that fails closed. */
import { describe, expect, it } from 'vitest';
import { checkPasswordPolicy, hashPassword, MAX_PASSWORD_LENGTH, verifyPassword } from './passwords.js';

describe('hashPassword and verifyPassword', () => {
  it('stores scrypt parameters, a random salt and the key, never the password', async () => {
    const password = 'correct horse battery staple';
    const a = await hashPassword(password);
    const b = await hashPassword(password);
    expect(a).toMatch(/^scrypt\$32768\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(a).not.toContain(password);
    expect(a).not.toBe(b); // a leaked table gives no hint that two users share a password
    expect(await verifyPassword(password, a)).toBe(true);
    expect(await verifyPassword(password, b)).toBe(true);
    expect(await verifyPassword('correct horse battery stapler', a)).toBe(false);
  });

  it('compares the Unicode-normalized password: the same text typed two ways matches', async () => {
    const composed = 'caf\u00e9-long-password';
    const decomposed = 'cafe\u0301-long-password';
    expect(await verifyPassword(decomposed, await hashPassword(composed))).toBe(true);
  });

  it('fails closed: no password set, a malformed hash, or an overlong password never match', async () => {
    expect(await verifyPassword('anything-at-all', null)).toBe(false);
    expect(await verifyPassword('anything-at-all', 'sha256$abc')).toBe(false);
    expect(await verifyPassword('anything-at-all', 'scrypt$32768$8$1$$')).toBe(false);
    const stored = await hashPassword('x'.repeat(MAX_PASSWORD_LENGTH));
    expect(await verifyPassword('x'.repeat(MAX_PASSWORD_LENGTH + 1), stored)).toBe(false);
  });
});

describe('checkPasswordPolicy', () => {
  it('wants at least 12 and at most 1024 characters, as E_BAD_ARGS that never echo the password', () => {
    for (const bad of ['', 'elevenchars', 'y'.repeat(MAX_PASSWORD_LENGTH + 1)]) {
      let err: any;
      try {
        checkPasswordPolicy(bad);
      } catch (e) {
        err = e;
      }
      expect(err?.code, JSON.stringify(bad.slice(0, 20))).toBe('E_BAD_ARGS');
      if (bad) expect(err.message).not.toContain(bad);
    }
    expect(() => checkPasswordPolicy('twelve-chars')).not.toThrow();
    expect(() => checkPasswordPolicy('z'.repeat(MAX_PASSWORD_LENGTH))).not.toThrow();
  });
});
