/**
 * The embedded broker link (link.ts `linkEmbedded`) against a real embedded broker and a
 * real MQTT device client on its plain listener (port 0): what the server receives from a
 * device (in order, live vs retained), what a device receives from the server (QoS 0 and
 * 1, in order, the device's own ACL still applied), and what the link refuses.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { topics } from '@outpost/protocol';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../log.js';
import { ensureTls } from '../tls/ca.js';
import type { Principal } from './acl.js';
import { createEmbeddedBroker, type EmbeddedBroker } from './embedded.js';
import { type BrokerLink, linkEmbedded } from './link.js';

const DEVICE = 'd-abcdefghijklmnopqrst';
const OTHER = 'd-bcdefghijklmnopqrstu';
const SID = 's0123456789abcdef';
const root = mkdtempSync(join(tmpdir(), 'outpost-link-test-'));
const log = createLogger('silent');

let broker: EmbeddedBroker;
let port: number;
const clients: MqttClient[] = [];
const links: BrokerLink[] = [];

beforeAll(async () => {
  const tls = ensureTls(join(root, 'tls'), []);
  broker = await createEmbeddedBroker({
    authority: {
      async authenticateDevice(deviceId): Promise<Principal> {
        return { kind: 'device', deviceId, status: 'accepted' };
      },
      async checkEnrollmentToken() {
        return { ok: false, reason: 'no enrollment here' };
      },
    },
    tls: { key: tls.key, cert: tls.cert },
    log,
  });
  port = await broker.listenPlain(0, '127.0.0.1');
});
afterEach(async () => {
  for (const c of clients.splice(0)) await c.endAsync(true);
  for (const l of links.splice(0)) await l.close();
});
afterAll(async () => {
  await broker?.close();
  rmSync(root, { recursive: true, force: true });
});

async function device(id = DEVICE): Promise<MqttClient> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
    clientId: id,
    username: id,
    password: 'secret',
    reconnectPeriod: 0,
    protocolVersion: 4,
  });
  clients.push(c);
  return c;
}

async function link(): Promise<{ link: BrokerLink; got: { topic: string; payload: Buffer; retained: boolean }[] }> {
  const l = await linkEmbedded(broker, log);
  links.push(l);
  const got: { topic: string; payload: Buffer; retained: boolean }[] = [];
  l.onMessage((topic, payload, retained) => got.push({ topic, payload, retained }));
  return { link: l, got };
}

describe('the embedded broker link', () => {
  it("receives a device's messages in order, as published", async () => {
    const { got } = await link();
    const d = await device();
    const out = topics.tty(DEVICE, SID, 'out');
    const frames = Array.from({ length: 200 }, (_, i) => Buffer.from(`frame ${i}`));
    for (const f of frames) d.publish(out, f, { qos: 0 });
    await d.publishAsync(topics.result(DEVICE, 'c0123456789abcdef'), '{"ok":true}', { qos: 1 });
    await expect.poll(() => got.length).toBe(201);
    expect(got.slice(0, 200).map((m) => m.payload.toString())).toEqual(frames.map((f) => f.toString()));
    expect(got.every((m) => !m.retained)).toBe(true);
    expect(got[200]).toMatchObject({ topic: topics.result(DEVICE, 'c0123456789abcdef') });
    expect(got[200]?.payload.toString()).toBe('{"ok":true}');
  });

  it('gets what devices left retained once when it subscribes, flagged retained; live ones are not', async () => {
    const d = await device();
    await d.publishAsync(topics.status(DEVICE), '{"online":true}', { qos: 1, retain: true });
    const { link: l, got } = await link();
    await expect.poll(() => got.length).toBe(1);
    expect(got[0]).toMatchObject({ topic: topics.status(DEVICE), retained: true });
    await d.publishAsync(topics.status(DEVICE), '{"online":false}', { qos: 1, retain: true });
    await expect.poll(() => got.length).toBe(2);
    expect(got[1]).toMatchObject({ topic: topics.status(DEVICE), retained: false });
    // The server clears it as it does for a deleted device: a retained empty payload.
    await l.publish(topics.status(DEVICE), '', { retain: true });
    await expect.poll(() => got.length).toBe(3);
    expect(got[2]?.payload.length).toBe(0);
    const second = await link();
    await new Promise((r) => setImmediate(r));
    expect(second.got).toEqual([]);
  });

  it('reads the retained store when its first handler arrives, so a status sent before is not lost', async () => {
    const l = await linkEmbedded(broker, log);
    links.push(l);
    const d = await device();
    // Sent while the server is still starting (no handler yet): live, it reaches no one.
    await d.publishAsync(topics.status(DEVICE), '{"online":true}', { qos: 1, retain: true });
    const got: { topic: string; payload: string; retained: boolean }[] = [];
    l.onMessage((topic, payload, retained) => got.push({ topic, payload: payload.toString(), retained }));
    await expect.poll(() => got.length).toBe(1);
    expect(got[0]).toEqual({ topic: topics.status(DEVICE), payload: '{"online":true}', retained: true });
    await l.publish(topics.status(DEVICE), '', { retain: true });
  });

  it('delivers to the device at QoS 0 and 1, in order, only what its own subscriptions cover', async () => {
    const { link: l } = await link();
    const d = await device();
    const o = await device(OTHER);
    const received: { topic: string; payload: string; qos: number }[] = [];
    d.on('message', (topic, payload, packet) => received.push({ topic, payload: payload.toString(), qos: packet.qos }));
    const strayed: string[] = [];
    o.on('message', (topic) => strayed.push(topic));
    await d.subscribeAsync(topics.agentSubscriptions(DEVICE), { qos: 1 });
    await o.subscribeAsync(topics.agentSubscriptions(OTHER), { qos: 1 });
    const input = topics.tty(DEVICE, SID, 'in');
    const sent = Array.from({ length: 100 }, (_, i) => `in ${i}`);
    await Promise.all(sent.map((p) => l.publish(input, Buffer.from(p), { qos: 0 })));
    await l.publish(topics.command(DEVICE, 'system', 'info'), '{"id":"c1"}', { qos: 1 });
    await expect.poll(() => received.length).toBe(101);
    expect(received.slice(0, 100).map((m) => m.payload)).toEqual(sent);
    expect(received.slice(0, 100).every((m) => m.topic === input && m.qos === 0)).toBe(true);
    expect(received[100]).toEqual({ topic: topics.command(DEVICE, 'system', 'info'), payload: '{"id":"c1"}', qos: 1 });
    expect(strayed).toEqual([]);
  });

  it('hands a frame larger than a socket read over whole', async () => {
    const { got } = await link();
    const d = await device();
    const big = Buffer.alloc(256 * 1024, 7);
    await d.publishAsync(topics.tty(DEVICE, SID, 'out'), big, { qos: 1 });
    await expect.poll(() => got.length).toBe(1);
    expect(got[0]?.payload.equals(big)).toBe(true);
  });

  it('refuses a wildcard or empty topic, and everything once closed', async () => {
    const { link: l, got } = await link();
    await expect(l.publish('outpost/v1/d/+/cmd/system/info', 'x')).rejects.toThrow(/invalid topic/);
    await expect(l.publish('outpost/v1/d/#', 'x')).rejects.toThrow(/invalid topic/);
    await expect(l.publish('', 'x')).rejects.toThrow(/invalid topic/);
    await l.close();
    await expect(l.publish(topics.command(DEVICE, 'system', 'info'), 'x')).rejects.toThrow(/closed/);
    const d = await device();
    await d.publishAsync(topics.telemetry(DEVICE), '{}', { qos: 1 });
    // A second link still receives it; the closed one does not.
    const { got: other } = await link();
    await d.publishAsync(topics.telemetry(DEVICE), '{}', { qos: 1 });
    await expect.poll(() => other.length).toBe(1);
    expect(got).toEqual([]);
  });
});
