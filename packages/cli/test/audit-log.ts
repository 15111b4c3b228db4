/**
 * A stand-in for the server's `GET /audit` over an in-memory log: paging with `after`/`limit` and the
 * `next` cursor as the real route computes them, and exports written by the server's own serializers.
 */
import { type AuditEntry, auditCsv, auditJsonl } from '../../server/src/services/audit.js';
import { type Handler, json } from './stub-api.js';

export function auditEntry(id: number, over: Partial<AuditEntry> = {}): AuditEntry {
  return {
    id,
    at: new Date(Date.UTC(2025, 0, 1, 0, 0, 0, id * 1000)).toISOString(),
    actor: 'token:tok-a',
    actorName: 'admin',
    ip: '127.0.0.1',
    action: 'device.accept',
    target: `d-${id}`,
    deviceId: `d-${id}`,
    result: 'ok',
    errorCode: null,
    details: null,
    ...over,
  };
}

/** Answers `/audit` from `log` (read on every request, so a test may append to it). */
export function auditRoute(log: AuditEntry[]): Handler {
  return (req, res) => {
    if (req.path !== '/audit') return;
    const after = Number(req.query.get('after') ?? 0);
    const format = req.query.get('format') ?? 'json';
    const limit = Number(req.query.get('limit') ?? (format === 'json' ? 100 : 10_000));
    const items = log.filter((e) => e.id > after).slice(0, limit);
    if (format === 'csv') {
      res.writeHead(200, { 'content-type': 'text/csv; charset=utf-8' });
      return void res.end(auditCsv(items));
    }
    if (format === 'jsonl') {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      return void res.end(auditJsonl(items));
    }
    json(res, 200, { items, next: items.length === limit ? (items.at(-1)?.id ?? null) : null });
  };
}
