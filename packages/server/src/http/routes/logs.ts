/**
 * Logs of a device (`GET /devices/:device/logs`): the newest lines of one source
 * (`logs/read`, answered in the request through runOnDevice), or with
 * `follow=true` a Server-Sent Events stream of new lines relayed from a
 * `logs/follow` command's output. When the client goes away before the follow
 * ends, the server cancels it on the device (`command/cancel`).
 */
import { api, check, LogLine, OutpostError } from '@outpost/protocol';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../services/index.js';
import { iso } from '../../services/time.js';
import { openEventStream } from '../sse.js';
import { runOnDevice } from './device-action.js';

const { DeviceRef, errors, LogsQuery, LogsView } = api;

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `since`: a duration ago (`90s`, `10m`, `1h30m`, `7d`) or an ISO date-time, as epoch milliseconds. */
export function parseSince(text: string, now = Date.now()): number {
  const t = text.trim().toLowerCase();
  if (/^(\d{1,9}[smhdw])+$/.test(t)) {
    let ms = 0;
    for (const [, n, unit] of t.matchAll(/(\d+)([smhdw])/g)) ms += Number(n) * (UNIT_MS[unit ?? 's'] ?? 1000);
    return Math.max(0, now - ms);
  }
  const at = /^\d{4}-\d{2}-\d{2}/.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(at)) {
    throw new OutpostError(
      'E_BAD_ARGS',
      `since: '${text.slice(0, 64)}' is neither a duration (10m, 2h, 7d) nor a date-time`,
    );
  }
  return Math.max(0, at);
}

export function lineView(l: LogLine): api.LogLineView {
  return {
    time: l.ts === undefined ? null : iso(l.ts),
    ...(l.stream ? { stream: l.stream } : {}),
    ...(l.level ? { level: l.level } : {}),
    text: l.text,
  };
}

export async function logRoutes(app: FastifyInstance, { services }: { services: Services }): Promise<void> {
  app.get<{ Params: api.DeviceRef; Querystring: api.LogsQuery }>(
    '/devices/:device/logs',
    {
      config: { permission: 'devices:read' },
      schema: {
        summary: "Read or follow a device's logs",
        description:
          'Without `follow`: the newest `lines` lines of `source` (`logs/read`). With `follow=true`: Server-Sent Events — `start` `{commandId}`, one `line` per new line, then `end` with the finished `logs/follow` command; closing the stream cancels the follow on the device.',
        tags: ['logs'],
        params: DeviceRef,
        querystring: LogsQuery,
        response: { 200: LogsView, ...errors },
      },
    },
    async (req, reply) => {
      const q = req.query;
      const source = q.source ?? 'agent';
      const filters = {
        ...(q.grep !== undefined ? { grep: q.grep } : {}),
        ...(q.level !== undefined ? { level: q.level } : {}),
        ...(q.since !== undefined ? { since: parseSince(q.since) } : {}),
      };
      if (!q.follow) {
        if (q.maxSeconds !== undefined)
          throw new OutpostError('E_BAD_ARGS', 'maxSeconds applies only with follow=true');
        if (q.lines === 0) throw new OutpostError('E_BAD_ARGS', 'lines must be at least 1');
        const r = await runOnDevice(services, req, req.params.device, 'logs/read', {
          source,
          lines: q.lines ?? 100,
          ...filters,
        });
        return { source: r.source, lines: r.lines.map(lineView), truncated: r.truncated };
      }

      if (q.lines !== undefined && q.lines > 1000) {
        throw new OutpostError('E_BAD_ARGS', 'with follow=true, lines (the history sent first) is at most 1000');
      }
      const device = await services.devices.resolve(req.params.device, req.actor);
      if (device.online !== 1) throw new OutpostError('E_OFFLINE', `device ${device.id} is offline`);
      const args = {
        source,
        ...(q.lines !== undefined ? { lines: q.lines } : {}),
        ...(q.maxSeconds !== undefined ? { maxSeconds: q.maxSeconds } : {}),
        ...filters,
      };
      const command = await services.commands.create(
        device.id,
        { capability: 'logs', action: 'follow', args, ttl: 60 },
        req.actor,
      );

      const events = openEventStream(req, reply, { 'x-outpost-command': command.id });
      const send = events.send;
      send('start', { commandId: command.id });
      let ended = false;
      let unsubscribe: (() => void) | null = null;
      events.onEnd((byClient) => {
        unsubscribe?.();
        if (!byClient || ended) return;
        ended = true;
        // The reader left: stop the follow on the device instead of letting it run to maxSeconds.
        services.commands
          .create(device.id, { capability: 'command', action: 'cancel', args: { id: command.id }, ttl: 300 }, req.actor)
          .catch((err: unknown) => req.log.warn({ err, commandId: command.id }, 'could not cancel a log follow'));
      });
      /** Chunks may split a line (at 64 KiB): text is kept until its newline arrives. */
      let partial = '';
      unsubscribe = await services.commands.stream(command.id, -1, (e) => {
        if (e.type === 'output') {
          const rows = (partial + Buffer.from(e.chunk.data, 'base64').toString('utf8')).split('\n');
          partial = rows.pop() ?? '';
          for (const row of rows) {
            let line: unknown;
            try {
              line = JSON.parse(row);
            } catch {
              line = undefined;
            }
            if (check(LogLine, line)) send('line', lineView(line));
            else req.log.warn({ commandId: command.id }, 'malformed log line from the device dropped');
          }
          return;
        }
        ended = true;
        send('end', e.command);
        events.close();
      });
      if (events.closed) unsubscribe();
    },
  );
}
