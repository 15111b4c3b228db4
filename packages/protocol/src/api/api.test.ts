/**
 * The HTTP API's schemas as a whole: every request schema refuses unknown fields
 * (a misspelt option is an error, never silently ignored), and every schema
 * compiles, so a route using it registers.
 */
import { Kind, type TSchema } from '@sinclair/typebox';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { check } from '../validate.js';
import * as api from './index.js';

const schemas = Object.entries(api as Record<string, unknown>).filter(
  (e): e is [string, TSchema] => typeof e[1] === 'object' && e[1] !== null && Kind in e[1],
);
/** Request shapes by their naming convention: bodies, query strings, path parameters, patches. */
const requests = schemas.filter(([name]) => /(Body|Query|Patch|Ref|Param)$/.test(name));

describe('HTTP API schemas', () => {
  it('finds the request schemas of every route family', () => {
    expect(requests.map(([name]) => name).sort()).toEqual([
      'AcceptInvitationBody',
      'AllQuery',
      'AppInstallBody',
      'AppRef',
      'AuditQuery',
      'CommandEventsQuery',
      'CreateApiTokenBody',
      'CreateEnrollmentTokenBody',
      'CreateScriptBody',
      'DeviceListQuery',
      'DevicePatch',
      'DeviceRef',
      'FilesDeleteQuery',
      'FilesDownloadQuery',
      'FilesFetchBody',
      'FilesMkdirBody',
      'FilesMoveBody',
      'FilesQuery',
      'FilesUploadQuery',
      'FilesUploadStatusQuery',
      'ForwardQuery',
      'IdParam',
      'InviteBody',
      'LoginBody',
      'LogsQuery',
      'MetricsQuery',
      'PasswordBody',
      'PowerBody',
      'ProcessListQuery',
      'ProcessSignalBody',
      'ProcessSignalRef',
      'RunScriptBody',
      'ScriptRef',
      'ScriptRunRef',
      'ScriptVersionRef',
      'SendCommandBody',
      'SendCommandQuery',
      'ServiceListQuery',
      'ServiceUnitRef',
      'TerminalQuery',
      'TerminalSessionQuery',
      'TokenLoginBody',
      'UpdateScriptBody',
      'UserPatch',
      'UserRef',
    ]);
  });

  it.each(requests)('%s refuses unknown fields', (_name, schema) => {
    // A body with several shapes (a union) refuses them in every shape.
    const shapes = 'anyOf' in schema ? (schema.anyOf as TSchema[]) : [schema];
    for (const shape of shapes) expect((shape as { additionalProperties?: unknown }).additionalProperties).toBe(false);
  });

  it.each(schemas)('%s compiles with a strict Ajv', (_name, schema) => {
    const ajv = new Ajv({ strict: true, strictTypes: false });
    ajv.addFormat('date-time', () => true);
    expect(() => ajv.compile(schema)).not.toThrow();
  });

  it('a device patch needs at least one field, and a misspelt one is refused', () => {
    expect(check(api.DevicePatch, { name: 'kitchen' })).toBe(true);
    expect(check(api.DevicePatch, {})).toBe(false);
    expect(check(api.DevicePatch, { nmae: 'kitchen' })).toBe(false);
  });

  it('a command answer carries a known status and an error body or null', () => {
    const command: api.Command = {
      id: 'c1',
      deviceId: 'd1',
      capability: 'exec',
      action: 'run',
      args: { argv: ['true'] },
      status: 'failed',
      ttl: 60,
      createdAt: '2025-01-01T00:00:00.000Z',
      createdBy: 'user:admin',
      sentAt: null,
      startedAt: null,
      finishedAt: null,
      expiresAt: '2025-01-01T00:01:00.000Z',
      durationMs: null,
      result: null,
      error: { code: 'E_TIMEOUT', message: 'no answer' },
    };
    expect(check(api.Command, command)).toBe(true);
    expect(check(api.Command, { ...command, status: 'done' })).toBe(false);
  });
});
