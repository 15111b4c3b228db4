/**
 * A real MQTT broker (Aedes) on a loopback TCP port for the agent's tests, with
 * every publish recorded. Plain TCP: the agent runs with `allowInsecure`.
 */
import net, { type AddressInfo, type Socket } from 'node:net';
import type { Aedes, AedesOptions, AedesPublishPacket, Client } from 'aedes';

export interface Recorded {
  topic: string;
  payload: Buffer;
  retain: boolean;
  qos: number;
  /** The publishing client, undefined for broker-originated messages (wills, broker.publish). */
  clientId: string | undefined;
  json: () => unknown;
}

export interface TestBroker {
  broker: Aedes;
  port: number;
  url: string;
  /** Every publish seen, in order. */
  messages: Recorded[];
  /** Every subscription granted, in order, with its client. */
  subscriptions: { clientId: string; topic: string }[];
  /** Subscriptions and publishes in the order the broker saw them: `sub <topic>` / `pub <topic>`. */
  timeline: string[];
  /** Messages on `topic` (exact). */
  on(topic: string): Recorded[];
  /** Publishes as the server would (QoS 1). */
  publish(topic: string, payload: unknown): Promise<void>;
  close(): Promise<void>;
}

/** A free loopback port (nothing listens on it when this returns). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export async function startBroker(options: { port?: number; hooks?: AedesOptions } = {}): Promise<TestBroker> {
  const { Aedes } = await import('aedes');
  const broker = await Aedes.createBroker(options.hooks ?? {});
  const messages: Recorded[] = [];
  const subscriptions: TestBroker['subscriptions'] = [];
  const timeline: string[] = [];
  broker.on('publish', (packet: AedesPublishPacket, client: Client | null) => {
    if (packet.topic.startsWith('$SYS')) return;
    const payload = Buffer.from(packet.payload);
    timeline.push(`pub ${packet.topic}`);
    messages.push({
      topic: packet.topic,
      payload,
      retain: packet.retain,
      qos: packet.qos,
      clientId: client?.id,
      json: () => JSON.parse(payload.toString('utf8')),
    });
  });
  broker.on('subscribe', (subs, client) => {
    for (const s of subs) {
      subscriptions.push({ clientId: client.id, topic: s.topic });
      timeline.push(`sub ${s.topic}`);
    }
  });
  const sockets = new Set<Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    broker.handle(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    broker,
    port,
    url: `mqtt://127.0.0.1:${port}`,
    messages,
    subscriptions,
    timeline,
    on: (topic) => messages.filter((m) => m.topic === topic),
    publish: (topic, payload) =>
      new Promise<void>((resolve, reject) => {
        broker.publish(
          {
            cmd: 'publish',
            topic,
            payload: Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload)),
            qos: 1,
            retain: false,
            dup: false,
          },
          (err) => (err ? reject(err) : resolve()),
        );
      }),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await new Promise<void>((resolve) => broker.close(() => resolve()));
    },
  };
}
