/**
 * Terminal recordings in asciicast v2 (https://docs.asciinema.org/manual/asciicast/v2/):
 * a JSON header line, then one `[seconds, "o", text]` line per burst of output and one
 * `[seconds, "r", "COLSxROWS"]` line per resize. Output is decoded as UTF-8 across chunk
 * boundaries; bytes that are not UTF-8 become U+FFFD, as in any terminal player.
 */
import { createWriteStream, type WriteStream } from 'node:fs';

/** Output is gathered this long into one event, so a flood makes few, large lines. */
const COALESCE_MS = 20;
const COALESCE_BYTES = 64 * 1024;
/** A recording stops growing past this size (a note at the end says so). */
export const MAX_RECORDING_BYTES = 512 * 1024 * 1024;

export class AsciicastRecorder {
  readonly #file: WriteStream;
  readonly #started: number;
  readonly #decoder = new TextDecoder('utf-8', { fatal: false });
  /** Output not yet written, kept as it came (decoded at the flush, off a keystroke's path). */
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #pendingAt = 0;
  #timer: NodeJS.Timeout | undefined;
  #bytes = 0;
  #full = false;
  #closed = false;

  constructor(
    path: string,
    header: { cols: number; rows: number; term: string; title: string; command: string[] | null },
  ) {
    this.#started = Date.now();
    this.#file = createWriteStream(path, { flags: 'wx', mode: 0o600 });
    this.#file.on('error', () => {
      this.#full = true;
    });
    this.#line({
      version: 2,
      width: header.cols,
      height: header.rows,
      timestamp: Math.floor(this.#started / 1000),
      title: header.title,
      env: { TERM: header.term },
      ...(header.command ? { command: header.command.join(' ') } : {}),
    });
  }

  /** Bytes written so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Device output, in order; `bytes` is kept until the next flush and must not change. */
  output(bytes: Uint8Array): void {
    if (this.#closed || bytes.length === 0) return;
    if (this.#pendingBytes === 0) this.#pendingAt = Date.now();
    this.#pending.push(bytes);
    this.#pendingBytes += bytes.length;
    if (this.#pendingBytes >= COALESCE_BYTES) this.#flush();
    else this.#timer ??= setTimeout(() => this.#flush(), COALESCE_MS);
  }

  resize(cols: number, rows: number): void {
    if (this.#closed) return;
    this.#flush();
    this.#event(Date.now(), 'r', `${cols}x${rows}`);
  }

  /** Writes what is pending and closes the file; resolves with its size. */
  async close(): Promise<number> {
    if (this.#closed) return this.#bytes;
    this.#flush(true);
    this.#closed = true;
    await new Promise<void>((resolve) => this.#file.end(() => resolve()));
    return this.#bytes;
  }

  /** Writes pending output as one event; `last`: also what an unfinished UTF-8 sequence left. */
  #flush(last = false): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    let text = '';
    for (const chunk of this.#pending) text += this.#decoder.decode(chunk, { stream: true });
    if (last) text += this.#decoder.decode();
    this.#pending = [];
    this.#pendingBytes = 0;
    if (text !== '') this.#event(this.#pendingAt, 'o', text);
  }

  #event(at: number, kind: 'o' | 'r', data: string): void {
    this.#line([Number(((at - this.#started) / 1000).toFixed(6)), kind, data]);
  }

  #line(value: unknown): void {
    if (this.#full) return;
    const line = `${JSON.stringify(value)}\n`;
    const size = Buffer.byteLength(line);
    if (this.#bytes + size > MAX_RECORDING_BYTES) {
      this.#full = true;
      const note = `${JSON.stringify([Number(((Date.now() - this.#started) / 1000).toFixed(6)), 'o', '\r\n[outpost: recording size limit reached]\r\n'])}\n`;
      this.#file.write(note);
      this.#bytes += Buffer.byteLength(note);
      return;
    }
    this.#file.write(line);
    this.#bytes += size;
  }
}
