/**
 * Offline queue, ttl expiry and at-most-once execution across agent and server
 * restarts, with a real agent process and a real server.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  onlineAgent,
  sendCommand,
  spawnAgent,
  startTestServer,
  type TestServer,
  tempDir,
  waitUntil,
} from '../helpers.js';

let ts: TestServer;
beforeAll(async () => {
  ts = await startTestServer();
});
afterAll(async () => {
  await ts?.close();
});

const commandStatus = async (id: string) => (await ts.api('GET', `/commands/${id}`)).body;

describe('offline queue', () => {
  it('a command for an offline device waits, then runs once when it reconnects', async () => {
    const { agent, device } = await onlineAgent(ts);
    await agent.stop();
    await waitUntil(async () => (await ts.device(device.id)).online === false, 'device offline');
    const queued = await sendCommand(ts, device.id, 'exec', 'run', { argv: ['echo', 'queued'] }, 'wait=true&timeout=1');
    expect(queued.status).toBe(202);
    expect(queued.body.status).toBe('queued');
    const again = spawnAgent(ts, { stateDir: agent.stateDir });
    try {
      const done = await waitUntil(async () => {
        const c = await commandStatus(queued.body.id);
        return c.status === 'succeeded' ? c : null;
      }, 'queued command to run');
      expect(done.result.stdout).toBe('queued\n');
    } finally {
      await again.stop();
    }
    const presence = (await ts.api('GET', `/devices/${device.id}/presence`)).body.items;
    expect(presence.filter((p: any) => p.online).length).toBeGreaterThanOrEqual(2);
  });

  it('a queued command expires when its ttl passes first', async () => {
    const { agent, device } = await onlineAgent(ts);
    await agent.stop();
    await waitUntil(async () => (await ts.device(device.id)).online === false, 'device offline');
    const r = await ts.api('POST', `/devices/${device.id}/commands`, {
      capability: 'exec',
      action: 'run',
      args: { argv: ['true'] },
      ttl: 1,
    });
    const expired = await waitUntil(async () => {
      const c = await commandStatus(r.body.id);
      return c.status === 'expired' ? c : null;
    }, 'command to expire');
    expect(expired.error.code).toBe('E_EXPIRED');
  });
});

describe('retention', () => {
  it('pruning deletes finished commands older than the cut-off and keeps queued ones', async () => {
    const { agent, device } = await onlineAgent(ts);
    const done = await sendCommand(ts, device.id, 'system', 'ping', {}, 'wait=true');
    expect(done.body.status).toBe('succeeded');
    await agent.stop();
    await waitUntil(async () => (await ts.device(device.id)).online === false, 'device offline');
    const queued = await sendCommand(ts, device.id, 'system', 'ping', {}, '');
    expect(queued.body.status).toBe('queued');
    const commands = ts.server.services.commands;
    expect(await commands.prune(Date.now() - 86_400_000)).toBe(0); // nothing that old
    expect(await commands.prune(Date.now() + 1)).toBeGreaterThanOrEqual(1);
    expect((await ts.api('GET', `/commands/${done.body.id}`)).status).toBe(404);
    expect((await commandStatus(queued.body.id)).status).toBe('queued');
  });
});

describe('at most once', () => {
  it('a server restart mid-command never runs the command twice', async () => {
    const { agent, device } = await onlineAgent(ts);
    const marker = join(tempDir('outpost-once-'), 'runs');
    try {
      const r = await sendCommand(
        ts,
        device.id,
        'exec',
        'run',
        { argv: ['sh', '-c', `echo run >> ${marker}; sleep 2; echo done`] },
        'wait=false',
      );
      await waitUntil(() => {
        try {
          return readFileSync(marker, 'utf8').length > 0;
        } catch {
          return false;
        }
      }, 'command started');
      await ts.restart();
      const final = await waitUntil(
        async () => {
          const c = await commandStatus(r.body.id);
          return c.status === 'succeeded' || c.status === 'failed' ? c : null;
        },
        'command to finish after the restart',
        40_000,
      );
      expect(['succeeded', 'failed']).toContain(final.status);
      // Give any duplicate delivery time to (wrongly) run again.
      await sendCommand(ts, device.id, 'exec', 'run', { argv: ['sleep', '1'] });
      expect(readFileSync(marker, 'utf8')).toBe('run\n');
    } finally {
      await agent.stop();
    }
  });

  it('the agent survives the server being down at boot and connects when it comes up', async () => {
    const dir = tempDir();
    const first = await startTestServer({}, dir);
    const { agent, device } = await onlineAgent(first);
    await agent.stop();
    const { httpPort, mqttPort } = first.server;
    await first.close();
    const again = spawnAgent(first, { stateDir: agent.stateDir });
    try {
      await new Promise((r) => setTimeout(r, 1500));
      expect(again.proc.exitCode).toBe(null);
      const second = await startTestServer({ httpPort, mqttPort }, dir);
      try {
        await waitUntil(
          async () => (await second.device(device.id))?.online,
          'agent online after the server came up',
          90_000,
        );
      } finally {
        await again.stop();
        await second.close();
      }
    } finally {
      if (again.proc.exitCode === null) await again.stop();
    }
  }, 120_000);
});
