/**
 * Relays one byte stream between a device (MQTT) and a WebSocket client that speaks the
 * same frames (docs/protocol.md §Byte streams, §WebSocket clients). The server is not an
 * endpoint here, but it reads every frame: DATA and CONTROL must fit in the window the
 * receiving side advertised (so neither side can make the server buffer more than a
 * window), malformed frames abort the stream, and hooks see each byte from the device
 * and each CONTROL from the client exactly once, in order (terminal recordings).
 */
import {
  decodeFrame,
  type ErrorCode,
  encodeFrame,
  type Frame,
  messageBytes,
  OutpostError,
  parseControl,
} from '@outpost/protocol';
import type { WebSocket } from 'ws';
import type { Logger } from '../log.js';
import type { CommandView } from './command-view.js';

export type RelaySocket = WebSocket;

export interface RelayHooks {
  /** New bytes from the device, each exactly once and in order. */
  onDeviceData?(bytes: Uint8Array): void;
  /** A CONTROL message from the client, exactly once and in order (already forwarded). */
  onClientControl?(value: Record<string, unknown>): void;
}

/** Above this many bytes queued on the WebSocket, DATA to the client is dropped (the stream resends it). */
const MAX_SOCKET_BUFFER = 4 * 1024 * 1024;
/** More frames than this per second from a client is abuse. */
const MAX_CLIENT_FRAMES_PER_SECOND = 5000;
/** After the stream ended, how long the relay waits for the command's result before closing. */
const RESULT_WAIT_MS = 10_000;

/** What one direction's receiver has allowed, and how far the sender's sequence has been seen. */
class Direction {
  limit = 0;
  seen = 0;
  /** What the receiver acknowledged (consumed), and the most ever seen but not acknowledged. */
  acked = 0;
  maxUnacked = 0;
  fin: number | null = null;
  finAcked = false;

  allow(frame: Extract<Frame, { type: 'ack' }>): void {
    this.limit = Math.max(this.limit, frame.offset + frame.window);
    this.acked = Math.max(this.acked, frame.offset);
    if (frame.fin && this.fin !== null) this.finAcked = true;
  }

  /** The bytes of a DATA/CONTROL frame not seen before (null for a duplicate or a gap). */
  fresh(offset: number, payload: Uint8Array): Uint8Array | null {
    const end = offset + payload.length;
    if (end <= this.seen || offset > this.seen) return null;
    const out = payload.subarray(this.seen - offset);
    this.seen = end;
    this.maxUnacked = Math.max(this.maxUnacked, this.seen - this.acked);
    return out;
  }
}

export class StreamRelay {
  readonly done: Promise<void>;
  readonly #socket: RelaySocket;
  readonly #hooks: RelayHooks;
  readonly #log: Logger;
  readonly #toDevice: (frame: Uint8Array) => void;
  readonly #onClose: (error: OutpostError | null) => void;
  /** device → client */
  readonly #down = new Direction();
  /** client → device */
  readonly #up = new Direction();
  #ended = false;
  #error: OutpostError | null = null;
  #final: CommandView | null = null;
  #socketClosed = false;
  #second = 0;
  #framesThisSecond = 0;
  #dropped = 0;
  /** The client's latest ACK, as sent to the device (repeated to a device that missed it). */
  lastAckToDevice: Uint8Array | null = null;
  #resolveDone: () => void = () => {};

  constructor(o: {
    socket: RelaySocket;
    hooks: RelayHooks;
    log: Logger;
    toDevice: (frame: Uint8Array) => void;
    onClose: (error: OutpostError | null) => void;
  }) {
    this.#socket = o.socket;
    this.#hooks = o.hooks;
    this.#log = o.log;
    this.#toDevice = o.toDevice;
    this.#onClose = o.onClose;
    this.done = new Promise((resolve) => {
      this.#resolveDone = resolve;
    });
    o.socket.on('message', (data, isBinary) => {
      if (!isBinary) {
        this.abort('E_BAD_ARGS', 'clients send binary stream frames only');
        return;
      }
      this.#fromClient(messageBytes(data));
    });
    o.socket.on('close', () => {
      this.#socketClosed = true;
      if (!this.#ended) {
        this.#toDevice(
          encodeFrame({ type: 'reset', error: { code: 'E_OFFLINE', message: 'the client disconnected' } }),
        );
        this.#end(new OutpostError('E_OFFLINE', 'the client disconnected'));
      }
      this.#resolveDone();
    });
    o.socket.on('error', (err) => this.#log.debug({ err: err.message }, 'stream client socket error'));
  }

  /**
   * Flow counters: the most device bytes in flight to the client (sent by the device, not
   * yet consumed by the client), and DATA frames dropped for a slow client socket.
   */
  get stats(): { maxUnacked: number; dropped: number } {
    return { maxUnacked: this.#down.maxUnacked, dropped: this.#dropped };
  }

  /** A JSON event for the client (text message). */
  sendEvent(event: Record<string, unknown>): void {
    if (this.#socketClosed || this.#socket.readyState !== this.#socket.OPEN) return;
    this.#socket.send(JSON.stringify(event));
  }

  /** The opening command is final: tell the client, then close once the stream is over. */
  commandEnded(command: CommandView): void {
    this.#final = command;
    if (this.#ended) this.#closeSocket();
    else {
      setTimeout(() => {
        if (!this.#ended) this.abort('E_INTERNAL', 'the device ended the command with its stream open');
      }, RESULT_WAIT_MS).unref();
    }
  }

  /** Aborts both ways: RESET to the device and the client, then an `error` event. */
  abort(code: ErrorCode, message: string): void {
    if (this.#ended) return;
    const reset = encodeFrame({ type: 'reset', error: { code, message } });
    this.#toDevice(reset);
    this.#toClient(reset, true);
    this.#end(new OutpostError(code, message));
  }

  fromDevice(bytes: Uint8Array): void {
    if (this.#ended) return;
    let frame: Frame;
    try {
      frame = decodeFrame(bytes);
    } catch (err) {
      this.#log.warn({ err: (err as Error).message }, 'malformed stream frame from the device');
      this.abort('E_INTERNAL', 'the device sent a malformed stream frame');
      return;
    }
    switch (frame.type) {
      case 'data':
      case 'control': {
        const payload = frame.type === 'data' ? frame.data : frame.payload;
        if (frame.offset + payload.length > this.#down.limit) {
          this.#log.warn({ offset: frame.offset, limit: this.#down.limit }, 'device exceeded the stream window');
          this.abort('E_TOO_LARGE', 'the device exceeded the flow-control window');
          return;
        }
        const fresh = this.#down.fresh(frame.offset, payload);
        // The client first: the recording is no reason to delay a keystroke's echo.
        this.#toClient(bytes, frame.type !== 'data');
        if (fresh && frame.type === 'data') this.#hooks.onDeviceData?.(fresh);
        return;
      }
      case 'ack':
        this.#up.allow(frame);
        this.#toClient(bytes, true);
        break;
      case 'fin':
        this.#down.fin = frame.offset;
        this.#toClient(bytes, true);
        break;
      case 'reset':
        this.#toClient(bytes, true);
        this.#end(new OutpostError(frame.error.code, frame.error.message));
        return;
    }
    this.#checkClean();
  }

  #fromClient(bytes: Uint8Array): void {
    if (this.#ended) return;
    const second = Math.floor(Date.now() / 1000);
    if (second !== this.#second) {
      this.#second = second;
      this.#framesThisSecond = 0;
    }
    if (++this.#framesThisSecond > MAX_CLIENT_FRAMES_PER_SECOND) {
      this.abort('E_RATE_LIMITED', 'too many stream frames');
      return;
    }
    let frame: Frame;
    try {
      frame = decodeFrame(bytes);
    } catch (err) {
      this.abort('E_BAD_ARGS', (err as Error).message);
      return;
    }
    switch (frame.type) {
      case 'data':
      case 'control': {
        const payload = frame.type === 'data' ? frame.data : frame.payload;
        if (frame.offset + payload.length > this.#up.limit) {
          this.abort('E_TOO_LARGE', 'the client exceeded the flow-control window');
          return;
        }
        const fresh = this.#up.fresh(frame.offset, payload);
        this.#toDevice(bytes);
        if (fresh && frame.type === 'control' && this.#hooks.onClientControl) {
          try {
            this.#hooks.onClientControl(parseControl(fresh));
          } catch {
            // The device judges and answers a malformed CONTROL itself.
          }
        }
        return;
      }
      case 'ack':
        this.#down.allow(frame);
        this.lastAckToDevice = bytes;
        this.#toDevice(bytes);
        break;
      case 'fin':
        this.#up.fin = frame.offset;
        this.#toDevice(bytes);
        break;
      case 'reset':
        this.#toDevice(bytes);
        this.#end(new OutpostError(frame.error.code, frame.error.message));
        return;
    }
    this.#checkClean();
  }

  #toClient(bytes: Uint8Array, always: boolean): void {
    if (this.#socketClosed || this.#socket.readyState !== this.#socket.OPEN) return;
    if (!always && this.#socket.bufferedAmount > MAX_SOCKET_BUFFER) {
      // Safe to drop: the client sees a gap, asks again, and the device resends.
      if (this.#dropped++ % 100 === 0) this.#log.warn({ buffered: this.#socket.bufferedAmount }, 'slow stream client');
      return;
    }
    this.#socket.send(bytes, { binary: true });
  }

  #checkClean(): void {
    if (this.#down.finAcked && this.#up.finAcked) this.#end(null);
  }

  #end(error: OutpostError | null): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#error = error;
    this.#onClose(error);
    if (error) this.sendEvent({ type: 'error', error: error.toBody() });
    if (this.#final) this.#closeSocket();
    else {
      // Wait for the command's result (a shell's exit code), but not forever.
      setTimeout(() => this.#closeSocket(), RESULT_WAIT_MS).unref();
    }
  }

  #closeSocket(): void {
    if (this.#socketClosed) return;
    if (this.#final) this.sendEvent({ type: 'end', command: this.#final });
    this.#socketClosed = true;
    this.#socket.close(this.#error ? 4000 : 1000, this.#error ? this.#error.code : 'done');
    this.#resolveDone();
  }
}
