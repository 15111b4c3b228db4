/**
 * Browser sessions and password logins: rate-limited per account and per
 * address, idle and absolute expiry, a CSRF token bound to each session.
 */
import { type api, isValidId, OutpostError } from '@outpost/protocol';
import type { Actor, Role } from '../actor.js';
import type { Logger } from '../log.js';
import { hashSecret, newId, newSecret, secretMatches } from '../secrets.js';
import type { Db } from '../store/db.js';
import type { SessionTable, UserTable } from '../store/schema.js';
import type { RateLimiter } from './rate-limit.js';
import { iso } from './time.js';
import type { UserService } from './users.js';

export interface SessionPolicy {
  idleSeconds: number;
  absoluteSeconds: number;
}

export type SessionView = api.Session;

export class SessionService {
  constructor(
    private readonly db: Db,
    private readonly users: UserService,
    private readonly log: Logger,
    private readonly limiters: { account: RateLimiter; ip: RateLimiter },
    private readonly policy: SessionPolicy,
  ) {}

  /** Checks a name and password; failures count against both the account and the address. */
  async checkPassword(name: string, password: string, ip: string): Promise<UserTable> {
    const accountKey = name.toLowerCase().slice(0, 200);
    // Count the attempt before the (slow) check: concurrent guesses must not all get through.
    this.limiters.ip.attempt(ip, 'address');
    try {
      this.limiters.account.attempt(accountKey, 'account');
    } catch (err) {
      this.limiters.ip.forgive(ip);
      throw err;
    }
    const user = await this.users.byName(name);
    const ok = await this.users.verify(user ?? ({ password_hash: null } as UserTable), password);
    if (!user || !ok) throw new OutpostError('E_UNAUTHENTICATED', 'wrong name or password');
    this.limiters.ip.forgive(ip);
    this.limiters.account.reset(accountKey);
    return user;
  }

  async login(
    user: UserTable,
    ip: string,
    userAgent: string | undefined,
  ): Promise<{ token: string; csrfToken: string; session: SessionView }> {
    const token = newSecret('oss');
    const csrfToken = newSecret('osc');
    const now = Date.now();
    const row: SessionTable = {
      id: newId('s', 12),
      user_id: user.id,
      token_hash: hashSecret(token),
      csrf_hash: hashSecret(csrfToken),
      created_at: now,
      last_seen_at: now,
      expires_at: now + this.policy.absoluteSeconds * 1000,
      ended_at: null,
      ip,
      user_agent: userAgent?.slice(0, 256) ?? null,
    };
    await this.db.insertInto('sessions').values(row).execute();
    this.log.info({ userId: user.id, sessionId: row.id }, 'session started');
    return { token, csrfToken, session: this.#view(row, user.name) };
  }

  #view(row: SessionTable, userName: string): SessionView {
    return {
      id: row.id,
      userId: row.user_id,
      userName,
      createdAt: iso(row.created_at),
      lastSeenAt: iso(row.last_seen_at),
      expiresAt: iso(Math.min(row.expires_at, row.last_seen_at + this.policy.idleSeconds * 1000)),
      ip: row.ip,
      userAgent: row.user_agent,
    };
  }

  /** Resolves a session cookie to its actor; expired, ended or unknown sessions are E_UNAUTHENTICATED. */
  async authenticate(token: string): Promise<{ actor: Actor; session: SessionTable }> {
    const now = Date.now();
    const row = token.startsWith('oss_')
      ? await this.db.selectFrom('sessions').selectAll().where('token_hash', '=', hashSecret(token)).executeTakeFirst()
      : undefined;
    if (
      !row ||
      row.ended_at !== null ||
      row.expires_at <= now ||
      now - row.last_seen_at > this.policy.idleSeconds * 1000
    ) {
      throw new OutpostError('E_UNAUTHENTICATED', 'session expired or unknown; log in again');
    }
    const user = await this.users.row(row.user_id);
    if (!user) throw new OutpostError('E_UNAUTHENTICATED', 'session expired or unknown; log in again');
    if (now - row.last_seen_at > 10_000) {
      await this.db.updateTable('sessions').set({ last_seen_at: now }).where('id', '=', row.id).execute();
    }
    const actor: Actor = {
      kind: 'session',
      id: row.id,
      userId: user.id,
      name: user.name,
      role: user.role as Role,
      scopes: [JSON.parse(user.scope_tags) as string[]],
    };
    return { actor, session: row };
  }

  checkCsrf(session: SessionTable, header: string | undefined): void {
    if (!header || !secretMatches(header, session.csrf_hash)) {
      throw new OutpostError('E_DENIED', 'missing or wrong CSRF token (send the x-csrf-token header from login)');
    }
  }

  async end(sessionId: string): Promise<void> {
    if (!isValidId(sessionId)) throw new OutpostError('E_NOT_FOUND', 'session not found');
    const res = await this.db
      .updateTable('sessions')
      .set({ ended_at: Date.now() })
      .where('id', '=', sessionId)
      .where('ended_at', 'is', null)
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) !== 1) throw new OutpostError('E_NOT_FOUND', 'session not found');
  }

  /** Ends every session of a user, except `keep` (the one changing the password). */
  async endAllFor(userId: string, keep?: string): Promise<number> {
    let q = this.db
      .updateTable('sessions')
      .set({ ended_at: Date.now() })
      .where('user_id', '=', userId)
      .where('ended_at', 'is', null);
    if (keep) q = q.where('id', '!=', keep);
    return Number((await q.executeTakeFirst()).numUpdatedRows);
  }

  async list(userId?: string): Promise<SessionView[]> {
    const now = Date.now();
    let q = this.db
      .selectFrom('sessions')
      .innerJoin('users', 'users.id', 'sessions.user_id')
      .selectAll('sessions')
      .select('users.name as user_name')
      .where('sessions.ended_at', 'is', null)
      .where('sessions.expires_at', '>', now)
      .where('sessions.last_seen_at', '>', now - this.policy.idleSeconds * 1000)
      .orderBy('sessions.created_at', 'desc');
    if (userId) q = q.where('sessions.user_id', '=', userId);
    return (await q.execute()).map((r) => this.#view(r, r.user_name));
  }
}
