/**
 * The same core flow on PostgreSQL (the scale-out store): enroll a real agent,
 * run a command, restart the server and find everything still there. Uses the
 * machine's PostgreSQL on 127.0.0.1:5432 with a throwaway database.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onlineAgent, sendCommand, startTestServer, type TestServer, waitUntil } from '../helpers.js';
import { type ThrowawayDatabase, throwawayDatabase } from '../postgres.js';

let database: ThrowawayDatabase | null = null;
let available = true;
let ts: TestServer | undefined;

beforeAll(async () => {
  database = await throwawayDatabase();
  available = database !== null;
  if (database) ts = await startTestServer({ database: database.url });
});

afterAll(async () => {
  await ts?.close();
  await database?.drop();
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

  it('keeps the script library: every version survives a restart and runs on the agent', async (ctx) => {
    if (!available || !ts) return ctx.skip();
    const params = [{ name: 'who', type: 'string', required: true }];
    const made = await ts.api('POST', '/scripts', {
      name: 'greet',
      interpreter: 'sh',
      content: 'echo "v1 $1"',
      params,
    });
    expect(made.status).toBe(201);
    expect((await ts.api('PUT', '/scripts/greet', { content: 'echo "v2 $OUTPOST_PARAM_WHO"' })).body.version).toBe(2);
    await ts.restart();
    const server = ts;
    const { agent, device } = await onlineAgent(server);
    try {
      const versions = (await server.api('GET', '/scripts/greet/versions')).body.items;
      expect(versions.map((v: any) => v.version)).toEqual([2, 1]);
      const run = (body: unknown) => server.api('POST', `/devices/${device.id}/scripts/greet/run?wait=true`, body);
      expect((await run({ params: { who: 'pg' } })).body.result.stdout).toBe('v2 pg\n');
      expect((await run({ version: 1, params: { who: 'pg' } })).body.result.stdout).toBe('v1 pg\n');
      expect((await server.api('DELETE', '/scripts/greet')).status).toBe(204);
      expect((await server.api('GET', '/scripts')).body.items).toEqual([]);
    } finally {
      await agent.stop();
    }
  }, 120_000);
});
