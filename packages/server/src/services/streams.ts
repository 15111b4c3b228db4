/**
 * Byte streams between the server and devices (docs/protocol.md §Byte streams). Opening a
 * stream = sending the capability's opening command (stored and attributed like any
 * command, short ttl, online devices only) with a fresh `sid` in its args; its frames then
 * travel on `tty/{sid}/in|out`. A stream ends either here (`duplex()`: a Node Duplex for
 * HTTP uploads and downloads) or in a WebSocket client that speaks the same frames
 * (`relay()`: terminals in the browser and CLI, port forwards), with the server checking
 * every frame against the flow-control windows so its memory stays bounded.
 */
import {
  type CommandArgs,
  type CommandName,
  commandSpec,
  type ErrorCode,
  encodeFrame,
  FrameType,
  isErrorCode,
  OutpostError,
  StreamDuplex,
  topics,
} from '@outpost/protocol';
import type { Actor } from '../actor.js';
import type { BrokerLink } from '../broker/link.js';
import type { Bus } from '../bus.js';
import type { Logger } from '../log.js';
import { newId } from '../secrets.js';
import type { CommandView } from './command-view.js';
import type { CommandService } from './commands.js';
import type { DeviceService } from './devices.js';
import { type RelayHooks, type RelaySocket, StreamRelay } from './stream-relay.js';

export type { RelayHooks, RelaySocket } from './stream-relay.js';

/** How long the opening command may wait to start on the device (it is online, so a few seconds). */
const OPEN_TTL_SECONDS = 30;
/** How long the device may take to accept the stream (its first frame) before the stream is abandoned. */
const ACCEPT_TIMEOUT_MS = 30_000;
const TICK_MS = 2000;
/** Frames for a stream closed this recently are dropped quietly (late retransmissions). */
const FORGET_AFTER_MS = 60_000;

export interface OpenStreamRequest<N extends CommandName> {
  /** Device id or unique name, resolved within the actor's scope. */
  device: string;
  actor: Actor;
  /** The capability action that accepts the stream; its args carry `sid`. */
  command: N;
  /** The command's args without `sid`, which the service adds. */
  args: Omit<CommandArgs<N>, 'sid'>;
  /** Receive window of the server-terminated end (duplex mode), bytes. */
  window?: number;
}

type Mode = { kind: 'none' } | { kind: 'duplex'; duplex: StreamDuplex } | { kind: 'relay'; relay: StreamRelay };

/** One open stream to a device. Use exactly one of `duplex()` or `relay()`. */
export class DeviceStream {
  readonly sid: string;
  readonly deviceId: string;
  /** The opening command as created (its id is the audit target). */
  readonly command: CommandView;
  /** Who opened it: only they may use it. */
  readonly owner: Actor;
  /** Resolves with the opening command once it is final (its result, e.g. a shell's exit code, or its error). */
  readonly result: Promise<CommandView>;
  mode: Mode = { kind: 'none' };
  /** Settles when the stream ended: null when clean, else why it was aborted. */
  readonly closed: Promise<OutpostError | null>;
  #settle: (e: OutpostError | null) => void = () => {};
  #isClosed = false;
  #error: OutpostError | null = null;
  #accepted = false;

  constructor(
    private readonly service: StreamService,
    init: { sid: string; deviceId: string; command: CommandView; owner: Actor; result: Promise<CommandView> },
    private readonly window: number | undefined,
  ) {
    this.sid = init.sid;
    this.deviceId = init.deviceId;
    this.command = init.command;
    this.owner = init.owner;
    this.result = init.result;
    this.closed = new Promise((resolve) => {
      this.#settle = resolve;
    });
  }

  get isClosed(): boolean {
    return this.#isClosed;
  }
  get accepted(): boolean {
    return this.#accepted;
  }

  /**
   * The stream as a Node Duplex ending here, with backpressure both ways: pipe an HTTP
   * request body into it (upload) or pipe it into an HTTP response (download).
   */
  duplex(): StreamDuplex {
    if (this.mode.kind === 'duplex') return this.mode.duplex;
    if (this.mode.kind !== 'none') throw new OutpostError('E_CONFLICT', 'stream is already relayed');
    const duplex = new StreamDuplex({
      send: (frame) => this.service.toDevice(this.deviceId, this.sid, frame),
      ...(this.window ? { window: this.window } : {}),
    });
    duplex.on('error', () => {}); // surfaced through `closed` and the caller's own pipes
    duplex.endpoint.events.close = ((original) => (error, byPeer) => {
      original?.(error, byPeer);
      this.finish(error);
    })(duplex.endpoint.events.close);
    this.mode = { kind: 'duplex', duplex };
    if (this.#isClosed) duplex.destroy(new OutpostError('E_CONFLICT', 'stream already closed'));
    return duplex;
  }

  /**
   * Relays the stream to a WebSocket client that runs its own StreamEndpoint: binary
   * messages are frames both ways; text messages from the server are JSON events
   * (`opened`, `end` with the final command, `error`). Resolves when the relay ends.
   */
  relay(socket: RelaySocket, hooks: RelayHooks = {}): Promise<void> {
    if (this.mode.kind !== 'none') throw new OutpostError('E_CONFLICT', 'stream is already in use');
    const relay = new StreamRelay({
      socket,
      hooks,
      log: this.service.log.child({ sid: this.sid, deviceId: this.deviceId }),
      toDevice: (frame) => this.service.toDevice(this.deviceId, this.sid, frame),
      onClose: (error) => this.finish(error),
    });
    this.mode = { kind: 'relay', relay };
    relay.sendEvent({ type: 'opened', sid: this.sid, commandId: this.command.id, deviceId: this.deviceId });
    this.result.then(
      (command) => relay.commandEnded(command),
      () => {},
    );
    return relay.done;
  }

  /** Aborts the stream both ways (RESET to the device and to the client). */
  abort(code: ErrorCode, message: string): void {
    if (this.#isClosed) return;
    const m = this.mode;
    if (m.kind === 'duplex') m.duplex.abort(code, message);
    else if (m.kind === 'relay') m.relay.abort(code, message);
    else {
      this.service.toDevice(this.deviceId, this.sid, encodeFrame({ type: 'reset', error: { code, message } }));
      this.finish(new OutpostError(code, message));
    }
  }

  /** A frame from the device. */
  fromDevice(frame: Uint8Array): void {
    this.#accepted = true;
    const m = this.mode;
    if (m.kind === 'duplex') m.duplex.receive(frame);
    else if (m.kind === 'relay') m.relay.fromDevice(frame);
    // Before duplex() or relay(): nothing consumes yet; the device's announcement is repeated every tick.
  }

  resend(): void {
    if (this.mode.kind === 'duplex') this.mode.duplex.endpoint.resend();
  }

  /**
   * A frame from the device after the stream closed here. A clean close answers with the last
   * ACK (the device may have missed it); an aborted one, or one the device never got to see
   * closed, with a RESET so its end closes too. Never a RESET to a RESET.
   */
  late(frame: Uint8Array): void {
    if (frame[0] === FrameType.RESET) return;
    const m = this.mode;
    if (m.kind === 'duplex') {
      m.duplex.receive(frame); // a closed endpoint answers by itself
      return;
    }
    const ack = m.kind === 'relay' ? m.relay.lastAckToDevice : null;
    if (ack && !this.#error) {
      this.service.toDevice(this.deviceId, this.sid, ack);
      return;
    }
    const error = this.#error?.toBody() ?? {
      code: 'E_OFFLINE' as const,
      message: 'the stream is closed on the server',
    };
    this.service.toDevice(this.deviceId, this.sid, encodeFrame({ type: 'reset', error }));
  }

  tick(): void {
    if (this.mode.kind === 'duplex') this.mode.duplex.endpoint.tick();
  }

  finish(error: OutpostError | null): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    this.#error = error;
    this.#settle(error);
    this.service.forget(this);
  }
}

export class StreamService {
  readonly #streams = new Map<string, DeviceStream>();
  /** Streams whose opening command is being stored. */
  readonly #opening = new Set<string>();
  /** Recently closed `deviceId/sid` → when: late frames are expected and dropped quietly. */
  readonly #recent = new Map<string, { stream: DeviceStream; at: number }>();
  readonly #offlineTimers = new Map<string, NodeJS.Timeout>();
  readonly #ticker: NodeJS.Timeout;
  #unknownWarned = 0;

  constructor(
    private readonly link: BrokerLink,
    private readonly commands: CommandService,
    private readonly devices: DeviceService,
    bus: Bus,
    readonly log: Logger,
    private readonly options: {
      /** How long streams wait for a device that went offline (ms). */
      graceMs: number;
      /** True when this server sees all device traffic (embedded broker): unknown sids are suspicious. */
      exclusive: boolean;
    },
  ) {
    bus.on('device.online', (d) => {
      clearTimeout(this.#offlineTimers.get(d.id));
      this.#offlineTimers.delete(d.id);
      for (const s of this.#streams.values()) if (s.deviceId === d.id) s.resend();
    });
    bus.on('device.offline', (id) => this.#deviceGone(id, 'the device went offline'));
    bus.on('device.deleted', (id) => this.#abortDevice(id, 'E_NOT_FOUND', 'the device was deleted'));
    this.#ticker = setInterval(() => this.#tick(), TICK_MS);
    this.#ticker.unref();
  }

  /** Streams open right now. */
  get count(): number {
    return this.#streams.size;
  }

  /**
   * Opens a stream on an online device by sending `command` with a fresh `sid` in its
   * args. E_OFFLINE when the device is not connected; E_BAD_ARGS when the command does
   * not open a stream or its args are invalid; E_NOT_FOUND outside the actor's scope.
   */
  async open<N extends CommandName>(req: OpenStreamRequest<N>): Promise<DeviceStream> {
    const [capability, action] = req.command.split('/') as [string, string];
    const spec = commandSpec(capability, action);
    if (!spec?.opensStream) throw new OutpostError('E_BAD_ARGS', `${req.command} does not open a byte stream`);
    const device = await this.devices.resolve(req.device, req.actor);
    if (device.online !== 1) throw new OutpostError('E_OFFLINE', `device ${device.id} is offline`);
    const sid = newId('s');
    const key = `${device.id}/${sid}`;
    let resolveResult: (c: CommandView) => void = () => {};
    const result = new Promise<CommandView>((resolve) => {
      resolveResult = resolve;
    });
    // Known before the command goes out: a frame arriving while it is stored is not "unknown".
    this.#opening.add(key);
    let command: CommandView;
    try {
      command = await this.commands.create(
        device.id,
        { capability, action, args: { ...req.args, sid }, ttl: OPEN_TTL_SECONDS },
        req.actor,
        { opensStream: true },
      );
    } finally {
      this.#opening.delete(key);
    }
    const stream = new DeviceStream(this, { sid, deviceId: device.id, command, owner: req.actor, result }, req.window);
    this.#streams.set(key, stream);
    const opened = stream;
    const unsubscribe = await this.commands.stream(command.id, Number.MAX_SAFE_INTEGER, (e) => {
      if (e.type !== 'end') return;
      resolveResult(e.command);
      this.#commandEnded(opened, e.command);
    });
    void opened.closed.then(() => setTimeout(unsubscribe, 5000).unref());
    const timer = setTimeout(() => {
      if (!opened.accepted && !opened.isClosed)
        opened.abort('E_TIMEOUT', 'the device did not accept the stream in time');
    }, ACCEPT_TIMEOUT_MS);
    timer.unref();
    void opened.closed.then(() => clearTimeout(timer));
    this.log.info({ sid, deviceId: device.id, command: req.command, commandId: command.id }, 'stream opened');
    return opened;
  }

  /** A stream the actor opened (E_NOT_FOUND for anyone else, so sids do not leak). */
  get(deviceId: string, sid: string, actor: Actor): DeviceStream {
    const s = this.#streams.get(`${deviceId}/${sid}`);
    if (!s || s.owner.userId !== actor.userId || s.owner.id !== actor.id) {
      throw new OutpostError('E_NOT_FOUND', 'no such stream');
    }
    return s;
  }

  /** A frame from a device on `tty/{sid}/out` (called by ingest; the ACL already pinned the device). */
  handleFrame(deviceId: string, sid: string, payload: Buffer): void {
    const key = `${deviceId}/${sid}`;
    const s = this.#streams.get(key);
    if (s) {
      s.fromDevice(payload);
      return;
    }
    // While its opening command is stored: the device may answer before the stream is known.
    if (this.#opening.has(key)) return;
    const recent = this.#recent.get(key);
    if (recent) {
      // Closed here, perhaps before the device accepted it (the client left first, and a RESET for a
      // sid the device did not know yet was dropped there), or the device missed the last ACK.
      recent.stream.late(payload);
      return;
    }
    // A device sending frames for a stream nobody opened gets nothing back.
    const now = Date.now();
    const level = this.options.exclusive ? 'warn' : 'debug';
    if (now - this.#unknownWarned > 1000) {
      this.#unknownWarned = now;
      this.log[level](
        { deviceId, sid, bytes: payload.length },
        'stream frame for a stream this server did not open; dropped',
      );
    }
  }

  /** Publishes one frame to the device (QoS 0: the stream layer acknowledges and resends). */
  toDevice(deviceId: string, sid: string, frame: Uint8Array): void {
    this.link
      .publish(topics.tty(deviceId, sid, 'in'), Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength), {
        qos: 0,
      })
      .catch((err: unknown) => this.log.warn({ err, deviceId, sid }, 'stream frame not published'));
  }

  forget(stream: DeviceStream): void {
    const key = `${stream.deviceId}/${stream.sid}`;
    if (this.#streams.get(key) === stream) this.#streams.delete(key);
    this.#recent.set(key, { stream, at: Date.now() });
  }

  /** Aborts every stream (server stopping). */
  close(): void {
    clearInterval(this.#ticker);
    for (const t of this.#offlineTimers.values()) clearTimeout(t);
    for (const s of [...this.#streams.values()]) s.abort('E_OFFLINE', 'the server is stopping');
  }

  #commandEnded(stream: DeviceStream, command: CommandView): void {
    if (stream.isClosed) return;
    if (command.status !== 'succeeded') {
      const err = command.error ?? { code: 'E_INTERNAL', message: `command ${command.status}` };
      stream.abort(isErrorCode(err.code) ? err.code : 'E_INTERNAL', err.message);
      return;
    }
    // The device closes its end before it answers; frames still in flight get a moment.
    setTimeout(() => stream.abort('E_INTERNAL', 'the device ended the command with its stream open'), 5000).unref();
  }

  #deviceGone(deviceId: string, reason: string): void {
    if (this.#offlineTimers.has(deviceId)) return;
    const affected = [...this.#streams.values()].filter((s) => s.deviceId === deviceId);
    if (affected.length === 0) return;
    this.log.info({ deviceId, streams: affected.length, graceMs: this.options.graceMs }, `${reason}; streams wait`);
    const timer = setTimeout(() => {
      this.#offlineTimers.delete(deviceId);
      this.#abortDevice(deviceId, 'E_OFFLINE', `${reason} and did not come back in time`);
    }, this.options.graceMs);
    timer.unref();
    this.#offlineTimers.set(deviceId, timer);
  }

  #abortDevice(deviceId: string, code: ErrorCode, message: string): void {
    for (const s of [...this.#streams.values()]) {
      if (s.deviceId === deviceId) s.abort(code, message);
    }
  }

  #tick(): void {
    for (const s of this.#streams.values()) s.tick();
    const now = Date.now();
    for (const [key, r] of this.#recent) if (now - r.at > FORGET_AFTER_MS) this.#recent.delete(key);
  }
}
