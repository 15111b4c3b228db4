import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CommandResponse } from '@outpost/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CommandJournal, RESTARTED_MESSAGE } from './journal.js';
import { silentLogger } from './log.js';
import { ensureStateDir, readIdentity, writeIdentity } from './state.js';

let stateDir: string;
beforeEach(() => {
  stateDir = mkdtempSync(join(tmpdir(), 'outpost-journal-'));
});
afterEach(() => rmSync(stateDir, { recursive: true, force: true }));

const ok = (id: string, data: unknown = null): CommandResponse => ({ id, ok: true, data });
const files = (): string[] => readdirSync(join(stateDir, 'journal')).sort();

describe('command journal', () => {
  it('remembers running and done ids across a restart, and fails stale running ones', () => {
    const j = new CommandJournal(stateDir, silentLogger);
    j.markRunning('a');
    j.markDone('a', ok('a', { n: 1 }));
    j.markRunning('b');
    expect(j.lookup('a')).toMatchObject({ state: 'done', response: ok('a', { n: 1 }) });
    expect(j.lookup('b')).toMatchObject({ state: 'running' });
    expect(j.lookup('c')).toBeUndefined();

    const restarted = new CommandJournal(stateDir, silentLogger);
    expect(restarted.lookup('a')).toMatchObject({ state: 'done', response: ok('a', { n: 1 }) });
    expect(restarted.lookup('b')).toMatchObject({
      state: 'done',
      response: { id: 'b', ok: false, error: { code: 'E_INTERNAL', message: RESTARTED_MESSAGE } },
    });
    expect(statSync(join(stateDir, 'journal', 'a.json')).mode & 0o777).toBe(0o600);
  });

  it('forgets the oldest ids past the count limit and ids past the age limit', () => {
    let now = 1_000_000;
    const limits = { maxEntries: 3, maxAgeMs: 10_000, maxResponseBytes: 1 << 20 };
    const j = new CommandJournal(stateDir, silentLogger, limits, () => now);
    for (const id of ['a', 'b', 'c', 'd']) {
      now += 1;
      j.markDone(id, ok(id));
    }
    expect(j.lookup('a')).toBeUndefined();
    expect(files()).toEqual(['b.json', 'c.json', 'd.json']);
    now += 20_000;
    const later = new CommandJournal(stateDir, silentLogger, limits, () => now);
    expect(later.size).toBe(0);
    expect(files()).toEqual([]);
  });

  it('drops the oldest responses beyond the byte budget but still knows their ids ran', () => {
    const j = new CommandJournal(stateDir, silentLogger, { maxEntries: 100, maxAgeMs: 1e9, maxResponseBytes: 3000 });
    for (const id of ['a', 'b', 'c']) j.markDone(id, ok(id, 'x'.repeat(1200)));
    expect(j.lookup('a')).toEqual({ id: 'a', state: 'done', at: expect.any(Number) });
    expect(j.lookup('c')).toMatchObject({ response: ok('c', 'x'.repeat(1200)) });
  });

  it('removes leftover temp files and unreadable entries', () => {
    mkdirSync(join(stateDir, 'journal'), { recursive: true });
    writeFileSync(join(stateDir, 'journal', 'x.json.123.tmp'), '{');
    writeFileSync(join(stateDir, 'journal', 'y.json'), 'not json');
    writeFileSync(join(stateDir, 'journal', 'z.json'), JSON.stringify({ id: 'other', state: 'done', at: 1 }));
    const j = new CommandJournal(stateDir, silentLogger);
    expect(j.size).toBe(0);
    expect(files()).toEqual([]);
  });
});

describe('state dir', () => {
  it('keeps the identity in a 0600 file inside a 0700 directory', () => {
    const dir = join(stateDir, 'nested', 'state');
    ensureStateDir(dir);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(readIdentity(dir)).toBeUndefined();
    const identity = { server: 'mqtts://s:8883', deviceId: 'd-1', secret: 's'.repeat(43), enrolledAt: 'now' };
    writeIdentity(dir, identity);
    expect(statSync(join(dir, 'identity.json')).mode & 0o777).toBe(0o600);
    expect(readIdentity(dir)).toEqual(identity);
    writeFileSync(join(dir, 'identity.json'), '{"deviceId": 5}');
    expect(() => readIdentity(dir)).toThrow(/remove it to enroll again/);
  });
});
