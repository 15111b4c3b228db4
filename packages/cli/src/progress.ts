/**
 * A one-line transfer progress bar on stderr (bytes, %, speed, ETA), redrawn in
 * place at most a few times a second, only when stderr is a terminal.
 */
import { formatDuration } from './duration.js';

/** `1.5 MiB`, `312 B`. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v >= 100 ? 0 : 1)} ${units[i]}`;
}

/** The line for `done` of `total` bytes after `seconds` (of which `base` bytes were there before we started). */
export function progressLine(label: string, done: number, total: number | null, seconds: number, base = 0): string {
  const moved = Math.max(0, done - base);
  const speed = seconds > 0 ? moved / seconds : 0;
  const parts = [label];
  if (total !== null && total > 0) {
    const pct = Math.min(100, (done / total) * 100);
    const width = 24;
    const fill = Math.round((pct / 100) * width);
    parts.push(`[${'#'.repeat(fill)}${'.'.repeat(width - fill)}]`, `${pct.toFixed(0).padStart(3)}%`);
    parts.push(`${formatBytes(done)}/${formatBytes(total)}`);
  } else {
    parts.push(formatBytes(done));
  }
  parts.push(`${formatBytes(Math.round(speed))}/s`);
  if (total !== null && speed > 0 && done < total) parts.push(`ETA ${formatDuration((total - done) / speed)}`);
  return parts.join('  ');
}

export class ProgressBar {
  private readonly started = Date.now();
  private last = 0;
  private drawn = false;

  constructor(
    private readonly out: { write(chunk: string): unknown; isTTY?: boolean },
    private readonly label: string,
    private total: number | null,
    /** Bytes already in place before this run (a resumed transfer): not counted in the speed. */
    private readonly base = 0,
  ) {}

  get enabled(): boolean {
    return this.out.isTTY === true;
  }

  setTotal(total: number | null): void {
    this.total = total;
  }

  update(done: number, force = false): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (!force && now - this.last < 200) return;
    this.last = now;
    const line = progressLine(this.label, done, this.total, (now - this.started) / 1000, this.base);
    this.out.write(`\r\x1b[K${line}`);
    this.drawn = true;
  }

  /** Ends the line (leaves the final state visible). */
  finish(done?: number): void {
    if (done !== undefined) this.update(done, true);
    if (this.drawn) this.out.write('\n');
    this.drawn = false;
  }
}
