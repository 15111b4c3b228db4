/**
 * The permission matrix: every registered route × every role (admin, operator,
 * viewer, anonymous) × in/out of device scope, against the real server (real
 * services, SQLite, broker and agent processes) through `app.inject()`. The
 * `routes` table below is the spec: a route added without a row here, or with a
 * permission other than its row's, fails the first test.
 */
import { randomBytes } from 'node:crypto';
import { topics } from '@outpost/protocol';
import type { FastifyInstance, RouteOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { agentFile, agentFiles, payloadUrl } from '../../../../test/files-fixtures.js';
import {
  onlineAgent,
  rawClient,
  sendCommand,
  startTestServer,
  type TestAgent,
  type TestServer,
} from '../../../../test/helpers.js';
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

type Principal = {
  label: string;
  role: Role | null;
  /** Bearer token or session cookie (+ CSRF token for state changes). */
  auth: { token: string } | { cookie: string; csrf: string } | null;
  user?: { name: string; password: string };
};

interface CallContext {
  p: Principal;
  /** True when the principal holds the route's permission: only then do calls make real things to act on. */
  allowed: boolean;
  target: 'in' | 'out';
}
interface Call {
  url: string;
  body?: unknown;
  /** Replaces the principal's credentials (a throwaway session for logout). */
  auth?: Principal['auth'];
  /** Extra request headers (a raw upload's content type). */
  headers?: Record<string, string>;
}

interface Row {
  access: 'public' | Permission;
  audit?: string;
  /** The device (or command) the route acts on: outside the caller's scope it must be 404 E_NOT_FOUND. */
  scoped?: true;
  /** Status of an allowed call (in scope). */
  ok: number;
  call: (c: CallContext) => Call | Promise<Call>;
}

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

/** Every route the server registers, as `METHOD /url`; HEAD routes mirror their GET (checked separately). */
const routes: Record<string, Row> = {
  // Public: the API description, the MQTT WebSocket, liveness, and the ways to log in.
  'GET /api/docs': { access: 'public', ok: 200, call: get('/api/docs') },
  // swagger-ui redirects its own index page to /api/docs/.
  'GET /api/docs/static/index.html': { access: 'public', ok: 302, call: get('/api/docs/static/index.html') },
  'GET /api/docs/static/swagger-initializer.js': {
    access: 'public',
    ok: 200,
    call: get('/api/docs/static/swagger-initializer.js'),
  },
  'GET /api/docs/json': { access: 'public', ok: 200, call: get('/api/docs/json') },
  'GET /api/docs/yaml': { access: 'public', ok: 200, call: get('/api/docs/yaml') },
  'GET /api/docs/static/*': { access: 'public', ok: 200, call: get('/api/docs/static/swagger-ui.css') },
  // A plain GET is not a WebSocket upgrade: nothing to serve, and no credentials asked.
  'GET /mqtt': { access: 'public', ok: 404, call: get('/mqtt') },
  [`GET ${V1}/health`]: { access: 'public', ok: 200, call: get(`${V1}/health`) },
  // Public POSTs take no credentials: an empty body reaches validation (400), not authentication.
  [`POST ${V1}/auth/login`]: {
    access: 'public',
    audit: 'auth.login',
    ok: 400,
    call: () => ({ url: `${V1}/auth/login`, body: {} }),
  },
  [`POST ${V1}/auth/token`]: {
    access: 'public',
    audit: 'auth.token',
    ok: 400,
    call: () => ({ url: `${V1}/auth/token`, body: {} }),
  },
  [`POST ${V1}/auth/accept-invitation`]: {
    access: 'public',
    audit: 'invitation.accept',
    ok: 400,
    call: () => ({ url: `${V1}/auth/accept-invitation`, body: {} }),
  },

  // Every signed-in caller, about themselves.
  [`POST ${V1}/auth/logout`]: {
    access: 'self:write',
    audit: 'auth.logout',
    ok: 204,
    call: async (c) => ({
      url: `${V1}/auth/logout`,
      // Logging out a session principal would end it for the rest of the matrix: use a throwaway one.
      ...(c.allowed && c.p.auth && 'cookie' in c.p.auth ? { auth: await ownSession(c.p) } : {}),
    }),
  },
  [`POST ${V1}/auth/password`]: {
    access: 'self:write',
    audit: 'auth.password',
    ok: 200,
    call: (c) => ({
      url: `${V1}/auth/password`,
      body: { current: c.p.user?.password ?? PASSWORD, new: c.p.user?.password ?? PASSWORD },
    }),
  },
  [`GET ${V1}/whoami`]: { access: 'self:read', ok: 200, call: get(`${V1}/whoami`) },
  [`GET ${V1}/sessions`]: { access: 'self:read', ok: 200, call: get(`${V1}/sessions`) },
  [`DELETE ${V1}/sessions/:id`]: {
    access: 'self:write',
    audit: 'session.end',
    ok: 204,
    call: async (c) => ({ url: `${V1}/sessions/${c.allowed ? (await ownSession(c.p)).id : 's-nosuchsession'}` }),
  },
  [`POST ${V1}/api-tokens`]: {
    access: 'self:write',
    audit: 'api-token.create',
    ok: 201,
    call: () => ({ url: `${V1}/api-tokens`, body: { name: unique('matrix'), tags: ['lab'] } }),
  },
  [`GET ${V1}/api-tokens`]: { access: 'self:read', ok: 200, call: get(`${V1}/api-tokens`) },
  [`DELETE ${V1}/api-tokens/:id`]: {
    access: 'self:write',
    audit: 'api-token.revoke',
    ok: 204,
    call: async (c) => {
      if (!c.allowed) return { url: `${V1}/api-tokens/tok-nosuchtoken` };
      const made = await inject('POST', { url: `${V1}/api-tokens`, body: { name: unique('doomed') } }, c.p.auth);
      return { url: `${V1}/api-tokens/${made.json().id}` };
    },
  },

  // Admins: users and invitations, the audit log.
  [`GET ${V1}/users`]: { access: 'users:read', ok: 200, call: get(`${V1}/users`) },
  [`PATCH ${V1}/users/:user`]: {
    access: 'users:write',
    audit: 'user.update',
    ok: 200,
    call: () => ({ url: `${V1}/users/${fx.bystander}`, body: { tags: ['lab'] } }),
  },
  [`DELETE ${V1}/users/:user`]: {
    access: 'users:write',
    audit: 'user.delete',
    ok: 204,
    call: async (c) => {
      const name = unique('doomed-user');
      if (c.allowed) await inviteAndAccept(name, 'viewer');
      return { url: `${V1}/users/${name}` };
    },
  },
  [`POST ${V1}/invitations`]: {
    access: 'users:write',
    audit: 'user.invite',
    ok: 201,
    call: () => ({ url: `${V1}/invitations`, body: { name: unique('invitee'), role: 'viewer' } }),
  },
  [`GET ${V1}/invitations`]: { access: 'users:read', ok: 200, call: get(`${V1}/invitations`) },
  [`DELETE ${V1}/invitations/:id`]: {
    access: 'users:write',
    audit: 'invitation.revoke',
    ok: 200,
    call: async (c) => ({
      url: `${V1}/invitations/${c.allowed ? (await admin('POST', '/invitations', { name: unique('revokee'), role: 'viewer' })).id : 'inv-nosuchinvite'}`,
    }),
  },
  [`GET ${V1}/audit`]: { access: 'audit:read', ok: 200, call: get(`${V1}/audit`) },

  // Terminals (routes/terminal.ts): without the WebSocket upgrade the route makes its checks
  // (role, scope, device online), then answers 400; recordings are for admins.
  [`GET ${V1}/devices/:device/terminal`]: {
    access: 'terminal:open',
    scoped: true,
    ok: 400,
    call: get((c) => `${V1}/devices/${dev(c)}/terminal`),
  },
  [`GET ${V1}/terminal-sessions`]: { access: 'terminal:recordings', ok: 200, call: get(`${V1}/terminal-sessions`) },
  [`GET ${V1}/terminal-sessions/:id/recording`]: {
    access: 'terminal:recordings',
    ok: 404,
    call: get(`${V1}/terminal-sessions/s-nosuchsession/recording`),
  },

  // Enrollment tokens.
  [`POST ${V1}/enrollment-tokens`]: {
    access: 'enrollment:write',
    audit: 'enrollment-token.create',
    ok: 201,
    call: () => ({ url: `${V1}/enrollment-tokens`, body: { tags: ['lab'] } }),
  },
  [`GET ${V1}/enrollment-tokens`]: { access: 'enrollment:read', ok: 200, call: get(`${V1}/enrollment-tokens`) },
  [`DELETE ${V1}/enrollment-tokens/:id`]: {
    access: 'enrollment:write',
    audit: 'enrollment-token.revoke',
    ok: 200,
    call: async (c) => ({
      url: `${V1}/enrollment-tokens/${c.allowed ? (await admin('POST', '/enrollment-tokens', {})).id : 'et-nosuchtoken'}`,
    }),
  },

  // Devices: each acts on one device, which must be in the caller's scope.
  [`GET ${V1}/devices`]: { access: 'devices:read', ok: 200, call: get(`${V1}/devices`) },
  [`GET ${V1}/devices/:device`]: {
    access: 'devices:read',
    scoped: true,
    ok: 200,
    call: get((c) => `${V1}/devices/${dev(c)}`),
  },
  // Accepting an accepted device changes nothing, so the real lab device serves.
  [`POST ${V1}/devices/:device/accept`]: {
    access: 'devices:write',
    audit: 'device.accept',
    scoped: true,
    ok: 200,
    call: (c) => ({ url: `${V1}/devices/${dev(c)}/accept` }),
  },
  [`POST ${V1}/devices/:device/reject`]: {
    access: 'devices:write',
    audit: 'device.reject',
    scoped: true,
    ok: 200,
    call: async (c) => ({ url: `${V1}/devices/${await sacrificial(c)}/reject` }),
  },
  [`POST ${V1}/devices/:device/revoke`]: {
    access: 'devices:write',
    audit: 'device.revoke',
    scoped: true,
    ok: 200,
    call: async (c) => ({ url: `${V1}/devices/${await sacrificial(c)}/revoke` }),
  },
  [`PATCH ${V1}/devices/:device`]: {
    access: 'devices:write',
    audit: 'device.update',
    scoped: true,
    ok: 200,
    // Out of scope, this would pull the prod device into the caller's scope.
    call: (c) => ({ url: `${V1}/devices/${dev(c)}`, body: { tags: ['lab'] } }),
  },
  [`DELETE ${V1}/devices/:device`]: {
    access: 'devices:write',
    audit: 'device.delete',
    scoped: true,
    ok: 204,
    call: async (c) => ({ url: `${V1}/devices/${await sacrificial(c)}` }),
  },
  [`GET ${V1}/devices/:device/presence`]: {
    access: 'devices:read',
    scoped: true,
    ok: 200,
    call: get((c) => `${V1}/devices/${dev(c)}/presence`),
  },

  // Capability routes (device-action.ts): a command on an online device in scope, answered in the request.
  [`GET ${V1}/devices/:device/info`]: {
    access: 'devices:read',
    scoped: true,
    ok: 200,
    call: get((c) => `${V1}/devices/${dev(c)}/info`),
  },
  // Port forwarding (routes/forward.ts): without a WebSocket upgrade, the check the CLI makes before it listens.
  [`GET ${V1}/devices/:device/forward`]: {
    access: 'commands:run',
    scoped: true,
    ok: 200,
    call: get((c) => `${V1}/devices/${dev(c)}/forward?host=localhost&port=22`),
  },
  // Metrics (routes/metrics.ts): history and the stored last sample, read on the server; live asks the agent.
  [`GET ${V1}/devices/:device/metrics`]: {
    access: 'devices:read',
    scoped: true,
    ok: 200,
    call: get((c) => `${V1}/devices/${dev(c)}/metrics?series=cpu`),
  },
  [`GET ${V1}/devices/:device/metrics/latest`]: {
    access: 'devices:read',
    scoped: true,
    ok: 200,
    call: async (c) => {
      // The lab agent heartbeats every second; its first stored sample is what this reads.
      if (c.target === 'in')
        await vi.waitFor(async () => expect((await admin('GET', `/devices/${fx.lab}`)).metrics).not.toBeNull(), {
          timeout: 15_000,
        });
      return { url: `${V1}/devices/${dev(c)}/metrics/latest` };
    },
  },
  [`GET ${V1}/devices/:device/metrics/live`]: {
    access: 'devices:read',
    scoped: true,
    ok: 200,
    call: get((c) => `${V1}/devices/${dev(c)}/metrics/live`),
  },
  // Processes, services, power (routes/processes.ts, services.ts, power.ts). The signal is CONT to the
  // prod agent's process (harmless); the lab agent has no systemd, so service routes answer 501 E_UNSUPPORTED;
  // reboot/shutdown are scheduled an hour out and cancelled before each call, and both agents run with
  // OUTPOST_AGENT_POWER_COMMAND=/bin/true, so nothing can ever reboot this machine.
  [`GET ${V1}/devices/:device/processes`]: {
    access: 'devices:read',
    scoped: true,
    ok: 200,
    call: get((c) => `${V1}/devices/${dev(c)}/processes?fast=true&limit=5`),
  },
  [`POST ${V1}/devices/:device/processes/:pid/signal`]: {
    access: 'commands:run',
    audit: 'process.signal',
    scoped: true,
    ok: 200,
    call: (c) => ({ url: `${V1}/devices/${dev(c)}/processes/${agents[1]?.proc.pid}/signal`, body: { signal: 'CONT' } }),
  },
  [`GET ${V1}/devices/:device/services`]: {
    access: 'devices:read',
    scoped: true,
    ok: 501,
    call: get((c) => `${V1}/devices/${dev(c)}/services`),
  },
  [`GET ${V1}/devices/:device/services/:unit`]: {
    access: 'devices:read',
    scoped: true,
    ok: 501,
    call: get((c) => `${V1}/devices/${dev(c)}/services/ssh.service`),
  },
  ...Object.fromEntries(
    ['start', 'stop', 'restart', 'enable', 'disable'].map((act): [string, Row] => [
      `POST ${V1}/devices/:device/services/:unit/${act}`,
      {
        access: 'commands:run',
        audit: `service.${act}`,
        scoped: true,
        ok: 501,
        call: (c) => ({ url: `${V1}/devices/${dev(c)}/services/ssh.service/${act}` }),
      },
    ]),
  ),
  ...Object.fromEntries(
    ['reboot', 'shutdown'].map((act): [string, Row] => [
      `POST ${V1}/devices/:device/${act}`,
      {
        access: 'commands:run',
        audit: `device.${act}`,
        scoped: true,
        ok: 200,
        call: async (c) => {
          if (c.allowed && c.target === 'in') await admin('POST', `/devices/${fx.lab}/power/cancel`);
          return { url: `${V1}/devices/${dev(c)}/${act}`, body: { delaySeconds: 3600, reason: 'permission matrix' } };
        },
      },
    ]),
  ),
  [`POST ${V1}/devices/:device/power/cancel`]: {
    access: 'commands:run',
    audit: 'device.power-cancel',
    scoped: true,
    ok: 200,
    call: (c) => ({ url: `${V1}/devices/${dev(c)}/power/cancel` }),
  },
  [`GET ${V1}/devices/:device/power`]: {
    access: 'devices:read',
    scoped: true,
    ok: 200,
    call: get((c) => `${V1}/devices/${dev(c)}/power`),
  },
  // Files (routes/files.ts): paths inside the lab agent's own data folder (`<stateDir>/files`), made here when needed.
  [`GET ${V1}/devices/:device/files`]: {
    access: 'devices:read',
    scoped: true,
    ok: 200,
    call: get((c) => `${V1}/devices/${dev(c)}/files?path=${encodeURIComponent(labFiles())}`),
  },
  [`POST ${V1}/devices/:device/files/mkdir`]: {
    access: 'commands:run',
    audit: 'file.mkdir',
    scoped: true,
    ok: 200,
    call: (c) => ({
      url: `${V1}/devices/${dev(c)}/files/mkdir`,
      body: { path: `${labFiles()}/${unique('made')}/x`, recursive: true },
    }),
  },
  [`POST ${V1}/devices/:device/files/move`]: {
    access: 'commands:run',
    audit: 'file.move',
    scoped: true,
    ok: 200,
    call: (c) => {
      const from = c.allowed ? agentFile(labState(), unique('moved')) : `${labFiles()}/nothing`;
      return { url: `${V1}/devices/${dev(c)}/files/move`, body: { from, to: `${from}-renamed` } };
    },
  },
  [`DELETE ${V1}/devices/:device/files`]: {
    access: 'commands:run',
    audit: 'file.delete',
    scoped: true,
    ok: 200,
    // allowed: false still names a real directory: a call that wrongly got through would show.
    call: (c) => {
      const path = c.allowed ? agentFile(labState(), unique('doomed-file')) : agentFile(labState(), 'kept', 'dir');
      return { url: `${V1}/devices/${dev(c)}/files?path=${encodeURIComponent(path)}` };
    },
  },
  [`GET ${V1}/devices/:device/files/upload-status`]: {
    access: 'devices:read',
    scoped: true,
    ok: 200,
    call: get(
      (c) =>
        `${V1}/devices/${dev(c)}/files/upload-status?path=${encodeURIComponent(`${labFiles()}/up`)}&transfer=matrix-transfer`,
    ),
  },
  // A raw octet-stream body, streamed to the device over a byte stream.
  [`PUT ${V1}/devices/:device/files/content`]: {
    access: 'commands:run',
    audit: 'file.upload',
    scoped: true,
    ok: 200,
    call: (c) => ({
      url: `${V1}/devices/${dev(c)}/files/content?${new URLSearchParams({
        path: `${labFiles()}/${unique('uploaded')}`,
        size: '5',
        sha256: HELLO_SHA256,
        transfer: unique('matrix-upload'),
      })}`,
      body: Buffer.from('hello'),
      headers: { 'content-type': 'application/octet-stream' },
    }),
  },
  [`GET ${V1}/devices/:device/files/content`]: {
    access: 'commands:run',
    audit: 'file.download',
    scoped: true,
    ok: 200,
    call: get(
      (c) => `${V1}/devices/${dev(c)}/files/content?path=${encodeURIComponent(agentFile(labState(), 'readable'))}`,
    ),
  },
  [`POST ${V1}/devices/:device/files/fetch`]: {
    access: 'commands:run',
    audit: 'file.fetch',
    scoped: true,
    ok: 200,
    call: async (c) => ({
      url: `${V1}/devices/${dev(c)}/files/fetch`,
      body: { url: await payloadUrl(), path: `${labFiles()}/${unique('fetched')}` },
    }),
  },

  // Commands: on a device in scope; a command of a device out of scope does not exist for the caller.
  [`POST ${V1}/devices/:device/commands`]: {
    access: 'commands:run',
    audit: 'command.send',
    scoped: true,
    ok: 202,
    call: (c) => ({ url: `${V1}/devices/${dev(c)}/commands`, body: { capability: 'system', action: 'ping' } }),
  },
  [`GET ${V1}/devices/:device/commands`]: {
    access: 'commands:read',
    scoped: true,
    ok: 200,
    call: get((c) => `${V1}/devices/${dev(c)}/commands`),
  },
  [`GET ${V1}/commands/:id`]: {
    access: 'commands:read',
    scoped: true,
    ok: 200,
    call: get((c) => `${V1}/commands/${cmd(c)}`),
  },
  // The SSE stream: the command is finished, so an allowed stream ends at once with its `end` event.
  [`GET ${V1}/commands/:id/events`]: {
    access: 'commands:read',
    scoped: true,
    ok: 200,
    call: get((c) => `${V1}/commands/${cmd(c)}/events`),
  },

  // Logs and supervised apps (routes/logs.ts, routes/apps.ts): commands on the lab agent; the app acted on is made once.
  [`GET ${V1}/devices/:device/logs`]: {
    access: 'devices:read',
    scoped: true,
    ok: 200,
    call: get((c) => `${V1}/devices/${dev(c)}/logs?source=agent&lines=5`),
  },
  [`POST ${V1}/commands/:id/cancel`]: {
    access: 'commands:run',
    audit: 'command.cancel',
    scoped: true,
    ok: 200,
    // Allowed and in scope: a fresh long exec on the lab agent to stop.
    call: async (c) => ({
      url: `${V1}/commands/${c.allowed && c.target === 'in' ? (await sendCommand(ts, fx.lab, 'exec', 'run', { argv: ['sleep', '30'] }, 'wait=false')).body.id : cmd(c)}/cancel`,
    }),
  },
  [`GET ${V1}/devices/:device/apps`]: {
    access: 'devices:read',
    scoped: true,
    ok: 200,
    call: get((c) => `${V1}/devices/${dev(c)}/apps`),
  },
  [`GET ${V1}/devices/:device/apps/:name`]: {
    access: 'devices:read',
    scoped: true,
    ok: 200,
    call: async (c) => ({ url: `${V1}/devices/${dev(c)}/apps/${await matrixApp()}` }),
  },
  [`POST ${V1}/devices/:device/apps`]: {
    access: 'commands:run',
    audit: 'app.install',
    scoped: true,
    ok: 200,
    call: (c) => ({
      url: `${V1}/devices/${dev(c)}/apps`,
      body: { name: unique('matrix-app'), script: 'true', interpreter: 'sh', autostart: false },
    }),
  },
  ...Object.fromEntries(
    ['start', 'stop', 'restart'].map((verb): [string, Row] => [
      `POST ${V1}/devices/:device/apps/:name/${verb}`,
      {
        access: 'commands:run',
        audit: `app.${verb}`,
        scoped: true,
        ok: 200,
        call: async (c) => ({ url: `${V1}/devices/${dev(c)}/apps/${await matrixApp()}/${verb}` }),
      },
    ]),
  ),
  [`DELETE ${V1}/devices/:device/apps/:name`]: {
    access: 'commands:run',
    audit: 'app.uninstall',
    scoped: true,
    ok: 200,
    call: async (c) => {
      if (!c.allowed || c.target === 'out') return { url: `${V1}/devices/${dev(c)}/apps/${await matrixApp()}` };
      const doomed = unique('doomed-app');
      await admin('POST', `/devices/${fx.lab}/apps`, {
        name: doomed,
        script: 'true',
        interpreter: 'sh',
        autostart: false,
      });
      return { url: `${V1}/devices/${dev(c)}/apps/${doomed}` };
    },
  },

  // The script library: shared by every device, so not scoped; running one is a command on a device.
  [`GET ${V1}/scripts`]: { access: 'scripts:read', ok: 200, call: get(`${V1}/scripts`) },
  [`POST ${V1}/scripts`]: {
    access: 'scripts:write',
    audit: 'script.create',
    ok: 201,
    call: () => ({ url: `${V1}/scripts`, body: { name: unique('matrix-script'), interpreter: 'sh', content: 'true' } }),
  },
  [`GET ${V1}/scripts/:name`]: { access: 'scripts:read', ok: 200, call: get(`${V1}/scripts/${SCRIPT}`) },
  [`PUT ${V1}/scripts/:name`]: {
    access: 'scripts:write',
    audit: 'script.update',
    ok: 200,
    call: () => ({ url: `${V1}/scripts/${SCRIPT}`, body: { content: `echo ${unique('edit')}` } }),
  },
  [`DELETE ${V1}/scripts/:name`]: {
    access: 'scripts:write',
    audit: 'script.delete',
    ok: 204,
    call: async (c) => {
      if (!c.allowed) return { url: `${V1}/scripts/${SCRIPT}` };
      const doomed = unique('doomed-script');
      await admin('POST', '/scripts', { name: doomed, interpreter: 'sh', content: 'true' });
      return { url: `${V1}/scripts/${doomed}` };
    },
  },
  [`GET ${V1}/scripts/:name/versions`]: {
    access: 'scripts:read',
    ok: 200,
    call: get(`${V1}/scripts/${SCRIPT}/versions`),
  },
  [`GET ${V1}/scripts/:name/versions/:version`]: {
    access: 'scripts:read',
    ok: 200,
    call: get(`${V1}/scripts/${SCRIPT}/versions/1`),
  },
  [`POST ${V1}/devices/:device/scripts/:name/run`]: {
    access: 'commands:run',
    audit: 'script.run',
    scoped: true,
    ok: 202,
    call: (c) => ({ url: `${V1}/devices/${dev(c)}/scripts/${SCRIPT}/run`, body: { params: { who: 'matrix' } } }),
  },
};

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
