/** Parses and prints human durations (`24h`, `3600s`, `7d`, `1h30m`, bare seconds) for TTLs and timeouts. */

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };
const PART = /(\d+)([smhdw])/g;
const WHOLE = /^(?:\d+[smhdw])+$/;

/** Seconds in `text`; throws a readable Error for anything that is not a positive whole duration. */
export function parseDuration(text: string): number {
  const t = text.trim().toLowerCase();
  let seconds: number;
  if (/^\d+$/.test(t)) {
    seconds = Number(t);
  } else if (WHOLE.test(t)) {
    seconds = 0;
    for (const [, n, unit] of t.matchAll(PART)) seconds += Number(n) * (UNIT_SECONDS[unit ?? 's'] ?? 1);
  } else {
    throw new Error(`'${text}' is not a duration (use e.g. 90, 30s, 15m, 24h, 7d, 1h30m)`);
  }
  if (!Number.isSafeInteger(seconds) || seconds <= 0) throw new Error(`'${text}' must be a positive duration`);
  return seconds;
}

/** A compact rendering of a number of seconds: `45s`, `5m`, `2h5m`, `3d`. */
export function formatDuration(totalSeconds: number): string {
  const s = Math.max(0, Math.round(totalSeconds));
  const units = [
    ['d', 86_400],
    ['h', 3600],
    ['m', 60],
    ['s', 1],
  ] as const;
  const i = units.findIndex(([, size]) => s >= size);
  if (i === -1) return '0s';
  const [unit, size] = units[i]!;
  const head = `${Math.floor(s / size)}${unit}`;
  const next = units[i + 1];
  if (!next) return head;
  const rest = Math.floor((s % size) / next[1]);
  return rest > 0 ? `${head}${rest}${next[0]}` : head;
}

/** `3m ago`, `in 2h`, `just now`, or `never` for null; `now` is injectable for tests. */
export function relativeTime(iso: string | null | undefined, now: number = Date.now()): string {
  if (!iso) return 'never';
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return iso;
  const delta = Math.round((at - now) / 1000);
  if (Math.abs(delta) < 5) return 'just now';
  const coarse = formatDuration(Math.abs(delta)).replace(/^(\d+[dhms]).*$/, '$1');
  return delta < 0 ? `${coarse} ago` : `in ${coarse}`;
}
