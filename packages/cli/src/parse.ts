/** Option-value parsers for commander: each validates one CLI input at the edge and says what was wrong. */
import { InvalidArgumentError } from 'commander';
import { parseDuration } from './duration.js';
import { CliError } from './errors.js';

/** A commander argParser for durations, in seconds. */
export function durationOption(value: string): number {
  try {
    return parseDuration(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

export function positiveIntOption(value: string): number {
  const n = /^\d+$/.test(value.trim()) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

export function nonNegativeIntOption(value: string): number {
  const n = /^\d+$/.test(value.trim()) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError('must be a whole number');
  return n;
}

/**
 * A point in time as an ISO string: a duration means that long ago (`1h`, `7d`); otherwise a date or
 * time starting YYYY-MM-DD (`2025-01-31` is midnight UTC; a time without Z or offset is local time).
 * Wrap it (`(v) => timeOption(v)`) as an argParser: commander passes the previous value second.
 */
export function timeOption(value: string, now: number = Date.now()): string {
  const v = value.trim();
  if (/^(\d+[smhdw])+$/i.test(v)) {
    return new Date(now - durationOption(v) * 1000).toISOString();
  }
  const at = /^\d{4}-\d{2}-\d{2}/.test(v) ? Date.parse(v) : Number.NaN;
  if (Number.isNaN(at)) {
    throw new InvalidArgumentError(
      `'${value}' is neither a duration ago (30m, 24h, 7d) nor a time (2025-01-31T12:00:00Z)`,
    );
  }
  return new Date(at).toISOString();
}

export function portOption(value: string): number {
  const n = /^\d+$/.test(value.trim()) ? Number(value) : Number.NaN;
  if (!Number.isInteger(n) || n < 0 || n > 65_535) throw new InvalidArgumentError('must be a port number 0-65535');
  return n;
}

/** Accumulates a repeatable option (`--tag a --tag b`) into an array. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** A bad command line found inside an action (after commander's own parsing): exit 2 like commander's. */
export const usage = (message: string) => new CliError(message, { exitCode: 2 });

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/**
 * Turns `--env K=V` entries into a record; a bare `K` copies the local value of K, so a secret
 * need not appear on the command line.
 */
export function parseEnvPairs(pairs: readonly string[], localEnv: NodeJS.ProcessEnv): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    const name = eq === -1 ? pair : pair.slice(0, eq);
    if (!ENV_NAME.test(name)) throw usage(`'${name}' is not a valid environment variable name`);
    if (eq === -1) {
      const local = localEnv[name];
      if (local === undefined) throw usage(`--env ${name}: ${name} is not set locally`);
      env[name] = local;
    } else {
      env[name] = pair.slice(eq + 1);
    }
  }
  return env;
}
