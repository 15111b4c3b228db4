/**
 * Full-jitter exponential backoff (delay drawn uniformly from [0, min(cap, base·2^n)]),
 * so a fleet that lost its server does not reconnect in lock-step.
 */

export interface BackoffOptions {
  baseMs: number;
  capMs: number;
  random?: () => number;
}

export class Backoff {
  private attempt = 0;
  private readonly random: () => number;

  constructor(private readonly options: BackoffOptions = { baseMs: 1000, capMs: 60_000 }) {
    this.random = options.random ?? Math.random;
  }

  /** The ceiling the next delay is drawn under. */
  get ceilingMs(): number {
    // 2^attempt overflows nothing here: the exponent stops growing once the cap is reached.
    return Math.min(this.options.capMs, this.options.baseMs * 2 ** Math.min(this.attempt, 30));
  }

  /** The delay before the next attempt; each call widens the window until the cap. */
  next(): number {
    const delay = Math.floor(this.random() * this.ceilingMs);
    if (this.ceilingMs < this.options.capMs) this.attempt++;
    return delay;
  }

  reset(): void {
    this.attempt = 0;
  }
}

/** Resolves after `ms`, or at once (rejecting) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason ?? new Error('aborted'));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason ?? new Error('aborted'));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
