/**
 * The simulator against a real server (real TLS broker, real SQLite): a fleet of
 * lightweight devices and a few real agent cores enroll, come online and answer
 * commands sent through the HTTP API. Correctness only; the benchmarks time it.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendCommand, startTestServer, type TestServer, tempDir, waitUntil } from '../../../test/helpers.js';
import { startAgentFleet } from './agents.js';
import { SIM_AGENT_VERSION } from './backends.js';
import { connectFleet, enrollFleet, type Fleet } from './fleet.js';

let ts: TestServer;
const stateRoot = tempDir('outpost-sim-');

beforeAll(async () => {
  ts = await startTestServer();
});
afterAll(async () => {
  if (ts) {
    await ts.close();
    rmSync(ts.dataDir, { recursive: true, force: true });
  }
  rmSync(stateRoot, { recursive: true, force: true });
});

const onlineSimulated = async (): Promise<any[]> => {
  const r = await ts.api('GET', '/devices?online=true');
  return (r.body.items as any[]).filter((d) => d.agentVersion === SIM_AGENT_VERSION);
};

describe('lightweight fleet', () => {
  let fleet: Fleet;

  it('enrolls 20 devices with one token and brings them all online', async () => {
    const token = await ts.enrollmentToken({ autoAccept: true, maxUses: 20 });
    const target = { url: `mqtts://127.0.0.1:${ts.server.mqttPort}`, ca: ts.ca };
    const credentials = await enrollFleet({ ...target, token, count: 20, concurrency: 5 });
    expect(new Set(credentials.map((c) => c.deviceId)).size).toBe(20);
    fleet = await connectFleet({ ...target, credentials, concurrency: 5 });
    const online = await waitUntil(async () => {
      const list = await onlineSimulated();
      return list.length === 20 ? list : null;
    }, 'all 20 simulated devices online');
    expect(online.map((d) => d.hostname).sort()).toEqual(
      Array.from({ length: 20 }, (_, i) => `sim-${String(i).padStart(5, '0')}`),
    );
    expect(online.every((d) => d.status === 'accepted')).toBe(true);
  });

  it('answers system/ping and exec/run sent through the API', async () => {
    for (const device of fleet.devices.slice(0, 5)) {
      const ping = await sendCommand(ts, device.deviceId, 'system', 'ping', {});
      expect(ping.status, JSON.stringify(ping.body)).toBe(200);
      expect(ping.body.status).toBe('succeeded');
      expect(ping.body.result).toMatchObject({ pong: true });
    }
    const first = fleet.devices[0]!;
    const echo = await sendCommand(ts, first.deviceId, 'exec', 'run', { argv: ['echo', 'hello', 'fleet'] });
    expect(echo.body.status).toBe('succeeded');
    expect(echo.body.result).toMatchObject({ exitCode: 0, stdout: 'hello fleet\n' });
    const missing = await sendCommand(ts, first.deviceId, 'exec', 'run', { argv: ['no-such-program'] });
    expect(missing.body.result).toMatchObject({ exitCode: 127 });
    expect(fleet.answered()).toBe(7);
  });

  it('goes offline on a graceful stop', async () => {
    await fleet.stop();
    await waitUntil(async () => (await onlineSimulated()).length === 0, 'simulated devices offline');
  });
});

describe('real agent core with simulated backends', () => {
  it('enrolls, comes online and answers commands through the API', async () => {
    const token = await ts.enrollmentToken({ autoAccept: true, maxUses: 2 });
    const agents = await startAgentFleet({
      server: `mqtts://127.0.0.1:${ts.server.mqttPort}`,
      caFile: ts.server.caFile,
      token,
      count: 2,
      stateRoot: join(stateRoot, 'agents'),
    });
    try {
      await agents.accepted();
      for (const agent of agents.agents) {
        await waitUntil(async () => (await ts.device(agent.deviceId))?.online, 'agent online');
        const ping = await sendCommand(ts, agent.deviceId, 'system', 'ping', {});
        expect(ping.body.status, JSON.stringify(ping.body)).toBe('succeeded');
        const info = await sendCommand(ts, agent.deviceId, 'system', 'info', {});
        expect(info.body.result).toMatchObject({ arch: 'arm64', hostname: expect.stringMatching(/^sim-0000[01]$/) });
      }
      const run = await sendCommand(ts, agents.agents[0]!.deviceId, 'exec', 'run', { argv: ['uname', '-a'] });
      expect(run.body.result).toMatchObject({ exitCode: 0, stdout: expect.stringContaining('aarch64') });
    } finally {
      await agents.stop();
    }
  });
});
