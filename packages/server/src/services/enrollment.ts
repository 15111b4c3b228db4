/** Enrollment tokens and the enrollment exchange that turns a token into a device identity. */
import { type api, type DeviceFacts, type EnrollResponse, isValidId, OutpostError } from '@outpost/protocol';
import { type Actor, actorRef } from '../actor.js';
import type { Logger } from '../log.js';
import { hashSecret, newId, newSecret } from '../secrets.js';
import type { Db } from '../store/db.js';
import type { EnrollmentTokenTable } from '../store/schema.js';
import { checkDevicePublicKey, type DeviceCertIssuer } from '../tls/ca.js';
import type { AuditService } from './audit.js';
import type { DeviceService } from './devices.js';
import { iso } from './time.js';

export type EnrollmentTokenState = api.EnrollmentTokenState;

/** An enrollment token as the API lists it (the secret itself only in the create answer). */
export type EnrollmentTokenView = Omit<api.EnrollmentToken, 'token'>;

function stateOf(row: EnrollmentTokenTable, now = Date.now()): EnrollmentTokenState {
  if (row.revoked_at !== null) return 'revoked';
  if (row.expires_at !== null && row.expires_at <= now) return 'expired';
  if (row.max_uses !== null && row.uses >= row.max_uses) return 'used-up';
  return 'active';
}

function toView(row: EnrollmentTokenTable): EnrollmentTokenView {
  return {
    id: row.id,
    name: row.name,
    tags: JSON.parse(row.tags) as string[],
    autoAccept: row.auto_accept === 1,
    maxUses: row.max_uses,
    uses: row.uses,
    expiresAt: iso(row.expires_at),
    revokedAt: iso(row.revoked_at),
    createdAt: iso(row.created_at) ?? '',
    state: stateOf(row),
  };
}

export type CreateEnrollmentToken = api.CreateEnrollmentTokenBody;

const ENROLL_REJECTED: Record<Exclude<EnrollmentTokenState, 'active'>, string> = {
  expired: 'enrollment token expired',
  revoked: 'enrollment token revoked',
  'used-up': 'enrollment token has no uses left',
};

export class EnrollmentService {
  constructor(
    private readonly db: Db,
    private readonly devices: DeviceService,
    private readonly audit: AuditService,
    private readonly log: Logger,
    /** Issues client certificates for devices that enroll with a public key; without it they are refused. */
    private readonly issueCert?: DeviceCertIssuer,
  ) {}

  async create(input: CreateEnrollmentToken, actor: Actor): Promise<EnrollmentTokenView & { token: string }> {
    const token = newSecret('ope');
    const now = Date.now();
    const row: EnrollmentTokenTable = {
      id: newId('et', 12),
      name: input.name ?? '',
      token_hash: hashSecret(token),
      tags: JSON.stringify([...new Set(input.tags ?? [])].sort()),
      auto_accept: input.autoAccept ? 1 : 0,
      max_uses: input.maxUses ?? null,
      uses: 0,
      expires_at: now + (input.ttl ?? 86400) * 1000,
      revoked_at: null,
      created_at: now,
      created_by: actorRef(actor),
    };
    await this.db.insertInto('enrollment_tokens').values(row).execute();
    this.log.info({ enrollmentTokenId: row.id, actor: actorRef(actor) }, 'enrollment token created');
    return { ...toView(row), token };
  }

  async list(): Promise<EnrollmentTokenView[]> {
    const rows = await this.db.selectFrom('enrollment_tokens').selectAll().orderBy('created_at', 'desc').execute();
    return rows.map(toView);
  }

  async revoke(id: string, actor: Actor): Promise<EnrollmentTokenView> {
    const row = isValidId(id)
      ? await this.db.selectFrom('enrollment_tokens').selectAll().where('id', '=', id).executeTakeFirst()
      : undefined;
    if (!row) throw new OutpostError('E_NOT_FOUND', `enrollment token '${id.slice(0, 80)}' not found`);
    if (row.revoked_at === null) {
      row.revoked_at = Date.now();
      await this.db.updateTable('enrollment_tokens').set({ revoked_at: row.revoked_at }).where('id', '=', id).execute();
      this.log.info({ enrollmentTokenId: id, actor: actorRef(actor) }, 'enrollment token revoked');
    }
    return toView(row);
  }

  /** Checks a token without using it (broker CONNECT); returns the reason when it cannot be used. */
  async check(token: string): Promise<{ ok: true; row: EnrollmentTokenTable } | { ok: false; reason: string }> {
    const row = await this.db
      .selectFrom('enrollment_tokens')
      .selectAll()
      .where('token_hash', '=', hashSecret(token))
      .executeTakeFirst();
    if (!row) return { ok: false, reason: 'unknown enrollment token' };
    const state = stateOf(row);
    return state === 'active' ? { ok: true, row } : { ok: false, reason: ENROLL_REJECTED[state] };
  }

  /**
   * Uses one token use and creates the device. Without `publicKey` it gets a secret, returned
   * once (only its hash is kept); with one, a client certificate from the CA (only its
   * fingerprint is kept) and a secret hash nothing can match (docs/protocol.md §Enrollment).
   */
  async enroll(token: string, facts: DeviceFacts, publicKey?: string): Promise<EnrollResponse> {
    const checked = await this.check(token);
    if (!checked.ok) {
      this.log.warn({ reason: checked.reason }, 'enrollment refused');
      return {
        ok: false,
        error: {
          code: checked.reason.includes('unknown') ? 'E_UNAUTHENTICATED' : 'E_EXPIRED',
          message: checked.reason,
        },
      };
    }
    const { row } = checked;
    const id = newId('d');
    // The certificate is made before the token use is spent: a bad key or a CA failure costs none.
    let issued: { certificate: string; fingerprint: string } | undefined;
    if (publicKey !== undefined) {
      if (!this.issueCert) {
        return {
          ok: false,
          error: { code: 'E_UNSUPPORTED', message: 'this server does not issue client certificates' },
        };
      }
      try {
        checkDevicePublicKey(publicKey);
      } catch (err) {
        if (!(err instanceof OutpostError)) throw err;
        this.log.warn({ reason: err.message }, 'enrollment refused');
        return { ok: false, error: { code: err.code, message: err.message } };
      }
      issued = this.issueCert(publicKey, id);
    }
    // Conditional increment: two agents racing for the last use cannot both win.
    let q = this.db
      .updateTable('enrollment_tokens')
      .set((eb) => ({ uses: eb('uses', '+', 1) }))
      .where('id', '=', row.id)
      .where('revoked_at', 'is', null);
    if (row.max_uses !== null) q = q.where('uses', '<', row.max_uses);
    const res = await q.executeTakeFirst();
    if (Number(res.numUpdatedRows) !== 1) {
      return { ok: false, error: { code: 'E_EXPIRED', message: 'enrollment token has no uses left' } };
    }
    const status = row.auto_accept === 1 ? 'accepted' : 'pending';
    const secret = issued ? undefined : newSecret('ops');
    const auth = issued ? 'certificate' : 'secret';
    const device = await this.devices.create({
      id,
      name: facts.hostname || 'device',
      status,
      // An empty hash matches no secret (secretMatches compares 32-byte digests).
      secretHash: secret === undefined ? '' : hashSecret(secret),
      certFingerprint: issued?.fingerprint ?? null,
      tags: JSON.parse(row.tags) as string[],
      facts,
      enrollmentTokenId: row.id,
    });
    this.log.info({ deviceId: device.id, enrollmentTokenId: row.id, status, auth }, 'device enrolled');
    await this.audit.record({
      actor: { ref: `enrollment-token:${row.id}`, name: row.name || null },
      action: 'device.enroll',
      target: device.id,
      deviceId: device.id,
      result: 'ok',
      details: { status, auth, hostname: facts.hostname, tags: device.tags },
    });
    return issued
      ? { ok: true, deviceId: device.id, certificate: issued.certificate, status }
      : { ok: true, deviceId: device.id, secret, status };
  }
}
