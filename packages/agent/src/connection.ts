/**
 * The device's MQTT link (docs/protocol.md §Connecting): connects as the device
 * with a retained last will, reconnects forever with full-jitter backoff, and
 * keeps an outbox so QoS 1 messages written while offline (or while the device
 * is not yet accepted) go out, in order, once it may publish again.
 */
import { parseTopic } from '@outpost/protocol';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { Backoff, type BackoffOptions } from './backoff.js';
import { type Logger, redactUrl } from './log.js';

export interface LinkOptions {
  url: string;
  /** CA certificate(s) for the server's TLS certificate. */
  ca?: Buffer;
  clientId: string;
  username: string;
  /** The device secret or enrollment token; absent for a device that authenticates with a certificate. */
  password?: string;
  /** Client certificate and its private key (PEM), for certificate authentication over mqtts://. */
  key?: Buffer;
  cert?: Buffer;
  protocolVersion: 4 | 5;
  will?: { topic: string; payload: string };
}

/** mqtt.js options shared by the device link and enrollment: clean session, keepalive 30 s, no auto-reconnect. */
export function clientOptions(o: LinkOptions): IClientOptions {
  const options: IClientOptions = {
    clientId: o.clientId,
    username: o.username,
    clean: true,
    keepalive: 30,
    protocolVersion: o.protocolVersion,
    // Reconnection is ours (full-jitter backoff); mqtt.js would retry at a fixed period.
    reconnectPeriod: 0,
    connectTimeout: 30_000,
    resubscribe: false,
    queueQoSZero: false,
    rejectUnauthorized: true,
    // Off: mqtt-packet would otherwise pre-build a 2-byte Buffer for each of the 65,536 packet
    // ids and lengths, about 7 MB of heap for the process's lifetime (docs/decisions.md).
    writeCache: false,
    // mqtt.js logs every packet through `debug` (off unless DEBUG is set, but still called
    // with its arguments each time): the agent logs what matters itself.
    log: () => {},
  };
  if (o.password !== undefined) options.password = o.password;
  if (o.ca) options.ca = o.ca;
  if (o.key && o.cert) {
    options.key = o.key;
    options.cert = o.cert;
  }
  if (o.will) options.will = { topic: o.will.topic, payload: Buffer.from(o.will.payload), qos: 1, retain: true };
  return options;
}

/** The `code` an mqtt.js or socket error carries (CONNACK return code, errno name), if any. */
export function errorCode(err: unknown): string | number | undefined {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' || typeof code === 'number' ? code : undefined;
}

/** True when the broker refused the CONNECT for its credentials (3.1.1 codes 4/5, MQTT 5 0x86/0x87/0x8C). */
export function isAuthRefusal(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return code === 4 || code === 5 || code === 0x86 || code === 0x87 || code === 0x8c;
}

interface Outgoing {
  topic: string;
  /** JSON text, or a binary stream frame (docs/protocol.md §Byte streams). */
  payload: string | Buffer;
  qos: 0 | 1;
  retain: boolean;
  resolve: (sent: boolean) => void;
}

export interface DeviceConnectionOptions {
  link: LinkOptions;
  log: Logger;
  /** Called after each CONNACK with the time the session started. */
  onConnect: (since: number) => void;
  /** Called when an established session ends. */
  onDisconnect?: () => void;
  onMessage: (topic: string, payload: Buffer) => void;
  /** The last will, rebuilt for each attempt so its `since` is fresh. */
  will?: { topic: string; payload: () => string };
  backoff?: BackoffOptions;
  /** A session that lasted this long resets the backoff. */
  stableAfterMs?: number;
  /** Outbox bound; the oldest messages are dropped beyond it (the journal can still answer re-deliveries). */
  maxOutboxBytes?: number;
}

export class DeviceConnection {
  private client: MqttClient | undefined;
  private connectedAt: number | undefined;
  private outboxOpen = false;
  private stopped = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private readonly backoff: Backoff;
  private readonly queue: Outgoing[] = [];
  private queuedBytes = 0;
  private readonly inflight = new Set<Outgoing>();
  private failures = 0;
  /** The last connection error, reported with the next retry (then cleared). */
  private lastError: string | undefined;

  constructor(private readonly options: DeviceConnectionOptions) {
    this.backoff = new Backoff(options.backoff);
  }

  get connected(): boolean {
    return this.connectedAt !== undefined;
  }

  start(): void {
    this.connectOnce();
  }

  /**
   * Queues a message for the outbox: sent once connected and the outbox is open,
   * resolving true when delivered (PUBACK for QoS 1). QoS 0 is dropped (false) while it cannot go out.
   */
  publish(topic: string, payload: string | Buffer, qos: 0 | 1, retain = false): Promise<boolean> {
    return new Promise((resolve) => {
      const item: Outgoing = { topic, payload, qos, retain, resolve };
      const client = this.sendableNow();
      if (this.stopped) resolve(false);
      else if (client) this.send(client, item);
      else if (qos === 0) resolve(false);
      else this.enqueue(item);
    });
  }

  /**
   * QoS 0 with nothing to wait for (stream frames, which their own layer acknowledges and
   * resends): goes out now when `publish` would send it at once, else is dropped as it would be.
   */
  publishFrame(topic: string, payload: Buffer): void {
    if (!this.stopped) this.sendableNow()?.publish(topic, payload, { qos: 0 });
  }

  /** The client, when a message may go out at once: connected, outbox open, nothing queued before it. */
  private sendableNow(): MqttClient | undefined {
    return this.client && this.connected && this.outboxOpen && this.queue.length === 0 ? this.client : undefined;
  }

  /** Sends now, bypassing the outbox (presence): false when not connected. */
  publishNow(topic: string, payload: string, qos: 0 | 1, retain = false): Promise<boolean> {
    return new Promise((resolve) => {
      if (!this.client || !this.connected) resolve(false);
      else this.send(this.client, { topic, payload, qos, retain, resolve });
    });
  }

  /** Makes the next reconnect come soon (a fresh backoff window). */
  resetBackoff(): void {
    this.backoff.reset();
  }

  /** Lets queued messages out; called once the device's subscription was granted. */
  openOutbox(): void {
    this.outboxOpen = true;
    this.flush();
  }

  /** Subscribes at QoS 1: true when granted, false when refused (SUBACK 0x80); rejects if the link drops. */
  subscribe(filters: string[]): Promise<boolean> {
    const client = this.client;
    if (!client || !this.connected) return Promise.reject(new Error('not connected'));
    return new Promise((resolve, reject) => {
      client.subscribe(filters, { qos: 1 }, (err, granted) => {
        if (!err) {
          resolve((granted ?? []).every((g) => (g.qos & 0x80) === 0));
          return;
        }
        const packet = (err as { packet?: { granted?: number[] } }).packet;
        if (packet?.granted?.some((g) => (g & 0x80) !== 0)) resolve(false);
        else reject(err);
      });
    });
  }

  /** Stops reconnecting; when connected, sends `final` (the offline status) and disconnects cleanly. */
  async stop(final?: { topic: string; payload: string }, timeoutMs = 3000): Promise<void> {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    const client = this.client;
    if (client && this.connected && final) {
      await withTimeout(this.publishNow(final.topic, final.payload, 1, true), timeoutMs);
    }
    if (client && this.connected) {
      await withTimeout(
        new Promise<void>((resolve) => {
          client.end(false, {}, () => resolve());
        }),
        timeoutMs,
      );
    }
    client?.end(true);
    for (const item of [...this.inflight, ...this.queue]) item.resolve(false);
    this.inflight.clear();
    this.queue.length = 0;
    this.queuedBytes = 0;
  }

  private connectOnce(): void {
    if (this.stopped) return;
    const { link, log } = this.options;
    const since = Date.now();
    const will = this.options.will;
    const client = mqtt.connect(
      link.url,
      clientOptions(will ? { ...link, will: { topic: will.topic, payload: will.payload() } } : link),
    );
    this.client = client;
    client.on('connect', () => {
      if (this.client !== client) return;
      // Nagle's algorithm would hold a response behind the PUBACK written just before it
      // (a 40 ms delayed-ACK stall per command; docs/benchmarks.md, finding 1).
      (client.stream as Partial<import('node:net').Socket> | undefined)?.setNoDelay?.(true);
      this.connectedAt = Date.now();
      this.failures = 0;
      log.info('connected', { server: redactUrl(link.url) });
      try {
        this.options.onConnect(since);
      } catch (err) {
        log.error('connect handler failed', { err });
      }
    });
    client.on('message', (topic, payload) => {
      if (this.client === client) this.options.onMessage(topic, payload);
    });
    client.on('error', (err) => {
      if (this.client !== client) return;
      const code = errorCode(err);
      if (isAuthRefusal(err)) {
        log.error('the server refused this device’s credentials (was it revoked or deleted?)', { code });
      } else {
        // Kept for the retry line: "could not connect" alone does not tell a CA mismatch from a refused port.
        this.lastError = code ? `${err.message} (${code})` : err.message;
        log.debug('connection error', { err: { message: err.message, code } });
      }
    });
    client.on('close', () => {
      if (this.client === client) this.onClose(client);
    });
  }

  private onClose(client: MqttClient): void {
    const { log } = this.options;
    const wasConnected = this.connectedAt !== undefined;
    if (wasConnected && Date.now() - (this.connectedAt ?? 0) >= (this.options.stableAfterMs ?? 20_000)) {
      this.backoff.reset();
    }
    this.connectedAt = undefined;
    this.outboxOpen = false;
    this.client = undefined;
    // Unacknowledged messages go back to the front of the outbox, in order (QoS 1 allows duplicates).
    const unacked = [...this.inflight].filter((i) => i.qos === 1);
    for (const i of this.inflight) if (i.qos === 0) i.resolve(false);
    this.inflight.clear();
    this.queue.unshift(...unacked);
    for (const i of unacked) this.queuedBytes += i.payload.length;
    client.removeAllListeners('message');
    client.on('error', () => {});
    client.end(true);
    if (wasConnected) {
      try {
        this.options.onDisconnect?.();
      } catch (err) {
        log.error('disconnect handler failed', { err });
      }
    }
    if (this.stopped) return;
    const delay = this.backoff.next();
    this.failures++;
    const fields = { retryInMs: delay, attempt: this.failures, ...(this.lastError ? { reason: this.lastError } : {}) };
    this.lastError = undefined;
    if (wasConnected) log.warn('connection lost; reconnecting', fields);
    else log.info('could not connect; retrying', fields);
    this.reconnectTimer = setTimeout(() => this.connectOnce(), delay);
  }

  /**
   * Queues a QoS 1 message. Past the byte bound the oldest output chunks go first,
   * then the oldest of anything else: a response is worth more than the output before it.
   */
  private enqueue(item: Outgoing): void {
    const max = this.options.maxOutboxBytes ?? 8 * 1024 * 1024;
    this.queue.push(item);
    this.queuedBytes += item.payload.length;
    let dropped = 0;
    while (this.queuedBytes > max && this.queue.length > 1) {
      const chunk = this.queue.findIndex((q) => parseTopic(q.topic)?.kind === 'output');
      const [old] = this.queue.splice(Math.max(chunk, 0), 1);
      if (!old) break;
      this.queuedBytes -= old.payload.length;
      old.resolve(false);
      dropped++;
    }
    if (dropped > 0) this.options.log.warn('outbox full; dropped the oldest messages', { dropped });
  }

  private flush(): void {
    while (this.client && this.connected && this.outboxOpen && this.queue.length > 0) {
      const item = this.queue.shift();
      if (!item) break;
      this.queuedBytes -= item.payload.length;
      this.send(this.client, item);
    }
  }

  private send(client: MqttClient, item: Outgoing): void {
    this.inflight.add(item);
    client.publish(item.topic, item.payload, { qos: item.qos, retain: item.retain }, (err) => {
      // After a reconnect the item was re-queued: this late callback belongs to a dead link.
      if (this.client !== client || !this.inflight.delete(item)) return;
      if (err) this.options.log.warn('publish refused', { topic: item.topic, err: { message: err.message } });
      item.resolve(!err);
    });
  }
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
