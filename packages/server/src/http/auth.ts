/**
 * Authentication, permissions and auditing for every route, declared in one
 * place: each route names its `permission` in `config` (or `public: true`), and
 * every state-changing route names its `audit` action. A route that declares
 * neither is refused at registration, so none can slip through unguarded.
 */
import { OutpostError } from '@outpost/protocol';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Actor, Role } from '../actor.js';
import type { Services } from '../services/index.js';
import type { SessionTable } from '../store/schema.js';

const ALL: readonly Role[] = ['admin', 'operator', 'viewer'];
const OPERATORS: readonly Role[] = ['admin', 'operator'];
const ADMINS: readonly Role[] = ['admin'];

/** Which roles hold each permission. Roles: admin (everything), operator (act on devices), viewer (read). */
export const permissions = {
  'self:read': ALL,
  'self:write': ALL,
  'devices:read': ALL,
  'devices:write': ADMINS,
  'commands:read': ALL,
  'commands:run': OPERATORS,
  'scripts:read': ALL,
  'scripts:write': OPERATORS,
  'enrollment:read': OPERATORS,
  'enrollment:write': ADMINS,
  'users:read': ADMINS,
  'users:write': ADMINS,
  'sessions:admin': ADMINS,
  'audit:read': ADMINS,
  /** Open an interactive terminal on a device (docs/terminal.md). */
  'terminal:open': OPERATORS,
  /** List and download terminal recordings. */
  'terminal:recordings': ADMINS,
} as const satisfies Record<string, readonly Role[]>;
export type Permission = keyof typeof permissions;

export const SESSION_COOKIE = 'outpost_session';
const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export interface AuditNote {
  target?: string | null;
  deviceId?: string | null;
  details?: unknown;
  /** For unauthenticated routes (login): who the caller claimed to be. */
  claimed?: string;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    public?: boolean;
    permission?: Permission;
    /** Audit action name, e.g. `device.accept`; required on state-changing routes. */
    audit?: string;
    /**
     * Audit action for refused requests only, on routes whose service audits the
     * allowed ones itself with richer details (the terminal and forward WebSockets).
     */
    auditRefused?: string;
  }
  interface FastifyRequest {
    actor: Actor;
    session: SessionTable | null;
    auditNote: AuditNote | null;
    errorCode: string | null;
  }
}

export function bearer(req: FastifyRequest): string | null {
  const h = req.headers.authorization;
  if (typeof h !== 'string') return null;
  const m = /^Bearer ([A-Za-z0-9_-]{1,200})$/.exec(h);
  return m?.[1] ?? null;
}

export function sessionCookie(req: FastifyRequest): string | null {
  const raw = req.headers.cookie;
  if (typeof raw !== 'string' || raw.length > 8192) return null;
  for (const part of raw.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === SESSION_COOKIE) {
      const value = v.join('=');
      return /^[A-Za-z0-9_-]{1,200}$/.test(value) ? value : null;
    }
  }
  return null;
}

export function setSessionCookie(reply: FastifyReply, token: string, maxAgeSeconds: number): void {
  reply.header(
    'set-cookie',
    `${SESSION_COOKIE}=${token}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=${maxAgeSeconds}`,
  );
}

export function clearSessionCookie(reply: FastifyReply): void {
  reply.header('set-cookie', `${SESSION_COOKIE}=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0`);
}

/** Authenticates a request by bearer token or session cookie (+ CSRF for state changes). */
export async function authenticate(req: FastifyRequest, services: Services, method: string): Promise<Actor> {
  const token = bearer(req);
  if (token) return services.tokens.authenticate(token);
  const cookie = sessionCookie(req);
  if (!cookie) throw new OutpostError('E_UNAUTHENTICATED', 'missing bearer token or session');
  const { actor, session } = await services.sessions.authenticate(cookie);
  if (STATE_CHANGING.has(method)) {
    const header = req.headers['x-csrf-token'];
    services.sessions.checkCsrf(session, typeof header === 'string' ? header : undefined);
  }
  req.session = session;
  return actor;
}

export function installAuth(app: FastifyInstance, services: Services): void {
  app.decorateRequest('actor', null as unknown as Actor);
  app.decorateRequest('session', null);
  app.decorateRequest('auditNote', null);
  app.decorateRequest('errorCode', null);
  app.addHook('onRoute', (route) => {
    const cfg = route.config as { public?: boolean; permission?: Permission; audit?: string } | undefined;
    if (route.url.startsWith('/api/docs')) {
      route.config = { ...(cfg ?? {}), public: true } as typeof route.config;
      return;
    }
    if (!cfg?.public && !cfg?.permission) throw new Error(`route ${route.method} ${route.url} declares no permission`);
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    if (methods.some((m) => STATE_CHANGING.has(m)) && !cfg?.audit) {
      throw new Error(`state-changing route ${route.method} ${route.url} declares no audit action`);
    }
  });
  app.addHook('onRequest', async (req) => {
    const cfg = req.routeOptions.config;
    if (cfg.public || !req.routeOptions.url) return;
    req.actor = await authenticate(req, services, req.method);
    const permission = cfg.permission as Permission;
    if (!(permissions[permission] as readonly Role[]).includes(req.actor.role)) {
      throw new OutpostError('E_DENIED', `role ${req.actor.role} may not ${permission}`);
    }
  });
  app.addHook('onResponse', async (req, reply) => {
    const cfg = req.routeOptions.config;
    const action = cfg?.audit ?? (reply.statusCode >= 400 ? cfg?.auditRefused : undefined);
    if (!action) return;
    const params = (req.params ?? {}) as Record<string, string>;
    const note = req.auditNote ?? {};
    const ok = reply.statusCode < 400;
    const claimed = note.claimed?.slice(0, 100);
    const actor = req.actor ?? { ref: claimed ? `claimed:${claimed}` : 'anonymous', name: claimed ?? null };
    try {
      // A refused request still names the device it aimed at, so `audit --device` finds the attempt.
      const deviceId =
        note.deviceId ??
        (params.device
          ? await services.devices.resolve(params.device).then(
              (d) => d.id,
              () => null,
            )
          : null);
      await services.audit.record({
        actor,
        ip: req.ip,
        action,
        target: note.target ?? params.device ?? params.id ?? params.user ?? null,
        deviceId,
        result: ok ? 'ok' : 'error',
        errorCode: ok ? null : (req.errorCode ?? `HTTP_${reply.statusCode}`),
        details: note.details,
      });
    } catch (err) {
      req.log.error({ err }, 'audit write failed');
    }
  });
}
