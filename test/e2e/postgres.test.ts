/**
 * The same core flow on PostgreSQL (the scale-out store): enroll a real agent,
 * run a command, restart the server and find everything still there. Uses the
 * machine's PostgreSQL on 127.0.0.1:5432 with a throwaway database.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onlineAgent, sendCommand, startTestServer, type TestServer, waitUntil } from '../helpers.js';

const ADMIN_URL = process.env.OUTPOST_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const dbName = `outpost_test_${randomBytes(4).toString('hex')}`;
let available = true;
let ts: TestServer | undefined;

beforeAll(async () => {
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  try {
    await admin.connect();
    await admin.query(`CREATE DATABASE ${dbName}`);
  } catch (err) {
    if (process.env.CI) throw err; // never skip in CI
    available = false;
    console.warn(`skipping PostgreSQL tests: ${String(err)}`);
  } finally {
    await admin.end().catch(() => {});
  }
  if (available) ts = await startTestServer({ database: ADMIN_URL.replace(/\/[^/]*$/, `/${dbName}`) });
});

afterAll(async () => {
  await ts?.close();
  if (!available) return;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  await admin.end();
});

describe('PostgreSQL store', () => {
  it('enrolls, runs a command and keeps everything across a restart', async (ctx) => {
    if (!available || !ts) return ctx.skip();
    const { agent, device } = await onlineAgent(ts);
    try {
      const r = await sendCommand(ts, device.id, 'exec', 'run', { argv: ['echo', 'on-postgres'] });
      expect(r.body.result.stdout).toBe('on-postgres\n');
      await ts.restart();
      const server = ts;
      await waitUntil(async () => (await server.device(device.id))?.online, 'device back online after restart', 60_000);
      const again = await server.api('GET', `/commands/${r.body.id}`);
      expect(again.body.status).toBe('succeeded');
      expect(typeof again.body.durationMs).toBe('number');
      const presence = (await server.api('GET', `/devices/${device.id}/presence`)).body.items;
      expect(presence.length).toBeGreaterThanOrEqual(3);
    } finally {
      await agent.stop();
    }
  }, 120_000);
});
