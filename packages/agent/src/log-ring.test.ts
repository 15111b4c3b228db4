/** The log ring: byte cap, eviction order, followers, clipping, and the logger's copy into it. */
import { MAX_LOG_LINE_BYTES } from '@outpost/protocol';
import { describe, expect, it } from 'vitest';
import { createLogger } from './log.js';
import { clipText, LineRing, ringSink } from './log-ring.js';

describe('log ring', () => {
  it('keeps the newest lines under its byte cap, dropping the oldest first', () => {
    const ring = new LineRing(4096);
    for (let i = 0; i < 200; i++) ring.push({ ts: i, text: `line ${i} ${'x'.repeat(40)}` });
    const lines = ring.lines();
    expect(ring.bytes).toBeLessThanOrEqual(4096);
    expect(lines.length).toBeGreaterThan(10);
    expect(lines.length).toBeLessThan(200);
    expect(lines.at(-1)?.text).toMatch(/^line 199 /);
    // Contiguous and in order: nothing in the middle was lost.
    const numbers = lines.map((l) => Number(l.text.split(' ')[1]));
    expect(numbers).toEqual(numbers.map((_, i) => (numbers[0] ?? 0) + i));
    expect(ring.dropped).toBe(200 - lines.length);
  });

  it('tells followers about each new line and stops when they unsubscribe', () => {
    const ring = new LineRing(64 * 1024);
    const seen: string[] = [];
    const off = ring.subscribe((l) => seen.push(l.text));
    ring.push({ ts: 1, text: 'a' });
    ring.subscribe(() => {
      throw new Error('a broken follower');
    });
    ring.push({ ts: 2, text: 'b', stream: 'stderr' });
    off();
    ring.push({ ts: 3, text: 'c' });
    expect(seen).toEqual(['a', 'b']);
    expect(ring.lines().map((l) => l.text)).toEqual(['a', 'b', 'c']);
  });

  it('cuts lines longer than the limit on a character boundary and marks the cut', () => {
    const long = 'é'.repeat(MAX_LOG_LINE_BYTES);
    const cut = clipText(long);
    expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(MAX_LOG_LINE_BYTES);
    expect(cut.endsWith('…')).toBe(true);
    expect(cut).not.toContain('\uFFFD');
    expect(clipText('short')).toBe('short');
  });

  it("receives every record the agent's logger writes, without changing what it writes", () => {
    const ring = new LineRing(64 * 1024);
    const written: string[] = [];
    const log = createLogger({ level: 'info', write: (l) => written.push(l), sink: ringSink(ring) });
    log.debug('below the level');
    log.child({ deviceId: 'd-1' }).warn('disk almost full', { secret: 'hunter2', pct: 97 });
    log.info('ready');
    expect(written).toHaveLength(2);
    const lines = ring.lines();
    expect(lines.map((l) => l.level)).toEqual(['warn', 'info']);
    expect(lines.map((l) => `${l.text}\n`)).toEqual(written);
    expect(lines[0]?.text).not.toContain('hunter2');
    expect(Math.abs((lines[0]?.ts ?? 0) - Date.now())).toBeLessThan(5000);
  });
});
