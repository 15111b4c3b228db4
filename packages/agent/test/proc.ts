/** Process helpers for the agent's tests. */
import { readFileSync } from 'node:fs';

/** True when `pid` no longer runs: gone, or a zombie that init has not reaped yet (containers). */
export function isDead(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  try {
    return /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}
