/** The exit code `outpost exec` ends with, for every way a remote command can finish. */
import { describe, expect, it } from 'vitest';
import type { Command } from './api-types.js';
import { execOutcome, signalNumber } from './exit-code.js';

const base: Command = {
  id: 'c-1',
  deviceId: 'd-1',
  capability: 'exec',
  action: 'run',
  args: { argv: ['x'] },
  status: 'succeeded',
  ttl: 3600,
  createdAt: '2025-01-01T00:00:00Z',
  createdBy: 'admin',
  sentAt: null,
  startedAt: null,
  finishedAt: null,
  expiresAt: '2025-01-01T01:00:00Z',
  durationMs: 5,
  result: null,
  error: null,
};
const result = (r: Record<string, unknown>) => ({
  exitCode: null,
  signal: null,
  stdout: '',
  stderr: '',
  truncated: false,
  timedOut: false,
  durationMs: 1,
  ...r,
});

describe('execOutcome: what `outpost exec` exits with', () => {
  it('passes the remote exit code through, silently', () => {
    expect(execOutcome({ ...base, result: result({ exitCode: 0 }) })).toEqual({ exitCode: 0 });
    expect(execOutcome({ ...base, result: result({ exitCode: 3 }) })).toEqual({ exitCode: 3 });
  });

  it('a program killed by a signal exits 128+N, like a shell', () => {
    expect(signalNumber('SIGKILL')).toBe(9);
    expect(execOutcome({ ...base, result: result({ signal: 'SIGKILL' }) }).exitCode).toBe(137);
    expect(execOutcome({ ...base, result: result({ signal: 'SIGTERM' }) }).exitCode).toBe(143);
    expect(execOutcome({ ...base, result: result({ signal: 'SIGBOGUS' }) }).exitCode).toBe(1);
  });

  it('says so when the device killed the program on timeout or truncated its output', () => {
    const timedOut = execOutcome({ ...base, result: result({ signal: 'SIGTERM', timedOut: true }) });
    expect(timedOut).toEqual({ exitCode: 143, message: expect.stringMatching(/timed out/) });
    const truncated = execOutcome({ ...base, result: result({ exitCode: 0, truncated: true }) });
    expect(truncated).toEqual({ exitCode: 0, message: expect.stringMatching(/truncated/) });
  });

  it('a failed command prints its error line and exits 1', () => {
    const failed = {
      ...base,
      status: 'failed' as const,
      error: { code: 'E_NOT_FOUND', message: 'no such program: nope' },
    };
    expect(execOutcome(failed)).toEqual({ exitCode: 1, message: 'error: no such program: nope (E_NOT_FOUND)' });
    expect(execOutcome({ ...base, status: 'failed' })).toEqual({ exitCode: 1, message: 'error: command c-1 failed' });
  });

  it('an expired command names the device it waited for', () => {
    expect(execOutcome({ ...base, status: 'expired' }, 'gw-1')).toEqual({
      exitCode: 1,
      message: 'error: command c-1 expired before device gw-1 ran it (E_EXPIRED)',
    });
  });
});
