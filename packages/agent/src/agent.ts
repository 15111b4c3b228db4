/**
 * The agent core: resolves the device identity (enrolling once if needed), then
 * runs the device session (docs/protocol.md §Connecting): subscribe, announce a
 * retained `status`, heartbeat, route commands, and on stop leave a retained
 * offline status behind. Used by the CLI and in-process by tests and the simulator.
 */
import { readFileSync } from 'node:fs';
import { type DeviceStatus, PROTOCOL_VERSION, parseTopic, type Telemetry, topics } from '@outpost/protocol';
import type { BackoffOptions } from './backoff.js';
import { type Capability, createCapabilities } from './capabilities/index.js';
import { systemUptime } from './capabilities/system.js';
import { type AgentConfig, ConfigError, checkServerUrl } from './config.js';
import { DeviceConnection } from './connection.js';
import { newDeviceKey, readDeviceCredentials, writeDeviceCredentials } from './credentials.js';
import { enroll } from './enroll.js';
import { collectFacts } from './facts.js';
import { CommandJournal, type JournalLimits } from './journal.js';
import { createLogger, type Logger, redactUrl } from './log.js';
import { LineRing, ringSink } from './log-ring.js';
import { MetricsSampler } from './metrics/sampler.js';
import { CommandRouter } from './router.js';
import { ensureStateDir, type Identity, identityPath, readIdentity, writeIdentity } from './state.js';
import { AgentStreams } from './streams.js';
import { AGENT_VERSION } from './version.js';

export interface AgentOptions {
  log?: Logger;
  /** Replaces the built-in capabilities (the simulator's fake OS backends). */
  capabilities?: Capability[];
  /** Reconnect and enrollment retry backoff (default 1 s doubling to 60 s). */
  backoff?: BackoffOptions;
  /** Aborts a start that is still enrolling. */
  signal?: AbortSignal;
  /** How often a pending device retries its subscription (default 30 s). */
  subscribeRetryMs?: number;
  journalLimits?: JournalLimits;
  /**
   * The ring of the agent's own log records (`logs/read` source `agent`): main.ts passes
   * the one its logger feeds. Default: a new ring, fed by the default logger (a logger
   * passed without a ring leaves it empty).
   */
  agentLog?: LineRing;
  /**
   * Takes the metrics sample each heartbeat carries (docs/metrics.md); default: a
   * MetricsSampler over this machine's /proc and /sys. `null` sends heartbeats without metrics.
   */
  metrics?: Pick<MetricsSampler, 'prime' | 'sample'> | null;
}

export interface AgentHandle {
  readonly deviceId: string;
  /** Whether the MQTT link is up right now. */
  readonly connected: boolean;
  /** Whether the server granted the command subscription (the device is accepted). */
  readonly accepted: boolean;
  /** Kills running commands, publishes the retained offline status, disconnects. Idempotent. */
  stop(): Promise<void>;
}

/** How long stop() waits for running commands to answer after they were told to stop. */
const SHUTDOWN_GRACE_MS = 5000;

function readCa(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigError(`cannot read CA file ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

/** The stored identity, or a new one from enrollment when a token is configured. */
async function resolveIdentity(
  config: AgentConfig,
  options: AgentOptions,
  log: Logger,
  ca?: Buffer,
): Promise<Identity> {
  let existing: Identity | undefined;
  try {
    existing = readIdentity(config.stateDir);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  if (existing) {
    if (config.enrollToken)
      log.info('already enrolled; ignoring the enrollment token', { deviceId: existing.deviceId });
    if ((existing.auth ?? 'secret') !== config.auth)
      log.info('already enrolled; the authentication chosen at enrollment stays', { auth: existing.auth ?? 'secret' });
    return existing;
  }
  if (!config.enrollToken) {
    throw new ConfigError(
      `not enrolled: ${identityPath(config.stateDir)} does not exist; pass --enroll TOKEN (or OUTPOST_AGENT_ENROLL_TOKEN)`,
    );
  }
  if (!config.server) throw new ConfigError('no server to enroll with: pass --server URL');
  // The private key stays in memory until the server has certified it, then goes to device.key only.
  const key = config.auth === 'certificate' ? await newDeviceKey() : undefined;
  const result = await enroll({
    server: config.server,
    token: config.enrollToken,
    facts: collectFacts(),
    protocolVersion: config.protocolVersion,
    log,
    ...(key ? { publicKey: key.publicKey } : {}),
    ...(ca ? { ca } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.backoff ? { backoff: options.backoff } : {}),
  });
  const common = { server: config.server, deviceId: result.deviceId, enrolledAt: new Date().toISOString() };
  let identity: Identity;
  if (result.certificate !== undefined && key) {
    writeDeviceCredentials(config.stateDir, key.privateKey, result.certificate);
    identity = { ...common, auth: 'certificate' };
  } else if (result.secret !== undefined) {
    identity = { ...common, secret: result.secret };
  } else {
    throw new ConfigError('enrollment returned no usable credential');
  }
  // Written last: identity.json marks a finished enrollment.
  writeIdentity(config.stateDir, identity);
  log.info(
    result.status === 'pending'
      ? 'enrolled; an operator must accept this device before it gets commands'
      : 'enrolled and accepted',
    { deviceId: identity.deviceId },
  );
  return identity;
}

/**
 * Starts the agent. Resolves once the identity is known and the connection loop
 * runs (not necessarily connected: a server that is down is retried forever).
 * Rejects with ConfigError or EnrollmentRejected for problems a retry cannot fix.
 */
export async function startAgent(config: AgentConfig, options: AgentOptions = {}): Promise<AgentHandle> {
  const agentLog = options.agentLog ?? new LineRing(config.agentLogBytes);
  const log = options.log ?? createLogger({ level: config.logLevel, sink: ringSink(agentLog) });
  ensureStateDir(config.stateDir);
  const ca = config.ca ? readCa(config.ca) : undefined;
  const identity = await resolveIdentity(config, options, log, ca);
  const deviceId = identity.deviceId;
  const server = config.server ?? identity.server;
  checkServerUrl(server, config.allowInsecure, identity.auth ?? 'secret');
  const dlog = log.child({ deviceId });
  let credential: { password: string } | { key: Buffer; cert: Buffer };
  if (identity.auth === 'certificate') {
    try {
      credential = readDeviceCredentials(config.stateDir, deviceId, dlog);
    } catch (err) {
      throw new ConfigError((err as Error).message);
    }
  } else {
    credential = { password: identity.secret };
  }
  const journal = new CommandJournal(config.stateDir, dlog, options.journalLimits);
  const statusTopic = topics.status(deviceId);

  let session = 0;
  let accepted = false;
  /** The current session's subscription was refused: the device is pending (or rejected). */
  let pending = false;
  let stopping: Promise<void> | undefined;
  let heartbeat: NodeJS.Timeout | undefined;
  let retry: NodeJS.Timeout | undefined;
  const clearTimers = (): void => {
    clearInterval(heartbeat);
    clearTimeout(retry);
    heartbeat = undefined;
    retry = undefined;
  };

  const capabilities = options.capabilities ?? createCapabilities();
  // Stream frames go at QoS 0: the stream layer acknowledges and resends them itself.
  const streams = new AgentStreams({
    deviceId,
    publish: (topic, payload) => connection.publishFrame(topic, payload),
    log: dlog,
    graceMs: config.streamGrace * 1000,
  });
  const router = new CommandRouter({
    deviceId,
    capabilities,
    journal,
    publish: (topic, payload, qos) => void connection.publish(topic, payload, qos),
    log: dlog,
    config,
    streams,
  });

  const online = (since: number): string => {
    const status: DeviceStatus = {
      online: true,
      since,
      agentVersion: AGENT_VERSION,
      protocol: PROTOCOL_VERSION,
      heartbeat: config.heartbeat,
      facts: collectFacts(),
    };
    return JSON.stringify(status);
  };

  const sampler = options.metrics === undefined ? new MetricsSampler() : options.metrics;
  /** A sample still being taken (a slow statfs): later heartbeats go out without metrics meanwhile. */
  let sampling = false;
  let samplingFailed = false;
  const sendTelemetry = async (current: number): Promise<void> => {
    let metrics: Telemetry['metrics'];
    if (sampler && !sampling) {
      sampling = true;
      try {
        metrics = await sampler.sample();
        samplingFailed = false;
      } catch (err) {
        // Logged once per run of failures: a device without /proc must not flood its log.
        if (!samplingFailed) dlog.warn('metrics sample failed; heartbeats go out without metrics', { err });
        samplingFailed = true;
      } finally {
        sampling = false;
      }
    }
    if (current !== session || stopping) return;
    const sample: Telemetry = { ts: Date.now(), uptime: systemUptime(), ...(metrics ? { metrics } : {}) };
    void connection.publish(topics.telemetry(deviceId), JSON.stringify(sample), 0);
  };

  const startHeartbeat = (): void => {
    clearInterval(heartbeat);
    const current = session;
    // The first heartbeat's shares and rates cover the whole interval from here.
    try {
      sampler?.prime();
    } catch {
      // No /proc: the first sample says so.
    }
    heartbeat = setInterval(() => void sendTelemetry(current), config.heartbeat * 1000);
  };

  /**
   * Subscribe first, then announce `online` (docs/protocol.md §Connecting): the server
   * sends queued commands on seeing it, and they would be lost before the subscription.
   * A refused subscription means pending: retry it, and announce again once granted.
   */
  const subscribe = async (current: number, since: number, first: boolean): Promise<void> => {
    let granted: boolean;
    try {
      granted = await connection.subscribe(topics.agentSubscriptions(deviceId));
    } catch (err) {
      dlog.debug('subscription not completed', { err });
      return;
    }
    if (current !== session || stopping) return;
    if (first || granted) await connection.publishNow(statusTopic, online(since), 1, true);
    if (current !== session || stopping) return;
    accepted = granted;
    pending = !granted;
    if (granted) {
      dlog.info(first ? 'ready for commands' : 'device accepted; ready for commands');
      connection.openOutbox();
      streams.linkUp();
      startHeartbeat();
      return;
    }
    if (first) dlog.warn('waiting for an operator to accept this device');
    retry = setTimeout(() => void subscribe(current, since, false), options.subscribeRetryMs ?? 30_000);
  };

  const connection = new DeviceConnection({
    link: {
      url: server,
      clientId: deviceId,
      username: deviceId,
      // A certificate device sends no password: the broker identifies it by its certificate.
      ...credential,
      protocolVersion: config.protocolVersion,
      ...(ca ? { ca } : {}),
    },
    will: { topic: statusTopic, payload: () => JSON.stringify({ online: false, since: Date.now() }) },
    log: dlog,
    onConnect: (since) => {
      clearTimers();
      accepted = false;
      pending = false;
      void subscribe(++session, since, true);
    },
    onDisconnect: () => {
      session++;
      accepted = false;
      clearTimers();
      // The server drops a pending device's link when an operator accepts it: come back at once.
      if (pending) connection.resetBackoff();
      pending = false;
      streams.linkDown();
    },
    onMessage: (topic, payload) => {
      if (streams.deliver(topic, payload)) return;
      const parsed = parseTopic(topic);
      if (parsed?.kind === 'tty') streams.handle(topic, payload, parsed);
      else router.handle(topic, payload);
    },
    ...(options.backoff ? { backoff: options.backoff } : {}),
  });

  dlog.info('starting', {
    server: redactUrl(server),
    agentVersion: AGENT_VERSION,
    heartbeat: config.heartbeat,
    auth: identity.auth ?? 'secret',
  });
  if (/^(mqtt|ws):/i.test(server))
    dlog.warn('plain-text connection: the device secret crosses the network unencrypted');
  // Capabilities with a lifecycle (supervised apps) run whether or not the server is reachable.
  for (const c of capabilities) {
    if (!c.start) continue;
    try {
      await c.start({ config, log: dlog.child({ capability: c.name }), agentLog });
    } catch (err) {
      dlog.error('capability failed to start', { capability: c.name, err });
    }
  }
  const stopCapabilities = async (): Promise<void> => {
    await Promise.all(
      capabilities.map(async (c) => {
        try {
          await c.stop?.();
        } catch (err) {
          dlog.error('capability failed to stop', { capability: c.name, err });
        }
      }),
    );
  };
  connection.start();

  return {
    deviceId,
    get connected() {
      return connection.connected;
    },
    get accepted() {
      return accepted && connection.connected;
    },
    stop(): Promise<void> {
      stopping ??= (async () => {
        dlog.info('stopping');
        session++;
        clearTimers();
        await Promise.all([router.shutdown(SHUTDOWN_GRACE_MS), stopCapabilities()]);
        streams.close();
        const offline: DeviceStatus = { online: false, since: Date.now() };
        await connection.stop({ topic: statusTopic, payload: JSON.stringify(offline) });
        dlog.info('stopped');
      })();
      return stopping;
    },
  };
}
