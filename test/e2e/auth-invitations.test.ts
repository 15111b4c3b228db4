/**
 * Users and invitations end to end over HTTPS against a real server: an invitation code is shown once, needs
 * a long enough password and works once; a revoked or expired one cannot be used; and guessing codes locks an
 * address out. Ends with the secrets-hygiene check over the secrets these tests were handed. Sessions are in
 * auth-sessions.test.ts, API tokens in auth-tokens.test.ts, hostile input in auth-input.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { admin, atClock, expectNoKeptSecretLeaks, http, invite, keep, ts, useAuthServer } from '../auth-helpers.js';
import { asAdmin, bearer, startTestServer } from '../helpers.js';

useAuthServer();

describe('invitations', () => {
  it('a code is shown once, needs a password of 12+ characters, and works once', async () => {
    const inv = await invite('ivy', 'viewer');
    expect(inv.code).toMatch(/^opi_/);
    const list = await http('GET', '/invitations', { headers: bearer(ts.token) });
    expect(list.text).not.toContain(inv.code);
    expect(list.body.items.find((i: any) => i.id === inv.id)).not.toHaveProperty('code');

    const short = await http('POST', '/auth/accept-invitation', { body: { code: inv.code, password: 'short-pw' } });
    expect(short.status).toBe(400);
    expect(short.body.error.code).toBe('E_BAD_ARGS');
    expect(short.body.error.message).toMatch(/at least 12/);
    const stillOpen = await admin('GET', '/invitations');
    expect(stillOpen.items.find((i: any) => i.id === inv.id).state).toBe('open');

    const password = keep('password', 'ivy-has-a-long-password');
    const ok = await http('POST', '/auth/accept-invitation', { body: { code: inv.code, password } });
    expect(ok.status).toBe(201);
    expect(ok.body).toMatchObject({ name: 'ivy', role: 'viewer', hasPassword: true });
    expect(ok.text).not.toContain(password);

    const again = await http('POST', '/auth/accept-invitation', { body: { code: inv.code, password } });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('E_CONFLICT');
    const unknown = await http('POST', '/auth/accept-invitation', { body: { code: 'opi_nosuchcode', password } });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('E_NOT_FOUND');
  });

  it('a revoked invitation cannot be used: E_CONFLICT', async () => {
    const inv = await invite('rudy', 'operator');
    expect((await admin('DELETE', `/invitations/${inv.id}`)).state).toBe('revoked');
    const r = await http('POST', '/auth/accept-invitation', {
      body: { code: inv.code, password: 'rudy-long-password' },
    });
    expect(r.status).toBe(409);
    expect(r.body.error.code).toBe('E_CONFLICT');
    expect((await admin('GET', '/users')).items.map((u: any) => u.name)).not.toContain('rudy');
  });

  it('an expired invitation cannot be used: E_EXPIRED', async () => {
    const inv = await invite('eve', 'viewer', { ttl: 300 });
    const r = await atClock(Date.now() + 301_000, () =>
      http('POST', '/auth/accept-invitation', { body: { code: inv.code, password: 'eve-long-password' } }),
    );
    expect(r.status).toBe(410);
    expect(r.body.error.code).toBe('E_EXPIRED');
    expect((await admin('GET', '/users')).items.map((u: any) => u.name)).not.toContain('eve');
  });
});

describe('invitation codes', () => {
  it('ten unknown codes from one address lock it out of accepting invitations for a while', async () => {
    // Its own server: this locks 127.0.0.1 out of accepting invitations.
    const other = await startTestServer();
    try {
      const inv = await asAdmin(other, 'POST', '/invitations', { name: 'gil', role: 'viewer' });
      for (let i = 0; i < 10; i++) {
        const r = await http('POST', '/auth/accept-invitation', {
          body: { code: `opi_guess${i}`, password: 'gil-long-password' },
          server: other,
        });
        expect(r.status).toBe(404);
      }
      const real = await http('POST', '/auth/accept-invitation', {
        body: { code: inv.code, password: 'gil-long-password' },
        server: other,
      });
      expect(real.status).toBe(429);
      expect(real.body.error.code).toBe('E_RATE_LIMITED');
      expect(Number(real.headers.get('retry-after'))).toBeGreaterThan(0);
      const list = await http('GET', '/invitations', { headers: bearer(other.token), server: other });
      expect(list.body.items[0].state).toBe('open');
    } finally {
      await other.close();
    }
  });
});

describe('secrets hygiene', () => {
  it('no password, API token or invitation code leaks after creation', async () => {
    await expectNoKeptSecretLeaks(['password', 'API token', 'invitation code'], 10);
  });
});
