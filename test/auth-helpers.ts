/**
 * What the users-and-credentials e2e files share: one test server per file, helpers that invite, log in and
 * mint tokens over HTTPS as a person would, a record of every secret the file is handed, and the check that
 * none of those secrets shows up in the server's log, audit, lists or database.
 *
 * The state here (the server, the kept secrets) is the calling file's: vitest gives each test file its own
 * process (pool: forks) and so its own copy of this module. A file calls `useAuthServer` once, at its top.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ServerOptions } from '@outpost/server';
import { afterAll, beforeAll, expect, vi } from 'vitest';
import { type ApiResult, asAdmin, bearer, request, startTestServer, type TestServer } from './helpers.js';

/** The file's test server; read it in hooks and tests, not at module level: it is there once its beforeAll ran. */
export let ts: TestServer;
let serverClosed = false;

/** Every secret this file is handed: none may appear in logs, audit rows, lists or the database. */
const secrets: { kind: string; value: string }[] = [];
export const keep = (kind: string, value: string) => {
  secrets.push({ kind, value });
  return value;
};

/**
 * Registers, at the module level of a test file, a beforeAll that starts the file's test server (and keeps its
 * admin token as a secret) and an afterAll that closes it, unless a test did (see `markServerClosed`).
 */
export function useAuthServer(options: ServerOptions = {}): void {
  beforeAll(async () => {
    ts = await startTestServer(options);
    keep('API token', ts.token);
  });
  afterAll(async () => {
    if (!serverClosed) await ts?.close();
  });
}

/** For a test that closes the file's server itself: the afterAll then leaves it alone. */
export function markServerClosed(): void {
  serverClosed = true;
}

export async function http(
  method: string,
  path: string,
  opts: { body?: unknown; rawBody?: string; headers?: Record<string, string>; server?: TestServer } = {},
): Promise<ApiResult> {
  return request(opts.server ?? ts, method, path, opts);
}

export interface Session {
  cookie: string;
  csrf: string;
  id: string;
}
/** Cookie headers, with the session's CSRF token unless told otherwise. */
export const browser = (s: Session, csrf: string | null = s.csrf) => ({
  cookie: `outpost_session=${s.cookie}`,
  ...(csrf ? { 'x-csrf-token': csrf } : {}),
});

export const admin = (method: string, path: string, body?: unknown): Promise<any> => asAdmin(ts, method, path, body);

export async function invite(name: string, role: string, extra: Record<string, unknown> = {}): Promise<any> {
  const inv = await admin('POST', '/invitations', { name, role, ...extra });
  keep('invitation code', inv.code);
  return inv;
}

/** Invites and accepts: a user with a password. */
export async function newUser(
  name: string,
  role: string,
  tags: string[] = [],
): Promise<{ name: string; password: string }> {
  const inv = await invite(name, role, { tags });
  const password = keep('password', `pw-${name}-${Math.random().toString(36).slice(2)}`);
  const r = await http('POST', '/auth/accept-invitation', { body: { code: inv.code, password } });
  expect(r.status).toBe(201);
  return { name, password };
}

export async function login(name: string, password: string): Promise<Session & { reply: ApiResult }> {
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

export async function cliToken(user: { name: string; password: string }, extra: Record<string, unknown> = {}) {
  const r = await http('POST', '/auth/token', { body: { ...user, tokenName: 'cli', ...extra } });
  expect(r.status).toBe(201);
  return keep('API token', r.body.token);
}

export const whoami = async (headers: Record<string, string>) => http('GET', '/whoami', { headers });

/**
 * Moves this process's clock (the server runs in it): `Date` only, timers stay real. A file that uses it must
 * have no agent online when it does: a step of the server's clock reads as the agent's silence.
 */
export async function atClock<T>(ms: number, fn: () => Promise<T>): Promise<T> {
  vi.setSystemTime(ms);
  try {
    return await fn();
  } finally {
    vi.useRealTimers();
  }
}

/**
 * The secrets-hygiene check, for the last tests of a file: the file's tests kept a secret of each of `kinds` and
 * left more than `auditLinesOver` lines in the audit export (so the check is not vacuous: it is the file's own
 * activity it scans), and no kept secret, nor anything shaped like an Outpost secret, appears in the server log,
 * the audit export, any list, or the database files.
 */
export async function expectNoKeptSecretLeaks(kinds: readonly string[], auditLinesOver: number): Promise<void> {
  const kept = new Set(secrets.map((s) => s.kind));
  for (const k of kinds) {
    expect(kept, k).toContain(k);
  }
  const log = readFileSync(ts.logFile, 'utf8');
  expect(log.length).toBeGreaterThan(0);
  const auditExport = await http('GET', '/audit?format=jsonl&limit=10000', { headers: bearer(ts.token) });
  expect(auditExport.text.split('\n').length).toBeGreaterThan(auditLinesOver);
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
}
