/**
 * The raw-MQTT baseline's broker. The embedded broker only lets the server's
 * in-process link publish commands, so no two TLS clients can do a request and
 * a reply through it. This is a second Aedes with what a message meets there:
 * same Aedes version and options, a TLS listener with the server's own key and
 * certificate, the same minimum version, the same (optional) request for a
 * device certificate and TCP_NODELAY, and the same ACL (`canPublish`,
 * `canSubscribe` from @outpost/server) run on every publish and subscription.
 * It lacks the server's authentication lookup, which runs once per CONNECT and
 * never during a round trip.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { canPublish, canSubscribe, type Principal } from '@outpost/server';
import { Aedes, type AuthenticateError, type Client, type PublishPacket } from 'aedes';
import { nextMessage, type Resources } from './proc.js';

const RESPONDER = fileURLToPath(new URL('./responder.js', import.meta.url));

export interface BaselineBroker {
  url: string;
  /** Credentials of a requester the ACL treats as the server. */
  requester: { username: string; password: string };
  /** Adds an accepted device; returns its credentials. */
  addDevice(deviceId: string): { deviceId: string; secret: string };
  /**
   * Publishing and subscribing in this process, as the server's link does with its embedded
   * broker (aedes.publish and aedes.subscribe, no MQTT client and no socket on this side).
   */
  inProcess: {
    publish(topic: string, payload: Buffer): void;
    subscribe(filter: string, onMessage: (payload: Buffer) => void): Promise<void>;
  };
  close(): Promise<void>;
}

export async function startBaselineBroker(tls: {
  key: string;
  cert: string;
  /** The CA of device certificates: asked for, not required, as the embedded broker does. */
  clientCa: string;
}): Promise<BaselineBroker> {
  const requester = { username: 'bench-requester', password: randomBytes(24).toString('base64url') };
  const secrets = new Map<string, string>();
  const principals = new WeakMap<Client, Principal>();
  const refuse = (message: string): AuthenticateError =>
    Object.assign(new Error(message), { returnCode: 4 }) as AuthenticateError;

  const aedes = new Aedes({
    id: 'bench-baseline',
    connectTimeout: 30_000,
    authenticate(client, username, password, done) {
      const pw = password?.toString('utf8') ?? '';
      if (username === requester.username && pw === requester.password) {
        principals.set(client, { kind: 'server' });
        return done(null, true);
      }
      if (username && username === client.id && secrets.get(username) === pw) {
        principals.set(client, { kind: 'device', deviceId: username, status: 'accepted' });
        return done(null, true);
      }
      done(refuse('bad credentials'), false);
    },
    authorizePublish(client, packet, done) {
      if (!client) return done(null);
      const p = principals.get(client);
      const decision = p ? canPublish(p, packet.topic, packet.payload?.length ?? 0, packet.retain) : null;
      done(decision?.ok ? null : new Error(decision && !decision.ok ? decision.reason : 'unauthenticated'));
    },
    authorizeSubscribe(client, sub, done) {
      const p = principals.get(client);
      done(null, p && canSubscribe(p, sub.topic).ok ? sub : null);
    },
  });
  await aedes.listen();

  const sockets = new Set<TLSSocket>();
  const options = {
    key: tls.key,
    cert: tls.cert,
    minVersion: 'TLSv1.2' as const,
    requestCert: true,
    rejectUnauthorized: false,
    ca: [tls.clientCa],
    // As the embedded broker: a reply must not wait for a delayed ACK behind its PUBACK.
    noDelay: true,
  };
  const server: Server = createServer(options, (socket) => {
    socket.disableRenegotiation();
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    aedes.handle(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `mqtts://127.0.0.1:${port}`,
    requester,
    addDevice(deviceId) {
      const secret = `ops_${randomBytes(32).toString('base64url')}`;
      secrets.set(deviceId, secret);
      return { deviceId, secret };
    },
    inProcess: {
      publish(topic, payload) {
        const packet: PublishPacket = { cmd: 'publish', topic, payload, qos: 0, retain: false, dup: false };
        aedes.publish(packet, () => {});
      },
      subscribe: (filter, onMessage) =>
        new Promise<void>((resolve) =>
          aedes.subscribe(
            filter,
            (packet, done) => {
              onMessage(Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload ?? ''));
              done();
            },
            resolve,
          ),
        ),
    },
    async close() {
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await stopped;
    },
  };
}

/**
 * The baseline broker for a bench server whose data dir is `serverDir`: its TLS key and
 * certificate, device certificates from `ca`; closed with the bench's other resources.
 */
export async function startServerBaseline(
  resources: Resources,
  serverDir: string,
  ca: Buffer,
): Promise<BaselineBroker> {
  const broker = await startBaselineBroker({
    key: readFileSync(join(serverDir, 'tls', 'server.key'), 'utf8'),
    cert: readFileSync(join(serverDir, 'tls', 'server.crt'), 'utf8'),
    clientCa: ca.toString('utf8'),
  });
  resources.defer(() => broker.close());
  return broker;
}

/**
 * Adds a device to `broker` and runs it as the responder (responder.ts) in its own process,
 * as a real device runs: it answers `system/ping` and echoes byte-stream frames. Resolves
 * once it is subscribed and online; it is stopped with the bench's other processes.
 */
export async function startResponder(
  resources: Resources,
  broker: BaselineBroker,
  deviceId: string,
  caFile: string,
): Promise<{ deviceId: string }> {
  const creds = broker.addDevice(deviceId);
  const child = resources.fork(RESPONDER, [JSON.stringify({ url: broker.url, caFile, ...creds })]);
  await nextMessage(
    child,
    (m): m is { type: 'ready' } => (m as { type?: string })?.type === 'ready',
    30_000,
    'the responder',
  );
  return { deviceId: creds.deviceId };
}
