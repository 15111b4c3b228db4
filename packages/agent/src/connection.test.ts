import { topics } from '@outpost/protocol';
import { describe, expect, it } from 'vitest';
import { freePort } from '../test/broker.js';
import { clientOptions, DeviceConnection, isAuthRefusal } from './connection.js';
import { silentLogger } from './log.js';

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
});
