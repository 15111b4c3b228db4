/**
 * A Node.js Duplex over one StreamEndpoint (docs/protocol.md §Byte streams), for the
 * agent, the server and the CLI: `pipe()` works with backpressure end to end, because
 * the endpoint reports bytes as consumed only when the readable side hands them on.
 * Node-only (node:stream); browsers use StreamEndpoint directly. Tree-shaken from
 * bundles that do not import it (the package has no side effects).
 */
import { Duplex } from 'node:stream';
import { type ErrorCode, OutpostError } from './errors.js';
import { StreamEndpoint, type StreamEndpointOptions } from './stream.js';

/**
 * A WebSocket message as the `ws` library hands it over (a Buffer, an ArrayBuffer, or a list of
 * fragments) as one Buffer, without a copy when it is one already (a frame on a keystroke's path).
 */
export function messageBytes(data: Buffer | ArrayBuffer | Buffer[]): Buffer {
  if (Buffer.isBuffer(data)) return data;
  return Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
}

export interface StreamDuplexOptions extends Omit<StreamEndpointOptions, 'events'> {
  /** Readable buffer above which chunks wait in the endpoint's window (default 64 KiB). */
  readableHighWaterMark?: number;
}

/**
 * Events besides the Duplex ones: `control` (value: Record<string, unknown>) for each
 * CONTROL message from the peer. A RESET from the peer destroys it with an OutpostError.
 */
export class StreamDuplex extends Duplex {
  readonly endpoint: StreamEndpoint;
  /**
   * Settles when the stream is over both ways: null after a clean close (both FINs
   * acknowledged), the OutpostError after an abort (RESET either way, protocol error).
   */
  readonly done: Promise<OutpostError | null>;
  #settle: (error: OutpostError | null) => void = () => {};
  #abortedByPeer = false;
  readonly #queue: Uint8Array[] = [];
  #wantRead = false;
  #peerEnded = false;
  #writeCallback: ((err?: Error | null) => void) | null = null;
  #finalCallback: ((err?: Error | null) => void) | null = null;

  constructor(options: StreamDuplexOptions) {
    const { readableHighWaterMark, ...endpointOptions } = options;
    super({
      allowHalfOpen: true,
      readableHighWaterMark: readableHighWaterMark ?? 64 * 1024,
      writableHighWaterMark: options.highWaterMark ?? 64 * 1024,
    });
    this.done = new Promise((resolve) => {
      this.#settle = resolve;
    });
    this.endpoint = new StreamEndpoint({
      ...endpointOptions,
      events: {
        data: (chunk) => {
          this.#queue.push(chunk);
          this.#flush();
        },
        control: (value) => {
          this.emit('control', value);
        },
        end: () => {
          this.#peerEnded = true;
          this.#flush();
        },
        drain: () => {
          const cb = this.#writeCallback;
          this.#writeCallback = null;
          cb?.();
        },
        finished: () => {
          const cb = this.#finalCallback;
          this.#finalCallback = null;
          cb?.();
        },
        close: (error, byPeer) => {
          this.#abortedByPeer = error !== null && byPeer;
          this.#settle(error);
          if (error) {
            const pending = [this.#writeCallback, this.#finalCallback];
            this.#writeCallback = null;
            this.#finalCallback = null;
            for (const cb of pending) cb?.(error);
            this.destroy(error);
          }
        },
      },
    });
  }

  /** True when the peer aborted the stream (its RESET), false for a local abort or a clean close. */
  get abortedByPeer(): boolean {
    return this.#abortedByPeer;
  }

  /** Hands over one frame from the wire. */
  receive(frame: Uint8Array): void {
    this.endpoint.receive(frame);
  }

  /** Sends a CONTROL message, in order with written data. */
  sendControl(value: Record<string, unknown>): void {
    this.endpoint.control(value);
  }

  /** Aborts both directions with a coded reason (the peer gets a RESET) and destroys the stream. */
  abort(code: ErrorCode, message: string): void {
    const error = new OutpostError(code, message);
    this.endpoint.reset(code, message);
    if (!this.destroyed) this.destroy(error);
  }

  #flush(): void {
    while (this.#wantRead && this.#queue.length > 0) {
      const chunk = this.#queue.shift() as Uint8Array;
      // Handed to the readable buffer, which stays near its high-water mark: consumed.
      this.endpoint.consumed(chunk.length);
      this.#wantRead = this.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    }
    if (this.#peerEnded && this.#queue.length === 0 && !this.readableEnded) {
      this.#peerEnded = false;
      this.push(null);
    }
  }

  override _read(): void {
    this.#wantRead = true;
    this.#flush();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    if (this.endpoint.closed) {
      callback(this.endpoint.error ?? new OutpostError('E_CONFLICT', 'stream is closed'));
      return;
    }
    if (this.endpoint.write(chunk)) callback();
    else this.#writeCallback = callback;
  }

  override _final(callback: (err?: Error | null) => void): void {
    if (this.endpoint.closed && !this.endpoint.finished) {
      callback(this.endpoint.error ?? new OutpostError('E_CONFLICT', 'stream is closed'));
      return;
    }
    this.endpoint.end();
    if (this.endpoint.finished) callback();
    else this.#finalCallback = callback;
  }

  override _destroy(error: Error | null, callback: (err?: Error | null) => void): void {
    if (!this.endpoint.closed) {
      const code = error instanceof OutpostError ? error.code : 'E_INTERNAL';
      this.endpoint.reset(code, error instanceof OutpostError ? error.message : 'stream aborted');
    }
    callback(error);
  }
}
