/**
 * The embedded broker (Aedes): MQTT over TLS, MQTT over WebSocket (handed in by
 * the HTTP server at /mqtt) and an optional plain listener when asked for. Device
 * authentication and topic ACLs are enforced here, in Aedes' hooks.
 */
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { ENROLL_USERNAME, isValidId, MAX_PAYLOAD_BYTES } from '@outpost/protocol';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import type { Logger } from '../log.js';
import { canPublish, canSubscribe, type Principal } from './acl.js';

/** Looks a connecting client up; supplied by the server (devices and enrollment tokens live in the store). */
export interface BrokerAuthority {
  authenticateDevice(deviceId: string, secret: string): Promise<Principal | null>;
  checkEnrollmentToken(token: string): Promise<{ ok: boolean; reason?: string }>;
}

// Aedes keeps no per-client slot for our data; a WeakMap keeps the principal beside the client.
const principals = new WeakMap<Client, Principal>();
const MAX_PACKET_BYTES = MAX_PAYLOAD_BYTES + 64 * 1024;

function authError(message: string, returnCode: 4 | 5): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError;
}

export interface EmbeddedBroker {
  aedes: Aedes;
  /** Serves one connection (a TLS socket, a WebSocket stream, or the server's in-process link). */
  handle(conn: Duplex, trusted?: boolean): void;
  listen(port: number, host: string): Promise<number>;
  listenPlain(port: number, host: string): Promise<number>;
  disconnect(clientId: string): void;
  close(): Promise<void>;
}

export async function createEmbeddedBroker(opts: {
  authority: BrokerAuthority;
  tls: { key: string; cert: string };
  log: Logger;
  serverCredential: { username: string; password: string };
}): Promise<EmbeddedBroker> {
  const { authority, log, serverCredential } = opts;
  const trustedConns = new WeakSet<object>();
  const aedes = new Aedes({
    id: 'outpost-embedded',
    // Small fleets on slow links: long keepalives are fine, but a handshake must not hang forever.
    connectTimeout: 30_000,
    authenticate(client, username, password, done) {
      const pw = password?.toString('utf8') ?? '';
      const conn = client.conn as object;
      if (trustedConns.has(conn) && username === serverCredential.username && pw === serverCredential.password) {
        principals.set(client, { kind: 'server' });
        return done(null, true);
      }
      const reject = (reason: string, code: 4 | 5 = 5) => {
        log.warn({ clientId: String(client.id).slice(0, 80), reason }, 'mqtt connection refused');
        done(authError(reason, code), false);
      };
      if (username === ENROLL_USERNAME) {
        const nonce = String(client.id).startsWith('enroll-') ? String(client.id).slice(7) : '';
        if (!isValidId(nonce)) return reject('enrolling client id must be enroll-{nonce}');
        authority.checkEnrollmentToken(pw).then(
          (r) => {
            if (!r.ok) return reject(r.reason ?? 'enrollment token rejected');
            principals.set(client, { kind: 'enrolling', nonce });
            done(null, true);
          },
          (err: unknown) => {
            log.error({ err }, 'enrollment token check failed');
            reject('internal error', 5);
          },
        );
        return;
      }
      if (!username || username !== client.id || !isValidId(username))
        return reject('client id must equal the device id', 4);
      authority.authenticateDevice(username, pw).then(
        (p) => {
          if (!p) return reject('bad device credentials', 4);
          principals.set(client, p);
          done(null, true);
        },
        (err: unknown) => {
          log.error({ err }, 'device authentication failed');
          reject('internal error', 5);
        },
      );
    },
    authorizePublish(client, packet, done) {
      if (!client) return done(null); // broker-internal publishes ($SYS, wills are re-checked below)
      const p = principals.get(client);
      const decision = p
        ? canPublish(p, packet.topic, packet.payload?.length ?? 0, packet.retain)
        : { ok: false as const, reason: 'unauthenticated' };
      if (decision.ok) return done(null);
      log.warn(
        { clientId: String(client.id).slice(0, 80), topic: packet.topic.slice(0, 200), reason: decision.reason },
        'mqtt publish denied',
      );
      done(new Error(decision.reason));
    },
    authorizeSubscribe(client, sub, done) {
      const p = principals.get(client);
      const decision = p ? canSubscribe(p, sub.topic) : { ok: false as const, reason: 'unauthenticated' };
      if (decision.ok) return done(null, sub);
      log.warn(
        { clientId: String(client.id).slice(0, 80), filter: sub.topic.slice(0, 200), reason: decision.reason },
        'mqtt subscribe denied',
      );
      done(null, null); // SUBACK 0x80
    },
  });
  await aedes.listen();

  aedes.on('clientError', (client, err) => {
    log.debug({ clientId: String(client?.id ?? '').slice(0, 80), err: err.message }, 'mqtt client error');
  });
  aedes.on('connectionError', (_client, err) => {
    log.debug({ err: err.message }, 'mqtt connection error');
  });

  function handle(conn: Duplex, trusted = false): void {
    if (trusted) trustedConns.add(conn);
    const client = aedes.handle(conn) as Client & { _parser?: ParserLike };
    if (!trusted && client._parser) limitPacketSize(client._parser, MAX_PACKET_BYTES);
  }

  const servers: (TlsServer | NetServer)[] = [];
  const sockets = new Set<Socket>();
  const track = (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
  };
  const start = (server: TlsServer | NetServer, port: number, host: string): Promise<number> =>
    new Promise((resolve, reject) => {
      servers.push(server);
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        const addr = server.address();
        resolve(typeof addr === 'object' && addr ? addr.port : port);
      });
    });

  return {
    aedes,
    handle,
    listen: (port, host) => {
      const server = createTlsServer({ key: opts.tls.key, cert: opts.tls.cert, minVersion: 'TLSv1.2' }, (socket) => {
        track(socket);
        handle(socket);
      });
      server.on('tlsClientError', (err) => log.debug({ err: err.message }, 'mqtt tls handshake failed'));
      return start(server, port, host);
    },
    listenPlain: (port, host) => {
      const server = createNetServer((socket) => {
        track(socket);
        handle(socket);
      });
      return start(server, port, host);
    },
    disconnect(clientId) {
      const client = (aedes as unknown as { clients: Record<string, Client> }).clients[clientId];
      if (client) client.close();
    },
    async close() {
      // net.Server#close waits for open connections, so destroy them after it stops accepting.
      const stopped = Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
      await new Promise<void>((r) => aedes.close(() => r()));
      for (const s of sockets) s.destroy();
      await stopped;
    },
  };
}

interface ParserLike {
  packet: { length: number };
  _parseLength: () => boolean;
  emit(event: 'error', err: Error): boolean;
  error: Error | null;
}

/**
 * mqtt-packet has no maximum packet size, so a client could make the broker buffer
 * gigabytes. Check the declared remaining length as soon as it is parsed and fail
 * the connection before the body is read.
 */
function limitPacketSize(parser: ParserLike, max: number): void {
  const parseLength = parser._parseLength.bind(parser);
  parser._parseLength = () => {
    const done = parseLength();
    if (done && parser.packet.length > max) {
      parser.error = new Error(`packet of ${parser.packet.length} bytes exceeds ${max}`);
      parser.emit('error', parser.error);
      return false;
    }
    return done;
  };
}
