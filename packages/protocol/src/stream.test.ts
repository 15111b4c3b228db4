/**
 * Byte-stream frames and endpoints (docs/protocol.md §Byte streams): the codec, and two
 * endpoints over an in-memory link that can lose, duplicate, reorder and cut frames.
 * Every byte must arrive once and in order, and no side may ever hold more than a window.
 */
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { OutpostError } from './errors.js';
import {
  DEFAULT_WINDOW,
  decodeFrame,
  encodeFrame,
  FRAME_HEADER_BYTES,
  type Frame,
  MAX_FRAME_DATA,
  MAX_OFFSET,
  StreamEndpoint,
} from './stream.js';

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface LinkPolicy {
  drop?: number;
  duplicate?: number;
  reorder?: number;
  seed?: number;
}

/** Frames in flight both ways, delivered when `run()` is called; the policy applies per frame. */
class Link {
  readonly queue: { to: 'a' | 'b'; bytes: Uint8Array }[] = [];
  up = true;
  delivered = 0;
  private readonly random: () => number;
  a!: StreamEndpoint;
  b!: StreamEndpoint;
  constructor(private readonly policy: LinkPolicy = {}) {
    this.random = rng(policy.seed ?? 1);
  }
  sender(to: 'a' | 'b'): (frame: Uint8Array) => void {
    return (frame) => {
      if (!this.up) return;
      // Copy: the wire never shares memory with the sender.
      const bytes = Uint8Array.from(frame);
      if (this.random() < (this.policy.drop ?? 0)) return;
      this.queue.push({ to, bytes });
      if (this.random() < (this.policy.duplicate ?? 0)) this.queue.push({ to, bytes });
      if (this.queue.length > 1 && this.random() < (this.policy.reorder ?? 0)) {
        const last = this.queue.length - 1;
        [this.queue[last], this.queue[last - 1]] = [this.queue[last - 1] as never, this.queue[last] as never];
      }
    };
  }
  /** Delivers until nothing is in flight (bounded, so a livelock fails the test). */
  run(limit = 1_000_000): void {
    for (let i = 0; i < limit && this.queue.length > 0; i++) {
      const f = this.queue.shift();
      if (!f) break;
      this.delivered++;
      (f.to === 'a' ? this.a : this.b).receive(f.bytes);
    }
  }
}

interface Side {
  ep: StreamEndpoint;
  got: Buffer[];
  controls: Record<string, unknown>[];
  ended: boolean;
  finished: boolean;
  closed: { error: OutpostError | null; byPeer: boolean } | null;
  maxUnconsumed: number;
  maxUnacked: number;
  drains: number;
}

function pair(policy: LinkPolicy = {}, opts: { window?: number; autoConsume?: boolean } = {}) {
  const link = new Link(policy);
  const make = (to: 'a' | 'b'): Side => {
    const side: Side = {
      ep: undefined as unknown as StreamEndpoint,
      got: [],
      controls: [],
      ended: false,
      finished: false,
      closed: null,
      maxUnconsumed: 0,
      maxUnacked: 0,
      drains: 0,
    };
    side.ep = new StreamEndpoint({
      send: (frame) => {
        side.maxUnacked = Math.max(side.maxUnacked, side.ep.unackedBytes);
        link.sender(to === 'a' ? 'b' : 'a')(frame);
      },
      ...(opts.window ? { window: opts.window } : {}),
      events: {
        data: (chunk) => {
          side.got.push(Buffer.from(chunk));
          side.maxUnconsumed = Math.max(side.maxUnconsumed, side.ep.unconsumedBytes);
          if (opts.autoConsume !== false) side.ep.consumed(chunk.length);
        },
        control: (v) => side.controls.push(v),
        end: () => {
          side.ended = true;
        },
        finished: () => {
          side.finished = true;
        },
        drain: () => {
          side.drains++;
        },
        close: (error, byPeer) => {
          side.closed = { error, byPeer };
        },
      },
    });
    return side;
  };
  const a = make('a');
  const b = make('b');
  link.a = a.ep;
  link.b = b.ep;
  return { link, a, b };
}

const sha = (bufs: Buffer[] | Buffer): string =>
  createHash('sha256')
    .update(Array.isArray(bufs) ? Buffer.concat(bufs) : bufs)
    .digest('hex');

describe('frame codec', () => {
  it('round-trips every frame type', () => {
    const frames: Frame[] = [
      { type: 'data', offset: 0, data: Uint8Array.from([1, 2, 3]) },
      { type: 'data', offset: 2 ** 40 + 7, data: new Uint8Array(MAX_FRAME_DATA) },
      { type: 'control', offset: 12, payload: new TextEncoder().encode('{"type":"resize","cols":80,"rows":24}') },
      { type: 'ack', offset: 99, window: DEFAULT_WINDOW, fin: true, nack: false },
      { type: 'ack', offset: 0, window: 0, fin: false, nack: true },
      { type: 'fin', offset: 1234567 },
      { type: 'reset', error: { code: 'E_TIMEOUT', message: 'idle' } },
    ];
    for (const f of frames) expect(decodeFrame(encodeFrame(f))).toEqual(f);
    const header = encodeFrame({ type: 'fin', offset: 0x0102_0304_0506 });
    expect([...header]).toEqual([4, 1, 2, 3, 4, 5, 6, 0]);
  });

  it('refuses malformed frames with E_BAD_ARGS', () => {
    const cases: Uint8Array[] = [
      new Uint8Array(3),
      Uint8Array.from([9, 0, 0, 0, 0, 0, 0, 0]),
      Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0]),
      Uint8Array.from([1, 0, 0, 0, 0, 0, 0, 0]),
      Uint8Array.from([1, 0, 0, 0, 0, 0, 0, 1, 5]),
      Uint8Array.from([2, 0, 0, 0, 0, 0, 0, 0, 1]),
      Uint8Array.from([2, 0, 0, 0, 0, 0, 0, 4, 0, 0, 1, 0]),
      Uint8Array.from([3, 0, 0, 0, 0, 0, 0, 0, 1]),
      Uint8Array.from([4, 0, 0, 0, 0, 0, 0, 0, 1]),
      Uint8Array.from([5, 0, 0, 0, 0, 0, 1, 0]),
      new Uint8Array(FRAME_HEADER_BYTES + MAX_FRAME_DATA + 1).fill(1, 0, 1),
    ];
    for (const c of cases) {
      expect(() => decodeFrame(c), `frame ${[...c.subarray(0, 8)]}`).toThrow(OutpostError);
      try {
        decodeFrame(c);
      } catch (err) {
        expect((err as OutpostError).code).toBe('E_BAD_ARGS');
      }
    }
    const past = encodeFrame({ type: 'data', offset: MAX_OFFSET - 1, data: new Uint8Array(4) });
    expect(() => decodeFrame(past)).toThrow(/largest offset/);
    expect(() => encodeFrame({ type: 'fin', offset: MAX_OFFSET + 1 })).toThrow(RangeError);
  });

  it('reads a RESET with an unreadable reason as E_INTERNAL', () => {
    const f = decodeFrame(Uint8Array.from([5, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xfe]));
    expect(f).toEqual({ type: 'reset', error: { code: 'E_INTERNAL', message: 'stream reset by peer' } });
  });
});

describe('StreamEndpoint', () => {
  it('the initiator sends nothing until the acceptor announces itself', () => {
    const { link, a, b } = pair();
    a.ep.write(Buffer.from('hello'));
    expect(link.queue).toHaveLength(0);
    b.ep.start();
    link.run();
    expect(Buffer.concat(b.got).toString()).toBe('hello');
  });

  it('delivers data and control messages in order both ways, then closes cleanly', () => {
    const { link, a, b } = pair();
    b.ep.start();
    a.ep.write(Buffer.from('one '));
    a.ep.control({ type: 'resize', cols: 100, rows: 30 });
    a.ep.write(Buffer.from('two'));
    b.ep.write(Buffer.from('reply'));
    link.run();
    expect(Buffer.concat(b.got).toString()).toBe('one two');
    expect(b.controls).toEqual([{ type: 'resize', cols: 100, rows: 30 }]);
    expect(Buffer.concat(a.got).toString()).toBe('reply');
    a.ep.end();
    link.run();
    expect(b.ended).toBe(true);
    expect(a.finished).toBe(true);
    expect(a.closed).toBeNull();
    b.ep.end();
    link.run();
    expect(a.ended && b.finished).toBe(true);
    expect(a.closed).toEqual({ error: null, byPeer: false });
    expect(b.closed).toEqual({ error: null, byPeer: false });
    // A closed endpoint keeps answering a peer that missed its last ACK, without an error.
    const before = link.queue.length;
    a.ep.receive(encodeFrame({ type: 'fin', offset: 5 }));
    expect(link.queue.length).toBe(before + 1);
    expect(decodeFrame(link.queue.at(-1)?.bytes as Uint8Array)).toMatchObject({ type: 'ack', fin: true });
  });

  it('never has more than the window in flight, and a slow consumer slows the producer', () => {
    const window = 64 * 1024;
    const { link, a, b } = pair({}, { window, autoConsume: false });
    b.ep.start();
    link.run();
    const data = randomBytes(1024 * 1024);
    let written = 0;
    // A well-behaved producer: writes until write() says stop, then waits for room.
    const feed = (): void => {
      while (written < data.length && a.ep.pendingBytes < 64 * 1024) {
        a.ep.write(data.subarray(written, written + 16 * 1024));
        written += 16 * 1024;
      }
      if (written >= data.length) a.ep.end();
    };
    feed();
    link.run();
    // The consumer has consumed nothing: exactly one window arrived, the rest waits at the producer.
    expect(b.ep.unconsumedBytes).toBe(window);
    expect(a.ep.unackedBytes).toBe(window);
    expect(a.ep.pendingBytes).toBe(written - window);
    expect(written).toBeLessThan(data.length);
    let consumed = 0;
    for (let round = 0; !b.ended && round < 10_000; round++) {
      const arrived = b.got.reduce((n, c) => n + c.length, 0);
      // The consumer takes half of what waits each round.
      const take = Math.ceil((arrived - consumed) / 2);
      b.ep.consumed(take);
      consumed += take;
      feed();
      link.run();
    }
    expect(b.ended).toBe(true);
    expect(sha(b.got)).toBe(sha(data));
    expect(b.maxUnconsumed).toBeLessThanOrEqual(window);
    expect(a.maxUnacked).toBeLessThanOrEqual(window);
    expect(a.drains).toBeGreaterThan(0);
  });

  it('drops duplicates and recovers from loss and reordering: 8 MiB arrive once, in order', () => {
    for (const seed of [1, 2, 3]) {
      const { link, a, b } = pair({ drop: 0.05, duplicate: 0.05, reorder: 0.1, seed });
      b.ep.start();
      const up = randomBytes(8 * 1024 * 1024);
      const down = randomBytes(512 * 1024);
      let upAt = 0;
      let downAt = 0;
      let ticks = 0;
      while (!(a.closed && b.closed) && ticks < 20_000) {
        // write() queues the chunk either way; false means wait before the next one.
        while (upAt < up.length && a.ep.pendingBytes < 64 * 1024) {
          a.ep.write(up.subarray(upAt, upAt + 40_000));
          upAt += 40_000;
        }
        while (downAt < down.length && b.ep.pendingBytes < 64 * 1024) {
          b.ep.write(down.subarray(downAt, downAt + 7_000));
          downAt += 7_000;
        }
        if (upAt >= up.length) a.ep.end();
        if (downAt >= down.length) b.ep.end();
        link.run();
        // Time passes: both sides re-announce and go back if they heard nothing.
        a.ep.tick();
        b.ep.tick();
        ticks++;
      }
      expect(a.closed?.error ?? null, `seed ${seed}`).toBeNull();
      expect(b.closed?.error ?? null).toBeNull();
      expect(sha(b.got)).toBe(sha(up));
      expect(sha(a.got)).toBe(sha(down));
      expect(b.maxUnconsumed).toBeLessThanOrEqual(DEFAULT_WINDOW);
      expect(a.maxUnacked).toBeLessThanOrEqual(DEFAULT_WINDOW);
    }
  });

  it('resends everything unacknowledged after the link was cut', () => {
    const { link, a, b } = pair();
    b.ep.start();
    link.run();
    const data = randomBytes(200 * 1024);
    link.up = false;
    a.ep.write(data);
    a.ep.end();
    expect(b.got).toHaveLength(0);
    link.up = true;
    a.ep.resend();
    b.ep.resend();
    link.run();
    expect(sha(b.got)).toBe(sha(data));
    expect(b.ended).toBe(true);
    expect(a.finished).toBe(true);
  });

  it('a RESET aborts both sides with its code', () => {
    const { link, a, b } = pair();
    b.ep.start();
    link.run();
    b.ep.reset('E_TIMEOUT', 'idle for 600 s');
    link.run();
    expect(b.closed?.error?.code).toBe('E_TIMEOUT');
    expect(b.closed?.byPeer).toBe(false);
    expect(a.closed?.error?.code).toBe('E_TIMEOUT');
    expect(a.closed?.error?.message).toBe('idle for 600 s');
    expect(a.closed?.byPeer).toBe(true);
    expect(a.ep.write(Buffer.from('late'))).toBe(false);
  });

  it('resets a peer that ignores the window or breaks the protocol', () => {
    const noConsume = pair({}, { autoConsume: false });
    noConsume.b.ep.start();
    for (let off = 0; off <= DEFAULT_WINDOW; off += MAX_FRAME_DATA) {
      noConsume.b.ep.receive(encodeFrame({ type: 'data', offset: off, data: new Uint8Array(MAX_FRAME_DATA) }));
    }
    expect(noConsume.b.closed?.error?.code).toBe('E_TOO_LARGE');

    const pastFin = pair();
    pastFin.b.ep.start();
    pastFin.b.ep.receive(encodeFrame({ type: 'fin', offset: 0 }));
    pastFin.b.ep.receive(encodeFrame({ type: 'data', offset: 0, data: Uint8Array.from([1]) }));
    expect(pastFin.b.closed?.error?.code).toBe('E_BAD_ARGS');

    const badAck = pair();
    badAck.b.ep.start();
    badAck.b.ep.receive(encodeFrame({ type: 'ack', offset: 10, window: DEFAULT_WINDOW, fin: false, nack: false }));
    expect(badAck.b.closed?.error?.message).toMatch(/ACK for data never sent/);

    const badControl = pair();
    badControl.b.ep.start();
    badControl.b.ep.receive(encodeFrame({ type: 'control', offset: 0, payload: new TextEncoder().encode('[1]') }));
    expect(badControl.b.closed?.error?.code).toBe('E_BAD_ARGS');

    const garbage = pair();
    garbage.b.ep.start();
    garbage.b.ep.receive(Uint8Array.from([7, 7, 7]));
    expect(garbage.b.closed?.error?.code).toBe('E_BAD_ARGS');
    // The peer is told why.
    const reset = garbage.link.queue.map((f) => decodeFrame(f.bytes)).find((f) => f.type === 'reset');
    expect(reset).toMatchObject({ type: 'reset', error: { code: 'E_BAD_ARGS' } });
  });

  it('asks for a resend (NACK) once per gap and fills it', () => {
    const { link, a, b } = pair();
    b.ep.start();
    link.run();
    a.ep.write(Buffer.from('abc'));
    a.ep.write(Buffer.from('def'));
    // Lose the first DATA frame: the second one reveals the gap.
    const first = link.queue.shift();
    expect(first && decodeFrame(first.bytes).type).toBe('data');
    link.run();
    expect(Buffer.concat(b.got).toString()).toBe('abcdef');
  });

  it('refuses writes after end and control messages over the limit', () => {
    const { a } = pair();
    expect(() => a.ep.control({ big: 'x'.repeat(20_000) })).toThrow(/too large/);
    a.ep.end();
    expect(() => a.ep.write(Buffer.from('x'))).toThrow(/write after end/);
  });
});
