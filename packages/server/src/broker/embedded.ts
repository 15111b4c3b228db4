/**
 * The embedded broker (Aedes): MQTT over TLS, MQTT over WebSocket (handed in by
 * the HTTP server at /mqtt) and an optional plain listener when asked for. Device
 * authentication and topic ACLs are enforced here, in Aedes' hooks. The TLS
 * listener asks for client certificates; only it can authenticate a device by one.
 */
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createServer as createTlsServer, type TLSSocket, type Server as TlsServer } from 'node:tls';
import { ENROLL_USERNAME, isValidId, MAX_PAYLOAD_BYTES } from '@outpost/protocol';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import type { Logger } from '../log.js';
import { certFingerprint } from '../tls/ca.js';
import { canPublish, canSubscribe, type Principal } from './acl.js';
import type { VerifiedClientCert } from './device-auth.js';

/** Looks a connecting client up; supplied by the server (devices and enrollment tokens live in the store). */
export interface BrokerAuthority {
  /** `cert` is set when the connection presented a client certificate the Outpost CA verified. */
  authenticateDevice(deviceId: string, secret: string, cert?: VerifiedClientCert): Promise<Principal | null>;
  checkEnrollmentToken(token: string): Promise<{ ok: boolean; reason?: string }>;
}

/** What a TLS client presented at the handshake: nothing (no entry), a verified certificate, or one that failed. */
type PresentedCert = ({ verified: true } & VerifiedClientCert) | { verified: false; reason: string };

function presentedCert(socket: TLSSocket): PresentedCert | undefined {
  const peer = socket.getPeerCertificate();
  if (!peer || Object.keys(peer).length === 0) return undefined;
  if (!socket.authorized) {
    return { verified: false, reason: `client certificate not verified (${String(socket.authorizationError)})` };
  }
  // Node gives an array when the subject has several CNs: such a certificate names no single device.
  const cn: unknown = peer.subject?.CN;
  if (typeof cn !== 'string') return { verified: false, reason: 'client certificate has no single CN' };
  return { verified: true, certFingerprint: certFingerprint(peer.raw), certCN: cn };
}

// Aedes keeps no per-client slot for our data; a WeakMap keeps the principal beside the client.
const principals = new WeakMap<Client, Principal>();
const MAX_PACKET_BYTES = MAX_PAYLOAD_BYTES + 64 * 1024;

function authError(message: string, returnCode: 4 | 5): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError;
}

export interface EmbeddedBroker {
  aedes: Aedes;
  /** Serves one connection (a TLS socket or a WebSocket stream). The server itself attaches in-process (link.ts). */
  handle(conn: Duplex): void;
  listen(port: number, host: string): Promise<number>;
  listenPlain(port: number, host: string): Promise<number>;
  disconnect(clientId: string): void;
  close(): Promise<void>;
}

export async function createEmbeddedBroker(opts: {
  authority: BrokerAuthority;
  /** `clientCa`: the CA that issues device certificates; when set, the TLS listener asks clients for one. */
  tls: { key: string; cert: string; clientCa?: string };
  log: Logger;
}): Promise<EmbeddedBroker> {
  const { authority, log } = opts;
  const certs = new WeakMap<object, PresentedCert>();
  /**
   * Device clients between their CONNECT and their registration in Aedes, by client
   * id. A disconnect (revoke, delete...) in that window marks them, and they are
   * refused or closed when they get there: the store was read before the change.
   */
  const connecting = new Map<string, Set<Client>>();
  const kicked = new WeakSet<Client>();
  const settle = (client: Client) => {
    const set = connecting.get(client.id);
    set?.delete(client);
    if (set?.size === 0) connecting.delete(client.id);
  };
  const aedes = new Aedes({
    id: 'outpost-embedded',
    // Small fleets on slow links: long keepalives are fine, but a handshake must not hang forever.
    connectTimeout: 30_000,
    authenticate(client, username, password, done) {
      const pw = password?.toString('utf8') ?? '';
      const conn = client.conn as object;
      const reject = (reason: string, code: 4 | 5 = 5) => {
        log.warn({ clientId: String(client.id).slice(0, 80), reason }, 'mqtt connection refused');
        done(authError(reason, code), false);
      };
      const cert = certs.get(conn);
      // A certificate that fails verification authenticates no one, not even with a password.
      if (cert && !cert.verified) return reject(cert.reason);
      if (username === ENROLL_USERNAME) {
        if (cert) return reject('a device certificate cannot enroll');
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
      const pending = connecting.get(username) ?? new Set<Client>();
      connecting.set(username, pending.add(client));
      (conn as Duplex).once('close', () => settle(client));
      const verified = cert ? { certFingerprint: cert.certFingerprint, certCN: cert.certCN } : undefined;
      authority.authenticateDevice(username, pw, verified).then(
        (p) => {
          if (!p) {
            settle(client);
            return reject(cert ? 'client certificate does not identify this device' : 'bad device credentials', 4);
          }
          if (kicked.has(client)) {
            settle(client);
            return reject('device standing changed while it was connecting', 5);
          }
          principals.set(client, p);
          done(null, true);
        },
        (err: unknown) => {
          settle(client);
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

  aedes.on('client', (client) => {
    settle(client);
    if (kicked.has(client)) client.close();
  });
  aedes.on('clientError', (client, err) => {
    log.debug({ clientId: String(client?.id ?? '').slice(0, 80), err: err.message }, 'mqtt client error');
  });
  aedes.on('connectionError', (_client, err) => {
    log.debug({ err: err.message }, 'mqtt connection error');
  });

  function handle(conn: Duplex): void {
    const client = aedes.handle(conn) as Client & { _parser?: ParserLike };
    if (client._parser) limitPacketSize(client._parser, MAX_PACKET_BYTES);
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
      const { clientCa } = opts.tls;
      // Asked, not required: secret devices have no certificate; the hook decides (rejectUnauthorized: false).
      const asked = clientCa ? { requestCert: true, rejectUnauthorized: false, ca: [clientCa] } : {};
      // noDelay: a QoS 1 reply written right after its PUBACK must not wait for a delayed ACK (40 ms).
      const tlsOptions = {
        key: opts.tls.key,
        cert: opts.tls.cert,
        minVersion: 'TLSv1.2' as const,
        noDelay: true,
        ...asked,
      };
      const server = createTlsServer(tlsOptions, (socket) => {
        track(socket);
        // The certificate is judged once, from the handshake; no renegotiation may swap it.
        socket.disableRenegotiation();
        const cert = clientCa ? presentedCert(socket) : undefined;
        if (cert) certs.set(socket, cert);
        handle(socket);
      });
      server.on('tlsClientError', (err) => log.debug({ err: err.message }, 'mqtt tls handshake failed'));
      return start(server, port, host);
    },
    listenPlain: (port, host) => {
      const server = createNetServer({ noDelay: true }, (socket) => {
        track(socket);
        handle(socket);
      });
      return start(server, port, host);
    },
    disconnect(clientId) {
      for (const c of connecting.get(clientId) ?? []) kicked.add(c);
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
