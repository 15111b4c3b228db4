import { describe, expect, it } from 'vitest';
import { Backoff } from './backoff.js';
import { createLogger, redactUrl } from './log.js';

describe('logger', () => {
  it('writes one JSON object per line with level, time, msg and fields, above the level', () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'info', write: (l) => lines.push(l) });
    log.debug('hidden');
    log.child({ deviceId: 'd-1' }).warn('hello', { n: 1 });
    expect(lines).toHaveLength(1);
    expect(lines[0]?.endsWith('\n')).toBe(true);
    const rec = JSON.parse(lines[0] ?? '') as Record<string, unknown>;
    expect(rec).toMatchObject({ level: 'warn', msg: 'hello', deviceId: 'd-1', n: 1 });
    expect(new Date(String(rec.time)).getTime()).not.toBeNaN();
  });

  it('never writes secrets, tokens or passwords', () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'debug', write: (l) => lines.push(l) });
    log.info('x', { secret: 's3cr3t', enrollToken: 'tok3n', nested: { password: 'pw', Authorization: 'Bearer b' } });
    const text = lines.join('');
    for (const s of ['s3cr3t', 'tok3n', 'pw"', 'Bearer b']) expect(text).not.toContain(s);
    expect(redactUrl('mqtts://user:pass@host:8883/x')).toBe('mqtts://host:8883/x');
  });
});

describe('backoff', () => {
  it('draws full-jitter delays under a ceiling that doubles to the cap, and resets', () => {
    const b = new Backoff({ baseMs: 1000, capMs: 60_000, random: () => 0.999 });
    const delays = Array.from({ length: 9 }, () => b.next());
    expect(delays).toEqual([999, 1998, 3996, 7992, 15984, 31968, 59940, 59940, 59940]);
    b.reset();
    expect(b.next()).toBe(999);
    const zero = new Backoff({ baseMs: 1000, capMs: 60_000, random: () => 0 });
    expect(zero.next()).toBe(0);
  });
});
