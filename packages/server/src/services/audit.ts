/** The audit log: one append-only row per state-changing action; never updated or deleted through the API. */
import type { api } from '@outpost/protocol';
import type { Actor } from '../actor.js';
import type { Db } from '../store/db.js';
import type { AuditTable } from '../store/schema.js';

/** An audit row as the API shows it; the result is `ok` or `error`. */
export type AuditEntry = api.AuditEntry & { result: 'ok' | 'error' };

export interface AuditFilter {
  actor?: string | undefined;
  device?: string | undefined;
  action?: string | undefined;
  from?: number | undefined;
  to?: number | undefined;
  after?: number | undefined;
  limit?: number | undefined;
}

const SECRET_KEY = /pass(word)?|secret|token|code|csrf|authorization|cookie/i;

/** Replaces the values of secret-looking keys, at any depth. */
export function redactSecrets(value: unknown, depth = 0): unknown {
  if (depth > 8 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redactSecrets(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEY.test(k) ? '[redacted]' : redactSecrets(v, depth + 1);
  return out;
}

function toEntry(r: AuditTable & { id: number }): AuditEntry {
  return {
    id: Number(r.id),
    at: new Date(r.at).toISOString(),
    actor: r.actor,
    actorName: r.actor_name,
    ip: r.ip,
    action: r.action,
    target: r.target,
    deviceId: r.device_id,
    result: r.result as 'ok' | 'error',
    errorCode: r.error_code,
    details: r.details === null ? null : (JSON.parse(r.details) as unknown),
  };
}

export class AuditService {
  constructor(private readonly db: Db) {}

  async record(e: {
    actor: Actor | { ref: string; name: string | null };
    ip?: string | null | undefined;
    action: string;
    target?: string | null | undefined;
    deviceId?: string | null | undefined;
    result: 'ok' | 'error';
    errorCode?: string | null | undefined;
    details?: unknown;
  }): Promise<void> {
    const ref = 'ref' in e.actor ? e.actor.ref : `${e.actor.kind}:${e.actor.id}`;
    const name = 'ref' in e.actor ? e.actor.name : e.actor.name;
    const details = e.details === undefined ? null : JSON.stringify(redactSecrets(e.details)).slice(0, 16_384);
    await this.db
      .insertInto('audit')
      .values({
        at: Date.now(),
        actor: ref,
        actor_name: name,
        ip: e.ip ?? null,
        action: e.action,
        target: e.target ?? null,
        device_id: e.deviceId ?? null,
        result: e.result,
        error_code: e.errorCode ?? null,
        details,
      })
      .execute();
  }

  async query(f: AuditFilter): Promise<AuditEntry[]> {
    let q = this.db.selectFrom('audit').selectAll();
    if (f.actor)
      q = q.where((eb) => eb.or([eb('actor', '=', f.actor as string), eb('actor_name', '=', f.actor as string)]));
    if (f.device) q = q.where('device_id', '=', f.device);
    if (f.action)
      q = f.action.endsWith('.*')
        ? q.where('action', 'like', `${f.action.slice(0, -1)}%`)
        : q.where('action', '=', f.action);
    if (f.from !== undefined) q = q.where('at', '>=', f.from);
    if (f.to !== undefined) q = q.where('at', '<', f.to);
    if (f.after !== undefined) q = q.where('id', '>', f.after);
    const rows = await q
      .orderBy('id', 'asc')
      .limit(Math.min(f.limit ?? 100, 10_000))
      .execute();
    return rows.map((r) => toEntry(r as AuditTable & { id: number }));
  }
}

const CSV_COLUMNS: (keyof AuditEntry)[] = [
  'id',
  'at',
  'actor',
  'actorName',
  'ip',
  'action',
  'target',
  'deviceId',
  'result',
  'errorCode',
  'details',
];

function csvCell(v: unknown): string {
  const s = v === null || v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v);
  // Quote everything that needs it, and defuse spreadsheet formulas.
  const safe = /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
  return /[",\n\r]/.test(safe) || safe !== s ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export function auditCsv(entries: AuditEntry[]): string {
  return `${[CSV_COLUMNS.join(','), ...entries.map((e) => CSV_COLUMNS.map((c) => csvCell(e[c])).join(','))].join('\r\n')}\r\n`;
}

export function auditJsonl(entries: AuditEntry[]): string {
  return entries.map((e) => JSON.stringify(e)).join('\n') + (entries.length ? '\n' : '');
}
