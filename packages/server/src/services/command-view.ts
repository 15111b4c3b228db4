/**
 * A command as the API shows it (`toView` of its row), and its outcome as a route returns it:
 * the result, or the device's error thrown with its code (`commandOutcome`).
 */
import { type api, type ErrorBody, type ErrorCode, isErrorCode, OutpostError } from '@outpost/protocol';
import type { CommandTable } from '../store/schema.js';
import { iso } from './time.js';

export type CommandStatus = api.CommandStatus;
/** The statuses a command never leaves. */
export const FINAL: ReadonlySet<string> = new Set(['succeeded', 'failed', 'expired']);

/** A command as the API shows it. */
export type CommandView = api.Command;

export function toView(r: CommandTable): CommandView {
  return {
    id: r.id,
    deviceId: r.device_id,
    capability: r.capability,
    action: r.action,
    args: JSON.parse(r.args) as unknown,
    status: r.status as CommandStatus,
    ttl: r.ttl,
    createdAt: iso(r.created_at) ?? '',
    createdBy: r.created_by,
    sentAt: iso(r.sent_at),
    startedAt: iso(r.started_at),
    finishedAt: iso(r.finished_at),
    expiresAt: iso(r.expires_at) ?? '',
    durationMs: r.duration_ms,
    result: r.result === null ? null : (JSON.parse(r.result) as unknown),
    error: r.error === null ? null : (JSON.parse(r.error) as ErrorBody),
  };
}

export type NewCommand = api.SendCommandBody;

/** A finished command as its outcome: its result, or its error thrown with the device's code. */
export function commandOutcome(final: CommandView): unknown {
  if (final.status === 'succeeded') return final.result;
  if (final.status === 'failed' && final.error) {
    const code: ErrorCode = isErrorCode(final.error.code) ? final.error.code : 'E_INTERNAL';
    throw new OutpostError(code, final.error.message, final.error.details);
  }
  if (final.status === 'expired') throw new OutpostError('E_TIMEOUT', `command ${final.id} expired before it ran`);
  throw new OutpostError('E_TIMEOUT', `device did not answer in time; see command ${final.id}`, {
    commandId: final.id,
  });
}
