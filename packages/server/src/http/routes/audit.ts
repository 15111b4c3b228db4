/** The audit log: filter and page, or export as JSON Lines or CSV. Read-only by design. */
import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { auditCsv, auditJsonl } from '../../services/audit.js';
import type { Services } from '../../services/index.js';
import { errors } from '../schemas.js';

const Query = Type.Object(
  {
    actor: Type.Optional(Type.String({ maxLength: 200, description: 'Actor reference or user name.' })),
    device: Type.Optional(Type.String({ maxLength: 128 })),
    action: Type.Optional(Type.String({ maxLength: 100, description: 'Exact action, or a prefix like `device.*`.' })),
    from: Type.Optional(Type.String({ format: 'date-time' })),
    to: Type.Optional(Type.String({ format: 'date-time' })),
    after: Type.Optional(
      Type.Integer({ minimum: 0, description: 'Only entries with a larger id (paging and following).' }),
    ),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
    format: Type.Optional(Type.Union([Type.Literal('json'), Type.Literal('jsonl'), Type.Literal('csv')])),
  },
  { additionalProperties: false },
);
const Entry = Type.Object({
  id: Type.Integer(),
  at: Type.String(),
  actor: Type.String(),
  actorName: Type.Union([Type.String(), Type.Null()]),
  ip: Type.Union([Type.String(), Type.Null()]),
  action: Type.String(),
  target: Type.Union([Type.String(), Type.Null()]),
  deviceId: Type.Union([Type.String(), Type.Null()]),
  result: Type.String(),
  errorCode: Type.Union([Type.String(), Type.Null()]),
  details: Type.Unknown(),
});

export async function auditRoutes(app: FastifyInstance, { services }: { services: Services }): Promise<void> {
  app.get<{ Querystring: Static<typeof Query> }>(
    '/audit',
    {
      config: { permission: 'audit:read' },
      schema: {
        summary: 'The audit log, oldest first',
        description: 'Page with `after` (the last id you saw). `format=jsonl` or `format=csv` exports instead of JSON.',
        tags: ['audit'],
        querystring: Query,
        response: {
          200: Type.Object({ items: Type.Array(Entry), next: Type.Union([Type.Integer(), Type.Null()]) }),
          ...errors,
        },
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
