/**
 * `metrics/sample` through its capability handler on this machine's real /proc:
 * the result matches the catalogue's schema, and a second ask measures from the
 * first (so a watching client sees the interval between its asks).
 */
import { check, commands, parse } from '@outpost/protocol';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../../../test/tmp.js';
import { agentConfig } from '../config.js';
import { silentLogger } from '../log.js';
import { createMetricsCapability } from './metrics.js';

const ctx = (signal = new AbortController().signal) => ({
  commandId: 'c1',
  emit: () => {},
  signal,
  log: silentLogger,
  config: agentConfig({ stateDir: '/tmp' }),
});

describe('metrics/sample', () => {
  it('is read-only and answers a sample that matches its schema', async () => {
    expect(commands['metrics/sample'].readOnly).toBe(true);
    const handler = createMetricsCapability().actions.sample;
    if (!handler) throw new Error('metrics/sample missing');
    const first = await handler(parse(commands['metrics/sample'].args, {}, 'args'), ctx());
    expect(check(commands['metrics/sample'].result, first)).toBe(true);

    await new Promise((r) => setTimeout(r, 800));
    const second = (await handler({}, ctx())) as { window: number; ts: number };
    // Measured from the first ask, not from a fresh half-second baseline.
    expect(second.window).toBeGreaterThanOrEqual(0.75);
    expect(second.ts).toBeGreaterThan((first as { ts: number }).ts);
  });

  it('refuses args it does not know', () => {
    expect(() => parse(commands['metrics/sample'].args, { series: 'cpu' }, 'args')).toThrow(/unknown field 'series'/);
  });

  it('without a procfs it answers E_UNSUPPORTED', async () => {
    const handler = createMetricsCapability({ procRoot: tempDir() }).actions.sample;
    await expect(handler?.({}, ctx())).rejects.toMatchObject({ code: 'E_UNSUPPORTED' });
  });
});
