/**
 * A lightweight simulated device: one raw MQTT.js client speaking the real
 * protocol (docs/protocol.md §Connecting, §Enrollment, §Commands) with the
 * simulated backends, without the agent's journal, outbox or reconnect logic.
 * Thousands fit in one process; use the real agent core (agents.ts) for fidelity.
 */
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import {
  CommandRequest,
  type CommandResponse,
  commandSpec,
  type DeviceFacts,
  type DeviceStatus,
  ENROLL_USERNAME,
  EnrollRequest,
  EnrollResponse,
  type ErrorBody,
  type ExecArgs,
  OutpostError,
  PROTOCOL_VERSION,
  parse,
  parseJson,
  parseTopic,
  type Telemetry,
  topics,
} from '@outpost/protocol';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { SIM_AGENT_VERSION, simFacts, simSystemInfo, simulateExec } from './backends.js';

/**
 * Turns Nagle's algorithm off on the client's TCP connection (and again after each
 * reconnect). MQTT.js does not pass `noDelay` on to `tls.connect`, so set it on the socket;
 * a WebSocket stream has no such method (ws sets it itself).
 */
export function setNoDelay(client: MqttClient): void {
  const apply = () => (client.stream as Partial<Socket> | undefined)?.setNoDelay?.(true);
  apply();
  client.on('connect', apply);
}

/** Where a simulated device connects: `mqtts://host:port` or `wss://host:port/mqtt`, and the CA to trust. */
export interface LinkTarget {
  url: string;
  ca?: Buffer;
  /** TCP_NODELAY on the connection (default true, as the agent sets it). */
  noDelay?: boolean;
}

export interface DeviceCredentials {
  deviceId: string;
  secret: string;
}

export interface CommandContext {
  readonly commandId: string;
  /** Publishes an `out/{id}` chunk, in call order. */
  emit(stream: 'stdout' | 'stderr', data: Buffer): void;
}

/** Answers one command's validated args with its result, or throws an OutpostError. */
export type CommandHandler = (args: unknown, ctx: CommandContext) => Promise<unknown>;

/** `system/ping`, `system/info` and `exec/run` on the simulated backends of device number `index`. */
export function defaultHandlers(index: number): Record<string, CommandHandler> {
  const startedAt = Date.now();
  const hostname = simFacts(index).hostname;
  return {
    'system/ping': async () => ({ pong: true, time: Date.now() }),
    'system/info': async () => simSystemInfo(index, startedAt),
    'exec/run': async (args, ctx) => {
      const result = await simulateExec(args as ExecArgs, hostname);
      if (result.stdout) ctx.emit('stdout', Buffer.from(result.stdout));
      if (result.stderr) ctx.emit('stderr', Buffer.from(result.stderr));
      return result;
    },
  };
}

const baseOptions = (target: LinkTarget, timeoutMs: number): IClientOptions => ({
  clean: true,
  reconnectPeriod: 0,
  connectTimeout: timeoutMs,
  resubscribe: false,
  rejectUnauthorized: true,
  protocolVersion: 4,
  ...(target.ca ? { ca: target.ca } : {}),
});

/**
 * Enrolls one device with an enrollment token: connect as `enroll`, send the request on a
 * fresh nonce, wait for the answer. One attempt, bounded by `timeoutMs`; refusals reject.
 */
export function enrollDevice(
  target: LinkTarget,
  token: string,
  facts: DeviceFacts,
  timeoutMs = 30_000,
): Promise<DeviceCredentials & { status: 'accepted' | 'pending' }> {
  const nonce = `n${randomBytes(16).toString('base64url')}`;
  const resTopic = topics.enrollResponse(nonce);
  const client = mqtt.connect(target.url, {
    ...baseOptions(target, timeoutMs),
    clientId: `enroll-${nonce}`,
    username: ENROLL_USERNAME,
    password: token,
    keepalive: 30,
  });
  if (target.noDelay ?? true) setNoDelay(client);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error('enrollment: no answer in time')), timeoutMs);
    let settled = false;
    function finish(outcome: Error | (DeviceCredentials & { status: 'accepted' | 'pending' })): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      client.removeAllListeners('error');
      client.on('error', () => {});
      client.end(true);
      if (outcome instanceof Error) reject(outcome);
      else resolve(outcome);
    }
    client.on('error', (err) => finish(new Error(`enrollment: ${err.message}`)));
    client.on('close', () => finish(new Error('enrollment: connection closed')));
    client.on('message', (topic, payload) => {
      if (topic !== resTopic) return;
      try {
        const res = parseJson(EnrollResponse, payload, 'enrollment response');
        if (!res.ok) throw new Error(`enrollment refused: ${res.error.code} ${res.error.message}`);
        // Simulated devices authenticate with a secret; they never ask for a certificate.
        if (!res.secret) throw new Error('enrollment: the answer carries no secret');
        finish({ deviceId: res.deviceId, secret: res.secret, status: res.status });
      } catch (err) {
        finish(err as Error);
      }
    });
    client.on('connect', () => {
      const request = parse(EnrollRequest, { nonce, token, facts }, 'enrollment request');
      client
        .subscribeAsync(resTopic, { qos: 1 })
        .then((granted) => {
          if (granted.some((g) => g.qos === 128)) throw new Error('enrollment: subscription refused');
          return client.publishAsync(topics.enrollRequest(nonce), JSON.stringify(request), { qos: 1 });
        })
        .catch((err: unknown) => finish(err as Error));
    });
  });
}

export interface SimDeviceOptions extends LinkTarget {
  credentials: DeviceCredentials;
  /** Numbers the device's simulated facts and answers (default 0). */
  index?: number;
  /** MQTT keepalive in seconds (default 60; the agent uses 30). */
  keepalive?: number;
  /** Telemetry interval in seconds, announced in `status` (default 60). */
  heartbeatSeconds?: number;
  /** Replaces the default command handlers, keyed `capability/action`. */
  handlers?: Record<string, CommandHandler>;
  /** Bounds the TLS and MQTT handshake (default 30 s). */
  connectTimeoutMs?: number;
  /**
   * Echo byte-stream frames: each message on `tty/{sid}/in` goes back unchanged on
   * `tty/{sid}/out` at QoS 0 (the terminal benchmark's raw echo). Off by default.
   */
  echoStreams?: boolean;
}

const errorResponse = (id: string, error: ErrorBody): CommandResponse => ({ id, ok: false, error });

/** One connected simulated device. Start it with `SimDevice.start`. */
export class SimDevice {
  /** Commands answered so far. */
  answered = 0;
  private heartbeat: NodeJS.Timeout | undefined;
  private stopping: Promise<void> | undefined;

  private constructor(
    private readonly client: MqttClient,
    readonly deviceId: string,
    private readonly options: SimDeviceOptions,
    private readonly handlers: Record<string, CommandHandler>,
  ) {}

  /** Connects, subscribes to its commands and announces itself online; rejects when any step fails. */
  static async start(options: SimDeviceOptions): Promise<SimDevice> {
    const { deviceId, secret } = options.credentials;
    const timeoutMs = options.connectTimeoutMs ?? 30_000;
    const statusTopic = topics.status(deviceId);
    const client = mqtt.connect(options.url, {
      ...baseOptions(options, timeoutMs),
      clientId: deviceId,
      username: deviceId,
      password: secret,
      keepalive: options.keepalive ?? 60,
      will: {
        topic: statusTopic,
        payload: Buffer.from(JSON.stringify({ online: false, since: Date.now() })),
        qos: 1,
        retain: true,
      },
    });
    if (options.noDelay ?? true) setNoDelay(client);
    const device = new SimDevice(client, deviceId, options, options.handlers ?? defaultHandlers(options.index ?? 0));
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${deviceId}: no CONNACK in time`)), timeoutMs);
        client.once('connect', () => {
          clearTimeout(timer);
          resolve();
        });
        client.once('error', (err) => {
          clearTimeout(timer);
          reject(new Error(`${deviceId}: ${err.message}`));
        });
      });
      client.on('error', () => {});
      client.on('message', (topic, payload) => device.onMessage(topic, payload));
      // Subscribe before announcing online: the server sends queued commands when it sees the status.
      const granted = await client.subscribeAsync(topics.agentSubscriptions(deviceId), { qos: 1 });
      if (granted.some((g) => g.qos === 128)) throw new Error(`${deviceId}: command subscription refused`);
      const status: DeviceStatus = {
        online: true,
        since: Date.now(),
        agentVersion: SIM_AGENT_VERSION,
        protocol: PROTOCOL_VERSION,
        heartbeat: options.heartbeatSeconds ?? 60,
        facts: simFacts(options.index ?? 0),
      };
      await client.publishAsync(statusTopic, JSON.stringify(status), { qos: 1, retain: true });
      device.startHeartbeat();
      return device;
    } catch (err) {
      client.end(true);
      throw err;
    }
  }

  get connected(): boolean {
    return this.client.connected;
  }

  private startHeartbeat(): void {
    const periodMs = (this.options.heartbeatSeconds ?? 60) * 1000;
    const beat = () => {
      const sample: Telemetry = { ts: Date.now(), uptime: process.uptime() };
      this.client.publish(topics.telemetry(this.deviceId), JSON.stringify(sample), { qos: 0 });
    };
    // A random phase, so a fleet started at once does not beat in step.
    this.heartbeat = setTimeout(
      () => {
        beat();
        this.heartbeat = setInterval(beat, periodMs);
        this.heartbeat.unref();
      },
      Math.floor(Math.random() * periodMs),
    );
    this.heartbeat.unref();
  }

  private onMessage(topic: string, payload: Buffer): void {
    const t = parseTopic(topic);
    if (t?.kind === 'tty' && t.stream === 'in' && t.deviceId === this.deviceId && this.options.echoStreams) {
      this.client.publish(topics.tty(this.deviceId, t.sessionId, 'out'), payload, { qos: 0 });
      return;
    }
    if (t?.kind !== 'command' || t.deviceId !== this.deviceId) return;
    let request: CommandRequest;
    try {
      request = parseJson(CommandRequest, payload, 'command');
    } catch {
      return; // no usable id to answer
    }
    this.run(t.capability, t.action, request).then(
      (response) => this.publish(topics.result(this.deviceId, request.id), response),
      () => {},
    );
  }

  private async run(capability: string, action: string, request: CommandRequest): Promise<CommandResponse> {
    const { id } = request;
    const name = `${capability}/${action}`;
    const spec = commandSpec(capability, action);
    const handler = Object.hasOwn(this.handlers, name) ? this.handlers[name] : undefined;
    if (!spec || !handler) return errorResponse(id, { code: 'E_UNSUPPORTED', message: `unsupported command: ${name}` });
    let seq = 0;
    const ctx: CommandContext = {
      commandId: id,
      emit: (stream, data) =>
        this.publish(topics.output(this.deviceId, id), { id, seq: seq++, stream, data: data.toString('base64') }),
    };
    try {
      const data = await handler(parse(spec.args, request.args, 'args'), ctx);
      this.answered++;
      return { id, ok: true, data };
    } catch (err) {
      const body =
        err instanceof OutpostError ? err.toBody() : { code: 'E_INTERNAL' as const, message: 'internal error' };
      return errorResponse(id, body);
    }
  }

  private publish(topic: string, message: unknown): void {
    this.client.publish(topic, JSON.stringify(message), { qos: 1 });
  }

  /**
   * Leaves: `graceful` (default) publishes the retained offline status and disconnects
   * cleanly; otherwise the link is dropped at once, as a crash would, and the broker's
   * last will reports the device offline.
   */
  stop(graceful = true): Promise<void> {
    this.stopping ??= (async () => {
      clearTimeout(this.heartbeat);
      clearInterval(this.heartbeat);
      if (graceful && this.client.connected) {
        const offline: DeviceStatus = { online: false, since: Date.now() };
        await this.client
          .publishAsync(topics.status(this.deviceId), JSON.stringify(offline), { qos: 1, retain: true })
          .catch(() => {});
        await this.client.endAsync().catch(() => {});
      } else {
        this.client.stream?.destroy();
        await this.client.endAsync(true).catch(() => {});
      }
    })();
    return this.stopping;
  }
}
