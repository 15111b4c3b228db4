/** Schema migrations, applied in order at start; never edit a shipped one, add the next. */
import type { Kysely, Migration, MigrationProvider } from 'kysely';

// Migrations operate on an unknown schema by design.
// biome-ignore lint/suspicious/noExplicitAny: Kysely migrations are untyped.
type Db = Kysely<any>;

const m001 = (postgres: boolean): Migration => ({
  async up(db: Db) {
    await db.schema
      .createTable('api_tokens')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('role', 'text', (c) => c.notNull())
      .addColumn('token_hash', 'text', (c) => c.notNull().unique())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('created_by', 'text')
      .addColumn('expires_at', 'bigint')
      .addColumn('revoked_at', 'bigint')
      .addColumn('last_used_at', 'bigint')
      .execute();
    await db.schema
      .createTable('enrollment_tokens')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('token_hash', 'text', (c) => c.notNull().unique())
      .addColumn('tags', 'text', (c) => c.notNull())
      .addColumn('auto_accept', 'integer', (c) => c.notNull())
      .addColumn('max_uses', 'integer')
      .addColumn('uses', 'integer', (c) => c.notNull())
      .addColumn('expires_at', 'bigint')
      .addColumn('revoked_at', 'bigint')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('created_by', 'text')
      .execute();
    await db.schema
      .createTable('devices')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('secret_hash', 'text', (c) => c.notNull())
      .addColumn('tags', 'text', (c) => c.notNull())
      .addColumn('hostname', 'text')
      .addColumn('os', 'text')
      .addColumn('kernel', 'text')
      .addColumn('arch', 'text')
      .addColumn('agent_version', 'text')
      .addColumn('macs', 'text', (c) => c.notNull())
      .addColumn('ips', 'text', (c) => c.notNull())
      .addColumn('online', 'integer', (c) => c.notNull())
      .addColumn('online_since', 'bigint')
      .addColumn('first_seen', 'bigint')
      .addColumn('last_seen', 'bigint')
      .addColumn('heartbeat', 'integer')
      .addColumn('enrolled_at', 'bigint', (c) => c.notNull())
      .addColumn('enrollment_token_id', 'text')
      .execute();
    await db.schema.createIndex('devices_name').on('devices').column('name').execute();
    await db.schema
      .createTable('presence')
      .addColumn('id', postgres ? 'serial' : 'integer', (c) => c.primaryKey())
      .addColumn('device_id', 'text', (c) => c.notNull())
      .addColumn('online', 'integer', (c) => c.notNull())
      .addColumn('at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('presence_device_at').on('presence').columns(['device_id', 'at']).execute();
    await db.schema
      .createTable('commands')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('device_id', 'text', (c) => c.notNull())
      .addColumn('capability', 'text', (c) => c.notNull())
      .addColumn('action', 'text', (c) => c.notNull())
      .addColumn('args', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('ttl', 'integer', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('created_by', 'text')
      .addColumn('sent_at', 'bigint')
      .addColumn('started_at', 'bigint')
      .addColumn('finished_at', 'bigint')
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .addColumn('duration_ms', 'integer')
      .addColumn('result', 'text')
      .addColumn('error', 'text')
      .execute();
    await db.schema
      .createIndex('commands_device_created')
      .on('commands')
      .columns(['device_id', 'created_at'])
      .execute();
    await db.schema.createIndex('commands_status').on('commands').columns(['status', 'device_id']).execute();
  },
});

/** Users, invitations, browser sessions, scoped API tokens and the audit log. */
const m002 = (postgres: boolean): Migration => ({
  async up(db: Db) {
    await db.schema
      .createTable('users')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull().unique())
      .addColumn('email', 'text')
      .addColumn('role', 'text', (c) => c.notNull())
      .addColumn('scope_tags', 'text', (c) => c.notNull())
      .addColumn('password_hash', 'text')
      .addColumn('password_changed_at', 'bigint')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('created_by', 'text')
      .execute();
    await db.schema
      .createTable('invitations')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('email', 'text')
      .addColumn('role', 'text', (c) => c.notNull())
      .addColumn('scope_tags', 'text', (c) => c.notNull())
      .addColumn('code_hash', 'text', (c) => c.notNull().unique())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .addColumn('used_at', 'bigint')
      .addColumn('revoked_at', 'bigint')
      .addColumn('user_id', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('created_by', 'text')
      .execute();
    await db.schema
      .createTable('sessions')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('user_id', 'text', (c) => c.notNull())
      .addColumn('token_hash', 'text', (c) => c.notNull().unique())
      .addColumn('csrf_hash', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('last_seen_at', 'bigint', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .addColumn('ended_at', 'bigint')
      .addColumn('ip', 'text')
      .addColumn('user_agent', 'text')
      .execute();
    await db.schema.createIndex('sessions_user').on('sessions').column('user_id').execute();
    await db.schema.alterTable('api_tokens').addColumn('user_id', 'text').execute();
    await db.schema
      .alterTable('api_tokens')
      .addColumn('scope_tags', 'text', (c) => c.notNull().defaultTo('[]'))
      .execute();
    await db.schema
      .createTable('audit')
      .addColumn('id', postgres ? 'bigserial' : 'integer', (c) => c.primaryKey())
      .addColumn('at', 'bigint', (c) => c.notNull())
      .addColumn('actor', 'text', (c) => c.notNull())
      .addColumn('actor_name', 'text')
      .addColumn('ip', 'text')
      .addColumn('action', 'text', (c) => c.notNull())
      .addColumn('target', 'text')
      .addColumn('device_id', 'text')
      .addColumn('result', 'text', (c) => c.notNull())
      .addColumn('error_code', 'text')
      .addColumn('details', 'text')
      .execute();
    await db.schema.createIndex('audit_at').on('audit').column('at').execute();
    await db.schema.createIndex('audit_device').on('audit').columns(['device_id', 'at']).execute();
  },
});

/** Devices that authenticate with a client certificate: the SHA-256 fingerprint of the one issued. */
const m003 = (): Migration => ({
  async up(db: Db) {
    await db.schema.alterTable('devices').addColumn('cert_fingerprint', 'text').execute();
  },
});

/**
 * Device metrics (docs/metrics.md): the headline of the last sample on the device row
 * (so listing devices reads no other table), every sample for a day, rollups per
 * minute and per hour, how far the rollups got, and the last full sample per device.
 * Metrics rows go with their device (ON DELETE CASCADE).
 */
const m004 = (): Migration => ({
  async up(db: Db) {
    for (const column of ['metrics_cpu', 'metrics_mem', 'metrics_disk', 'metrics_temp', 'metrics_load1']) {
      await db.schema.alterTable('devices').addColumn(column, 'double precision').execute();
    }
    await db.schema.alterTable('devices').addColumn('metrics_at', 'bigint').execute();
    await db.schema
      .createTable('metrics_samples')
      .addColumn('device_id', 'text', (c) => c.notNull().references('devices.id').onDelete('cascade'))
      .addColumn('at', 'bigint', (c) => c.notNull())
      .addColumn('cpu', 'double precision', (c) => c.notNull())
      .addColumn('mem', 'double precision', (c) => c.notNull())
      .addColumn('swap', 'double precision', (c) => c.notNull())
      .addColumn('load1', 'double precision', (c) => c.notNull())
      .addColumn('disk', 'double precision')
      .addColumn('temperature', 'double precision')
      .addColumn('series', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('metrics_samples_device_at')
      .on('metrics_samples')
      .columns(['device_id', 'at'])
      .execute();
    await db.schema.createIndex('metrics_samples_at').on('metrics_samples').column('at').execute();
    await db.schema
      .createTable('metrics_rollups')
      .addColumn('device_id', 'text', (c) => c.notNull().references('devices.id').onDelete('cascade'))
      .addColumn('resolution', 'integer', (c) => c.notNull())
      .addColumn('bucket', 'bigint', (c) => c.notNull())
      .addColumn('series', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('metrics_rollups_pk', ['device_id', 'resolution', 'bucket'])
      .execute();
    await db.schema
      .createIndex('metrics_rollups_resolution_bucket')
      .on('metrics_rollups')
      .columns(['resolution', 'bucket'])
      .execute();
    await db.schema
      .createTable('metrics_rollup_state')
      .addColumn('resolution', 'integer', (c) => c.primaryKey())
      .addColumn('done_until', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('metrics_latest')
      .addColumn('device_id', 'text', (c) => c.primaryKey().references('devices.id').onDelete('cascade'))
      .addColumn('at', 'bigint', (c) => c.notNull())
      .addColumn('sample', 'text', (c) => c.notNull())
      .execute();
  },
});

/**
 * The script library: a script (unique name, pointer to its latest version) and its
 * immutable versions; an edit adds a version, never changes one.
 */
const m005 = (): Migration => ({
  async up(db: Db) {
    await db.schema
      .createTable('scripts')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull().unique())
      .addColumn('latest_version', 'integer', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('created_by', 'text')
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_by', 'text')
      .execute();
    await db.schema
      .createTable('script_versions')
      .addColumn('script_id', 'text', (c) => c.notNull().references('scripts.id').onDelete('cascade'))
      .addColumn('version', 'integer', (c) => c.notNull())
      .addColumn('description', 'text', (c) => c.notNull())
      .addColumn('interpreter', 'text', (c) => c.notNull())
      .addColumn('content', 'text', (c) => c.notNull())
      .addColumn('params', 'text', (c) => c.notNull())
      .addColumn('sha256', 'text', (c) => c.notNull())
      .addColumn('size', 'integer', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('created_by', 'text')
      .addPrimaryKeyConstraint('script_versions_pk', ['script_id', 'version'])
      .execute();
  },
});

/** 006: terminal sessions (docs/terminal.md): who opened which terminal, how it ended, its recording. */
const m006 = (): Migration => ({
  async up(db: Db) {
    await db.schema
      .createTable('terminal_sessions')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('device_id', 'text', (c) => c.notNull())
      .addColumn('command_id', 'text', (c) => c.notNull())
      .addColumn('actor', 'text', (c) => c.notNull())
      .addColumn('actor_name', 'text')
      .addColumn('started_at', 'bigint', (c) => c.notNull())
      .addColumn('ended_at', 'bigint')
      .addColumn('cols', 'integer', (c) => c.notNull())
      .addColumn('rows', 'integer', (c) => c.notNull())
      .addColumn('term', 'text', (c) => c.notNull())
      .addColumn('command', 'text')
      .addColumn('exit_code', 'integer')
      .addColumn('signal', 'text')
      .addColumn('reason', 'text')
      .addColumn('recording', 'text')
      .addColumn('recording_bytes', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('terminal_sessions_started').on('terminal_sessions').columns(['started_at']).execute();
    await db.schema
      .createIndex('terminal_sessions_device')
      .on('terminal_sessions')
      .columns(['device_id', 'started_at'])
      .execute();
  },
});

export function migrationProvider(postgres: boolean): MigrationProvider {
  return {
    getMigrations: async () => ({
      '001_initial': m001(postgres),
      '002_users_audit': m002(postgres),
      '003_device_certificates': m003(),
      '004_metrics': m004(),
      '005_scripts': m005(),
      '006_terminal_sessions': m006(),
    }),
  };
}
