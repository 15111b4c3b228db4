/** The shapes the server's HTTP API (`/api/v1`) answers with, as the CLI reads them. */

export interface Health {
  status: string;
  version: string;
  protocol: number;
  /** Where devices connect; absent on older servers. */
  mqttUrl?: string;
  wsUrl?: string | null;
}

export type Role = 'admin' | 'operator' | 'viewer';
export const ROLES: readonly Role[] = ['admin', 'operator', 'viewer'];

export interface WhoAmI {
  kind: string;
  id: string;
  /** Absent on servers before users existed. */
  userId?: string | null;
  name: string;
  role: string;
  /** Each non-empty list is a device scope: a device must carry one of its tags (user's, then token's). */
  scopes?: string[][];
}

export interface User {
  id: string;
  name: string;
  email: string | null;
  role: string;
  /** Device scope: empty means every device. */
  tags: string[];
  hasPassword: boolean;
  createdAt: string;
}

export interface Invitation {
  id: string;
  name: string;
  email: string | null;
  role: string;
  tags: string[];
  expiresAt: string;
  usedAt: string | null;
  revokedAt: string | null;
  createdAt: string;
  state: string;
  /** Present only in the answer to the create call. */
  code?: string;
}

export interface InviteBody {
  name: string;
  role: Role;
  email?: string;
  tags?: string[];
  ttl?: number;
}

export interface UserPatch {
  role?: Role;
  tags?: string[];
}

export interface ApiToken {
  id: string;
  name: string;
  role: string;
  tags: string[];
  userId: string | null;
  userName: string | null;
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  revokedAt: string | null;
  /** Present only in the answer to the create call. */
  token?: string;
}

export interface CreateApiTokenBody {
  name: string;
  role?: Role;
  ttl?: number;
  tags?: string[];
}

/** `POST /auth/token`: a password exchanged for a personal API token. */
export interface TokenLoginBody {
  name: string;
  password: string;
  tokenName: string;
  ttl?: number;
}

export interface TokenLogin {
  id: string;
  token: string;
  role: string;
  expiresAt: string | null;
}

export interface Session {
  id: string;
  userId: string;
  userName: string;
  createdAt: string;
  lastSeenAt: string;
  expiresAt: string;
  ip: string | null;
  userAgent: string | null;
}

export interface AuditEntry {
  id: number;
  at: string;
  actor: string;
  actorName: string | null;
  ip: string | null;
  action: string;
  target: string | null;
  deviceId: string | null;
  result: string;
  errorCode: string | null;
  details: unknown;
}

/** The filters of `GET /audit`; `from`/`to` are ISO times, `to` exclusive. */
export interface AuditFilter {
  actor?: string;
  device?: string;
  action?: string;
  from?: string;
  to?: string;
}

export interface AuditPage {
  items: AuditEntry[];
  /** The id to pass as `after` for the next page; null when this page was the last. */
  next: number | null;
}

export type AuditFormat = 'jsonl' | 'csv';
export const AUDIT_FORMATS: readonly AuditFormat[] = ['jsonl', 'csv'];

export type TokenState = 'active' | 'expired' | 'revoked' | 'used-up';

export interface EnrollmentToken {
  id: string;
  name: string | null;
  /** Present only in the answer to the create call. */
  token?: string;
  tags: string[];
  autoAccept: boolean;
  maxUses: number | null;
  uses: number;
  expiresAt: string | null;
  revokedAt: string | null;
  createdAt: string;
  state: TokenState;
}

export interface CreateTokenBody {
  name?: string;
  ttl?: number;
  maxUses?: number | null;
  tags?: string[];
  autoAccept?: boolean;
}

export type DeviceStatus = 'pending' | 'accepted' | 'rejected' | 'revoked';
export const DEVICE_STATUSES: readonly DeviceStatus[] = ['pending', 'accepted', 'rejected', 'revoked'];

export interface Device {
  id: string;
  name: string;
  status: DeviceStatus;
  online: boolean;
  tags: string[];
  hostname: string | null;
  os: string | null;
  kernel: string | null;
  arch: string | null;
  agentVersion: string | null;
  macs: string[];
  ips: string[];
  firstSeen: string | null;
  lastSeen: string | null;
  onlineSince: string | null;
  enrolledAt: string | null;
}

export interface DeviceFilter {
  status?: DeviceStatus;
  tag?: string;
  online?: boolean;
}

export interface PresenceEntry {
  online: boolean;
  at: string;
}

export type CommandStatus = 'queued' | 'sent' | 'running' | 'succeeded' | 'failed' | 'expired';
export const FINAL_STATUSES: ReadonlySet<CommandStatus> = new Set(['succeeded', 'failed', 'expired']);

export interface CommandError {
  code: string;
  message: string;
  details?: unknown;
}

export interface Command {
  id: string;
  deviceId: string;
  capability: string;
  action: string;
  args: unknown;
  status: CommandStatus;
  ttl: number | null;
  createdAt: string;
  createdBy: string | null;
  sentAt: string | null;
  finishedAt: string | null;
  expiresAt: string | null;
  durationMs: number | null;
  result: unknown;
  error: CommandError | null;
}

export interface SendCommandBody {
  capability: string;
  action: string;
  args: unknown;
  ttl?: number;
}

/** One `event: output` of the command events stream. */
export interface OutputEvent {
  seq: number;
  stream: 'stdout' | 'stderr';
  /** base64 */
  data: string;
}

export function isFinished(command: Pick<Command, 'status'>): boolean {
  return FINAL_STATUSES.has(command.status);
}
