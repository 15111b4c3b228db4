/**
 * StreamDuplex (docs/protocol.md §Byte streams): two real Duplex ends joined by an
 * asynchronous in-memory wire. pipe() must respect backpressure end to end (a slow
 * reader bounds what the writer may have in flight), and aborts must reach both sides.
 */
import { createHash, randomBytes } from 'node:crypto';
import { PassThrough, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { OutpostError } from './errors.js';
import { StreamDuplex } from './stream-duplex.js';

/** Two ends; frames cross on the next tick, like a network would deliver them. */
function joined(window?: number) {
  let a!: StreamDuplex;
  let b!: StreamDuplex;
  const opts = window ? { window } : {};
  a = new StreamDuplex({ ...opts, send: (f) => setImmediate(() => b.receive(Uint8Array.from(f))) });
  b = new StreamDuplex({ ...opts, send: (f) => setImmediate(() => a.receive(Uint8Array.from(f))) });
  b.endpoint.start(); // b accepts the stream, as a device does
  return { a, b };
}

describe('StreamDuplex', () => {
  it('pipes 4 MiB through a slow reader without ever exceeding the window', async () => {
    const { a, b } = joined(64 * 1024);
    const data = randomBytes(4 * 1024 * 1024);
    const hash = createHash('sha256');
    let maxInFlight = 0;
    const slow = new Writable({
      highWaterMark: 16 * 1024,
      write(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        maxInFlight = Math.max(maxInFlight, a.endpoint.unackedBytes);
        setTimeout(cb, 0);
      },
    });
    b.end(); // b sends nothing
    const source = new PassThrough();
    source.end(data);
    await Promise.all([pipeline(source, a), pipeline(b, slow)]);
    expect(hash.digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
    expect(maxInFlight).toBeGreaterThan(0);
    expect(maxInFlight).toBeLessThanOrEqual(64 * 1024);
    expect(await a.done).toBeNull();
    expect(await b.done).toBeNull();
  });

  it('delivers control messages in order with the data', async () => {
    const { a, b } = joined();
    const seen: string[] = [];
    b.on('data', (c: Buffer) => seen.push(`data:${c.toString()}`));
    b.on('control', (v: Record<string, unknown>) => seen.push(`control:${String(v.n)}`));
    a.write('x');
    a.sendControl({ n: 1 });
    a.write('y');
    a.end();
    await new Promise((r) => b.once('end', r));
    expect(seen).toEqual(['data:x', 'control:1', 'data:y']);
  });

  it('an abort reaches the peer as an error with its code', async () => {
    const { a, b } = joined();
    const failed = new Promise<Error>((r) => b.once('error', r));
    a.on('error', () => {});
    a.write('hello');
    await new Promise((r) => setTimeout(r, 10));
    a.abort('E_TIMEOUT', 'idle');
    const err = await failed;
    expect(err).toBeInstanceOf(OutpostError);
    expect((err as OutpostError).code).toBe('E_TIMEOUT');
    expect(b.abortedByPeer).toBe(true);
    expect(a.abortedByPeer).toBe(false);
    expect((await b.done)?.code).toBe('E_TIMEOUT');
  });

  it('destroying one end resets the other', async () => {
    const { a, b } = joined();
    b.on('error', () => {});
    a.on('error', () => {});
    a.write('x');
    await new Promise((r) => setTimeout(r, 10));
    a.destroy();
    expect((await b.done)?.code).toBe('E_INTERNAL');
  });
});
