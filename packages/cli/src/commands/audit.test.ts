/** `outpost audit` through main(): filters to query, paging to the end, exports, files and following (stub API). */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { auditEntry, auditRoute } from '../../test/audit-log.js';
import { runCli } from '../../test/run-cli.js';
import { device, type Handler, json, type StubApi, stubApi } from '../../test/stub-api.js';

let api: StubApi | undefined;
afterEach(async () => {
  await api?.close();
  api = undefined;
});

async function outpost(handler: Handler, ...args: string[]) {
  api = await stubApi(handler);
  return runCli(api.url, args);
}

const log = (n: number) => Array.from({ length: n }, (_, i) => auditEntry(i + 1));
const auditRequests = () => api?.requests.filter((q) => q.path === '/audit') ?? [];
const query = (i: number) => Object.fromEntries(auditRequests()[i]?.query ?? []);

describe('audit', () => {
  it('turns the filters into query parameters, a device name into its id', async () => {
    const r = await outpost(
      (req, res) =>
        req.path === '/devices/gw-1' ? json(res, 200, device()) : json(res, 200, { items: [], next: null }),
      ...['audit', '--actor', 'alice', '--device', 'gw-1', '--action', 'device.*'],
      ...['--since', '2025-01-01T00:00:00Z', '--until', '2025-02-01', '--after', '41'],
    );
    expect(r).toEqual({ code: 0, stdout: '', stderr: 'no audit entries match\n' });
    expect(query(0)).toEqual({
      actor: 'alice',
      device: 'd-1',
      action: 'device.*',
      from: '2025-01-01T00:00:00.000Z',
      to: '2025-02-01T00:00:00.000Z',
      after: '41',
      limit: '1000',
    });
  });

  it('--since 1h is an hour before now; a device the server no longer knows is passed as given', async () => {
    const before = Date.now();
    await outpost(
      (req, res) =>
        req.path === '/audit'
          ? json(res, 200, { items: [], next: null })
          : json(res, 404, { error: { code: 'E_NOT_FOUND', message: 'gone' } }),
      ...['audit', '--since', '1h', '--device', 'd-gone'],
    );
    const from = Date.parse(query(0).from ?? '');
    expect(from).toBeGreaterThanOrEqual(before - 3600_000 - 5);
    expect(from).toBeLessThanOrEqual(Date.now() - 3600_000);
    expect(query(0).device).toBe('d-gone');
  });

  it('pages with after=<last id> until a short page, and prints one aligned table', async () => {
    const entries = log(2345);
    entries[2344] = auditEntry(2345, {
      actor: 'token:x',
      actorName: 'alice',
      result: 'error',
      errorCode: 'E_DENIED',
      action: 'command.send',
      target: 'gw-1',
      deviceId: null,
    });
    const r = await outpost(auditRoute(entries), 'audit');
    expect(auditRequests().map((q) => [q.query.get('after'), q.query.get('limit')])).toEqual([
      [null, '1000'],
      ['1000', '1000'],
      ['2000', '1000'],
    ]);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(2346);
    expect(lines[0]).toMatch(/^TIME +ACTOR +IP +ACTION +TARGET +RESULT$/);
    expect(lines[1]).toMatch(/^2025-01-01T00:00:01Z +admin +127\.0\.0\.1 +device\.accept +d-1 +ok$/);
    expect(lines.at(-1)).toMatch(/^\S+ +alice +127\.0\.0\.1 +command\.send +gw-1 +E_DENIED$/);
  });

  it('--json prints one entry per line; --limit stops after that many', async () => {
    const r = await outpost(auditRoute(log(30)), 'audit', '--json', '--limit', '25', '--after', '2');
    const ids = r.stdout
      .trimEnd()
      .split('\n')
      .map((l) => (JSON.parse(l) as { id: number }).id);
    expect(ids).toEqual(Array.from({ length: 25 }, (_, i) => i + 3));
    expect(query(0)).toMatchObject({ after: '2', limit: '25' });
    expect(auditRequests()).toHaveLength(1);
  });

  it('--format csv streams the server export page by page, with one header', async () => {
    const entries = log(12_345);
    // A quoted line break in the last record of the first page must not throw the paging off.
    entries[9999] = auditEntry(10_000, { target: 'a\nb, "c"' });
    const r = await outpost(auditRoute(entries), 'audit', '--format', 'csv', '--action', 'device.*');
    expect(auditRequests().map((q) => [q.query.get('format'), q.query.get('after'), q.query.get('limit')])).toEqual([
      ['csv', null, '10000'],
      ['csv', '10000', '10000'],
    ]);
    expect(query(1).action).toBe('device.*');
    const rows = r.stdout.split('\r\n');
    expect(rows[0]).toBe('id,at,actor,actorName,ip,action,target,deviceId,result,errorCode,details');
    expect(rows.filter((l) => l.startsWith('id,'))).toHaveLength(1);
    expect(rows).toHaveLength(12_345 + 2); // header, records, and the empty string after the last \r\n
    expect(r.stdout).toContain(
      '\r\n10000,2025-01-01T02:46:40.000Z,token:tok-a,admin,127.0.0.1,device.accept,"a\nb, ""c""",d-10000,',
    );
    expect(rows.at(-2)).toMatch(/^12345,/);
  });

  it('--output writes the export to a private file and says how many entries went in', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'outpost-audit-'));
    try {
      const file = join(dir, 'audit.jsonl');
      const r = await outpost(auditRoute(log(3)), 'audit', '--output', file);
      expect(r).toEqual({ code: 0, stdout: '', stderr: `exported 3 entries to ${file} (jsonl)\n` });
      expect(query(0).format).toBe('jsonl');
      expect(
        readFileSync(file, 'utf8')
          .trimEnd()
          .split('\n')
          .map((l) => JSON.parse(l).id),
      ).toEqual([1, 2, 3]);
      expect(statSync(file).mode & 0o777).toBe(0o600);

      const bad = await outpost(auditRoute(log(3)), 'audit', '--output', join(dir, 'audit.txt'));
      expect(bad).toMatchObject({
        code: 2,
        stderr: `error: --output ${join(dir, 'audit.txt')}: say --format csv or --format jsonl\n`,
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--follow prints what is there, then new entries as they come, and Ctrl-C ends it with exit 0', async () => {
    const entries = log(2);
    let polls = 0;
    const route = auditRoute(entries);
    const r = await outpost(
      (req, res) => {
        polls++;
        if (polls === 2) entries.push(auditEntry(3, { action: 'user.invite', target: 'user:bob' }));
        if (polls === 3) setTimeout(() => process.emit('SIGINT'), 10);
        return route(req, res);
      },
      ...['audit', '--follow', '--interval', '1'],
    );
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')).toEqual([
      expect.stringMatching(/^TIME +ACTOR +IP +ACTION +TARGET +RESULT$/),
      expect.stringMatching(/^\S+ +admin +127\.0\.0\.1 +device\.accept +d-1 +ok$/),
      expect.stringMatching(/ d-2 +ok$/),
      expect.stringMatching(/ user\.invite +user:bob +ok$/),
      '',
    ]);
    expect(auditRequests().map((q) => q.query.get('after'))).toEqual([null, '2', '3']);
    expect(process.listenerCount('SIGINT')).toBe(0);
  });

  it('--json and --format together are a usage error', async () => {
    const r = await outpost(auditRoute(log(1)), 'audit', '--json', '--format', 'csv');
    expect(r.code).toBe(2);
    expect(api?.requests).toEqual([]);
  });
});
