/**
 * The spec of the permission matrix (packages/server/src/http/permissions.test.ts):
 * one row per registered route with the permission it must require, its audit
 * action, whether it is scoped to a device, the status of an allowed call, and how
 * to make that call (creating what it acts on only when the caller is allowed).
 * The test passes in the helpers the rows use, since they act on its live server.
 */

import type { Role } from '../packages/server/src/actor.js';
import type { Permission } from '../packages/server/src/http/auth.js';
import { capabilityRoutes } from './permission-matrix-capabilities.js';

export type Principal = {
  label: string;
  role: Role | null;
  /** Bearer token or session cookie (+ CSRF token for state changes). */
  auth: { token: string } | { cookie: string; csrf: string } | null;
  user?: { name: string; password: string };
};

export interface CallContext {
  p: Principal;
  /** True when the principal holds the route's permission: only then do calls make real things to act on. */
  allowed: boolean;
  target: 'in' | 'out';
}
export interface Call {
  url: string;
  body?: unknown;
  /** Replaces the principal's credentials (a throwaway session for logout). */
  auth?: Principal['auth'];
  /** Extra request headers (a raw upload's content type). */
  headers?: Record<string, string>;
}

export interface Row {
  access: 'public' | Permission;
  audit?: string;
  /** The device (or command) the route acts on: outside the caller's scope it must be 404 E_NOT_FOUND. */
  scoped?: true;
  /** Status of an allowed call (in scope). */
  ok: number;
  call: (c: CallContext) => Call | Promise<Call>;
}

export interface MatrixHelpers {
  V1: string;
  PASSWORD: string;
  SCRIPT: string;
  HELLO_SHA256: string;
  fx: { lab: string; prod: string; labCommand: string; prodCommand: string; bystander: string; labToken: string };
  unique: (prefix: string) => string;
  dev: (c: CallContext) => string;
  cmd: (c: CallContext) => string;
  get: (url: string | ((c: CallContext) => string)) => (c: CallContext) => { url: string };
  labState: () => string;
  labFiles: () => string;
  admin: (method: string, path: string, body?: unknown) => Promise<any>;
  inviteAndAccept: (name: string, role: Role, tags?: string[]) => Promise<void>;
  inject: (method: string, call: Call, auth: Principal['auth']) => Promise<any>;
  ownSession: (p: Principal) => Promise<any>;
  matrixApp: () => Promise<string>;
  sacrificial: (c: CallContext) => Promise<string>;
  /** Starts a long command on the lab device and returns its id (for the cancel row). */
  runningCommand: () => Promise<string>;
  /** A process of the prod agent's machine that may receive SIGCONT (the signal row). */
  prodAgentPid: () => number | undefined;
}

/** Every route the server registers, as `METHOD /url`; HEAD routes mirror their GET (checked separately). */
export function matrixRoutes(h: MatrixHelpers): Record<string, Row> {
  const { V1, PASSWORD, fx, unique, dev, get, admin, inviteAndAccept, inject, ownSession, sacrificial } = h;
  return {
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

    ...capabilityRoutes(h),
  };
}
