/**
 * AsciicastRecorder on real files: the asciicast v2 header, output gathered into one event per
 * burst, UTF-8 decoded across chunk and burst boundaries, resizes in order with the output
 * around them, and the file private to the server's user.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AsciicastRecorder } from './recording.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function recorder() {
  const dir = mkdtempSync(join(tmpdir(), 'outpost-recording-'));
  dirs.push(dir);
  const path = join(dir, 'session.cast');
  const rec = new AsciicastRecorder(path, { cols: 80, rows: 24, term: 'xterm-256color', title: 't', command: null });
  const lines = () =>
    readFileSync(path, 'utf8')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
  return { rec, path, lines };
}

const bytes = (s: string) => Buffer.from(s, 'utf8');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('AsciicastRecorder', () => {
  it('writes the header, then one output event per burst', async () => {
    const { rec, path, lines } = recorder();
    rec.output(bytes('hello '));
    rec.output(bytes('world\r\n'));
    await sleep(100); // past the 20 ms gathering: the burst is written
    rec.output(bytes('again'));
    const size = await rec.close();
    const [header, ...events] = lines();
    expect(header).toMatchObject({ version: 2, width: 80, height: 24, env: { TERM: 'xterm-256color' } });
    expect(events.map((e) => [e[1], e[2]])).toEqual([
      ['o', 'hello world\r\n'],
      ['o', 'again'],
    ]);
    expect(events[1][0]).toBeGreaterThanOrEqual(events[0][0]);
    expect(size).toBe(statSync(path).size);
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it('decodes a character split across chunks and across bursts, and marks bytes that are not UTF-8', async () => {
    const { rec, lines } = recorder();
    const euro = bytes('€'); // 3 bytes
    rec.output(euro.subarray(0, 1));
    rec.output(euro.subarray(1, 2));
    await sleep(100); // a burst ends in the middle of the character
    rec.output(euro.subarray(2));
    rec.output(Buffer.from([0xff]));
    rec.output(bytes('ü').subarray(0, 1)); // cut off by the end of the session
    await rec.close();
    const text = lines()
      .slice(1)
      .map((e) => e[2])
      .join('');
    expect(text).toBe('€\uFFFD\uFFFD');
  });

  it('keeps a resize in order with the output before and after it', async () => {
    const { rec, lines } = recorder();
    rec.output(bytes('before'));
    rec.resize(132, 40);
    rec.output(bytes('after'));
    await rec.close();
    expect(
      lines()
        .slice(1)
        .map((e) => [e[1], e[2]]),
    ).toEqual([
      ['o', 'before'],
      ['r', '132x40'],
      ['o', 'after'],
    ]);
  });
});
