/**
 * `outpost server`: wires config, store, TLS, broker, services and HTTP together,
 * and takes them down again in reverse order.
 */
import { chmodSync, mkdirSync, readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { join } from 'node:path';
import { DEFAULT_HEARTBEAT_SECONDS, topics } from '@outpost/protocol';
import { createWebSocketStream } from 'ws';
import { authenticateDevice } from './broker/device-auth.js';
import { createEmbeddedBroker, type EmbeddedBroker } from './broker/embedded.js';
import { type BrokerLink, linkEmbedded, linkExternal } from './broker/link.js';
import { Bus } from './bus.js';
import { loadConfig, type ServerConfig, type ServerOptions } from './config.js';
import { buildApp } from './http/app.js';
import { createLogger, type Logger } from './log.js';
import { assertPrivateFile } from './secrets.js';
import { ApiTokenService } from './services/api-tokens.js';
import { AuditService } from './services/audit.js';
import { CommandService } from './services/commands.js';
import { DeviceService } from './services/devices.js';
import { EnrollmentService } from './services/enrollment.js';
import { ForwardService } from './services/forwards.js';
import type { Services } from './services/index.js';
import { startIngest } from './services/ingest.js';
import { MetricsService } from './services/metrics.js';
import { RateLimiter } from './services/rate-limit.js';
import { ScriptService } from './services/scripts.js';
import { SessionService } from './services/sessions.js';
import { StreamService } from './services/streams.js';
import { TerminalService } from './services/terminal.js';
import { UserService } from './services/users.js';
import { openDatabase } from './store/db.js';
import { deviceCertIssuer, ensureTls } from './tls/ca.js';

export interface OutpostServer {
  config: ServerConfig;
  httpUrl: string;
  mqttUrl: string;
  /** MQTT over WebSocket on the HTTPS port; null with an external broker. */
  wsUrl: string | null;
  caFile: string;
  adminTokenFile: string;
  dataDir: string;
  httpPort: number;
  mqttPort: number;
  plainMqttPort: number | null;
  /** Plain-HTTP port on 127.0.0.1, when asked for. */
  insecureHttpPort: number | null;
  services: Services;
  log: Logger;
  close(): Promise<void>;
}

export async function startServer(
  options: ServerOptions & { logDestination?: NodeJS.WritableStream } = {},
): Promise<OutpostServer> {
  const { logDestination, ...rest } = options;
  const config = loadConfig(rest);
  const log = createLogger(config.logLevel, logDestination);
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  // The database and keys live here: nobody else may even list it, whatever the umask made.
  chmodSync(config.dataDir, 0o700);
  const tlsDir = join(config.dataDir, 'tls');
  const adminTokenFile = join(config.dataDir, 'admin-token');
  for (const f of [adminTokenFile, join(tlsDir, 'ca.key'), join(tlsDir, 'server.key')]) assertPrivateFile(f);

  const tls = ensureTls(tlsDir, config.hostname);
  const httpsMaterial =
    config.tlsCert && config.tlsKey
      ? { key: readFileSync(config.tlsKey, 'utf8'), cert: readFileSync(config.tlsCert, 'utf8') }
      : { key: tls.key, cert: tls.cert };

  const db = await openDatabase(config.database, config.dataDir);
  const bus = new Bus();
  const limiters = {
    account: new RateLimiter(5, 15 * 60_000),
    ip: new RateLimiter(30, 15 * 60_000),
    invite: new RateLimiter(10, 15 * 60_000),
  };
  const audit = new AuditService(db);
  const users = new UserService(db, log, limiters.invite);
  const sessionPolicy = { idleSeconds: config.sessionIdle, absoluteSeconds: config.sessionMax };
  const sessions = new SessionService(db, users, log, limiters, sessionPolicy);
  const tokens = new ApiTokenService(db, users, log);
  const devices = new DeviceService(db, bus, log);
  // Device client certificates always come from the Outpost CA, even with a bring-your-own HTTPS certificate.
  const enrollment = new EnrollmentService(db, devices, audit, log, deviceCertIssuer(tls));
  await tokens.bootstrapAdmin(adminTokenFile);

  let broker: EmbeddedBroker | null = null;
  let link: BrokerLink;
  let mqttPort = 0;
  let plainMqttPort: number | null = null;
  if (config.broker === 'embedded') {
    broker = await createEmbeddedBroker({
      log,
      // One certificate for every listener: bring-your-own applies to MQTT over TLS too.
      // Client certificates are verified against the Outpost CA whichever certificate the server shows.
      tls: { ...httpsMaterial, clientCa: tls.ca },
      authority: {
        // Read on every CONNECT: a revoked or deleted device is refused at once (broker/device-auth.ts).
        authenticateDevice: async (deviceId, secret, cert) =>
          authenticateDevice(await devices.row(deviceId), deviceId, secret, cert),
        async checkEnrollmentToken(token) {
          const r = await enrollment.check(token);
          return r.ok ? { ok: true } : { ok: false, reason: r.reason };
        },
      },
    });
    mqttPort = await broker.listen(config.mqttPort, config.host);
    if (config.insecurePlainMqtt !== null) {
      plainMqttPort = await broker.listenPlain(config.insecurePlainMqtt, config.host);
      log.warn(
        { port: plainMqttPort },
        'plain-text MQTT listener is ON (--insecure-plain-mqtt): credentials cross the network unencrypted',
      );
    }
    link = await linkEmbedded(broker, log);
  } else {
    link = await linkExternal(
      config.broker,
      {
        username: config.brokerUsername,
        password: config.brokerPassword,
        ...(config.brokerCa ? { ca: readFileSync(config.brokerCa, 'utf8') } : {}),
      },
      log,
    );
  }

  const commands = new CommandService(db, devices, link, bus, log, config.commandTtl);
  const metrics = new MetricsService(db, devices, log, config.metricsRetention);
  const streams = new StreamService(link, commands, devices, bus, log, {
    graceMs: config.streamGrace * 1000,
    exclusive: config.broker === 'embedded',
  });
  const services: Services = {
    tokens,
    users,
    sessions,
    sessionPolicy,
    audit,
    devices,
    enrollment,
    commands,
    metrics,
    streams,
    terminal: new TerminalService(db, streams, devices, audit, log, {
      dataDir: config.dataDir,
      recording: config.terminalRecording,
    }),
    forwards: new ForwardService(streams, audit, log),
    scripts: new ScriptService(db, log),
    endpoints: { mqttUrl: '', wsUrl: null },
  };
  bus.on('device.disconnect', (id) => link.disconnectDevice(id));
  bus.on('device.disconnect', (id) => {
    devices
      .markOffline(id, 'disconnected by the server')
      .catch((err: unknown) => log.error({ err }, 'mark offline failed'));
  });
  bus.on('device.deleted', (id) => {
    // Clear the retained status so a deleted device leaves nothing behind on the broker.
    link
      .publish(topics.status(id), '', { retain: true })
      .catch((err: unknown) => log.error({ err }, 'clearing retained status failed'));
  });

  for (const d of await devices.list({ online: true })) await devices.markOffline(d.id, 'server restarted');
  startIngest({
    link,
    devices,
    commands,
    streams,
    enrollment,
    metrics,
    log,
  });
  metrics.start();

  const app = await buildApp({
    services,
    log,
    https: httpsMaterial,
    ...(broker
      ? {
          onMqttSocket: (socket) => {
            const b = broker as EmbeddedBroker;
            b.handle(createWebSocketStream(socket));
          },
        }
      : {}),
  });
  await app.listen({ port: config.httpPort, host: config.host });
  const addr = app.server.address();
  const httpPort = typeof addr === 'object' && addr ? addr.port : config.httpPort;
  // Plain HTTP exists only when asked for, and only on loopback (e.g. behind a local TLS proxy).
  let plainHttp: HttpServer | null = null;
  let insecureHttpPort: number | null = null;
  if (config.insecureHttp !== null) {
    const listener = createHttpServer((req, res) => app.routing(req, res));
    plainHttp = listener;
    insecureHttpPort = await new Promise<number>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen(config.insecureHttp ?? 0, '127.0.0.1', () => {
        const a = listener.address();
        resolve(typeof a === 'object' && a ? a.port : 0);
      });
    });
    log.warn({ port: insecureHttpPort }, 'plain-HTTP API listener is ON (127.0.0.1 only, --insecure-http)');
  }

  const timers = [
    setInterval(() => {
      commands.sweep().catch((err: unknown) => log.error({ err }, 'command sweep failed'));
      devices
        .sweepSilent(config.missedHeartbeats, DEFAULT_HEARTBEAT_SECONDS)
        .catch((err: unknown) => log.error({ err }, 'presence sweep failed'));
      for (const l of Object.values(limiters)) l.sweep();
    }, 1000),
  ];
  const pruneCommands = () =>
    commands
      .prune(Date.now() - config.commandRetentionDays * 86_400_000)
      .catch((err: unknown) => log.error({ err }, 'command pruning failed'));
  timers.push(setInterval(pruneCommands, 3_600_000));
  void pruneCommands();
  for (const t of timers) t.unref();

  const publicHost = config.hostname[0] ?? 'localhost';
  const server: OutpostServer = {
    config,
    httpUrl: `https://${publicHost}:${httpPort}`,
    mqttUrl: broker ? `mqtts://${publicHost}:${mqttPort}` : config.broker,
    wsUrl: broker ? `wss://${publicHost}:${httpPort}/mqtt` : null,
    caFile: tls.caFile,
    adminTokenFile,
    dataDir: config.dataDir,
    httpPort,
    mqttPort,
    plainMqttPort,
    insecureHttpPort,
    services,
    log,
    close: async () => {
      for (const t of timers) clearInterval(t);
      await metrics.stop();
      streams.close();
      if (plainHttp) {
        const h = plainHttp;
        h.closeAllConnections();
        await new Promise<void>((r) => h.close(() => r()));
      }
      await app.close();
      await link.close();
      if (broker) await broker.close();
      await db.destroy();
      log.info('server stopped');
    },
  };
  services.endpoints = { mqttUrl: server.mqttUrl, wsUrl: server.wsUrl };
  log.info(
    {
      api: server.httpUrl,
      mqtt: server.mqttUrl,
      ws: server.wsUrl,
      dataDir: config.dataDir,
      adminTokenFile,
      caFile: tls.caFile,
    },
    'outpost server started',
  );
  return server;
}
