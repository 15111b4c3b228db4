/**
 * An incremental Server-Sent Events parser (WHATWG HTML §9.2.6 "Interpreting an event stream"):
 * bytes go in as they arrive, complete events come out, whatever the chunk boundaries.
 */

export interface SseEvent {
  /** `message` when the frame named none. */
  event: string;
  data: string;
  /** The last event id seen so far (it persists across events, per the spec). */
  id: string | undefined;
  retry: number | undefined;
}

export class SseParser {
  private readonly decoder = new TextDecoder('utf-8');
  private buffer = '';
  private sawBom = false;
  /** A chunk ended in CR: a LF at the start of the next chunk belongs to the same line break. */
  private pendingCr = false;
  private eventType = '';
  private data: string[] = [];
  private lastId: string | undefined;
  private retry: number | undefined;

  /** Feeds bytes (or text) and returns the events they completed, in order. */
  push(chunk: Uint8Array | string): SseEvent[] {
    let text = typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true });
    if (!this.sawBom && text.length > 0) {
      this.sawBom = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    if (this.pendingCr && text.startsWith('\n')) text = text.slice(1);
    this.pendingCr = false;
    this.buffer += text;
    const events: SseEvent[] = [];
    let start = 0;
    for (let i = 0; i < this.buffer.length; i++) {
      const c = this.buffer.charCodeAt(i);
      if (c !== 0x0a && c !== 0x0d) continue;
      const line = this.buffer.slice(start, i);
      if (c === 0x0d) {
        if (i + 1 < this.buffer.length) {
          if (this.buffer.charCodeAt(i + 1) === 0x0a) i++;
        } else {
          this.pendingCr = true;
        }
      }
      start = i + 1;
      const event = this.line(line);
      if (event) events.push(event);
    }
    this.buffer = this.buffer.slice(start);
    return events;
  }

  /** The stream ended: a partial event without its blank line is dropped, as the spec says. */
  end(): void {
    this.decoder.decode();
    this.buffer = '';
    this.data = [];
    this.eventType = '';
  }

  private line(line: string): SseEvent | undefined {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) return undefined; // a comment: keep-alives look like this
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        this.eventType = value;
        break;
      case 'data':
        this.data.push(value);
        break;
      case 'id':
        if (!value.includes('\0')) this.lastId = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.retry = Number(value);
        break;
      default:
        break; // unknown fields are ignored
    }
    return undefined;
  }

  private dispatch(): SseEvent | undefined {
    const hadData = this.data.length > 0;
    const event: SseEvent = {
      event: this.eventType || 'message',
      data: this.data.join('\n'),
      id: this.lastId,
      retry: this.retry,
    };
    this.data = [];
    this.eventType = '';
    return hadData ? event : undefined;
  }
}
