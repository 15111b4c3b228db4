/**
 * Users, sessions and API tokens end to end over HTTPS against a real server:
 * invitations, password login with an HttpOnly cookie and a CSRF token, session
 * expiry, password change, session control, login rate limits, personal tokens
 * and their scope, user removal, and the secrets that must never show up
 * anywhere after they are handed out. Hostile input is in auth-input.test.ts.
 */

import { once } from 'node:events';
import { chmodSync, createWriteStream, existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { startServer } from '@outpost/server';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  type ApiResult,
  asAdmin,
  bearer,
  onlineAgent,
  request,
  startTestServer,
  type TestAgent,
  type TestServer,
} from '../helpers.js';

let ts: TestServer;
let serverClosed = false;

/** Every secret this file is handed: none may appear in logs, audit rows, lists or the database. */
const secrets: { kind: string; value: string }[] = [];
const keep = (kind: string, value: string) => {
  secrets.push({ kind, value });
  return value;
};

async function http(
  method: string,
  path: string,
  opts: { body?: unknown; rawBody?: string; headers?: Record<string, string>; server?: TestServer } = {},
): Promise<ApiResult> {
  return request(opts.server ?? ts, method, path, opts);
}

interface Session {
  cookie: string;
  csrf: string;
  id: string;
}
/** Cookie headers, with the session's CSRF token unless told otherwise. */
const browser = (s: Session, csrf: string | null = s.csrf) => ({
  cookie: `outpost_session=${s.cookie}`,
  ...(csrf ? { 'x-csrf-token': csrf } : {}),
});

const admin = (method: string, path: string, body?: unknown): Promise<any> => asAdmin(ts, method, path, body);

async function invite(name: string, role: string, extra: Record<string, unknown> = {}): Promise<any> {
  const inv = await admin('POST', '/invitations', { name, role, ...extra });
  keep('invitation code', inv.code);
  return inv;
}

/** Invites and accepts: a user with a password. */
async function newUser(name: string, role: string, tags: string[] = []): Promise<{ name: string; password: string }> {
  const inv = await invite(name, role, { tags });
  const password = keep('password', `pw-${name}-${Math.random().toString(36).slice(2)}`);
  const r = await http('POST', '/auth/accept-invitation', { body: { code: inv.code, password } });
  expect(r.status).toBe(201);
  return { name, password };
}

async function login(name: string, password: string): Promise<Session & { reply: ApiResult }> {
  const reply = await http('POST', '/auth/login', { body: { name, password } });
  if (reply.status !== 200) throw new Error(`login ${name}: ${reply.status} ${reply.text}`);
  const cookie = /outpost_session=([^;]*)/.exec(reply.headers.get('set-cookie') ?? '')?.[1] ?? '';
  return {
    cookie: keep('session token', cookie),
    csrf: keep('CSRF token', reply.body.csrfToken),
    id: reply.body.session.id,
    reply,
  };
}

async function cliToken(user: { name: string; password: string }, extra: Record<string, unknown> = {}) {
  const r = await http('POST', '/auth/token', { body: { ...user, tokenName: 'cli', ...extra } });
  expect(r.status).toBe(201);
  return keep('API token', r.body.token);
}

const whoami = async (headers: Record<string, string>) => http('GET', '/whoami', { headers });

/** Moves this process's clock (the server runs in it): `Date` only, timers stay real. */
async function atClock<T>(ms: number, fn: () => Promise<T>): Promise<T> {
  vi.setSystemTime(ms);
  try {
    return await fn();
  } finally {
    vi.useRealTimers();
  }
}

beforeAll(async () => {
  ts = await startTestServer({ sessionIdle: 60, sessionMax: 300 });
  keep('API token', ts.token);
});
afterAll(async () => {
  if (!serverClosed) await ts?.close();
});

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

describe('browser sessions', () => {
  let ben: { name: string; password: string };
  beforeAll(async () => {
    ben = await newUser('ben', 'operator');
  });

  it('login sets an HttpOnly, Secure, SameSite=Strict cookie and returns a CSRF token', async () => {
    const s = await login(ben.name, ben.password);
    expect(s.reply.headers.get('set-cookie')).toMatch(
      /^outpost_session=oss_[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; Secure; SameSite=Strict; Max-Age=300$/,
    );
    expect(s.csrf).toMatch(/^osc_[A-Za-z0-9_-]{43}$/);
    expect(s.reply.text).not.toContain(s.cookie);
    // Idle expiry (60 s here) comes before the absolute one (300 s).
    const { createdAt, expiresAt } = s.reply.body.session;
    expect(Date.parse(expiresAt) - Date.parse(createdAt)).toBe(60_000);
    const me = await whoami(browser(s, null));
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ kind: 'session', name: 'ben', role: 'operator' });
  });

  it("a cookie-authenticated change needs the session's own CSRF token", async () => {
    const s = await login(ben.name, ben.password);
    const other = await login(ben.name, ben.password);
    const count = async () => (await http('GET', '/api-tokens', { headers: browser(s, null) })).body.items.length;
    const before = await count();
    const none = await http('POST', '/api-tokens', { body: { name: 'x' }, headers: browser(s, null) });
    expect(none.status).toBe(403);
    expect(none.body.error.code).toBe('E_DENIED');
    const foreign = await http('POST', '/api-tokens', { body: { name: 'x' }, headers: browser(s, other.csrf) });
    expect(foreign.status).toBe(403);
    expect(foreign.body.error.code).toBe('E_DENIED');
    const garbage = await http('POST', '/api-tokens', { body: { name: 'x' }, headers: browser(s, 'osc_nope') });
    expect(garbage.status).toBe(403);
    expect(await count()).toBe(before);
    const own = await http('POST', '/api-tokens', { body: { name: 'x' }, headers: browser(s) });
    expect(own.status).toBe(201);
    keep('API token', own.body.token);
    expect(await count()).toBe(before + 1);
  });

  it('logout ends the session: its cookie and CSRF token are dead afterwards', async () => {
    const s = await login(ben.name, ben.password);
    const noCsrf = await http('POST', '/auth/logout', { headers: browser(s, null) });
    expect(noCsrf.status).toBe(403);
    expect((await whoami(browser(s, null))).status).toBe(200);
    const out = await http('POST', '/auth/logout', { headers: browser(s) });
    expect(out.status).toBe(204);
    expect(out.headers.get('set-cookie')).toMatch(/^outpost_session=; .*Max-Age=0$/);
    const after = await whoami(browser(s, null));
    expect(after.status).toBe(401);
    expect(after.body.error.code).toBe('E_UNAUTHENTICATED');
    const replay = await http('POST', '/api-tokens', { body: { name: 'replayed' }, headers: browser(s) });
    expect(replay.status).toBe(401);
    expect(replay.body.error.code).toBe('E_UNAUTHENTICATED');
  });

  it('a session ends after 60 s idle, and 300 s after login however busy', async () => {
    const idle = await login(ben.name, ben.password);
    const t0 = Date.parse(idle.reply.body.session.createdAt);
    expect((await atClock(t0 + 59_000, () => whoami(browser(idle, null)))).status).toBe(200);
    expect((await atClock(t0 + 59_000 + 61_000, () => whoami(browser(idle, null)))).status).toBe(401);

    const busy = await login(ben.name, ben.password);
    const t1 = Date.parse(busy.reply.body.session.createdAt);
    // Activity every 50 s keeps it alive, and pushes the idle deadline along...
    for (const at of [50, 100, 150, 200, 250, 299]) {
      const [me, listed] = await atClock(t1 + at * 1000, async () => [
        await whoami(browser(busy, null)),
        await http('GET', '/sessions', { headers: browser(busy, null) }),
      ]);
      expect(me?.status, `${at} s after login`).toBe(200);
      const expiresAt = Date.parse(listed?.body.items.find((x: any) => x.id === busy.id).expiresAt);
      expect(expiresAt, `${at} s after login`).toBe(t1 + Math.min(300, at + 60) * 1000);
    }
    // ...but not past the absolute lifetime.
    const late = await atClock(t1 + 301_000, () => whoami(browser(busy, null)));
    expect(late.status).toBe(401);
    expect(late.body.error.code).toBe('E_UNAUTHENTICATED');
  });

  it('changing the password ends the other sessions and keeps this one', async () => {
    const pat = await newUser('pat', 'operator');
    const a = await login(pat.name, pat.password);
    const b = await login(pat.name, pat.password);
    const token = await cliToken(pat);

    const wrong = await http('POST', '/auth/password', {
      body: { current: 'not-the-password', new: 'pat-new-password-1' },
      headers: browser(a),
    });
    expect(wrong.status).toBe(401);
    const short = await http('POST', '/auth/password', {
      body: { current: pat.password, new: 'short' },
      headers: browser(a),
    });
    expect(short.status).toBe(400);
    expect(short.body.error.code).toBe('E_BAD_ARGS');
    expect((await whoami(browser(b, null))).status).toBe(200);

    const fresh = keep('password', 'pat-new-password-1');
    const changed = await http('POST', '/auth/password', {
      body: { current: pat.password, new: fresh },
      headers: browser(a),
    });
    expect(changed.status).toBe(200);
    expect(changed.body).toEqual({ endedSessions: 1 });
    expect((await whoami(browser(a, null))).status).toBe(200);
    expect((await whoami(browser(b, null))).status).toBe(401);
    expect((await http('POST', '/auth/login', { body: { name: 'pat', password: pat.password } })).status).toBe(401);
    await login('pat', fresh);
    // API tokens are not sessions: they survive a password change (revoke them on their own).
    expect((await whoami(bearer(token))).status).toBe(200);
  });

  it("an admin lists and ends anyone's session; others see and end only their own", async () => {
    const sam = await newUser('sam', 'viewer');
    const ola = await newUser('ola', 'operator');
    const samSession = await login(sam.name, sam.password);
    const olaSession = await login(ola.name, ola.password);

    const all = await admin('GET', '/sessions?all=true');
    expect(all.items.map((x: any) => x.id)).toEqual(expect.arrayContaining([samSession.id, olaSession.id]));
    const mine = await http('GET', '/sessions', { headers: browser(samSession, null) });
    expect(mine.body.items.map((x: any) => x.userName)).toEqual(['sam']);
    const peek = await http('GET', '/sessions?all=true', { headers: browser(samSession, null) });
    expect(peek.status).toBe(403);
    expect(peek.body.error.code).toBe('E_DENIED');
    const endOther = await http('DELETE', `/sessions/${olaSession.id}`, { headers: browser(samSession) });
    expect(endOther.status).toBe(404);
    expect(endOther.body.error.code).toBe('E_NOT_FOUND');
    expect((await whoami(browser(olaSession, null))).status).toBe(200);

    expect((await http('DELETE', `/sessions/${samSession.id}`, { headers: bearer(ts.token) })).status).toBe(204);
    expect((await whoami(browser(samSession, null))).status).toBe(401);
  });
});

describe('credentials that are not credentials', () => {
  it('garbage, oversized or wrongly prefixed cookies and tokens are 401 E_UNAUTHENTICATED', async () => {
    const victim = await newUser('vera', 'viewer');
    const s = await login(victim.name, victim.password);
    const invCode = (await invite('ghost', 'viewer')).code;
    const cases: [string, Record<string, string>][] = [
      ['garbage cookie', { cookie: 'outpost_session=%%%garbage%%%' }],
      ['empty cookie', { cookie: 'outpost_session=' }],
      ['long cookie value', { cookie: `outpost_session=oss_${'a'.repeat(5000)}` }],
      ['huge cookie header', { cookie: `x=${'b'.repeat(9000)}; outpost_session=${s.cookie}` }],
      ['unknown session', { cookie: `outpost_session=oss_${'c'.repeat(43)}` }],
      ['API token as cookie', { cookie: `outpost_session=${ts.token}` }],
      ['CSRF token as cookie', { cookie: `outpost_session=${s.csrf}` }],
      ['session token as bearer', bearer(s.cookie)],
      ['invitation code as bearer', bearer(invCode)],
      ['truncated API token', bearer(ts.token.slice(0, -1))],
      ['bearer with spaces', { authorization: `Bearer ${ts.token} x` }],
      ['basic auth', { authorization: `Basic ${Buffer.from(`admin:${ts.token}`).toString('base64')}` }],
    ];
    for (const [what, headers] of cases) {
      const r = await whoami(headers);
      expect(r.status, what).toBe(401);
      expect(r.body.error.code, what).toBe('E_UNAUTHENTICATED');
    }
    expect((await whoami(browser(s, null))).status).toBe(200);
  });
});

describe('API token lifetime', () => {
  it('a token with a ttl is 401 once it passes; a CLI login token lasts 30 days unless told otherwise', async () => {
    const made = await admin('POST', '/api-tokens', { name: 'brief', ttl: 60 });
    const token = keep('API token', made.token);
    const created = Date.parse(made.createdAt);
    expect(Date.parse(made.expiresAt) - created).toBe(60_000);
    expect((await atClock(created + 59_000, () => whoami(bearer(token)))).status).toBe(200);
    const late = await atClock(created + 60_000, () => whoami(bearer(token)));
    expect(late.status).toBe(401);
    expect(late.body.error.code).toBe('E_UNAUTHENTICATED');

    const lena = await newUser('lena', 'viewer');
    const r = await http('POST', '/auth/token', { body: { ...lena, tokenName: 'laptop' } });
    keep('API token', r.body.token);
    const days = (Date.parse(r.body.expiresAt) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(29.9);
    expect(days).toBeLessThanOrEqual(30);
  });
});

describe('rate limits', () => {
  it('five failed logins lock the account: E_RATE_LIMITED with Retry-After, even for the right password', async () => {
    const rita = await newUser('rita', 'viewer');
    for (let i = 0; i < 5; i++) {
      const r = await http('POST', '/auth/login', { body: { name: 'rita', password: `wrong-guess-${i}` } });
      expect(r.status).toBe(401);
      expect(r.body.error.code).toBe('E_UNAUTHENTICATED');
    }
    const locked = await http('POST', '/auth/login', { body: rita });
    expect(locked.status).toBe(429);
    expect(locked.body.error.code).toBe('E_RATE_LIMITED');
    const retryAfter = Number(locked.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(15 * 60);
    const viaToken = await http('POST', '/auth/token', { body: { ...rita, tokenName: 'x' } });
    expect(viaToken.status).toBe(429);
    // Per account: the same address still logs others in.
    const other = await newUser('otto', 'viewer');
    await login(other.name, other.password);
  });

  // Once a bug: failures were counted only after the ~150 ms scrypt, so every guess already in
  // flight passed the check and a burst of N concurrent guesses got all N checked.
  it('concurrent failed logins count too: at most five guesses at one account are checked', async () => {
    await newUser('cora', 'viewer');
    // Warm connections first, so the burst arrives together rather than one TLS handshake at a time.
    await Promise.all(Array.from({ length: 12 }, () => http('GET', '/health')));
    const guesses = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        http('POST', '/auth/login', { body: { name: 'cora', password: `parallel-guess-${i}` } }),
      ),
    );
    const checked = guesses.filter((g) => g.status === 401).length;
    const limited = guesses.filter((g) => g.status === 429).length;
    expect(checked + limited).toBe(12);
    expect(checked, 'password guesses that were checked against the hash').toBeLessThanOrEqual(5);
  });

  it('thirty failed logins lock out the address, whatever the account; X-Forwarded-For does not help', async () => {
    // Its own server: this locks out 127.0.0.1, which every other test here uses.
    const other = await startTestServer();
    try {
      const inv = await http('POST', '/invitations', {
        body: { name: 'ira', role: 'viewer' },
        headers: bearer(other.token),
        server: other,
      });
      const ira = { name: 'ira', password: 'ira-long-password' };
      expect(
        (
          await http('POST', '/auth/accept-invitation', {
            body: { code: inv.body.code, password: ira.password },
            server: other,
          })
        ).status,
      ).toBe(201);
      const failures = await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          http('POST', '/auth/login', { body: { name: `nobody${i}`, password: 'whatever-guess' }, server: other }),
        ),
      );
      expect(failures.map((f) => f.status)).toEqual(Array(30).fill(401));
      const spoofed: Record<string, string>[] = [{}, { 'x-forwarded-for': '203.0.113.9', 'x-real-ip': '203.0.113.9' }];
      for (const headers of spoofed) {
        const r = await http('POST', '/auth/login', { body: ira, headers, server: other });
        expect(r.status).toBe(429);
        expect(r.body.error.code).toBe('E_RATE_LIMITED');
        expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
      }
    } finally {
      await other.close();
    }
  });
});

describe('invitation codes', () => {
  it('ten unknown codes from one address lock it out of accepting invitations for a while', async () => {
    // Its own server: this locks 127.0.0.1 out of accepting invitations.
    const other = await startTestServer();
    try {
      const inv = await http('POST', '/invitations', {
        body: { name: 'gil', role: 'viewer' },
        headers: bearer(other.token),
        server: other,
      });
      for (let i = 0; i < 10; i++) {
        const r = await http('POST', '/auth/accept-invitation', {
          body: { code: `opi_guess${i}`, password: 'gil-long-password' },
          server: other,
        });
        expect(r.status).toBe(404);
      }
      const real = await http('POST', '/auth/accept-invitation', {
        body: { code: inv.body.code, password: 'gil-long-password' },
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

describe('personal API tokens', () => {
  const agents: TestAgent[] = [];
  let lab: string;
  let prod: string;
  beforeAll(async () => {
    for (const tag of ['lab', 'prod']) {
      const { agent, device } = await onlineAgent(ts, {
        enroll: keep('enrollment token', await ts.enrollmentToken({ autoAccept: true, tags: [tag] })),
      });
      agents.push(agent);
      keep('device secret', agent.identity().secret);
      if (tag === 'lab') lab = device.id;
      else prod = device.id;
    }
  });
  afterAll(async () => {
    for (const a of agents) await a.stop();
  });

  const ping = (token: string, device: string) =>
    http('POST', `/devices/${device}/commands`, {
      body: { capability: 'system', action: 'ping' },
      headers: bearer(token),
    });

  it("a token's role cannot exceed its user's: E_DENIED", async () => {
    const vic = await newUser('vic', 'viewer');
    const token = await cliToken(vic);
    for (const role of ['operator', 'admin']) {
      const r = await http('POST', '/api-tokens', { body: { name: 'up', role }, headers: bearer(token) });
      expect(r.status, role).toBe(403);
      expect(r.body.error.code, role).toBe('E_DENIED');
    }
    const same = await http('POST', '/api-tokens', { body: { name: 'same', role: 'viewer' }, headers: bearer(token) });
    expect(same.status).toBe(201);
    keep('API token', same.body.token);

    // An operator's viewer token acts as a viewer, and cannot mint an operator token back.
    const opal = await newUser('opal', 'operator');
    const opalToken = await cliToken(opal);
    const capped = await http('POST', '/api-tokens', {
      body: { name: 'ro', role: 'viewer' },
      headers: bearer(opalToken),
    });
    const viewerToken = keep('API token', capped.body.token);
    expect((await whoami(bearer(viewerToken))).body.role).toBe('viewer');
    const back = await http('POST', '/api-tokens', {
      body: { name: 'up', role: 'operator' },
      headers: bearer(viewerToken),
    });
    expect(back.status).toBe(403);
    expect((await ping(viewerToken, lab)).status).toBe(403);
    expect((await ping(opalToken, lab)).status).toBe(202);
  });

  it("a viewer's token cannot run commands, and nothing reaches the device", async () => {
    const viola = await newUser('viola', 'viewer');
    const token = await cliToken(viola);
    const before = (await admin('GET', `/devices/${lab}/commands`)).items.length;
    const r = await ping(token, lab);
    expect(r.status).toBe(403);
    expect(r.body.error.code).toBe('E_DENIED');
    expect((await admin('GET', `/devices/${lab}/commands`)).items.length).toBe(before);
  });

  it('the list shows last use and never the token; a revoked token is 401 at once', async () => {
    const made = await admin('POST', '/api-tokens', { name: 'short-lived' });
    const token = keep('API token', made.token);
    const listed = async () => (await admin('GET', '/api-tokens')).items.find((t: any) => t.id === made.id);
    expect(await listed()).toMatchObject({ lastUsedAt: null, revokedAt: null });
    expect(await listed()).not.toHaveProperty('token');
    expect((await whoami(bearer(token))).status).toBe(200);
    expect(Date.parse((await listed()).lastUsedAt)).toBeGreaterThan(0);
    const list = await http('GET', '/api-tokens?all=true', { headers: bearer(ts.token) });
    expect(list.text).not.toMatch(/opt_[A-Za-z0-9_-]{20,}/);

    // Another user cannot revoke it, nor learn that it exists.
    const olga = await newUser('olga', 'operator');
    const olgaToken = await cliToken(olga);
    const foreign = await http('DELETE', `/api-tokens/${made.id}`, { headers: bearer(olgaToken) });
    expect(foreign.status).toBe(404);
    expect((await whoami(bearer(token))).status).toBe(200);

    expect((await http('DELETE', `/api-tokens/${made.id}`, { headers: bearer(ts.token) })).status).toBe(204);
    const after = await whoami(bearer(token));
    expect(after.status).toBe(401);
    expect(after.body.error.code).toBe('E_UNAUTHENTICATED');
    expect((await listed()).revokedAt).not.toBeNull();
  });

  it('a token scoped to a tag sees and acts on only the devices with that tag', async () => {
    const made = await admin('POST', '/api-tokens', { name: 'lab only', tags: ['lab'] });
    const token = keep('API token', made.token);
    const list = await http('GET', '/devices', { headers: bearer(token) });
    expect(list.body.items.map((d: any) => d.id)).toEqual([lab]);
    const byTag = await http('GET', '/devices?tag=prod', { headers: bearer(token) });
    expect(byTag.body.items).toEqual([]);
    for (const r of [
      await http('GET', `/devices/${prod}`, { headers: bearer(token) }),
      await ping(token, prod),
      await http('POST', `/devices/${prod}/revoke`, { headers: bearer(token) }),
    ]) {
      expect(r.status).toBe(404);
      expect(r.body.error.code).toBe('E_NOT_FOUND');
    }
    expect((await ping(token, lab)).status).toBe(202);
    expect((await admin('GET', `/devices/${prod}`)).status).toBe('accepted');
  });

  // Once a bug: a new token got `input.tags ?? []` whatever its maker's scope, so a token limited
  // to `lab` minted an unscoped one (POST /api-tokens needs only self:write).
  it('a scoped token cannot mint a token that sees more than it does', async () => {
    const scoped = keep('API token', (await admin('POST', '/api-tokens', { name: 'ci', tags: ['lab'] })).token);
    // Without tags the new token inherits the maker's scope...
    const minted = await http('POST', '/api-tokens', { body: { name: 'child' }, headers: bearer(scoped) });
    expect(minted.status).toBe(201);
    expect(minted.body.tags).toEqual(['lab']);
    const child = keep('API token', minted.body.token);
    const seen = (await http('GET', '/devices', { headers: bearer(child) })).body.items.map((d: any) => d.id);
    expect(seen, 'devices seen through a token minted by a lab-only token').toEqual([lab]);
    // ...and it may not name a tag its maker lacks.
    for (const tags of [['prod'], ['lab', 'prod']]) {
      const wider = await http('POST', '/api-tokens', { body: { name: 'wider', tags }, headers: bearer(scoped) });
      expect(wider.status, tags.join()).toBe(403);
      expect(wider.body.error.code, tags.join()).toBe('E_DENIED');
    }
  });

  // Was a bug (scope escape through invitations): POST /invitations took any tags, or none, from a
  // caller limited to `lab`, so an admin token limited to `lab` could invite an unscoped admin,
  // accept the code itself (the route is public) and see every device.
  it('a scoped admin token cannot invite its way out of its scope', async () => {
    const scoped = keep('API token', (await admin('POST', '/api-tokens', { name: 'lab admin', tags: ['lab'] })).token);
    const inv = await http('POST', '/invitations', {
      body: { name: 'shadow', role: 'admin' },
      headers: bearer(scoped),
    });
    if (inv.status !== 201) {
      expect(inv.body.error.code).toBe('E_DENIED');
      return;
    }
    const password = keep('password', 'shadow-long-password');
    keep('invitation code', inv.body.code);
    const accepted = await http('POST', '/auth/accept-invitation', { body: { code: inv.body.code, password } });
    expect(accepted.status).toBe(201);
    const shadow = await cliToken({ name: 'shadow', password });
    const seen = (await http('GET', '/devices', { headers: bearer(shadow) })).body.items.map((d: any) => d.id);
    expect(seen, 'devices seen by an account a lab-only token invited').not.toContain(prod);
  });

  it('removing a user revokes their tokens and ends their sessions', async () => {
    const rex = await newUser('rex', 'operator');
    const token = await cliToken(rex);
    const s = await login(rex.name, rex.password);
    const tokenId = (await admin('GET', '/api-tokens?all=true')).items.find((t: any) => t.userName === 'rex').id;

    expect((await http('DELETE', '/users/rex', { headers: bearer(ts.token) })).status).toBe(204);
    expect((await whoami(bearer(token))).status).toBe(401);
    expect((await whoami(browser(s, null))).status).toBe(401);
    const tokens = (await admin('GET', '/api-tokens?all=true')).items;
    expect(tokens.find((t: any) => t.id === tokenId).revokedAt).not.toBeNull();
    expect((await admin('GET', '/sessions?all=true')).items.map((x: any) => x.userName)).not.toContain('rex');

    // A new account with the same name inherits nothing.
    await newUser('rex', 'operator');
    expect((await whoami(bearer(token))).status).toBe(401);
    expect((await whoami(browser(s, null))).status).toBe(401);
  });
});

describe('secrets hygiene', () => {
  it('no password, token, session, CSRF token, invitation code or enrollment token leaks after creation', async () => {
    const kinds = new Set(secrets.map((s) => s.kind));
    for (const k of ['password', 'API token', 'session token', 'CSRF token', 'invitation code', 'enrollment token']) {
      expect(kinds, k).toContain(k);
    }
    const log = readFileSync(ts.logFile, 'utf8');
    expect(log.length).toBeGreaterThan(0);
    const auditExport = await http('GET', '/audit?format=jsonl&limit=10000', { headers: bearer(ts.token) });
    expect(auditExport.text.split('\n').length).toBeGreaterThan(50);
    const lists = await Promise.all(
      [
        '/users',
        '/invitations',
        '/api-tokens?all=true',
        '/sessions?all=true',
        '/enrollment-tokens',
        '/devices',
        '/audit?limit=10000',
        '/whoami',
      ].map(async (p): Promise<[string, string]> => [p, (await http('GET', p, { headers: bearer(ts.token) })).text]),
    );
    const places: [string, string][] = [['server log', log], ['audit export', auditExport.text], ...lists];
    for (const f of ['outpost.db', 'outpost.db-wal']) {
      const p = join(ts.dataDir, f);
      if (existsSync(p)) places.push([f, readFileSync(p).toString('latin1')]);
    }
    for (const [where, text] of places) {
      for (const s of secrets) {
        expect(text.includes(s.value), `${s.kind} in ${where}`).toBe(false);
      }
    }
    expect(log).not.toMatch(/\b(opt|ope|ops|oss|osc|opi)_[A-Za-z0-9_-]{40,}/);
    expect(auditExport.text).not.toMatch(/\b(opt|ope|ops|oss|osc|opi)_[A-Za-z0-9_-]{40,}/);
  });

  it('secret files are 0600 in a 0700 data dir; the server refuses to start when admin-token is chmod 644', async () => {
    const mode = (p: string) => statSync(p).mode & 0o777;
    expect(mode(ts.dataDir)).toBe(0o700);
    const adminToken = ts.server.adminTokenFile;
    for (const f of [adminToken, join(ts.dataDir, 'tls/ca.key'), join(ts.dataDir, 'tls/server.key')]) {
      expect(mode(f), f).toBe(0o600);
    }
    const { dataDir } = ts;
    await ts.close();
    serverClosed = true;
    chmodSync(adminToken, 0o644);
    const log = createWriteStream(join(dataDir, 'refused.log'));
    await once(log, 'open');
    const refused = startServer({ dataDir, httpPort: 0, mqttPort: 0, host: '127.0.0.1', logDestination: log, env: {} });
    await expect(refused).rejects.toThrow(`chmod 600 ${adminToken}`);
    log.end();
  });
});
