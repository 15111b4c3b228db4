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
const usage = (message: string) => new CliError(message, { exitCode: 2 });

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
