/**
 * Groups followed log lines into `out` chunks: NDJSON (one `LogLine` per text
 * line), sent every `intervalMs` or as soon as `maxBytes` are waiting, so a busy
 * log makes a few messages a second rather than one per line. Never emits from
 * inside `add`: a line logged while emitting cannot recurse back into it.
 */
import type { LogLine } from '@outpost/protocol';
import type { OutputStream } from '../capabilities/capability.js';

export class LineBatcher {
  private pending: string[] = [];
  private bytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  /** Lines handed to `emit` so far. */
  sent = 0;

  constructor(
    private readonly emit: (stream: OutputStream, chunk: Buffer) => void,
    private readonly intervalMs = 100,
    private readonly maxBytes = 32 * 1024,
  ) {}

  add(line: LogLine): void {
    const text = `${JSON.stringify(line)}\n`;
    this.pending.push(text);
    this.bytes += Buffer.byteLength(text);
    if (this.bytes >= this.maxBytes) {
      this.immediate ??= setImmediate(() => this.flush());
    } else {
      this.timer ??= setTimeout(() => this.flush(), this.intervalMs);
    }
  }

  flush(): void {
    clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
    if (this.pending.length === 0) return;
    const chunk = Buffer.from(this.pending.join(''), 'utf8');
    this.sent += this.pending.length;
    this.pending = [];
    this.bytes = 0;
    this.emit('stdout', chunk);
  }
}
