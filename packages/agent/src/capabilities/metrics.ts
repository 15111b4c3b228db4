/**
 * `metrics/sample`: a fresh metrics sample on demand (docs/metrics.md), for views
 * that want values now rather than at the next heartbeat. It keeps a sampler of
 * its own, so asking often (`outpost stats --watch`) measures between asks and
 * never shortens the heartbeat's windows.
 */
import { OutpostError } from '@outpost/protocol';
import { MetricsSampler, type SamplerOptions } from '../metrics/sampler.js';
import { action, type Capability } from './capability.js';

/**
 * A baseline older than this is read afresh (with a short wait) instead of averaging
 * over a long quiet stretch: a one-off ask shows the last half second, not the last hour.
 */
export const ON_DEMAND_MAX_AGE_MS = 30_000;

export function createMetricsCapability(options: SamplerOptions = {}): Capability {
  const sampler = new MetricsSampler(options);
  return {
    name: 'metrics',
    actions: {
      sample: action('metrics/sample', async (_args, ctx) => {
        try {
          return await sampler.sample({ maxAgeMs: ON_DEMAND_MAX_AGE_MS, signal: ctx.signal });
        } catch (err) {
          if (ctx.signal.aborted) throw new OutpostError('E_INTERNAL', 'agent stopping');
          const code = (err as NodeJS.ErrnoException).code;
          // /proc/stat missing means no procfs (not Linux, or not mounted): nothing to sample.
          if (code === 'ENOENT') throw new OutpostError('E_UNSUPPORTED', 'metrics need a Linux /proc');
          throw err;
        }
      }),
    },
  };
}
