/** Personal API tokens: bearer credentials stored as hashes; the first-start admin token is one of them. */
import { writeFileSync } from 'node:fs';
import { OutpostError } from '@outpost/protocol';
import type { Actor, Role } from '../actor.js';
import type { Logger } from '../log.js';
import { hashSecret, newId, newSecret } from '../secrets.js';
import type { Db } from '../store/db.js';

export class ApiTokenService {
  constructor(
    private readonly db: Db,
    private readonly log: Logger,
  ) {}

  /** Creates the admin token on first start and writes it to `file` (mode 0600); never logs it. */
  async bootstrapAdmin(file: string): Promise<boolean> {
    const any = await this.db.selectFrom('api_tokens').select('id').limit(1).executeTakeFirst();
    if (any) return false;
    const token = await this.create({ name: 'admin (first start)', role: 'admin' }, null);
    writeFileSync(file, `${token.token}\n`, { mode: 0o600 });
    this.log.info({ file }, 'created the admin API token; it is in this file (mode 0600)');
    return true;
  }

  async create(
    input: { name: string; role: Role; ttl?: number },
    createdBy: string | null,
  ): Promise<{ id: string; token: string }> {
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
        created_by: createdBy,
        expires_at: input.ttl ? now + input.ttl * 1000 : null,
        revoked_at: null,
        last_used_at: null,
      })
      .execute();
    return { id, token };
  }

  /** Resolves a bearer token to its actor, or throws E_UNAUTHENTICATED. */
  async authenticate(token: string): Promise<Actor> {
    if (!token.startsWith('opt_') || token.length > 200)
      throw new OutpostError('E_UNAUTHENTICATED', 'invalid API token');
    const row = await this.db
      .selectFrom('api_tokens')
      .selectAll()
      .where('token_hash', '=', hashSecret(token))
      .executeTakeFirst();
    const now = Date.now();
    if (!row || row.revoked_at !== null || (row.expires_at !== null && row.expires_at <= now)) {
      throw new OutpostError('E_UNAUTHENTICATED', 'invalid API token');
    }
    // Last-use is informational; cap write frequency to once a minute per token.
    if (row.last_used_at === null || now - row.last_used_at > 60_000) {
      await this.db.updateTable('api_tokens').set({ last_used_at: now }).where('id', '=', row.id).execute();
    }
    return { kind: 'token', id: row.id, name: row.name, role: row.role as Role };
  }
}
