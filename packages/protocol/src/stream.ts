/**
 * Byte streams over `tty/{sid}/in` and `tty/{sid}/out` (docs/protocol.md §Byte streams):
 * `StreamEndpoint`, one end of a sequenced, flow-controlled,
 * half-closable stream. Transport-independent and timer-free: the owner hands it
 * every frame that arrives (`receive`), gives it a `send` callback, and calls `resend()`
 * after a reconnect and `tick()` now and then. Frames are in stream-frames.ts.
 */
import { type ErrorCode, OutpostError } from './errors.js';
import {
  DEFAULT_WINDOW,
  decodeFrame,
  encodeFrame,
  type Frame,
  MAX_CONTROL_BYTES,
  MAX_FRAME_DATA,
  MAX_WINDOW,
  MIN_WINDOW,
  parseControl,
} from './stream-frames.js';

export * from './stream-frames.js';

const utf8 = new TextEncoder();

export interface StreamEvents {
  /** In-order bytes from the peer; report them with `consumed(n)` once processed. */
  data(chunk: Uint8Array): void;
  /** An in-order CONTROL message from the peer (validate it: it comes from the network). */
  control(value: Record<string, unknown>): void;
  /** The peer's FIN: it will send no more data. */
  end(): void;
  /** `write()` returned false earlier and there is room again. */
  drain(): void;
  /** Our FIN was acknowledged: the peer received everything we sent. */
  finished(): void;
  /** The stream is over: `error` null after a clean close both ways, else why it was aborted. */
  close(error: OutpostError | null, byPeer: boolean): void;
}

export interface StreamEndpointOptions {
  /** Puts one encoded frame on the wire (MQTT publish, WebSocket send). Must not throw. */
  send(frame: Uint8Array): void;
  /** Bytes this side accepts beyond what its consumer has consumed (default DEFAULT_WINDOW). */
  window?: number;
  /** Largest DATA payload per frame (default MAX_FRAME_DATA). */
  maxFrameData?: number;
  /** Unsent bytes above which `write()` returns false (default 64 KiB). */
  highWaterMark?: number;
  events?: Partial<StreamEvents>;
}

interface Outgoing {
  kind: 'data' | 'control';
  offset: number;
  payload: Uint8Array;
}

/** Received, delivered, not yet consumed: `data` bytes ending at sequence offset `end`. */
interface Delivered {
  end: number;
  data: number;
}

export class StreamEndpoint {
  events: Partial<StreamEvents>;
  readonly window: number;
  readonly #send: (frame: Uint8Array) => void;
  readonly #maxFrameData: number;
  readonly #highWaterMark: number;
  #started: boolean;
  #closed = false;
  #error: OutpostError | null = null;

  // Sending side.
  #sendNext = 0;
  #acked = 0;
  #peerLimit = 0;
  readonly #pending: Outgoing[] = [];
  #pendingBytes = 0;
  readonly #inflight: Outgoing[] = [];
  #inflightBytes = 0;
  #wantDrain = false;
  #finRequested = false;
  #finOffset: number | null = null;
  #finAcked = false;

  // Receiving side.
  #recvNext = 0;
  #consumedSeq = 0;
  readonly #delivered: Delivered[] = [];
  #lastAckSent = -1;
  #peerFin: number | null = null;
  #ended = false;
  #nackSent = false;
  #heard = false;

  constructor(options: StreamEndpointOptions) {
    const window = options.window ?? DEFAULT_WINDOW;
    if (!Number.isInteger(window) || window < MIN_WINDOW || window > MAX_WINDOW) {
      throw new RangeError(`window must be an integer from ${MIN_WINDOW} to ${MAX_WINDOW}`);
    }
    this.window = window;
    this.#send = options.send;
    this.#maxFrameData = Math.max(1, Math.min(options.maxFrameData ?? MAX_FRAME_DATA, MAX_FRAME_DATA));
    this.#highWaterMark = options.highWaterMark ?? 64 * 1024;
    this.#started = false;
    this.events = options.events ?? {};
  }

  /**
   * An endpoint sends nothing until `start()` or the peer's first frame. The side that
   * accepts a stream (the device) calls `start()`: its first ACK opens the window of the
   * side that asked for it (server, browser, CLI), which only waits and answers.
   */
  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    this.#sendAck(false);
    this.#pump();
  }

  get closed(): boolean {
    return this.#closed;
  }
  /** Why the stream was aborted, or null. */
  get error(): OutpostError | null {
    return this.#error;
  }
  /** Our FIN was acknowledged. */
  get finished(): boolean {
    return this.#finAcked;
  }
  /** The peer's FIN was delivered. */
  get ended(): boolean {
    return this.#ended;
  }
  /** Bytes written but not yet sent (waiting for window). */
  get pendingBytes(): number {
    return this.#pendingBytes;
  }
  /** Bytes sent but not yet acknowledged (kept for retransmission; never more than the peer's window). */
  get unackedBytes(): number {
    return this.#inflightBytes;
  }
  /** Received bytes not yet consumed (never more than `window`). */
  get unconsumedBytes(): number {
    return this.#recvNext - this.#consumedSeq;
  }
  /** Sequence offsets: next to send, acknowledged by the peer, next expected from the peer. */
  get offsets(): { sent: number; acked: number; received: number; consumed: number } {
    return { sent: this.#sendNext, acked: this.#acked, received: this.#recvNext, consumed: this.#consumedSeq };
  }

  /** Queues bytes (kept by reference until acknowledged). False = above the high-water mark: wait for `drain`. */
  write(data: Uint8Array): boolean {
    if (this.#closed) return false;
    if (this.#finRequested) throw new OutpostError('E_CONFLICT', 'write after end');
    for (let off = 0; off < data.length; off += this.#maxFrameData) {
      const payload = data.subarray(off, off + this.#maxFrameData);
      this.#pending.push({ kind: 'data', offset: -1, payload });
      this.#pendingBytes += payload.length;
    }
    this.#pump();
    const ok = this.#pendingBytes < this.#highWaterMark;
    if (!ok) this.#wantDrain = true;
    return ok;
  }

  /** Queues a CONTROL message, in order with the data. */
  control(value: Record<string, unknown>): void {
    if (this.#closed) return;
    if (this.#finRequested) throw new OutpostError('E_CONFLICT', 'control after end');
    const payload = utf8.encode(JSON.stringify(value));
    if (payload.length > MAX_CONTROL_BYTES) throw new OutpostError('E_TOO_LARGE', 'control message too large');
    this.#pending.push({ kind: 'control', offset: -1, payload });
    this.#pendingBytes += payload.length;
    this.#pump();
  }

  /** Half-closes our direction once everything queued is sent. */
  end(): void {
    if (this.#closed || this.#finRequested) return;
    this.#finRequested = true;
    this.#pump();
  }

  /** The consumer processed `n` data bytes: frees window (an ACK goes out when worthwhile). */
  consumed(n: number): void {
    if (this.#closed || n <= 0) return;
    let left = n;
    while (left > 0) {
      const head = this.#delivered[0];
      if (!head) break;
      const take = Math.min(left, head.data);
      head.data -= take;
      left -= take;
      if (head.data > 0) {
        this.#consumedSeq = head.end - head.data;
        break;
      }
      this.#delivered.shift();
      this.#consumedSeq = head.end;
      // Control records behind it were consumed when delivered.
      while (this.#delivered[0] && this.#delivered[0].data === 0) {
        this.#consumedSeq = this.#delivered[0].end;
        this.#delivered.shift();
      }
    }
    this.#maybeAck();
  }

  /** Aborts both directions and tells the peer why. */
  reset(code: ErrorCode, message: string): void {
    if (this.#closed) return;
    this.#send(encodeFrame({ type: 'reset', error: { code, message } }));
    this.#close(new OutpostError(code, message), false);
  }

  /**
   * After the link came back: go back to the last ACK and send everything again,
   * plus our FIN if unacknowledged and our current ACK (duplicates are harmless).
   */
  resend(): void {
    if (this.#closed || !this.#started) return;
    this.#sendAck(false);
    this.#resendInflight();
  }

  /**
   * Called every few seconds by the owner: re-sends our ACK (a lost window update
   * must not stall the peer), and goes back to the last ACK when the peer said
   * nothing since the previous tick while we wait for it.
   */
  tick(): void {
    if (this.#closed || !this.#started) return;
    const waiting = this.#inflight.length > 0 || (this.#finOffset !== null && !this.#finAcked);
    if (waiting && !this.#heard) this.#resendInflight();
    this.#heard = false;
    this.#sendAck(false);
  }

  /** Hands the endpoint one frame from the peer. Never throws: a bad frame resets the stream. */
  receive(bytes: Uint8Array): void {
    let frame: Frame;
    try {
      frame = decodeFrame(bytes);
    } catch (err) {
      if (!this.#closed) this.#protocolError((err as Error).message);
      return;
    }
    if (this.#closed) {
      this.#afterClose(frame);
      return;
    }
    this.#heard = true;
    if (!this.#started && frame.type !== 'reset') {
      this.#started = true;
      this.#sendAck(false);
    }
    switch (frame.type) {
      case 'data':
      case 'control':
        this.#onRecord(frame.type, frame.offset, frame.type === 'data' ? frame.data : frame.payload);
        break;
      case 'ack':
        this.#onAck(frame);
        break;
      case 'fin':
        this.#onFin(frame.offset);
        break;
      case 'reset':
        this.#close(new OutpostError(frame.error.code, frame.error.message), true);
        return;
    }
    this.#pump();
    this.#maybeClose();
  }

  #afterClose(frame: Frame): void {
    // A clean close lingers: the peer may not have seen our last ACK. An aborted one repeats its RESET.
    if (frame.type === 'reset' || frame.type === 'ack') return;
    if (this.#error) this.#send(encodeFrame({ type: 'reset', error: this.#error.toBody() }));
    else this.#sendAck(false);
  }

  #onRecord(kind: 'data' | 'control', offset: number, payload: Uint8Array): void {
    const end = offset + payload.length;
    if (this.#peerFin !== null && end > this.#peerFin) {
      this.#protocolError('data past the end of the stream');
      return;
    }
    if (end <= this.#recvNext) {
      this.#sendAck(false); // a duplicate: our ACK was lost or the peer went back
      return;
    }
    if (offset > this.#recvNext) {
      // A gap: ask once for everything again, until the gap is filled.
      this.#sendAck(!this.#nackSent);
      this.#nackSent = true;
      return;
    }
    if (kind === 'control' && offset !== this.#recvNext) {
      this.#protocolError('overlapping CONTROL frame');
      return;
    }
    const fresh = payload.subarray(this.#recvNext - offset);
    if (this.#recvNext + fresh.length > this.#consumedSeq + this.window) {
      this.#protocolError('peer exceeded the flow-control window', 'E_TOO_LARGE');
      return;
    }
    this.#recvNext += fresh.length;
    this.#nackSent = false;
    if (kind === 'data') {
      this.#delivered.push({ end: this.#recvNext, data: fresh.length });
      this.events.data?.(fresh);
    } else {
      let value: Record<string, unknown>;
      try {
        value = parseControl(fresh);
      } catch (err) {
        this.#protocolError((err as Error).message);
        return;
      }
      if (this.#delivered.length === 0) this.#consumedSeq = this.#recvNext;
      else this.#delivered.push({ end: this.#recvNext, data: 0 });
      this.events.control?.(value);
    }
    if (this.#closed) return;
    if (this.#peerFin === this.#recvNext) this.#deliverEnd();
    this.#maybeAck();
  }

  #onAck(frame: Extract<Frame, { type: 'ack' }>): void {
    if (frame.offset > this.#sendNext) {
      this.#protocolError('ACK for data never sent');
      return;
    }
    if (frame.offset < this.#acked) return; // stale
    if (frame.window < MIN_WINDOW && frame.window !== 0) {
      this.#protocolError('ACK window below the minimum');
      return;
    }
    this.#acked = frame.offset;
    this.#peerLimit = frame.offset + frame.window;
    while (this.#inflight.length > 0) {
      const head = this.#inflight[0] as Outgoing;
      const headEnd = head.offset + head.payload.length;
      if (headEnd <= this.#acked) {
        this.#inflight.shift();
        this.#inflightBytes -= head.payload.length;
        continue;
      }
      if (head.kind === 'data' && head.offset < this.#acked) {
        const cut = this.#acked - head.offset;
        head.payload = head.payload.subarray(cut);
        head.offset = this.#acked;
        this.#inflightBytes -= cut;
      }
      break;
    }
    if (frame.fin) {
      // The FIN flag says the peer received our FIN (so every byte before it); the offset
      // still counts only what its consumer has consumed.
      if (this.#finOffset === null) {
        this.#protocolError('ACK of a FIN never sent');
        return;
      }
      if (!this.#finAcked) {
        this.#finAcked = true;
        this.events.finished?.();
      }
    }
    if (frame.nack) this.#resendInflight();
  }

  #onFin(offset: number): void {
    if (this.#peerFin !== null && offset !== this.#peerFin) {
      this.#protocolError('FIN moved');
      return;
    }
    if (offset < this.#recvNext) {
      this.#protocolError('FIN before data already received');
      return;
    }
    this.#peerFin = offset;
    if (offset === this.#recvNext) {
      if (!this.#ended) this.#deliverEnd();
      else this.#sendAck(false);
    } else {
      this.#sendAck(!this.#nackSent);
      this.#nackSent = true;
    }
  }

  #deliverEnd(): void {
    this.#ended = true;
    this.events.end?.();
    if (!this.#closed) this.#sendAck(false);
  }

  /**
   * ACKs once a quarter of the window was consumed since the last one: the peer then always
   * has room to keep sending, and a fast stream costs one ACK per quarter window, not one per
   * frame. Smaller progress (keystrokes) is acknowledged by the next `tick()`.
   */
  #maybeAck(): void {
    if (this.#closed || !this.#started) return;
    if (this.#consumedSeq - this.#lastAckSent >= this.window / 4) this.#sendAck(false);
  }

  #sendAck(nack: boolean): void {
    this.#lastAckSent = this.#consumedSeq;
    this.#send(encodeFrame({ type: 'ack', offset: this.#consumedSeq, window: this.window, fin: this.#ended, nack }));
  }

  #resendInflight(): void {
    for (const r of this.#inflight) this.#send(encodeFrame(toFrame(r)));
    if (this.#finOffset !== null && !this.#finAcked) this.#send(encodeFrame({ type: 'fin', offset: this.#finOffset }));
  }

  #pump(): void {
    if (!this.#started || this.#closed) return;
    while (this.#pending.length > 0) {
      const head = this.#pending[0] as Outgoing;
      const room = this.#peerLimit - this.#sendNext;
      if (room <= 0) break;
      let rec: Outgoing;
      if (head.kind === 'control' || head.payload.length <= room) {
        if (head.kind === 'control' && head.payload.length > room) break;
        this.#pending.shift();
        rec = head;
      } else {
        rec = { kind: 'data', offset: -1, payload: head.payload.subarray(0, room) };
        head.payload = head.payload.subarray(room);
      }
      rec.offset = this.#sendNext;
      this.#sendNext += rec.payload.length;
      this.#pendingBytes -= rec.payload.length;
      this.#inflight.push(rec);
      this.#inflightBytes += rec.payload.length;
      this.#send(encodeFrame(toFrame(rec)));
    }
    if (this.#pending.length === 0 && this.#finRequested && this.#finOffset === null) {
      this.#finOffset = this.#sendNext;
      this.#send(encodeFrame({ type: 'fin', offset: this.#finOffset }));
    }
    if (this.#wantDrain && this.#pendingBytes < this.#highWaterMark) {
      this.#wantDrain = false;
      this.events.drain?.();
    }
  }

  #maybeClose(): void {
    if (!this.#closed && this.#finAcked && this.#ended) this.#close(null, false);
  }

  #protocolError(message: string, code: ErrorCode = 'E_BAD_ARGS'): void {
    this.reset(code, `stream protocol error: ${message}`);
  }

  #close(error: OutpostError | null, byPeer: boolean): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#error = error;
    this.#pending.length = 0;
    this.#inflight.length = 0;
    this.#pendingBytes = 0;
    this.#inflightBytes = 0;
    this.#delivered.length = 0;
    this.events.close?.(error, byPeer);
  }
}

function toFrame(r: Outgoing): Frame {
  return r.kind === 'data'
    ? { type: 'data', offset: r.offset, data: r.payload }
    : { type: 'control', offset: r.offset, payload: r.payload };
}
