/** `file:` log sources on a real filesystem: the root checks, tails across chunks, and follows through rotation. */
import { execFileSync } from 'node:child_process';
import {
  appendFileSync,
  mkdirSync,
  mkdtempSync,
  renameSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LogLine } from '@outpost/protocol';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { followFile, openLogFile, tailLines } from './file-source.js';

let base: string;
let root: string;

beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'outpost-logfile-'));
  root = join(base, 'logs');
  mkdirSync(root);
});
afterEach(() => rmSync(base, { recursive: true, force: true }));

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'resolved';
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
}

async function tail(path: string, count: number, grep?: string) {
  const file = await openLogFile(path, [root]);
  try {
    return await tailLines(file, count, grep === undefined ? {} : { grep });
  } finally {
    await file.handle.close();
  }
}

describe('opening a log file', () => {
  it('refuses .., symlinks out of the roots, files outside them, directories and FIFOs', async () => {
    writeFileSync(join(base, 'secret'), 'root:x:0:0\n');
    writeFileSync(join(root, 'app.log'), 'ok\n');
    symlinkSync(join(base, 'secret'), join(root, 'escape.log'));
    symlinkSync(base, join(root, 'updir'));
    mkdirSync(join(root, 'dir'));
    execFileSync('mkfifo', [join(root, 'pipe')]);

    expect(await codeOf(openLogFile(`${root}/../secret`, [root]))).toBe('E_BAD_ARGS');
    expect(await codeOf(openLogFile(join(root, 'escape.log'), [root]))).toBe('E_DENIED');
    expect(await codeOf(openLogFile(join(root, 'updir', 'secret'), [root]))).toBe('E_DENIED');
    expect(await codeOf(openLogFile(join(base, 'secret'), [root]))).toBe('E_DENIED');
    expect(await codeOf(openLogFile(join(root, 'dir'), [root]))).toBe('E_BAD_ARGS');
    expect(await codeOf(openLogFile(join(root, 'pipe'), [root]))).toBe('E_BAD_ARGS');
    expect(await codeOf(openLogFile(join(root, 'missing.log'), [root]))).toBe('E_NOT_FOUND');
    expect(await codeOf(openLogFile('relative.log', [root]))).toBe('E_BAD_ARGS');
    // A root that does not exist allows nothing, and no root at all allows nothing.
    expect(await codeOf(openLogFile(join(root, 'app.log'), [join(base, 'nope')]))).toBe('E_DENIED');
  });

  it('follows a symlink that stays inside the roots', async () => {
    writeFileSync(join(root, 'real.log'), 'one\ntwo\n');
    symlinkSync(join(root, 'real.log'), join(root, 'current.log'));
    const r = await tail(join(root, 'current.log'), 5);
    expect(r.lines.map((l) => l.text)).toEqual(['one', 'two']);
  });
});

describe('the tail of a log file', () => {
  it('answers the newest N lines, oldest first, across read chunks, without times', async () => {
    const path = join(root, 'big.log');
    const rows = Array.from({ length: 3000 }, (_, i) => `${String(i).padStart(4, '0')} ${'.'.repeat(i % 97)}`);
    writeFileSync(path, `${rows.join('\n')}\n`);
    const r = await tail(path, 1200);
    expect(r.truncated).toBe(false);
    expect(r.lines).toHaveLength(1200);
    expect(r.lines.map((l) => l.text)).toEqual(rows.slice(-1200));
    expect(r.lines.every((l) => l.ts === undefined)).toBe(true);
  });

  it('filters by a plain substring (regex characters are literal) before counting', async () => {
    const path = join(root, 'mixed.log');
    const rows = Array.from({ length: 500 }, (_, i) => (i % 50 === 0 ? `ERROR (x.*) number ${i}` : `fine ${i}`));
    writeFileSync(path, `${rows.join('\r\n')}`); // CRLF, and no newline at the end
    const r = await tail(path, 3, '(x.*)');
    expect(r.lines.map((l) => l.text)).toEqual([
      'ERROR (x.*) number 350',
      'ERROR (x.*) number 400',
      'ERROR (x.*) number 450',
    ]);
    expect((await tail(path, 5, '^fine')).lines).toEqual([]);
    expect((await tail(path, 1)).lines.map((l) => l.text)).toEqual(['fine 499']);
  });

  it('answers nothing for an empty file', async () => {
    writeFileSync(join(root, 'empty.log'), '');
    expect((await tail(join(root, 'empty.log'), 10)).lines).toEqual([]);
  });
});

describe('following a log file', () => {
  it('streams appended lines, starts over after truncation and keeps going after rotation', async () => {
    const path = join(root, 'app.log');
    writeFileSync(path, 'old line\n');
    const file = await openLogFile(path, [root]);
    const seen: LogLine[] = [];
    const stop = new AbortController();
    const f = followFile(path, [root], file, (l) => seen.push(l), stop.signal);
    const texts = () => seen.map((l) => l.text);

    appendFileSync(path, 'first\nsecond\npart');
    await vi.waitFor(() => expect(texts()).toEqual(['first', 'second']), { timeout: 5000 });
    appendFileSync(path, 'ial\n');
    await vi.waitFor(() => expect(texts()).toEqual(['first', 'second', 'partial']), { timeout: 5000 });
    expect(seen.every((l) => typeof l.ts === 'number')).toBe(true);

    truncateSync(path, 0);
    await new Promise((r) => setTimeout(r, 600));
    appendFileSync(path, 'after truncate\n');
    await vi.waitFor(() => expect(texts().at(-1)).toBe('after truncate'), { timeout: 5000 });

    renameSync(path, `${path}.1`);
    appendFileSync(`${path}.1`, 'late in the old file\n');
    writeFileSync(path, 'in the new file\n');
    await vi.waitFor(() => expect(texts().slice(-2)).toEqual(['late in the old file', 'in the new file']), {
      timeout: 5000,
    });

    stop.abort();
    await f.done;
    expect(texts()).not.toContain('old line');
  });
});
