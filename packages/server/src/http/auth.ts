/**
 * Authentication and permission checks for every route, declared in one place:
 * each route names its `permission` in `config` (or `public: true`). A route that
 * declares neither is refused at registration, so none can slip through unguarded.
 */
import { OutpostError } from '@outpost/protocol';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Actor, Role } from '../actor.js';
import type { ApiTokenService } from '../services/api-tokens.js';

export const permissions = {
  'devices:read': ['admin', 'operator', 'viewer'],
  'devices:write': ['admin'],
  'commands:read': ['admin', 'operator', 'viewer'],
  'commands:run': ['admin', 'operator'],
  'enrollment:read': ['admin', 'operator'],
  'enrollment:write': ['admin'],
  'self:read': ['admin', 'operator', 'viewer'],
} as const satisfies Record<string, readonly Role[]>;
export type Permission = keyof typeof permissions;

declare module 'fastify' {
  interface FastifyContextConfig {
    public?: boolean;
    permission?: Permission;
  }
  interface FastifyRequest {
    actor: Actor;
  }
}

export function bearer(req: FastifyRequest): string | null {
  const h = req.headers.authorization;
  if (typeof h !== 'string') return null;
  const m = /^Bearer ([A-Za-z0-9_-]{1,200})$/.exec(h);
  return m?.[1] ?? null;
}

export function installAuth(app: FastifyInstance, tokens: ApiTokenService): void {
  app.decorateRequest('actor', null as unknown as Actor);
  app.addHook('onRoute', (route) => {
    const cfg = route.config as { public?: boolean; permission?: Permission } | undefined;
    if (route.url.startsWith('/api/docs')) {
      route.config = { ...(cfg ?? {}), public: true } as typeof route.config;
      return;
    }
    if (!cfg?.public && !cfg?.permission) throw new Error(`route ${route.method} ${route.url} declares no permission`);
  });
  app.addHook('onRequest', async (req) => {
    const cfg = req.routeOptions.config;
    if (cfg.public || !req.routeOptions.url) return;
    const token = bearer(req);
    if (!token) throw new OutpostError('E_UNAUTHENTICATED', 'missing bearer token');
    req.actor = await tokens.authenticate(token);
    const permission = cfg.permission as Permission;
    if (!(permissions[permission] as readonly Role[]).includes(req.actor.role)) {
      throw new OutpostError('E_DENIED', `role ${req.actor.role} may not ${permission}`);
    }
  });
}
