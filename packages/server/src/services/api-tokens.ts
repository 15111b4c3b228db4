/**
 * Personal API tokens: bearer credentials of a user, stored as hashes, with a
 * role ceiling, an optional device scope and expiry. The first-start admin token
 * is one of them (of the bootstrap `admin` user).
 */
import { writeFileSync } from 'node:fs';
import { type api, isValidId, OutpostError } from '@outpost/protocol';
import { type Actor, minRole, type Role, roleAtLeast } from '../actor.js';
import type { Logger } from '../log.js';
import { hashSecret, newId, newSecret } from '../secrets.js';
import type { Db } from '../store/db.js';
import { iso } from './time.js';
import type { UserService } from './users.js';

/** An API token as the API lists it (the secret itself only in the create answer); its roles are known ones. */
export type ApiTokenView = Omit<api.ApiToken, 'token'> & { role: Role; effectiveRole: Role };

/**
 * A token made with a scoped token can see no more than its maker: it inherits the
 * maker's tags, or may narrow them, never widen them.
 */
function scopeWithin(requested: string[], makerScope: string[]): string[] {
  if (makerScope.length === 0) return requested;
  if (requested.length === 0) return makerScope;
  const outside = requested.filter((t) => !makerScope.includes(t));
  if (outside.length > 0) {
    throw new OutpostError(
      'E_DENIED',
      `this token is limited to ${makerScope.join(', ')}; it cannot grant ${outside.join(', ')}`,
    );
  }
  return requested;
}

export class ApiTokenService {
  constructor(
    private readonly db: Db,
    private readonly users: UserService,
    private readonly log: Logger,
  ) {}

  /** Creates the admin token on first start and writes it to `file` (mode 0600); never logs it. */
  async bootstrapAdmin(file: string): Promise<boolean> {
    const any = await this.db.selectFrom('api_tokens').select('id').limit(1).executeTakeFirst();
    const admin = await this.users.ensureBootstrapAdmin();
    if (any) return false;
    const token = await this.#insert({
      name: 'admin (first start)',
      role: 'admin',
      userId: admin.id,
      tags: [],
      ttl: undefined,
    });
    writeFileSync(file, `${token.token}\n`, { mode: 0o600 });
    this.log.info({ file }, 'created the admin API token; it is in this file (mode 0600)');
    return true;
  }

  async #insert(input: {
    name: string;
    role: Role;
    userId: string;
    tags: string[];
    ttl: number | undefined;
  }): Promise<{ id: string; token: string }> {
    const token = newSecret('opt');
    const now = Date.now();
    const id = newId('tok', 12);
    await this.db
      .insertInto('api_tokens')
      .values({
        id,
        name: input.name,
        role: input.role,
        token_hash: hashSecret(token),
        created_at: now,
        created_by: input.userId,
        expires_at: input.ttl ? now + input.ttl * 1000 : null,
        revoked_at: null,
        last_used_at: null,
        user_id: input.userId,
        scope_tags: JSON.stringify([...new Set(input.tags)].sort()),
      })
      .execute();
    return { id, token };
  }

  /** A token for the acting user; its role may not exceed the user's. */
  async create(
    input: { name: string; role?: Role | undefined; ttl?: number | undefined; tags?: string[] | undefined },
    actor: Actor,
  ): Promise<ApiTokenView & { token: string }> {
    if (!actor.userId) throw new OutpostError('E_DENIED', 'only users own API tokens');
    const role = input.role ?? actor.role;
    if (!roleAtLeast(actor.role, role))
      throw new OutpostError('E_DENIED', `a ${actor.role} cannot create a ${role} token`);
    const tags = scopeWithin(input.tags ?? [], actor.kind === 'token' ? (actor.scopes[1] ?? []) : []);
    const created = await this.#insert({ name: input.name, role, userId: actor.userId, tags, ttl: input.ttl });
    const view = (await this.list(actor.userId)).find((t) => t.id === created.id);
    if (!view) throw new OutpostError('E_INTERNAL', 'token vanished');
    return { ...view, token: created.token };
  }

  async list(userId?: string): Promise<ApiTokenView[]> {
    let q = this.db
      .selectFrom('api_tokens')
      .leftJoin('users', 'users.id', 'api_tokens.user_id')
      .selectAll('api_tokens')
      .select(['users.name as user_name', 'users.role as user_role'])
      .orderBy('api_tokens.created_at', 'desc');
    if (userId) q = q.where('api_tokens.user_id', '=', userId);
    return (await q.execute()).map((r) => ({
      id: r.id,
      name: r.name,
      role: r.role as Role,
      /** What the token can do now: its ceiling, lowered to its user's current role. */
      effectiveRole: r.user_role ? minRole(r.role as Role, r.user_role as Role) : ('viewer' as Role),
      tags: JSON.parse(r.scope_tags) as string[],
      userId: r.user_id,
      userName: r.user_name,
      createdAt: iso(r.created_at) ?? '',
      expiresAt: iso(r.expires_at),
      lastUsedAt: iso(r.last_used_at),
      revokedAt: iso(r.revoked_at),
    }));
  }

  /** Revokes a token; users revoke their own, admins any. */
  async revoke(id: string, actor: Actor): Promise<void> {
    const row = isValidId(id)
      ? await this.db.selectFrom('api_tokens').selectAll().where('id', '=', id).executeTakeFirst()
      : undefined;
    if (!row || (actor.role !== 'admin' && row.user_id !== actor.userId))
      throw new OutpostError('E_NOT_FOUND', `API token '${id.slice(0, 80)}' not found`);
    await this.db
      .updateTable('api_tokens')
      .set({ revoked_at: Date.now() })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .execute();
  }

  async revokeAllFor(userId: string): Promise<void> {
    await this.db
      .updateTable('api_tokens')
      .set({ revoked_at: Date.now() })
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null)
      .execute();
  }

  /** Resolves a bearer token to its actor, or throws E_UNAUTHENTICATED. */
  async authenticate(token: string): Promise<Actor> {
    if (!token.startsWith('opt_') || token.length > 200)
      throw new OutpostError('E_UNAUTHENTICATED', 'invalid API token');
    // One statement on the hot path of every API call: the token with its user.
    const row = await this.db
      .selectFrom('api_tokens as t')
      .innerJoin('users as u', 'u.id', 't.user_id')
      .select([
        't.id',
        't.role',
        't.scope_tags',
        't.revoked_at',
        't.expires_at',
        't.last_used_at',
        'u.id as user_id',
        'u.name as user_name',
        'u.role as user_role',
        'u.scope_tags as user_scope_tags',
      ])
      .where('t.token_hash', '=', hashSecret(token))
      .executeTakeFirst();
    const now = Date.now();
    if (!row || row.revoked_at !== null || (row.expires_at !== null && row.expires_at <= now)) {
      throw new OutpostError('E_UNAUTHENTICATED', 'invalid API token');
    }
    // Last-use is informational; cap write frequency to once a minute per token.
    if (row.last_used_at === null || now - row.last_used_at > 60_000) {
      await this.db.updateTable('api_tokens').set({ last_used_at: now }).where('id', '=', row.id).execute();
    }
    return {
      kind: 'token',
      id: row.id,
      userId: row.user_id,
      name: row.user_name,
      role: minRole(row.role as Role, row.user_role as Role),
      scopes: [JSON.parse(row.user_scope_tags) as string[], JSON.parse(row.scope_tags) as string[]],
    };
  }
}
