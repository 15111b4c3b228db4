/** The audit log: filter and page, or export as JSON Lines or CSV. Read-only by design. */
import { api } from '@outpost/protocol';
import type { FastifyInstance } from 'fastify';
import { auditCsv, auditJsonl } from '../../services/audit.js';
import type { Services } from '../../services/index.js';

const { AuditPage, AuditQuery, errors } = api;

export async function auditRoutes(app: FastifyInstance, { services }: { services: Services }): Promise<void> {
  app.get<{ Querystring: api.AuditQuery }>(
    '/audit',
    {
      config: { permission: 'audit:read' },
      schema: {
        summary: 'The audit log, oldest first',
        description: 'Page with `after` (the last id you saw). `format=jsonl` or `format=csv` exports instead of JSON.',
        tags: ['audit'],
        querystring: AuditQuery,
        response: { 200: AuditPage, ...errors },
      },
    },
    async (req, reply) => {
      const q = req.query;
      const limit = q.limit ?? (q.format && q.format !== 'json' ? 10_000 : 100);
      const items = await services.audit.query({
        actor: q.actor,
        device: q.device,
        action: q.action,
        from: q.from ? Date.parse(q.from) : undefined,
        to: q.to ? Date.parse(q.to) : undefined,
        after: q.after,
        limit,
      });
      if (q.format === 'csv') {
        return reply
          .type('text/csv; charset=utf-8')
          .header('content-disposition', 'attachment; filename="outpost-audit.csv"')
          .send(auditCsv(items));
      }
      if (q.format === 'jsonl') {
        return reply
          .type('application/x-ndjson')
          .header('content-disposition', 'attachment; filename="outpost-audit.jsonl"')
          .send(auditJsonl(items));
      }
      return { items, next: items.length === limit ? (items.at(-1)?.id ?? null) : null };
    },
  );
}
