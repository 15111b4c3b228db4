/**
 * The agent's byte streams (docs/protocol.md §Byte streams): routes frames arriving on
 * `tty/{sid}/in` to the stream a capability opened with `ctx.openStream(sid)`, publishes
 * its frames on `tty/{sid}/out`, resends what is unacknowledged when the link comes back,
 * and aborts streams whose link stayed down longer than the grace period.
 */
import {
  encodeFrame,
  isValidId,
  OutpostError,
  type ParsedTopic,
  parseTopic,
  StreamDuplex,
  topics,
} from '@outpost/protocol';
import type { Logger } from './log.js';

export interface OpenStreamOptions {
  /** Receive window in bytes (default DEFAULT_WINDOW). */
  window?: number;
}

export interface AgentStreamsOptions {
  deviceId: string;
  /** Publishes one frame; frames are QoS 0 and may be dropped while offline (resent on reconnect). */
  publish: (topic: string, payload: Buffer) => void;
  log: Logger;
  /** How long streams survive a lost link before they are aborted (E_OFFLINE). */
  graceMs: number;
  /** How often every stream re-announces its ACK and checks for a silent peer (default 2 s). */
  tickMs?: number;
  /** How long a closed stream still answers its peer's late frames (default 30 s). */
  lingerMs?: number;
}

interface Lingering {
  stream: StreamDuplex;
  until: number;
}

/** Frames for a sid the agent does not know get a RESET, at most this often per sid. */
const RESET_INTERVAL_MS = 1000;

export class AgentStreams {
  readonly #open = new Map<string, StreamDuplex>();
  /** `outpost/v1/d/{deviceId}/tty/`: frames for an open stream are routed by their topic's text alone. */
  readonly #ttyPrefix: string;
  readonly #lingering = new Map<string, Lingering>();
  readonly #resetSent = new Map<string, number>();
  #ticker: NodeJS.Timeout | undefined;
  #graceTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: AgentStreamsOptions) {
    this.#ttyPrefix = topics.tty(options.deviceId, 'x', 'in').slice(0, -'x/in'.length);
  }

  /** Streams open right now. */
  get count(): number {
    return this.#open.size;
  }

  /**
   * Accepts the stream `sid` that the server asked for in a command: the returned Duplex
   * carries the bytes (backpressure included); `control` events carry CONTROL messages.
   */
  open(sid: string, opts: OpenStreamOptions = {}): StreamDuplex {
    if (!isValidId(sid)) throw new OutpostError('E_BAD_ARGS', 'invalid stream id');
    if (this.#open.has(sid) || this.#lingering.has(sid)) {
      throw new OutpostError('E_CONFLICT', `stream ${sid} is already in use`);
    }
    const topic = topics.tty(this.options.deviceId, sid, 'out');
    const stream = new StreamDuplex({
      send: (frame) => this.options.publish(topic, Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength)),
      ...(opts.window ? { window: opts.window } : {}),
    });
    this.#open.set(sid, stream);
    const log = this.options.log.child({ sid });
    stream.endpoint.events.close = ((original) => (error, byPeer) => {
      original?.(error, byPeer);
      this.#retire(sid, stream);
      if (error) log.info('stream aborted', { code: error.code, reason: error.message, byPeer });
      else log.debug('stream closed');
    })(stream.endpoint.events.close);
    stream.on('error', () => {}); // the capability sees the error through its own listeners or its pipes
    stream.once('close', () => this.#retire(sid, stream));
    this.#ensureTicker();
    log.debug('stream opened');
    stream.endpoint.start();
    return stream;
  }

  /**
   * A frame for a stream open right now, on a keystroke's path: recognised by its topic's text
   * (`…/tty/{sid}/in` with a sid in the table), no parsing. False for anything else, which
   * goes through `handle` (or the router) as usual. Never throws.
   */
  deliver(topic: string, payload: Buffer): boolean {
    if (!topic.startsWith(this.#ttyPrefix) || !topic.endsWith('/in')) return false;
    const stream = this.#open.get(topic.slice(this.#ttyPrefix.length, -3));
    if (!stream) return false;
    stream.receive(payload);
    return true;
  }

  /** One message on `tty/{sid}/in` (`parsed`: its topic, when the caller parsed it already). Never throws. */
  handle(topic: string, payload: Buffer, parsed: ParsedTopic | null = parseTopic(topic)): void {
    const t = parsed;
    if (t?.kind !== 'tty' || t.stream !== 'in' || t.deviceId !== this.options.deviceId) return;
    const stream = this.#open.get(t.sessionId) ?? this.#lingering.get(t.sessionId)?.stream;
    if (stream) {
      stream.receive(payload);
      return;
    }
    // Never answer a RESET with a RESET; answer anything else so the peer stops waiting.
    if (payload[0] === 5) return;
    const now = Date.now();
    if (now - (this.#resetSent.get(t.sessionId) ?? 0) < RESET_INTERVAL_MS) return;
    this.#resetSent.set(t.sessionId, now);
    this.options.log.info('frame for an unknown stream; answering RESET', { sid: t.sessionId });
    const reset = encodeFrame({
      type: 'reset',
      error: { code: 'E_NOT_FOUND', message: 'no such stream on this device' },
    });
    this.options.publish(topics.tty(this.options.deviceId, t.sessionId, 'out'), Buffer.from(reset));
  }

  /** The link is back (subscription granted): resend everything unacknowledged. */
  linkUp(): void {
    clearTimeout(this.#graceTimer);
    this.#graceTimer = undefined;
    for (const s of this.#open.values()) s.endpoint.resend();
  }

  /** The link dropped: streams wait for it for the grace period, then end with E_OFFLINE. */
  linkDown(): void {
    if (this.#graceTimer || this.#open.size === 0) return;
    this.#graceTimer = setTimeout(() => {
      this.#graceTimer = undefined;
      if (this.#open.size > 0) {
        this.options.log.warn('link down longer than the grace period; aborting streams', {
          streams: this.#open.size,
          graceMs: this.options.graceMs,
        });
      }
      this.abortAll('E_OFFLINE', 'the device lost its link to the server for too long');
    }, this.options.graceMs);
    this.#graceTimer.unref();
  }

  /** Aborts every open stream (agent stopping, link lost for good). */
  abortAll(code: 'E_OFFLINE' | 'E_INTERNAL', message: string): void {
    for (const s of [...this.#open.values()]) s.abort(code, message);
  }

  /** Stops timers; open streams are aborted. */
  close(): void {
    this.abortAll('E_OFFLINE', 'the agent is stopping');
    clearTimeout(this.#graceTimer);
    clearInterval(this.#ticker);
    this.#ticker = undefined;
    this.#lingering.clear();
  }

  #retire(sid: string, stream: StreamDuplex): void {
    if (this.#open.get(sid) !== stream) return;
    this.#open.delete(sid);
    this.#lingering.set(sid, { stream, until: Date.now() + (this.options.lingerMs ?? 30_000) });
  }

  #ensureTicker(): void {
    if (this.#ticker) return;
    this.#ticker = setInterval(() => this.#tick(), this.options.tickMs ?? 2000);
    this.#ticker.unref();
  }

  #tick(): void {
    const now = Date.now();
    for (const s of this.#open.values()) s.endpoint.tick();
    for (const [sid, l] of this.#lingering) if (l.until <= now) this.#lingering.delete(sid);
    for (const [sid, at] of this.#resetSent) if (now - at > RESET_INTERVAL_MS) this.#resetSent.delete(sid);
    if (this.#open.size === 0 && this.#lingering.size === 0) {
      clearInterval(this.#ticker);
      this.#ticker = undefined;
    }
  }
}

/** Accepts the stream a command's args name (`ctx.openStream`), or E_UNSUPPORTED where streams are absent. */
export function acceptStream(
  ctx: { openStream?: (sid: string, opts?: OpenStreamOptions) => StreamDuplex },
  sid: string,
  opts?: OpenStreamOptions,
): StreamDuplex {
  if (!ctx.openStream) throw new OutpostError('E_UNSUPPORTED', 'byte streams are not available here');
  return ctx.openStream(sid, opts);
}
