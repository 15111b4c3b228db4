/**
 * Scale-out mode: the server links to an external broker (the machine's real
 * Mosquitto on 127.0.0.1:1883) instead of its embedded one, and a real agent
 * enrolls, comes online, runs commands and goes offline through it.
 *
 * This Mosquitto allows anonymous clients, so device authentication and topic
 * ACLs are NOT enforced here: generating them for Mosquitto's dynamic-security
 * plugin is later work (docs/operations.md). This test proves the protocol and
 * the broker link are broker-agnostic.
 */
import { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onlineAgent, sendCommand, startTestServer, type TestServer, waitUntil } from '../helpers.js';

const BROKER = process.env.OUTPOST_TEST_MOSQUITTO ?? 'mqtt://127.0.0.1:1883';
let ts: TestServer | undefined;
let skipReason: string | null = null;

function reachable(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const s = new Socket();
    s.setTimeout(2000);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
    s.once('timeout', () => {
      s.destroy();
      resolve(false);
    });
    s.connect(Number(port), hostname);
  });
}

beforeAll(async () => {
  if (!(await reachable(BROKER))) {
    if (process.env.CI) throw new Error(`Mosquitto is not reachable at ${BROKER}`);
    skipReason = `no MQTT broker at ${BROKER}`;
    console.warn(`skipping external-broker test: ${skipReason}`);
    return;
  }
  ts = await startTestServer({ broker: BROKER });
});

afterAll(async () => {
  await ts?.close();
});

describe('external broker (Mosquitto)', () => {
  it('enrolls an agent, runs a command and sees it go offline, all through Mosquitto', async (ctx) => {
    if (skipReason || !ts) return ctx.skip();
    const server = ts;
    expect(server.server.mqttPort).toBe(0); // no embedded MQTT listener in this mode
    const { hostname, port } = new URL(BROKER);
    const { agent, device } = await onlineAgent(server, {
      args: ['--allow-insecure'],
      serverUrl: `mqtt://${hostname}:${port}`,
    });
    try {
      const r = await sendCommand(server, device.id, 'exec', 'run', { argv: ['echo', 'via-mosquitto'] });
      expect(r.body.status).toBe('succeeded');
      expect(r.body.result.stdout).toBe('via-mosquitto\n');
    } finally {
      await agent.stop();
    }
    await waitUntil(async () => (await server.device(device.id))?.online === false, 'device offline via Mosquitto');
    // Deleting the device clears its retained status on the shared broker.
    expect((await server.api('DELETE', `/devices/${device.id}`)).status).toBe(204);
  });
});
