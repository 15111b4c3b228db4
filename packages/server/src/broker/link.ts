/**
 * The server's one connection to the broker: an MQTT.js client, in-process to the
 * embedded broker or over the network to an external one (Mosquitto, EMQX). All
 * device traffic the server sends or receives goes through here.
 */
import { randomBytes } from 'node:crypto';
import { serverSubscriptions } from '@outpost/protocol';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from '../log.js';
import { duplexPair } from './duplex.js';
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
  const filters = serverSubscriptions.map((f) => (shared ? `$share/outpost/${f}` : f));
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

/** Links the server to its embedded broker through an in-memory stream: no port, no TLS needed. */
export async function linkEmbedded(
  broker: EmbeddedBroker,
  credential: { username: string; password: string },
  log: Logger,
): Promise<BrokerLink> {
  const options: IClientOptions = {
    clientId: `outpost-server-${randomBytes(6).toString('hex')}`,
    username: credential.username,
    password: credential.password,
    clean: true,
    keepalive: 0,
    reconnectPeriod: 0,
    protocolVersion: 4,
  };
  const client = new mqtt.MqttClient(() => {
    const [serverSide, clientSide] = duplexPair();
    broker.handle(serverSide, true);
    return clientSide;
  }, options);
  await connected(client);
  await subscribeAll(client, false);
  return wrap(client, log, (id) => broker.disconnect(id));
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
