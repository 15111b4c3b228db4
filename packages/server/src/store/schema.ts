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
  /** The headline of the last metrics sample (docs/metrics.md); all null until the first. */
  metrics_at: number | null;
  metrics_cpu: number | null;
  metrics_mem: number | null;
  /** Root filesystem used, percent. */
  metrics_disk: number | null;
  metrics_temp: number | null;
  metrics_load1: number | null;
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

/** A library script; its content lives in its versions. */
export interface ScriptTable {
  id: string;
  name: string;
  latest_version: number;
  created_at: number;
  created_by: string | null;
  updated_at: number;
  updated_by: string | null;
}

/** One immutable version of a script; `params` is the JSON list of declared parameters. */
export interface ScriptVersionTable {
  script_id: string;
  version: number;
  description: string;
  interpreter: string;
  content: string;
  params: string;
  /** SHA-256 of the content's UTF-8 bytes, lowercase hex. */
  sha256: string;
  /** The content's size in bytes. */
  size: number;
  created_at: number;
  created_by: string | null;
}

/** One metrics sample as stored for charts: headline columns plus every chartable series (JSON `{name: value}`). */
export interface MetricsSampleTable {
  device_id: string;
  /** When the server received it (device clocks are often wrong). */
  at: number;
  cpu: number;
  mem: number;
  swap: number;
  load1: number;
  disk: number | null;
  temperature: number | null;
  series: string;
}

/** A rollup bucket: JSON `{name: [avg, min, max, count]}` over `resolution` seconds from `bucket`. */
export interface MetricsRollupTable {
  device_id: string;
  /** 60 or 3600 seconds. */
  resolution: number;
  bucket: number;
  series: string;
}

/** How far each rollup tier got: every bucket before `done_until` is rolled up. */
export interface MetricsRollupStateTable {
  resolution: number;
  done_until: number;
}

/** The last full sample of each device, as it sent it. */
export interface MetricsLatestTable {
  device_id: string;
  at: number;
  sample: string;
}

/** A terminal session (migration 006): times are epoch ms; `command` is a JSON argv or null. */
export interface TerminalSessionTable {
  id: string;
  device_id: string;
  command_id: string;
  actor: string;
  actor_name: string | null;
  started_at: number;
  ended_at: number | null;
  cols: number;
  rows: number;
  term: string;
  command: string | null;
  exit_code: number | null;
  signal: string | null;
  reason: string | null;
  /** File name of the asciicast recording under `<dataDir>/recordings`, or null when not recorded. */
  recording: string | null;
  recording_bytes: number;
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
  metrics_samples: MetricsSampleTable;
  metrics_rollups: MetricsRollupTable;
  metrics_rollup_state: MetricsRollupStateTable;
  metrics_latest: MetricsLatestTable;
  scripts: ScriptTable;
  script_versions: ScriptVersionTable;
  terminal_sessions: TerminalSessionTable;
}
