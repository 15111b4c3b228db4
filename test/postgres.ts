/**
 * A throwaway PostgreSQL database for one test file, on the machine's server
 * (127.0.0.1:5432, or OUTPOST_TEST_PG): created at the start, dropped at the end.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const PG_ADMIN_URL = process.env.OUTPOST_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface ThrowawayDatabase {
  /** Connection string of the new database. */
  url: string;
  drop(): Promise<void>;
}

async function asAdmin(sql: string): Promise<void> {
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  try {
    await admin.connect();
    await admin.query(sql);
  } finally {
    await admin.end().catch(() => {});
  }
}

/** The new database, or null (with a warning, so the caller skips) when PostgreSQL is not there; in CI that fails. */
export async function throwawayDatabase(prefix = 'outpost_test'): Promise<ThrowawayDatabase | null> {
  const name = `${prefix}_${randomBytes(4).toString('hex')}`;
  try {
    await asAdmin(`CREATE DATABASE ${name}`);
  } catch (err) {
    if (process.env.CI) throw err; // never skip in CI
    console.warn(`skipping PostgreSQL tests: ${String(err)}`);
    return null;
  }
  return {
    url: PG_ADMIN_URL.replace(/\/[^/]*$/, `/${name}`),
    drop: () => asAdmin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}
