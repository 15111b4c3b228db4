import { topics } from '@outpost/protocol';
import { describe, expect, it, vi } from 'vitest';
import { freePort, startBroker } from '../test/broker.js';
import { clientOptions, DeviceConnection, isAuthRefusal } from './connection.js';
import { createLogger, silentLogger } from './log.js';

/** Collects the agent's log records (to read the retry delays it chose). */
function recorder() {
  const records: { msg: string; retryInMs?: number }[] = [];
  const log = createLogger({ level: 'debug', write: (l) => records.push(JSON.parse(l)) });
  const retries = () => records.filter((r) => r.retryInMs !== undefined).map((r) => r.retryInMs);
  return { log, records, retries };
}

describe('device connection', () => {
  it('uses a clean session, keepalive 30, MQTT 3.1.1 and no mqtt.js auto-reconnect', () => {
    const o = clientOptions({
      url: 'mqtts://h:8883',
      clientId: 'd-1',
      username: 'd-1',
      password: 'pw',
      protocolVersion: 4,
      will: { topic: topics.status('d-1'), payload: '{"online":false,"since":1}' },
    });
    expect(o).toMatchObject({ clean: true, keepalive: 30, protocolVersion: 4, reconnectPeriod: 0 });
    expect(o.will).toMatchObject({ topic: 'outpost/v1/d/d-1/status', qos: 1, retain: true });
    expect(isAuthRefusal(Object.assign(new Error('Connection refused: Not authorized'), { code: 5 }))).toBe(true);
    expect(isAuthRefusal(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toBe(false);
  });

  it('keeps QoS 1 messages while offline, dropping output chunks before responses when full', async () => {
    const conn = new DeviceConnection({
      link: {
        url: `mqtt://127.0.0.1:${await freePort()}`,
        clientId: 'd-1',
        username: 'd-1',
        password: 'pw',
        protocolVersion: 4,
      },
      log: silentLogger,
      onConnect: () => {},
      onMessage: () => {},
      maxOutboxBytes: 250,
    });
    const payload = 'x'.repeat(100);
    const res1 = conn.publish(topics.result('d-1', 'c1'), payload, 1);
    const out1 = conn.publish(topics.output('d-1', 'c2'), payload, 1);
    const res2 = conn.publish(topics.result('d-1', 'c2'), payload, 1);
    const telemetry = conn.publish(topics.telemetry('d-1'), payload, 0);
    let settled = 0;
    for (const p of [res1, res2]) void p.then(() => settled++);
    expect(await out1).toBe(false);
    expect(await telemetry).toBe(false);
    await new Promise((r) => setImmediate(r));
    expect(settled, 'responses stay queued while an output chunk could be dropped').toBe(0);
    await conn.stop();
    // Never connected: stop() gives up on what is left, without hanging.
    expect(await res1).toBe(false);
    expect(await res2).toBe(false);
  });

  it('retries forever with a full-jitter delay that doubles up to the cap, and resets after a stable session', async () => {
    const port = await freePort();
    const { log, retries } = recorder();
    const conn = new DeviceConnection({
      link: { url: `mqtt://127.0.0.1:${port}`, clientId: 'd-1', username: 'd-1', password: 'pw', protocolVersion: 4 },
      log,
      onConnect: () => {},
      onMessage: () => {},
      // random() just under 1: each delay sits at the top of its window, so the doubling shows.
      backoff: { baseMs: 20, capMs: 160, random: () => 0.999 },
      stableAfterMs: 0,
    });
    conn.start();
    try {
      await vi.waitFor(() => expect(retries().length).toBeGreaterThanOrEqual(6), { timeout: 15_000 });
      expect(retries().slice(0, 6)).toEqual([19, 39, 79, 159, 159, 159]);
      const broker = await startBroker({ port });
      await vi.waitFor(() => expect(conn.connected).toBe(true), { timeout: 15_000 });
      const before = retries().length;
      await broker.close();
      await vi.waitFor(() => expect(retries().length).toBeGreaterThan(before), { timeout: 15_000 });
      // The session counted as stable (stableAfterMs 0), so the window starts over.
      expect(retries()[before]).toBe(19);
    } finally {
      await conn.stop();
    }
  });
});
