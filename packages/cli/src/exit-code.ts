/** Maps a finished remote command to the local exit code and the one line to print about it, if any. */
import { constants } from 'node:os';
import type { Command } from './api-types.js';

export interface ExecOutcome {
  exitCode: number;
  /** A line for stderr (an error or a note), without the trailing newline. */
  message?: string;
}

interface ExecResultLike {
  exitCode?: unknown;
  signal?: unknown;
  timedOut?: unknown;
  truncated?: unknown;
}

/** `SIGKILL` → 9; unknown names → undefined. */
export function signalNumber(name: string): number | undefined {
  const n = (constants.signals as Record<string, number | undefined>)[name];
  return typeof n === 'number' ? n : undefined;
}

/**
 * The remote exit code is ours; a program killed by a signal exits 128+N like a shell reports it;
 * a command that failed or expired prints its error and exits 1.
 */
export function execOutcome(command: Command, device = command.deviceId): ExecOutcome {
  const result = command.result as ExecResultLike | null | undefined;
  if (result && typeof result === 'object' && ('exitCode' in result || 'signal' in result)) {
    const notes: string[] = [];
    if (result.timedOut === true) notes.push('the program timed out on the device and was killed');
    if (result.truncated === true) notes.push('output was truncated on the device (over the output cap)');
    const note = notes.length > 0 ? `outpost: ${notes.join('; ')}` : undefined;
    if (typeof result.exitCode === 'number') {
      return note ? { exitCode: result.exitCode, message: note } : { exitCode: result.exitCode };
    }
    if (typeof result.signal === 'string') {
      const n = signalNumber(result.signal);
      const line = note ?? `outpost: the program was killed by ${result.signal}`;
      return { exitCode: n === undefined ? 1 : 128 + n, message: line };
    }
  }
  if (command.status === 'expired') {
    return {
      exitCode: 1,
      message: `error: command ${command.id} expired before device ${device} ran it (E_EXPIRED)`,
    };
  }
  if (command.error) {
    return { exitCode: 1, message: `error: ${command.error.message} (${command.error.code})` };
  }
  if (command.status === 'failed') return { exitCode: 1, message: `error: command ${command.id} failed` };
  return { exitCode: 0 };
}
