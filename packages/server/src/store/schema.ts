/** Table types for Kysely. Times are epoch milliseconds; JSON columns are text. */
import type { Generated } from 'kysely';

export interface ApiTokenTable {
  id: string;
  name: string;
  role: string;
  token_hash: string;
  created_at: number;
  created_by: string | null;
  expires_at: number | null;
  revoked_at: number | null;
  last_used_at: number | null;
  user_id: string | null;
  scope_tags: Generated<string>;
}

export interface EnrollmentTokenTable {
  id: string;
  name: string;
  token_hash: string;
  tags: string;
  auto_accept: number;
  max_uses: number | null;
  uses: number;
  expires_at: number | null;
  revoked_at: number | null;
  created_at: number;
  created_by: string | null;
}

export interface DeviceTable {
  id: string;
  name: string;
  status: string;
  secret_hash: string;
  tags: string;
  hostname: string | null;
  os: string | null;
  kernel: string | null;
  arch: string | null;
  agent_version: string | null;
  macs: string;
  ips: string;
  online: number;
  online_since: number | null;
  first_seen: number | null;
  last_seen: number | null;
  heartbeat: number | null;
  enrolled_at: number;
  enrollment_token_id: string | null;
  /** SHA-256 of the client certificate's DER (lowercase hex) for certificate devices; null for secret devices. */
  cert_fingerprint: string | null;
}

export interface PresenceTable {
  id: Generated<number>;
  device_id: string;
  online: number;
  at: number;
}

export interface CommandTable {
  id: string;
  device_id: string;
  capability: string;
  action: string;
  args: string;
  status: string;
  ttl: number;
  created_at: number;
  created_by: string | null;
  sent_at: number | null;
  started_at: number | null;
  finished_at: number | null;
  expires_at: number;
  duration_ms: number | null;
  result: string | null;
  error: string | null;
}

export interface UserTable {
  id: string;
  name: string;
  email: string | null;
  role: string;
  scope_tags: string;
  password_hash: string | null;
  password_changed_at: number | null;
  created_at: number;
  created_by: string | null;
}

export interface InvitationTable {
  id: string;
  name: string;
  email: string | null;
  role: string;
  scope_tags: string;
  code_hash: string;
  expires_at: number;
  used_at: number | null;
  revoked_at: number | null;
  user_id: string | null;
  created_at: number;
  created_by: string | null;
}

export interface SessionTable {
  id: string;
  user_id: string;
  token_hash: string;
  csrf_hash: string;
  created_at: number;
  last_seen_at: number;
  expires_at: number;
  ended_at: number | null;
  ip: string | null;
  user_agent: string | null;
}

export interface AuditTable {
  id: Generated<number>;
  at: number;
  actor: string;
  actor_name: string | null;
  ip: string | null;
  action: string;
  target: string | null;
  device_id: string | null;
  result: string;
  error_code: string | null;
  details: string | null;
}

export interface Database {
  users: UserTable;
  invitations: InvitationTable;
  sessions: SessionTable;
  audit: AuditTable;
  api_tokens: ApiTokenTable;
  enrollment_tokens: EnrollmentTokenTable;
  devices: DeviceTable;
  presence: PresenceTable;
  commands: CommandTable;
}
