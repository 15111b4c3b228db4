/** Users and invitations: invite-only accounts, roles, device scopes and passwords. */
import { type api, isValidId, OutpostError } from '@outpost/protocol';
import { type Actor, actorRef, type Role } from '../actor.js';
import type { Logger } from '../log.js';
import { checkPasswordPolicy, hashPassword, verifyPassword } from '../passwords.js';
import { hashSecret, newId, newSecret } from '../secrets.js';
import type { Db } from '../store/db.js';
import type { InvitationTable, UserTable } from '../store/schema.js';
import type { RateLimiter } from './rate-limit.js';
import { iso } from './time.js';

/** A user as the API shows it; the role is a known one. */
export type UserView = api.User & { role: Role };

/** An invitation as the API lists it (the code itself only in the create answer). */
export type InvitationView = Omit<api.Invitation, 'code'> & {
  role: Role;
  state: 'open' | 'used' | 'expired' | 'revoked';
};

export function userView(u: UserTable): UserView {
  return {
    id: u.id,
    name: u.name,
    email: u.email,
    role: u.role as Role,
    tags: JSON.parse(u.scope_tags) as string[],
    hasPassword: u.password_hash !== null,
    createdAt: iso(u.created_at) ?? '',
  };
}

function invitationState(i: InvitationTable, now = Date.now()): InvitationView['state'] {
  if (i.revoked_at !== null) return 'revoked';
  if (i.used_at !== null) return 'used';
  return i.expires_at <= now ? 'expired' : 'open';
}

function invitationView(i: InvitationTable): InvitationView {
  return {
    id: i.id,
    name: i.name,
    email: i.email,
    role: i.role as Role,
    tags: JSON.parse(i.scope_tags) as string[],
    expiresAt: iso(i.expires_at) ?? '',
    usedAt: iso(i.used_at),
    revokedAt: iso(i.revoked_at),
    createdAt: iso(i.created_at) ?? '',
    state: invitationState(i),
  };
}

export const BOOTSTRAP_ADMIN = 'admin';

/**
 * A caller limited to some devices may only give out (or change) accounts that
 * see no more than it does: every tag must lie inside each of its scopes. With
 * no tags asked for, a single scope is inherited. Returns the tags to use.
 */
export function tagsWithinScope(actor: Actor, requested: string[] | undefined): string[] | undefined {
  const scopes = actor.scopes.filter((s) => s.length > 0);
  if (scopes.length === 0) return requested;
  const tags = requested && requested.length > 0 ? requested : scopes.length === 1 ? scopes[0] : undefined;
  const outside = (tags ?? []).filter((t) => !scopes.every((s) => s.includes(t)));
  if (!tags || outside.length > 0) {
    throw new OutpostError(
      'E_DENIED',
      `you are limited to devices tagged ${scopes.map((s) => s.join('|')).join(' and ')}; accounts you manage must be too`,
    );
  }
  return tags;
}

export class UserService {
  constructor(
    private readonly db: Db,
    private readonly log: Logger,
    private readonly inviteLimiter: RateLimiter,
  ) {}

  async row(id: string): Promise<UserTable | undefined> {
    if (!isValidId(id)) return undefined;
    return this.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async byName(name: string): Promise<UserTable | undefined> {
    return this.db.selectFrom('users').selectAll().where('name', '=', name).executeTakeFirst();
  }

  /** Finds a user by id or name. */
  async resolve(ref: string): Promise<UserTable> {
    const u = (await this.row(ref)) ?? (await this.byName(ref));
    if (!u) throw new OutpostError('E_NOT_FOUND', `user '${ref.slice(0, 80)}' not found`);
    return u;
  }

  /** The first-start admin: no password until one is set through an invitation or `passwd`. */
  async ensureBootstrapAdmin(): Promise<UserTable> {
    const existing = await this.byName(BOOTSTRAP_ADMIN);
    if (existing) return existing;
    const row: UserTable = {
      id: newId('u', 12),
      name: BOOTSTRAP_ADMIN,
      email: null,
      role: 'admin',
      scope_tags: '[]',
      password_hash: null,
      password_changed_at: null,
      created_at: Date.now(),
      created_by: 'system',
    };
    await this.db.insertInto('users').values(row).execute();
    return row;
  }

  async list(): Promise<UserView[]> {
    return (await this.db.selectFrom('users').selectAll().orderBy('created_at', 'asc').execute()).map(userView);
  }

  async invite(
    input: {
      name: string;
      email?: string | undefined;
      role: Role;
      tags?: string[] | undefined;
      ttl?: number | undefined;
    },
    actor: Actor,
  ): Promise<InvitationView & { code: string }> {
    if (await this.byName(input.name))
      throw new OutpostError('E_CONFLICT', `a user named '${input.name}' already exists`);
    const open = await this.db
      .selectFrom('invitations')
      .select('id')
      .where('name', '=', input.name)
      .where('used_at', 'is', null)
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', Date.now())
      .executeTakeFirst();
    if (open)
      throw new OutpostError(
        'E_CONFLICT',
        `'${input.name}' already has an open invitation (${open.id}); revoke it first`,
      );
    const tags = tagsWithinScope(actor, input.tags);
    const code = newSecret('opi');
    const now = Date.now();
    const row: InvitationTable = {
      id: newId('inv', 12),
      name: input.name,
      email: input.email ?? null,
      role: input.role,
      scope_tags: JSON.stringify([...new Set(tags ?? [])].sort()),
      code_hash: hashSecret(code),
      expires_at: now + (input.ttl ?? 7 * 86400) * 1000,
      used_at: null,
      revoked_at: null,
      user_id: null,
      created_at: now,
      created_by: actorRef(actor),
    };
    await this.db.insertInto('invitations').values(row).execute();
    return { ...invitationView(row), code };
  }

  async invitations(): Promise<InvitationView[]> {
    return (await this.db.selectFrom('invitations').selectAll().orderBy('created_at', 'desc').execute()).map(
      invitationView,
    );
  }

  async revokeInvitation(id: string): Promise<InvitationView> {
    const row = isValidId(id)
      ? await this.db.selectFrom('invitations').selectAll().where('id', '=', id).executeTakeFirst()
      : undefined;
    if (!row) throw new OutpostError('E_NOT_FOUND', `invitation '${id.slice(0, 80)}' not found`);
    if (row.revoked_at === null && row.used_at === null) {
      row.revoked_at = Date.now();
      await this.db.updateTable('invitations').set({ revoked_at: row.revoked_at }).where('id', '=', id).execute();
    }
    return invitationView(row);
  }

  /** Turns an invitation code into an account with the given password; a code works once. */
  async acceptInvitation(code: string, password: string, ip: string): Promise<UserView> {
    this.inviteLimiter.check(ip, 'address');
    const row = await this.db
      .selectFrom('invitations')
      .selectAll()
      .where('code_hash', '=', hashSecret(code))
      .executeTakeFirst();
    if (!row) {
      this.inviteLimiter.fail(ip);
      throw new OutpostError('E_NOT_FOUND', 'unknown invitation code');
    }
    const state = invitationState(row);
    if (state !== 'open')
      throw new OutpostError(state === 'expired' ? 'E_EXPIRED' : 'E_CONFLICT', `invitation is ${state}`);
    checkPasswordPolicy(password);
    const now = Date.now();
    const user: UserTable = {
      id: newId('u', 12),
      name: row.name,
      email: row.email,
      role: row.role,
      scope_tags: row.scope_tags,
      password_hash: await hashPassword(password),
      password_changed_at: now,
      created_at: now,
      created_by: row.created_by,
    };
    await this.db.transaction().execute(async (trx) => {
      const res = await trx
        .updateTable('invitations')
        .set({ used_at: now, user_id: user.id })
        .where('id', '=', row.id)
        .where('used_at', 'is', null)
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) !== 1) throw new OutpostError('E_CONFLICT', 'invitation is used');
      await trx.insertInto('users').values(user).execute();
    });
    this.log.info({ userId: user.id, invitationId: row.id }, 'invitation accepted');
    return userView(user);
  }

  async update(
    ref: string,
    patch: { role?: Role | undefined; tags?: string[] | undefined },
    actor: Actor,
  ): Promise<UserView> {
    const user = await this.resolve(ref);
    // A scoped caller manages only accounts inside its scope, and keeps them there.
    tagsWithinScope(actor, JSON.parse(user.scope_tags) as string[]);
    if (patch.tags) patch = { ...patch, tags: tagsWithinScope(actor, patch.tags) };
    if (user.id === actor.userId && patch.role && patch.role !== user.role) {
      throw new OutpostError('E_CONFLICT', 'you cannot change your own role');
    }
    const set: Partial<UserTable> = {};
    if (patch.role) set.role = patch.role;
    if (patch.tags) set.scope_tags = JSON.stringify([...new Set(patch.tags)].sort());
    if (user.role === 'admin' && set.role && set.role !== 'admin') await this.#assertAnotherAdmin(user.id);
    if (Object.keys(set).length > 0) await this.db.updateTable('users').set(set).where('id', '=', user.id).execute();
    return userView({ ...user, ...set });
  }

  async remove(ref: string, actor: Actor): Promise<UserTable> {
    const user = await this.resolve(ref);
    tagsWithinScope(actor, JSON.parse(user.scope_tags) as string[]);
    if (user.id === actor.userId) throw new OutpostError('E_CONFLICT', 'you cannot remove yourself');
    if (user.role === 'admin') await this.#assertAnotherAdmin(user.id);
    await this.db.deleteFrom('users').where('id', '=', user.id).execute();
    return user;
  }

  async #assertAnotherAdmin(exceptId: string): Promise<void> {
    const other = await this.db
      .selectFrom('users')
      .select('id')
      .where('role', '=', 'admin')
      .where('id', '!=', exceptId)
      .executeTakeFirst();
    if (!other) throw new OutpostError('E_CONFLICT', 'the last admin cannot be removed or demoted');
  }

  async verify(user: UserTable, password: string): Promise<boolean> {
    return verifyPassword(password, user.password_hash);
  }

  async setPassword(userId: string, password: string): Promise<void> {
    checkPasswordPolicy(password);
    await this.db
      .updateTable('users')
      .set({ password_hash: await hashPassword(password), password_changed_at: Date.now() })
      .where('id', '=', userId)
      .execute();
  }
}
