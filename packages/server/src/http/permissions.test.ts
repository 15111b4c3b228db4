/**
 * The permission matrix: every registered route × every role (admin, operator,
 * viewer, anonymous) × in/out of device scope, against the real server (real
 * services, SQLite, broker and agent processes) through `app.inject()`. The
 * route table in test/permission-matrix.ts is the spec: a route added without a
 * row there, or with a permission other than its row's, fails the first test.
 */
import { randomBytes } from 'node:crypto';
import { topics } from '@outpost/protocol';
import type { FastifyInstance, RouteOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { agentFiles } from '../../../../test/files-fixtures.js';
import {
  onlineAgent,
  rawClient,
  sendCommand,
  startTestServer,
  type TestAgent,
  type TestServer,
} from '../../../../test/helpers.js';
import {
  type Call,
  type CallContext,
  matrixRoutes,
  type Principal,
  type Row,
} from '../../../../test/permission-matrix.js';
import type { Role } from '../actor.js';
import { installAuth, type Permission, permissions } from './auth.js';

// startServer does not hand out its Fastify instance, so the test wraps the real
// factory: the same app, plus an onRoute hook that records every registered route.
// The url is copied at hook time: Fastify reuses the options object for a prefix's trailing-slash twin.
type Recorded = { url: string; route: RouteOptions };
const captured = vi.hoisted(() => ({ apps: [] as { app: FastifyInstance; routes: Recorded[] }[] }));
vi.mock('fastify', async (importOriginal) => {
  const actual = await importOriginal<typeof import('fastify')>();
  const real = actual.default as unknown as (opts?: unknown) => FastifyInstance;
  const recording = (opts?: unknown) => {
    const app = real(opts);
    const entry = { app, routes: [] as Recorded[] };
    captured.apps.push(entry);
    app.addHook('onRoute', (route) => {
      entry.routes.push({ url: route.url, route });
    });
    return app;
  };
  return { ...actual, default: recording, fastify: recording };
});

const V1 = '/api/v1';
const PASSWORD = 'matrix-password-123';
const ROLES: Role[] = ['admin', 'operator', 'viewer'];

/** The issue's role table; `permissions` in auth.ts must match it exactly. */
const roleTable: Record<Permission, readonly Role[]> = {
  'self:read': ['admin', 'operator', 'viewer'],
  'self:write': ['admin', 'operator', 'viewer'],
  'devices:read': ['admin', 'operator', 'viewer'],
  'devices:write': ['admin'],
  'commands:read': ['admin', 'operator', 'viewer'],
  'commands:run': ['admin', 'operator'],
  'scripts:read': ['admin', 'operator', 'viewer'],
  'scripts:write': ['admin', 'operator'],
  'enrollment:read': ['admin', 'operator'],
  'enrollment:write': ['admin'],
  'users:read': ['admin'],
  'users:write': ['admin'],
  'sessions:admin': ['admin'],
  'audit:read': ['admin'],
  'terminal:open': ['admin', 'operator'],
  'terminal:recordings': ['admin'],
};

let ts: TestServer;
let app: FastifyInstance;
let agents: TestAgent[] = [];
/** Devices tagged `lab` (every scoped principal's scope) and `prod` (outside it). */
const fx = {
  lab: '',
  prod: '',
  labCommand: '',
  prodCommand: '',
  bystander: '',
  labToken: '',
};
let counter = 0;
const unique = (prefix: string) => `${prefix}-${++counter}`;

/** The library script every script row reads, edits or runs. */
const SCRIPT = 'matrix-hello';
const dev = (c: CallContext) => (c.target === 'in' ? fx.lab : fx.prod);
/** The lab agent's state dir and its file root for file routes. */
const labState = () => agents[0]?.stateDir ?? '/nonexistent';
const labFiles = () => agentFiles(labState());
/** SHA-256 of `hello`, the body of the matrix's uploads. */
const HELLO_SHA256 = '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824';
const cmd = (c: CallContext) => (c.target === 'in' ? fx.labCommand : fx.prodCommand);

async function admin(method: string, path: string, body?: unknown) {
  const r = await ts.api(method, path, body);
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** A device row made by a real enrollment over MQTT with a raw client (no agent needed: it is only acted on). */
async function enrollRaw(token: string): Promise<string> {
  const nonce = `n${randomBytes(12).toString('hex')}`;
  const client = await rawClient(ts, { clientId: `enroll-${nonce}`, username: 'enroll', password: token });
  try {
    const answer = new Promise<any>((resolve) =>
      client.on('message', (_t, payload) => resolve(JSON.parse(payload.toString()))),
    );
    await client.subscribeAsync(topics.enrollResponse(nonce), { qos: 1 });
    const facts = {
      hostname: unique('sacrificial'),
      os: 'test',
      kernel: 'test',
      arch: 'x64',
      macs: [],
      ips: [],
      agentVersion: '0.0.0',
    };
    await client.publishAsync(topics.enrollRequest(nonce), JSON.stringify({ nonce, token, facts }), { qos: 1 });
    const res = await answer;
    if (!res.ok) throw new Error(`enrollment refused: ${JSON.stringify(res)}`);
    return res.deviceId as string;
  } finally {
    await client.endAsync(true);
  }
}

async function inviteAndAccept(name: string, role: Role, tags: string[] = []): Promise<void> {
  const inv = await admin('POST', '/invitations', { name, role, tags });
  await admin('POST', '/auth/accept-invitation', { code: inv.code, password: PASSWORD });
}

async function login(name: string, password = PASSWORD): Promise<{ cookie: string; csrf: string; id: string }> {
  const r = await app.inject({ method: 'POST', url: `${V1}/auth/login`, payload: { name, password } });
  if (r.statusCode !== 200) throw new Error(`login ${name}: ${r.body}`);
  const cookie = /outpost_session=([^;]+)/.exec(String(r.headers['set-cookie']))?.[1];
  if (!cookie) throw new Error('no session cookie');
  return { cookie, csrf: r.json().csrfToken, id: r.json().session.id };
}

async function inject(method: string, call: Call, auth: Principal['auth']) {
  const headers: Record<string, string> = { ...call.headers };
  if (auth && 'token' in auth) headers.authorization = `Bearer ${auth.token}`;
  if (auth && 'cookie' in auth) {
    headers.cookie = `outpost_session=${auth.cookie}`;
    headers['x-csrf-token'] = auth.csrf;
  }
  return app.inject({ method: method as 'GET', url: call.url, headers, payload: call.body as object | undefined });
}

/** Throwaway credentials of the principal's own user, for calls that end what they act on. */
async function ownSession(p: Principal) {
  if (!p.user) throw new Error(`${p.label} has no user`);
  return login(p.user.name, p.user.password);
}

const get = (url: string | ((c: CallContext) => string)) => (c: CallContext) => ({
  url: typeof url === 'string' ? url : url(c),
});

const routes: Record<string, Row> = matrixRoutes({
  V1,
  PASSWORD,
  SCRIPT,
  HELLO_SHA256,
  fx,
  unique,
  dev,
  cmd,
  get,
  labState,
  labFiles,
  admin,
  inviteAndAccept,
  inject,
  ownSession,
  matrixApp,
  sacrificial,
  runningCommand: async () =>
    (await sendCommand(ts, fx.lab, 'exec', 'run', { argv: ['sleep', '30'] }, 'wait=false')).body.id,
  prodAgentPid: () => agents[1]?.proc.pid,
});

/** The app the apps rows act on: installed on the lab agent (stopped) the first time a row asks. */
let matrixAppInstalled: Promise<string> | undefined;
function matrixApp(): Promise<string> {
  matrixAppInstalled ??= admin('POST', `/devices/${fx.lab}/apps`, {
    name: 'matrix-app',
    script: 'exec sleep 300',
    interpreter: 'sh',
    autostart: false,
  }).then(() => 'matrix-app');
  return matrixAppInstalled;
}

/** A fresh device to reject, revoke or delete when the call is allowed and in scope; prod otherwise. */
async function sacrificial(c: CallContext): Promise<string> {
  if (c.target === 'out') return fx.prod;
  return c.allowed ? enrollRaw(fx.labToken) : fx.lab;
}

/** `METHOD url` for each method of each registered route. */
function registered(): { key: string; method: string; url: string; route: RouteOptions }[] {
  const entry = captured.apps[0];
  if (!entry) throw new Error('no Fastify app was built');
  return entry.routes.flatMap(({ url, route }) =>
    (Array.isArray(route.method) ? route.method : [route.method]).map((method) => ({
      key: `${method} ${url}`,
      method,
      url,
      route,
    })),
  );
}

const principals: Principal[] = [{ label: 'anonymous', role: null, auth: null }];

beforeAll(async () => {
  ts = await startTestServer();
  expect(captured.apps).toHaveLength(1);
  app = captured.apps[0]!.app;

  // A power command that does nothing: the reboot/shutdown rows must never reach this machine's own.
  const env = { OUTPOST_AGENT_POWER_COMMAND: '/bin/true' };
  const labAgent = await onlineAgent(ts, {
    enroll: await ts.enrollmentToken({ autoAccept: true, tags: ['lab'] }),
    env,
  });
  const prodAgent = await onlineAgent(ts, {
    enroll: await ts.enrollmentToken({ autoAccept: true, tags: ['prod'] }),
    env,
  });
  agents = [labAgent.agent, prodAgent.agent];
  fx.lab = labAgent.device.id;
  fx.prod = prodAgent.device.id;
  fx.labToken = await ts.enrollmentToken({ autoAccept: true, tags: ['lab'] });
  // Finished commands, so an allowed SSE stream ends at once.
  fx.labCommand = (await sendCommand(ts, fx.lab, 'system', 'ping', {})).body.id;
  fx.prodCommand = (await sendCommand(ts, fx.prod, 'system', 'ping', {})).body.id;
  fx.bystander = 'bystander';
  await admin('POST', '/scripts', {
    name: SCRIPT,
    interpreter: 'sh',
    content: 'echo "hello $OUTPOST_PARAM_WHO"',
    params: [{ name: 'who', type: 'string', required: true }],
  });
  await inviteAndAccept(fx.bystander, 'viewer', ['lab']);

  // For each role: a user scoped to `lab` with a password-login token, an unscoped user
  // with a token scoped to `lab`, and a user scoped to `lab` with a browser session.
  for (const role of ROLES) {
    const scoped = { name: `${role}-scoped`, password: PASSWORD };
    await inviteAndAccept(scoped.name, role, ['lab']);
    const login1 = await admin('POST', '/auth/token', { ...scoped, tokenName: 'matrix' });
    principals.push({ label: `${role} (user scope, API token)`, role, auth: { token: login1.token }, user: scoped });

    const free = { name: `${role}-free`, password: PASSWORD };
    await inviteAndAccept(free.name, role);
    const login2 = await admin('POST', '/auth/token', { ...free, tokenName: 'setup' });
    const scopedToken = await ts.api(
      'POST',
      '/api-tokens',
      { name: 'lab only', tags: ['lab'] },
      { token: login2.token },
    );
    principals.push({ label: `${role} (token scope)`, role, auth: { token: scopedToken.body.token }, user: free });

    const browser = { name: `${role}-browser`, password: PASSWORD };
    await inviteAndAccept(browser.name, role, ['lab']);
    const s = await login(browser.name);
    principals.push({
      label: `${role} (user scope, session)`,
      role,
      auth: { cookie: s.cookie, csrf: s.csrf },
      user: browser,
    });
  }
});

afterAll(async () => {
  for (const a of agents) await a.stop();
  await ts?.close();
});

describe('route registration', () => {
  it('every registered route has a row in the table, with the permission and audit action it declares', () => {
    const actual = registered().filter((r) => r.method !== 'HEAD');
    expect(actual.map((r) => r.key).sort()).toEqual(Object.keys(routes).sort());
    for (const { key, route } of actual) {
      const row = routes[key]!;
      const cfg = (route.config ?? {}) as { public?: boolean; permission?: string; audit?: string };
      expect(cfg.public ? 'public' : cfg.permission, key).toBe(row.access);
      expect(cfg.audit, key).toBe(row.audit);
    }
  });

  it('every HEAD route mirrors a GET route with the same access', () => {
    const all = registered();
    const heads = all.filter((r) => r.method === 'HEAD');
    expect(heads.length).toBeGreaterThan(0);
    for (const h of heads) {
      // `/prefix/` shares the options (and the onRoute call) of `/prefix`.
      const twin = all.find((r) => r.key === `GET ${h.url}` || r.key === `GET ${h.url.replace(/\/$/, '')}`);
      expect(twin, h.key).toBeDefined();
      expect(h.route.config, h.key).toEqual(twin?.route.config);
    }
  });

  it('the role table in auth.ts is the one the issue specifies', () => {
    expect(permissions).toEqual(roleTable);
  });

  it('no route changes or removes audit entries: the audit log is read-only', () => {
    const audit = registered().filter((r) => r.url.includes('audit'));
    expect(audit.map((r) => r.key).sort()).toEqual([`GET ${V1}/audit`, `HEAD ${V1}/audit`]);
  });

  it('registering a route without `permission` or `public` throws at once', async () => {
    const { default: Fastify } = await import('fastify');
    const bare = Fastify();
    installAuth(bare, ts.server.services);
    expect(() => bare.get('/open', async () => 'x')).toThrow(/GET \/open declares no permission/);
    expect(() => bare.get('/also-open', { config: {} }, async () => 'x')).toThrow(/declares no permission/);
    expect(() => bare.get('/fine', { config: { permission: 'devices:read' } }, async () => 'x')).not.toThrow();
    await bare.close();
  });

  it('registering a state-changing route without an `audit` action throws, public or not', async () => {
    const { default: Fastify } = await import('fastify');
    const bare = Fastify();
    installAuth(bare, ts.server.services);
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE'] as const) {
      expect(() =>
        bare.route({ method, url: `/x-${method}`, config: { permission: 'devices:write' }, handler: async () => 'x' }),
      ).toThrow(/declares no audit action/);
    }
    expect(() => bare.post('/public-login', { config: { public: true } }, async () => 'x')).toThrow(
      /declares no audit action/,
    );
    expect(() =>
      bare.post('/audited', { config: { permission: 'devices:write', audit: 'x.y' } }, async () => 'x'),
    ).not.toThrow();
    await bare.close();
  });
});

describe('the matrix', () => {
  /** What a call must answer: status and, for errors, the code. */
  function expected(row: Row, p: Principal, target: 'in' | 'out'): { status: number; code?: string } {
    if (row.access === 'public') return { status: row.ok };
    if (!p.role) return { status: 401, code: 'E_UNAUTHENTICATED' };
    if (!roleTable[row.access].includes(p.role)) return { status: 403, code: 'E_DENIED' };
    if (target === 'out') return { status: 404, code: 'E_NOT_FOUND' };
    return { status: row.ok };
  }

  const errorCode = (body: string): string => {
    try {
      return JSON.parse(body).error.code;
    } catch {
      return `(no error code in ${JSON.stringify(body.slice(0, 60))})`;
    }
  };

  async function check(p: Principal): Promise<string[]> {
    const failures: string[] = [];
    for (const [key, row] of Object.entries(routes)) {
      const method = key.split(' ')[0] as string;
      for (const target of row.scoped ? (['in', 'out'] as const) : (['in'] as const)) {
        const allowed = row.access === 'public' || (!!p.role && roleTable[row.access].includes(p.role));
        const call = await row.call({ p, allowed, target });
        const want = expected(row, p, target);
        const variants = method === 'GET' ? ['GET', 'HEAD'] : [method];
        for (const m of variants) {
          const res = await inject(m, call, call.auth ?? p.auth);
          const code = want.code && m !== 'HEAD' ? errorCode(res.body) : undefined;
          const got = `${res.statusCode}${want.code && m !== 'HEAD' ? ` ${code}` : ''}`;
          const wanted = `${want.status}${want.code && m !== 'HEAD' ? ` ${want.code}` : ''}`;
          if (got !== wanted)
            failures.push(`${m} ${call.url} (${key}, ${target} of scope): ${got}, expected ${wanted}`);
          if (m === 'GET' && key.endsWith('/events') && res.statusCode === 200) {
            if (!/^event: end$/m.test(res.body)) failures.push(`${key}: stream without an end event`);
          }
        }
      }
    }
    return failures;
  }

  it('anonymous: 401 E_UNAUTHENTICATED on every non-public route; public routes ask for nothing', async () => {
    expect(await check(principals[0]!)).toEqual([]);
  });

  for (const role of ROLES) {
    for (const kind of ['user scope, API token', 'token scope', 'user scope, session']) {
      const label = `${role} (${kind})`;
      it(`${label}: 403 E_DENIED without the permission, 404 E_NOT_FOUND out of scope, through in scope`, async () => {
        const p = principals.find((x) => x.label === label);
        if (!p) throw new Error(`no principal ${label}`);
        expect(await check(p)).toEqual([]);
      });
    }
  }

  it('every cookie-authenticated state change needs its CSRF token; reads do not', async () => {
    const p = principals.find((x) => x.label === 'admin (user scope, session)');
    const other = principals.find((x) => x.label === 'viewer (user scope, session)');
    if (!p?.auth || !('cookie' in p.auth) || !other?.auth || !('csrf' in other.auth)) throw new Error('no sessions');
    const foreign = other.auth.csrf;
    const failures: string[] = [];
    for (const [key, row] of Object.entries(routes)) {
      if (row.access === 'public') continue;
      const method = key.split(' ')[0] as string;
      // allowed: false keeps the targets real (the lab device itself for delete), so a miss would show.
      const call = await row.call({ p, allowed: false, target: 'in' });
      const csrfs = method === 'GET' ? [''] : ['', 'osc_forged', foreign];
      for (const csrf of csrfs) {
        const res = await app.inject({
          method: method as 'GET',
          url: call.url,
          headers: {
            ...call.headers,
            cookie: `outpost_session=${p.auth.cookie}`,
            ...(csrf ? { 'x-csrf-token': csrf } : {}),
          },
          payload: call.body as object | undefined,
        });
        const denied = res.statusCode === 403 && res.json().error.code === 'E_DENIED';
        if (method !== 'GET' && !denied) failures.push(`${key} with CSRF '${csrf}': ${res.statusCode}`);
        // A read's own answer may be an error (a device without systemd: 501); only a refusal counts.
        if (method === 'GET' && res.statusCode >= 400 && res.statusCode !== row.ok) {
          failures.push(`${key} without CSRF: ${res.statusCode}`);
        }
      }
    }
    expect(failures).toEqual([]);
    expect((await ts.device(fx.lab))?.status).toBe('accepted');
  });

  it('scoped callers list only the devices in their scope, and out-of-scope calls changed nothing', async () => {
    for (const p of principals.slice(1)) {
      const r = await inject('GET', { url: `${V1}/devices` }, p.auth);
      const ids = r.json().items.map((d: any) => d.id);
      expect(ids, p.label).toContain(fx.lab);
      expect(ids, p.label).not.toContain(fx.prod);
    }
    const prod = await ts.device(fx.prod);
    expect(prod).toMatchObject({ status: 'accepted', tags: ['prod'] });
    const prodCommands = (await ts.api('GET', `/devices/${fx.prod}/commands`)).body.items;
    expect(prodCommands.map((c: any) => c.id)).toEqual([fx.prodCommand]);
  });

  it('a name shared with an out-of-scope device resolves to the one in scope, without E_CONFLICT', async () => {
    // Both agents run on this machine, so both devices carry its hostname as their name.
    const name = (await ts.device(fx.lab)).name;
    expect((await ts.device(fx.prod)).name).toBe(name);
    const p = principals.find((x) => x.label === 'viewer (user scope, API token)')!;
    const scoped = await inject('GET', { url: `${V1}/devices/${encodeURIComponent(name)}` }, p.auth);
    expect(scoped.statusCode).toBe(200);
    expect(scoped.json().id).toBe(fx.lab);
    const unscoped = await ts.api('GET', `/devices/${encodeURIComponent(name)}`);
    expect(unscoped.body.error.code).toBe('E_CONFLICT');
  });
});
