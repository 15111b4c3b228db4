/** Option values validated at the edge: numbers, ports, durations and `--env K=V`. */
import { InvalidArgumentError } from 'commander';
import { describe, expect, it } from 'vitest';
import { CliError } from './errors.js';
import { collect, durationOption, parseEnvPairs, portOption, positiveIntOption } from './parse.js';

describe('option parsers', () => {
  it('durationOption turns a bad duration into a commander usage error', () => {
    expect(durationOption('24h')).toBe(86_400);
    expect(() => durationOption('soon')).toThrow(InvalidArgumentError);
  });

  it('positiveIntOption accepts whole positive numbers only', () => {
    expect(positiveIntOption('3')).toBe(3);
    for (const bad of ['0', '-1', '1.5', '2x', '']) expect(() => positiveIntOption(bad)).toThrow(InvalidArgumentError);
  });

  it('portOption accepts 0..65535 (0 = any free port)', () => {
    expect(portOption('0')).toBe(0);
    expect(portOption('8443')).toBe(8443);
    for (const bad of ['65536', '-1', 'http']) expect(() => portOption(bad)).toThrow(InvalidArgumentError);
  });

  it('collect accumulates repeated options in order', () => {
    expect(collect('b', collect('a', undefined))).toEqual(['a', 'b']);
  });
});

describe('parseEnvPairs (exec --env)', () => {
  it('splits at the first = so values may contain =', () => {
    expect(parseEnvPairs(['A=1', 'URL=http://x/?a=b', 'EMPTY='], {})).toEqual({
      A: '1',
      URL: 'http://x/?a=b',
      EMPTY: '',
    });
  });

  it('a bare NAME copies the local value, and fails when it is not set', () => {
    expect(parseEnvPairs(['SECRET'], { SECRET: 's3' })).toEqual({ SECRET: 's3' });
    expect(() => parseEnvPairs(['MISSING'], {})).toThrow(/MISSING is not set locally/);
  });

  it('rejects names the agent would refuse', () => {
    expect(() => parseEnvPairs(['1X=a'], {})).toThrow(/not a valid environment variable name/);
    expect(() => parseEnvPairs(['A-B=a'], {})).toThrow(CliError);
  });
});
