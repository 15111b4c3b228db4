/** The shapes the server's HTTP API (`/api/v1`) answers with, as the CLI reads them. */

export interface Health {
  status: string;
  version: string;
  protocol: number;
  /** Where devices connect; absent on older servers. */
  mqttUrl?: string;
  wsUrl?: string | null;
}

export interface WhoAmI {
  kind: string;
  id: string;
  name: string;
  role: string;
}

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
