/**
 * The `metricsRetention` setting through the real loadConfig: durations or seconds,
 * per-tier layering (file < OUTPOST_METRICS_RETENTION < options), and one clear
 * E_BAD_ARGS message naming the tier for every mistake.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { OutpostError } from '@outpost/protocol';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../../test/tmp.js';
import { loadConfig, type ServerOptions } from './config.js';
import { DEFAULT_METRICS_RETENTION, human, parseDuration } from './metrics-retention.js';

const load = (options: ServerOptions = {}) => loadConfig({ env: {}, ...options });

function configFile(content: unknown): string {
  const path = join(tempDir('outpost-retention-'), 'config.json');
  writeFileSync(path, JSON.stringify(content));
  return path;
}

function message(options: ServerOptions): string {
  try {
    load(options);
  } catch (err) {
    expect(err).toBeInstanceOf(OutpostError);
    expect((err as OutpostError).code).toBe('E_BAD_ARGS');
    return (err as Error).message;
  }
  throw new Error('loadConfig accepted a bad retention');
}

describe('metricsRetention', () => {
  it('defaults to every sample for 24 h, minutes for 7 days, hours for a year', () => {
    expect(load().metricsRetention).toEqual({ raw: 86_400, minute: 7 * 86_400, hour: 365 * 86_400 });
    expect(DEFAULT_METRICS_RETENTION).toEqual(load().metricsRetention);
  });

  it('a file may set one tier; the others keep their defaults', () => {
    const file = configFile({ metricsRetention: { raw: '48h' } });
    expect(load({ configFile: file }).metricsRetention).toEqual({ ...DEFAULT_METRICS_RETENTION, raw: 172_800 });
  });

  it('a file may also use the tier=duration form', () => {
    const file = configFile({ metricsRetention: 'raw=2d,hour=400d' });
    expect(load({ configFile: file }).metricsRetention).toEqual({ raw: 172_800, minute: 604_800, hour: 400 * 86_400 });
  });

  it('OUTPOST_METRICS_RETENTION overrides the file per tier; whole seconds work too', () => {
    const file = configFile({ metricsRetention: { raw: '48h', hour: '2y' } });
    const config = load({ configFile: file, env: { OUTPOST_METRICS_RETENTION: 'minute=14d, raw=7200' } });
    expect(config.metricsRetention).toEqual({ raw: 7200, minute: 14 * 86_400, hour: 730 * 86_400 });
    expect(Object.isFrozen(config.metricsRetention)).toBe(true);
  });

  it.each([
    [{ raw: 'forever' }, '/metricsRetention/raw: expected a duration like 24h, 7d or 1y'],
    [{ raw: '30m' }, '/metricsRetention/raw: must be between 1h and 90d (got 30m)'],
    [{ hour: '30y' }, '/metricsRetention/hour: must be between 1d and 7320d'],
    [{ raw: '10d' }, '/metricsRetention/minute: must be at least as long as raw'],
    [{ minute: '400d' }, '/metricsRetention/hour: must be at least as long as minute'],
    [{ days: 3 }, "/metricsRetention: unknown tier 'days' (expected raw, minute or hour)"],
    [{ raw: -5 }, '/metricsRetention/raw: expected a duration'],
    [5, '/metricsRetention: expected an object'],
    ['24h', "/metricsRetention: expected tier=duration pairs such as raw=24h,minute=7d,hour=1y, got '24h'"],
  ])('refuses %j in the config file', (value, fragment) => {
    expect(message({ configFile: configFile({ metricsRetention: value }) })).toContain(
      `invalid configuration: ${fragment}`,
    );
  });

  it('refuses a malformed environment variable, naming the part', () => {
    expect(message({ env: { OUTPOST_METRICS_RETENTION: 'raw:24h' } })).toBe(
      "invalid configuration: /metricsRetention: expected tier=duration pairs such as raw=24h,minute=7d,hour=1y, got 'raw:24h'",
    );
  });

  it('reads and writes durations', () => {
    expect(parseDuration('90m', 'raw')).toBe(5400);
    expect(parseDuration('2w', 'raw')).toBe(14 * 86_400);
    expect(parseDuration(3600, 'raw')).toBe(3600);
    expect(human(86_400)).toBe('1d');
    expect(human(5400)).toBe('90m');
    expect(human(61)).toBe('61s');
  });
});
