/** The audit log's pieces: export splitting against the server's own serializers, rows, times, paging and following. */
import { afterEach, describe, expect, it } from 'vitest';
import { auditCsv, auditJsonl } from '../../server/src/services/audit.js';
import { auditEntry as entry } from '../test/audit-log.js';
import { json, type StubApi, stubApi } from '../test/stub-api.js';
import { ApiClient } from './api.js';
import type { AuditEntry } from './api-types.js';
import { auditRow, ExportSplitter, RowStream, readAudit } from './audit.js';
import { timeOption } from './parse.js';

/** Feeds `text` to a splitter in pieces of `size` characters; returns what it let through. */
function split(text: string, format: 'csv' | 'jsonl', keepHeader: boolean, size: number) {
  const s = new ExportSplitter(format, keepHeader);
  let out = '';
  for (let i = 0; i < text.length; i += size) out += s.push(text.slice(i, i + size));
  s.end();
  return { out, records: s.records, lastId: s.lastId };
}

describe('ExportSplitter', () => {
  // Quoted line breaks, quotes, commas and a formula-looking cell, as the server writes them.
  const tricky = [
    entry(7),
    entry(8, { target: 'two\nlines, "quoted"', details: { note: 'a,b' } }),
    entry(9, { target: '=cmd()', result: 'error', errorCode: 'E_DENIED' }),
  ];

  it.each([1, 2, 7, 64, 100_000])(
    'CSV in pieces of %i: counts records across quoted line breaks, keeps the last id',
    (size) => {
      const csv = auditCsv(tricky);
      expect(split(csv, 'csv', true, size)).toEqual({ out: csv, records: 3, lastId: 9 });
      const header = csv.slice(0, csv.indexOf('\n') + 1);
      expect(split(csv, 'csv', false, size)).toEqual({ out: csv.slice(header.length), records: 3, lastId: 9 });
    },
  );

  it('an empty CSV page is just its header: kept on the first page, dropped later', () => {
    const csv = auditCsv([]);
    expect(split(csv, 'csv', true, 5)).toEqual({ out: csv, records: 0, lastId: undefined });
    expect(split(csv, 'csv', false, 5)).toEqual({ out: '', records: 0, lastId: undefined });
  });

  it.each([1, 3, 100_000])('JSON Lines in pieces of %i', (size) => {
    const jsonl = auditJsonl(tricky);
    expect(split(jsonl, 'jsonl', true, size)).toEqual({ out: jsonl, records: 3, lastId: 9 });
    expect(split('', 'jsonl', false, size)).toEqual({ out: '', records: 0, lastId: undefined });
  });
});

describe('rows and times', () => {
  it('a row: time to the second, the actor by name, the error code of a failure', () => {
    expect(auditRow(entry(3, { result: 'error', errorCode: 'E_DENIED' }) as AuditEntry)).toEqual([
      '2025-01-01T00:00:03Z',
      'admin',
      '127.0.0.1',
      'device.accept',
      'd-3',
      'E_DENIED',
    ]);
    expect(auditRow(entry(4, { actor: 'claimed:bob', actorName: null, ip: null, target: null }) as AuditEntry)).toEqual(
      ['2025-01-01T00:00:04Z', 'claimed:bob', '-', 'device.accept', 'd-4', 'ok'],
    );
  });

  it('RowStream widens columns per batch and prints the header once, with the first batch', () => {
    const rows = new RowStream(['A', 'B']);
    expect(rows.render([['long cell', 'x']])).toBe('A          B\nlong cell  x\n');
    expect(rows.render([['y', 'z']])).toBe('y          z\n');
  });

  it('--since takes a duration ago or a date/time; anything else is refused', () => {
    const now = Date.parse('2025-06-01T12:00:00Z');
    expect(timeOption('90m', now)).toBe('2025-06-01T10:30:00.000Z');
    expect(timeOption('7d', now)).toBe('2025-05-25T12:00:00.000Z');
    expect(timeOption('2025-01-31')).toBe('2025-01-31T00:00:00.000Z');
    expect(timeOption('2025-01-31T12:00:00+02:00')).toBe('2025-01-31T10:00:00.000Z');
    expect(() => timeOption('yesterday')).toThrow(/neither a duration ago/);
    expect(() => timeOption('12345')).toThrow(/neither a duration ago/);
  });
});

describe('readAudit', () => {
  let stub: StubApi | undefined;
  let client: ApiClient | undefined;
  afterEach(async () => {
    await client?.close();
    await stub?.close();
  });

  it('follows: polls after the last id until aborted, and rides out a dropped connection', async () => {
    const log = [entry(1), entry(2)];
    let polls = 0;
    stub = await stubApi((req, res) => {
      polls++;
      if (polls === 3) return void res.socket?.destroy(); // the server restarts
      if (polls === 4) log.push(entry(3));
      const after = Number(req.query.get('after') ?? 0);
      json(res, 200, { items: log.filter((e) => e.id > after), next: null });
    });
    client = new ApiClient(stub.url, 't');
    const stop = new AbortController();
    const seen: number[] = [];
    const retries: string[] = [];
    const reading = readAudit(
      client,
      { action: 'device.*' },
      { follow: true, intervalMs: 10, signal: stop.signal, onRetry: (e) => retries.push(e.message) },
      (items) => {
        seen.push(...items.map((e) => e.id));
        if (seen.length === 3) stop.abort();
      },
    );
    await expect(reading).rejects.toThrow();
    expect(seen).toEqual([1, 2, 3]);
    expect(retries).toHaveLength(1);
    expect(stub.requests.map((q) => q.query.get('after'))).toEqual([null, '2', '2', '2']);
    expect(stub.requests[0]?.query.get('action')).toBe('device.*');
  });

  it('a refusal ends following at once', async () => {
    stub = await stubApi((_req, res) =>
      json(res, 403, { error: { code: 'E_DENIED', message: 'role viewer may not audit:read' } }),
    );
    client = new ApiClient(stub.url, 't');
    const reading = readAudit(
      client,
      {},
      { follow: true, intervalMs: 10, signal: new AbortController().signal },
      () => undefined,
    );
    await expect(reading).rejects.toMatchObject({ code: 'E_DENIED' });
  });
});
