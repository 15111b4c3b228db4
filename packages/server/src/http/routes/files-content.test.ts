/** The pieces of the file-content routes that need no device: frame joining and the Range header. */
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { coalesce, rangeStart } from './files-content.js';

/** The chunks coalesce() emits, one 'data' event each (a reader's read() would join them again). */
async function frames(input: Buffer[]): Promise<Buffer[]> {
  const out: Buffer[] = [];
  const joined = Readable.from(input).pipe(coalesce(65_536));
  joined.on('data', (chunk: Buffer) => out.push(chunk));
  await finished(joined);
  return out;
}

describe('coalesce', () => {
  it('joins small chunks into whole frames and keeps every byte in order', async () => {
    const input = Buffer.from(Array.from({ length: 100_000 }, (_, i) => i % 251));
    const pieces = [];
    for (let off = 0; off < input.length; off += 16_384) pieces.push(input.subarray(off, off + 16_384));
    const out = await frames(pieces);
    expect(out.map((b) => b.length)).toEqual([65_536, 100_000 - 65_536]);
    expect(Buffer.concat(out).equals(input)).toBe(true);
  });

  it('cuts a chunk larger than a frame into frames', async () => {
    const out = await frames([Buffer.alloc(200_000, 1)]);
    expect(out.map((b) => b.length)).toEqual([65_536, 65_536, 65_536, 3_392]);
  });
});

describe('rangeStart', () => {
  it('reads an open-ended byte range and ignores every other form', () => {
    expect(rangeStart('bytes=1024-')).toBe(1024);
    expect(rangeStart('bytes=0-')).toBe(0);
    for (const other of [undefined, 'bytes=0-10', 'bytes=-500', 'bytes=1-,5-', 'items=1-', 'bytes=x-']) {
      expect(rangeStart(other)).toBeUndefined();
    }
  });
});
