/** Sliding-window failure counters (login, invitation codes): in memory, per key. */
import { OutpostError } from '@outpost/protocol';

export class RateLimiter {
  readonly #failures = new Map<string, number[]>();
  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
  ) {}

  #recent(key: string, now: number): number[] {
    const list = (this.#failures.get(key) ?? []).filter((t) => now - t < this.windowMs);
    if (list.length === 0) this.#failures.delete(key);
    else this.#failures.set(key, list);
    return list;
  }

  /** Throws E_RATE_LIMITED when `key` has used up its failures in the window. */
  check(key: string, what: string, now = Date.now()): void {
    const list = this.#recent(key, now);
    if (list.length >= this.limit) {
      const retryAfter = Math.ceil((this.windowMs - (now - (list[0] ?? now))) / 1000);
      throw new OutpostError(
        'E_RATE_LIMITED',
        `too many failed attempts for this ${what}; try again in ${retryAfter} s`,
        { retryAfter },
      );
    }
  }

  /**
   * Checks and counts an attempt before it is verified, so a burst of concurrent
   * attempts cannot all slip past the check; `forgive` takes it back on success.
   */
  attempt(key: string, what: string, now = Date.now()): void {
    this.check(key, what, now);
    this.fail(key, now);
  }

  forgive(key: string): void {
    const list = this.#failures.get(key);
    list?.pop();
    if (list && list.length === 0) this.#failures.delete(key);
  }

  fail(key: string, now = Date.now()): void {
    const list = this.#recent(key, now);
    list.push(now);
    this.#failures.set(key, list);
  }

  reset(key: string): void {
    this.#failures.delete(key);
  }

  sweep(now = Date.now()): void {
    for (const key of [...this.#failures.keys()]) this.#recent(key, now);
  }
}
