/**
 * The server's one connection to the broker. All device traffic the server sends or
 * receives goes through here. To the embedded broker it is a direct, in-process
 * attachment to Aedes (`aedes.publish` / `aedes.subscribe`): no MQTT packet is
 * generated or parsed on the server's side (docs/decisions.md "Broker link"). To an
 * external broker (Mosquitto, EMQX) it is an MQTT.js client with shared subscriptions.
 */
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { serverSubscriptions } from '@outpost/protocol';
import type { AedesPublishPacket, PublishPacket } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from '../log.js';
import type { EmbeddedBroker } from './embedded.js';

export type MessageHandler = (topic: string, payload: Buffer, retained: boolean) => void;

export interface BrokerLink {
  publish(topic: string, payload: string | Buffer, opts?: { qos?: 0 | 1; retain?: boolean }): Promise<void>;
  onMessage(handler: MessageHandler): void;
  /** Drops a device's connection so that it reconnects and is re-authenticated. */
  disconnectDevice(deviceId: string): void;
  close(): Promise<void>;
}

function connected(client: MqttClient): Promise<void> {
  return new Promise((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
}

async function subscribeAll(client: MqttClient, shared: boolean): Promise<void> {
  // Byte-stream frames are not shared: the replica that opened a stream holds its state, so
  // every replica receives them and drops the sids it does not own (services/streams.ts).
  const filters = serverSubscriptions.map((f) => (shared && !f.includes('/tty/') ? `$share/outpost/${f}` : f));
  const granted = await client.subscribeAsync(filters, { qos: 1 });
  const refused = granted.filter((g) => g.qos === 128);
  if (refused.length > 0) throw new Error(`broker refused subscriptions: ${refused.map((g) => g.topic).join(', ')}`);
}

function wrap(client: MqttClient, log: Logger, disconnectDevice: (id: string) => void): BrokerLink {
  const handlers: MessageHandler[] = [];
  client.on('message', (topic, payload, packet) => {
    for (const h of handlers) {
      try {
        h(topic, payload, packet.retain);
      } catch (err) {
        log.error({ err, topic }, 'message handler failed');
      }
    }
  });
  client.on('error', (err) => log.warn({ err: err.message }, 'broker link error'));
  client.on('offline', () => log.warn('broker link offline'));
  return {
    publish: async (topic, payload, opts = {}) => {
      await client.publishAsync(topic, payload, { qos: opts.qos ?? 1, retain: opts.retain ?? false });
    },
    onMessage: (h) => {
      handlers.push(h);
    },
    disconnectDevice,
    close: async () => {
      await client.endAsync(true);
    },
  };
}

/** The part of Aedes' persistence the link reads: retained messages matching filters. */
interface RetainedSource {
  createRetainedStreamCombi(patterns: string[]): Readable;
}

const asBuffer = (payload: string | Buffer | undefined): Buffer =>
  Buffer.isBuffer(payload) ? payload : Buffer.from(payload ?? '');

/**
 * Links the server to its embedded broker in-process. It behaves as the MQTT client it
 * replaces did (clean session, MQTT 3.1.1, subscribed to `serverSubscriptions`, the
 * server principal's ACL: everything allowed): publishes enter Aedes exactly as a
 * client's PUBLISH does after its PUBACK (retained store, offline queues of persistent
 * sessions, delivery to subscribers), and live messages reach the handlers with
 * `retained` false, retained ones (once the first handler is there) with `retained` true. A
 * publish resolves once Aedes has taken the message (QoS 1: queued for every
 * subscriber), the in-process equivalent of the PUBACK. Payloads are handed over
 * without copies: handlers must not modify them (they never did).
 */
export async function linkEmbedded(broker: EmbeddedBroker, log: Logger): Promise<BrokerLink> {
  const { aedes } = broker;
  const handlers: MessageHandler[] = [];
  let closed = false;
  const dispatch = (topic: string, payload: Buffer, retained: boolean): void => {
    for (const h of handlers) {
      try {
        h(topic, payload, retained);
      } catch (err) {
        log.error({ err, topic }, 'message handler failed');
      }
    }
  };
  const deliver = (packet: AedesPublishPacket, done: () => void): void => {
    if (!closed) dispatch(packet.topic, asBuffer(packet.payload), false);
    done();
  };
  const filters = [...serverSubscriptions];
  await Promise.all(filters.map((f) => new Promise<void>((resolve) => aedes.subscribe(f, deliver, resolve))));
  // As a broker does on SUBSCRIBE: what devices left retained (their status) arrives once, flagged.
  // The server registers its handler a few awaits after linking, so the store is read then: what
  // it holds is at least as new as any live message sent before, and a live one sent since is newer.
  const persistence = (aedes as unknown as { persistence: RetainedSource }).persistence;
  let retainedSent = false;
  const sendRetained = async (): Promise<void> => {
    const stream = persistence.createRetainedStreamCombi(filters) as AsyncIterable<AedesPublishPacket>;
    for await (const packet of stream) if (!closed) dispatch(packet.topic, asBuffer(packet.payload), true);
  };
  return {
    publish: (topic, payload, opts = {}) =>
      new Promise<void>((resolve, reject) => {
        if (closed) return reject(new Error('broker link closed'));
        // What Aedes checks on a client's PUBLISH; aedes.publish itself only counts levels.
        if (topic.length === 0 || topic.includes('+') || topic.includes('#')) {
          return reject(new Error(`invalid topic for a publish: ${topic.slice(0, 200)}`));
        }
        const packet: PublishPacket = {
          cmd: 'publish',
          topic,
          payload: asBuffer(payload),
          qos: opts.qos ?? 1,
          retain: opts.retain ?? false,
          dup: false,
        };
        aedes.publish(packet, (err) => (err ? reject(err) : resolve()));
      }),
    onMessage: (h) => {
      handlers.push(h);
      if (retainedSent) return;
      retainedSent = true;
      setImmediate(() => {
        sendRetained().catch((err: unknown) => log.error({ err }, 'reading retained messages failed'));
      });
    },
    disconnectDevice: (id) => broker.disconnect(id),
    close: async () => {
      if (closed) return;
      closed = true;
      await Promise.all(filters.map((f) => new Promise<void>((resolve) => aedes.unsubscribe(f, deliver, resolve))));
    },
  };
}

/** Links the server to an external broker; replicas share device traffic with `$share/outpost/`. */
export async function linkExternal(
  url: string,
  auth: { username: string | null; password: string | null; ca?: string },
  log: Logger,
): Promise<BrokerLink> {
  const client = mqtt.connect(url, {
    clientId: `outpost-server-${randomBytes(6).toString('hex')}`,
    username: auth.username ?? undefined,
    password: auth.password ?? undefined,
    clean: true,
    reconnectPeriod: 2000,
    protocolVersion: 5,
    ...(auth.ca ? { ca: auth.ca } : {}),
  });
  await connected(client);
  await subscribeAll(client, true);
  client.on('connect', () => {
    subscribeAll(client, true).catch((err: unknown) => log.error({ err }, 'resubscribe failed'));
  });
  return wrap(client, log, (id) =>
    log.warn({ deviceId: id }, 'cannot drop a device connection on an external broker yet'),
  );
}
