/** Durations as typed on the command line (`--ttl 24h`) and as shown in tables (`3m ago`). */
import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration, relativeTime } from './duration.js';

describe('parseDuration (what --ttl and --timeout accept)', () => {
  it.each([
    ['24h', 86_400],
    ['3600s', 3600],
    ['3600', 3600],
    ['7d', 604_800],
    ['30m', 1800],
    ['1h30m', 5400],
    ['2w', 1_209_600],
    [' 15M ', 900],
  ])('%s is %i seconds', (text, seconds) => {
    expect(parseDuration(text)).toBe(seconds);
  });

  it.each(['', '0', '0s', '-5', '1.5h', 'h', '24 h', '10y', 'abc', '1h-30m'])('rejects %j with a hint', (text) => {
    expect(() => parseDuration(text)).toThrow(/duration/);
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0s'],
    [45, '45s'],
    [60, '1m'],
    [3660, '1h1m'],
    [7500, '2h5m'],
    [86_400 * 2 + 30, '2d'],
    [90_000, '1d1h'],
  ])('%i s → %s', (s, text) => {
    expect(formatDuration(s)).toBe(text);
  });
});

describe('relativeTime (the LAST SEEN column)', () => {
  const now = Date.parse('2025-06-01T12:00:00Z');
  it.each([
    [null, 'never'],
    ['2025-06-01T12:00:02Z', 'just now'],
    ['2025-06-01T11:59:30Z', '30s ago'],
    ['2025-06-01T11:55:00Z', '5m ago'],
    ['2025-06-01T09:30:00Z', '2h ago'],
    ['2025-05-29T12:00:00Z', '3d ago'],
    ['2025-06-02T12:00:00Z', 'in 1d'],
    ['not a date', 'not a date'],
  ])('%s → %s', (iso, text) => {
    expect(relativeTime(iso, now)).toBe(text);
  });
});
