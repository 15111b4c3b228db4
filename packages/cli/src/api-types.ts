/**
 * The HTTP API's shapes as the CLI uses them. Each type is the protocol's (`api`
 * from `@outpost/protocol`), the same schema the server validates and answers
 * with, under the same name; what the CLI adds is below them: the values it offers
 * as choices and small helpers.
 */
import type { api, Metrics } from '@outpost/protocol';

export type ApiToken = api.ApiToken;
export type AuditEntry = api.AuditEntry;
export type AuditPage = api.AuditPage;
export type Command = api.Command;
export type CommandOutputEvent = api.CommandOutputEvent;
export type CreateApiTokenBody = api.CreateApiTokenBody;
export type CreateEnrollmentTokenBody = api.CreateEnrollmentTokenBody;
export type CreateScriptBody = api.CreateScriptBody;
export type Device = api.Device;
export type DeviceListQuery = api.DeviceListQuery;
export type DevicePatch = api.DevicePatch;
export type DeviceStatusName = api.DeviceStatusName;
export type EnrollmentToken = api.EnrollmentToken;
export type ForwardCheck = api.ForwardCheck;
export type Health = api.Health;
export type Invitation = api.Invitation;
export type InviteBody = api.InviteBody;
export type MetricSeries = api.MetricSeries;
export type MetricsHistory = api.MetricsHistory;
export type MetricsLatest = api.MetricsLatest;
export type MetricsQuery = api.MetricsQuery;
/** One metrics sample as the device took it (`metrics/sample`, telemetry). */
export type MetricsSample = Metrics;
export type PasswordChanged = api.PasswordChanged;
export type PresenceEntry = api.PresenceEntry;
export type Role = api.Role;
export type RunScriptBody = api.RunScriptBody;
export type Script = api.Script;
export type ScriptParameter = api.ScriptParameter;
export type ScriptSummary = api.ScriptSummary;
export type ScriptVersion = api.ScriptVersion;
export type ScriptVersionSummary = api.ScriptVersionSummary;
export type SendCommandBody = api.SendCommandBody;
export type TerminalSession = api.TerminalSession;
export type Session = api.Session;
export type TokenLogin = api.TokenLogin;
export type TokenLoginBody = api.TokenLoginBody;
export type UpdateScriptBody = api.UpdateScriptBody;
export type User = api.User;
export type UserPatch = api.UserPatch;
export type WhoAmI = api.WhoAmI;

export const ROLES: readonly Role[] = ['admin', 'operator', 'viewer'];

export const DEVICE_STATUSES: readonly DeviceStatusName[] = ['pending', 'accepted', 'rejected', 'revoked'];

/** The filters of `GET /audit` the CLI passes on; `from`/`to` are ISO times, `to` exclusive. */
export type AuditFilter = Pick<api.AuditQuery, 'actor' | 'device' | 'action' | 'from' | 'to'>;

/** The export formats of `GET /audit` (`json` is the paged answer, not an export). */
export type AuditFormat = Exclude<api.AuditQuery['format'], 'json' | undefined>;
export const AUDIT_FORMATS: readonly AuditFormat[] = ['jsonl', 'csv'];

export const FINAL_STATUSES: ReadonlySet<api.CommandStatus> = new Set(['succeeded', 'failed', 'expired']);

export function isFinished(command: Pick<Command, 'status'>): boolean {
  return FINAL_STATUSES.has(command.status);
}
