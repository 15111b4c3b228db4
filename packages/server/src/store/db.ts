/** Opens the store (SQLite file in the data dir, or PostgreSQL) and migrates it. */
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import { migrationProvider } from './migrations.js';
import type { Database } from './schema.js';

export type Db = Kysely<Database>;

/**
 * better-sqlite3 behind Kysely prepares every query anew (the dialect calls
 * `prepare(sql)` each time): for the short statements of the command path that
 * costs as much as running them. Kysely compiles a given query shape to the same
 * SQL text, so statements are kept by text (a bounded LRU). A statement that is
 * still iterating (a streamed query) is busy and cannot be reused: then a fresh one is prepared.
 */
export function cachingStatements(
  file: SQLite.Database,
  max = 256,
): { prepare(sql: string): SQLite.Statement; close(): void } {
  const cache = new Map<string, SQLite.Statement>();
  return {
    close: () => file.close(),
    prepare(sql: string) {
      const hit = cache.get(sql);
      if (hit && !hit.busy) {
        cache.delete(sql);
        cache.set(sql, hit);
        return hit;
      }
      const stmt = file.prepare(sql);
      if (!hit) {
        cache.set(sql, stmt);
        if (cache.size > max) cache.delete(cache.keys().next().value as string);
      }
      return stmt;
    },
  };
}

// PostgreSQL returns BIGINT as a string; our times are epoch ms, well inside 2^53.
pg.types.setTypeParser(20, (v: string) => Number(v));

export async function openDatabase(database: string, dataDir: string): Promise<Db> {
  let db: Db;
  if (database === 'sqlite') {
    const file = new SQLite(join(dataDir, 'outpost.db'));
    file.pragma('journal_mode = WAL');
    file.pragma('synchronous = NORMAL');
    file.pragma('busy_timeout = 5000');
    file.pragma('foreign_keys = ON');
    db = new Kysely<Database>({ dialect: new SqliteDialect({ database: cachingStatements(file) }) });
  } else {
    db = new Kysely<Database>({
      dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: database, max: 10 }) }),
    });
  }
  const { error, results } = await new Migrator({
    db,
    provider: migrationProvider(database !== 'sqlite'),
  }).migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error || failed) {
    await db.destroy();
    throw new Error(`database migration failed${failed ? ` at ${failed.migrationName}` : ''}: ${String(error)}`);
  }
  return db;
}
