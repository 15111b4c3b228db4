/**
 * `unit:` log sources. This machine has journalctl but no journal (PID 1 is not
 * systemd), so the real backend must answer E_UNSUPPORTED. The reading logic is
 * tested against a stand-in `journalctl` (a script speaking its `-o json` output
 * and recording its argv) behind the same JournalBackend interface.
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LogLine } from '@outpost/protocol';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { followJournal, type JournalBackend, parseJournalEntry, readJournal, systemJournal } from './journal-source.js';

let dir: string;
let fake: JournalBackend;

/** Entries oldest first; the stand-in prints them newest first for -r and honours -n and --after-cursor. */
const entries = Array.from({ length: 30 }, (_, i) => ({
  __CURSOR: `c${i}`,
  __REALTIME_TIMESTAMP: String(1_700_000_000_000_000 + i * 1_000_000),
  PRIORITY: String(i % 8),
  MESSAGE: i === 7 ? [104, 105, 32, 98, 121, 116, 101, 115] : `message ${i}${i % 5 === 0 ? ' needle' : ''}`,
}));

const script = `
const fs = require('node:fs');
const argv = process.argv.slice(2);
fs.appendFileSync(process.env.FAKE_ARGV, JSON.stringify(argv) + '\\n');
const entries = JSON.parse(fs.readFileSync(process.env.FAKE_ENTRIES, 'utf8'));
const n = argv.includes('-n') ? Number(argv[argv.indexOf('-n') + 1]) : Infinity;
if (argv.includes('-f')) {
  const after = argv.find((a) => a.startsWith('--after-cursor='));
  process.stdout.write(JSON.stringify({ __CURSOR: 'n1', __REALTIME_TIMESTAMP: '1700000100000000', PRIORITY: '3', MESSAGE: 'new needle after ' + (after ? after.slice(15) : 'end') }) + '\\n');
  process.stdout.write(JSON.stringify({ __CURSOR: 'n2', __REALTIME_TIMESTAMP: '1700000101000000', PRIORITY: '6', MESSAGE: 'new other' }) + '\\n');
  setInterval(() => {}, 1000);
} else {
  let list = argv.includes('-r') ? [...entries].reverse() : entries;
  list = list.slice(0, n);
  for (const e of list) process.stdout.write(JSON.stringify(e) + '\\n');
}
`;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'outpost-journal-'));
  const bin = join(dir, 'journalctl');
  writeFileSync(bin, `#!${process.execPath}\n${script}`);
  chmodSync(bin, 0o755);
  mkdirSync(join(dir, 'journal', '0123456789abcdef'), { recursive: true });
  writeFileSync(join(dir, 'journal', '0123456789abcdef', 'system.journal'), '');
  writeFileSync(join(dir, 'entries.json'), JSON.stringify(entries));
  process.env.FAKE_ARGV = join(dir, 'argv');
  process.env.FAKE_ENTRIES = join(dir, 'entries.json');
  fake = { bin, dirs: [join(dir, 'journal')] };
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
  delete process.env.FAKE_ARGV;
  delete process.env.FAKE_ENTRIES;
});

const calls = (): string[][] =>
  readFileSync(join(dir, 'argv'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as string[]);

async function codeOf(p: Promise<unknown>): Promise<[string, string]> {
  try {
    await p;
    return ['resolved', ''];
  } catch (err) {
    return [(err as { code?: string }).code ?? 'none', (err as Error).message];
  }
}

describe('the systemd journal source', () => {
  it('answers E_UNSUPPORTED on this machine, which has journalctl but no journal', async () => {
    const [code, message] = await codeOf(readJournal(systemJournal, 'ssh.service', 10, {}));
    expect(code).toBe('E_UNSUPPORTED');
    expect(message).toMatch(/no systemd journal/);
  });

  it('answers E_UNSUPPORTED when journalctl is not installed', async () => {
    const [code, message] = await codeOf(readJournal({ ...fake, bin: join(dir, 'no-such-journalctl') }, 'x', 5, {}));
    expect(code).toBe('E_UNSUPPORTED');
    expect(message).toMatch(/journalctl is not installed/);
  });

  it('reads the newest N entries oldest first, with times, levels and byte-array messages', async () => {
    const r = await readJournal(fake, 'ssh.service', 3, {});
    expect(r.lines.map((l) => l.text)).toEqual(['message 27', 'message 28', 'message 29']);
    expect(r.lines[0]).toMatchObject({ ts: 1_700_000_000_000 + 27_000, level: 'error' }); // priority 3
    expect(r.cursor).toBe('c29');
    expect(calls()[0]).toEqual(['-u', 'ssh.service', '-o', 'json', '--no-pager', '-q', '-r', '-n', '3']);
    expect(parseJournalEntry(JSON.stringify(entries[7]))?.line.text).toBe('hi bytes');
  });

  it('filters by substring itself (never journalctl --grep), and maps level and since to -p and --since', async () => {
    const r = await readJournal(fake, 'app@1.service', 2, { grep: 'needle', level: 'warn', since: 1_700_000_005_500 });
    expect(r.lines.map((l) => l.text)).toEqual(['message 20 needle', 'message 25 needle']);
    const argv = calls()[0] ?? [];
    expect(argv).toEqual([
      '-u',
      'app@1.service',
      '-o',
      'json',
      '--no-pager',
      '-q',
      '-p',
      '4',
      '--since',
      '@1700000005',
      '-r',
    ]);
    expect(argv.join(' ')).not.toContain('--grep');
  });

  it('follows from right after the last entry read, filters, and ends its journalctl when stopped', async () => {
    const seen: LogLine[] = [];
    const stop = new AbortController();
    const f = await followJournal(fake, 'ssh.service', 'c29', { grep: 'needle' }, (l) => seen.push(l), stop.signal);
    await vi.waitFor(() => expect(seen.map((l) => l.text)).toEqual(['new needle after c29']), { timeout: 5000 });
    expect(calls()[0]).toEqual(['-u', 'ssh.service', '-o', 'json', '--no-pager', '-q', '-f', '--after-cursor=c29']);
    stop.abort();
    expect(await f.done).toBe('stopped');
  });
});
