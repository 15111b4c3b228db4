/**
 * The agent's stream table (streams.ts): routing by sid, the announcement, answers to
 * frames for unknown streams, resending after a reconnect and the grace period. The peer is
 * a real StreamEndpoint; the MQTT link is an in-memory queue (the broker path is covered
 * end to end in test/e2e/streams.test.ts).
 */
import { decodeFrame, encodeFrame, type OutpostError, StreamEndpoint, topics } from '@outpost/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from './log.js';
import { AgentStreams } from './streams.js';

const DEVICE = 'd-test';
let streams: AgentStreams | undefined;

afterEach(() => streams?.close());

function setup(graceMs = 60_000) {
  const published: { topic: string; payload: Buffer }[] = [];
  let up = true;
  streams = new AgentStreams({
    deviceId: DEVICE,
    publish: (topic, payload) => {
      if (up) published.push({ topic, payload });
    },
    log: silentLogger,
    graceMs,
  });
  return {
    s: streams,
    published,
    setLink: (v: boolean) => {
      up = v;
    },
  };
}

describe('AgentStreams', () => {
  it('announces an accepted stream and routes the peer’s frames to it', async () => {
    const { s, published } = setup();
    const stream = s.open('s-1');
    expect(published).toHaveLength(1);
    expect(published[0]?.topic).toBe(topics.tty(DEVICE, 's-1', 'out'));
    expect(decodeFrame(published[0]?.payload as Buffer)).toMatchObject({ type: 'ack', offset: 0 });
    // The server's end.
    const server = new StreamEndpoint({
      send: (f) => s.handle(topics.tty(DEVICE, 's-1', 'in'), Buffer.from(f)),
      events: {},
    });
    const got: string[] = [];
    stream.on('data', (c: Buffer) => got.push(c.toString()));
    server.receive(published[0]?.payload as Buffer);
    server.write(Buffer.from('ls\r'));
    await new Promise((r) => setImmediate(r));
    expect(got.join('')).toBe('ls\r');
    expect(s.count).toBe(1);
  });

  it('delivers frames of open streams by their topic alone, and leaves everything else to handle', async () => {
    const { s, published } = setup();
    const stream = s.open('s-fast');
    const got: string[] = [];
    stream.on('data', (c: Buffer) => got.push(c.toString()));
    const data = Buffer.from(encodeFrame({ type: 'data', offset: 0, data: Buffer.from('x') }));
    // Not an open stream of this device's: false, nothing happens here.
    expect(s.deliver(topics.tty(DEVICE, 's-unknown', 'in'), data)).toBe(false);
    expect(s.deliver(topics.tty('d-other', 's-fast', 'in'), data)).toBe(false);
    expect(s.deliver(topics.tty(DEVICE, 's-fast', 'out'), data)).toBe(false);
    expect(s.deliver(`${topics.tty(DEVICE, 's-fast', 'in')}/more`, data)).toBe(false);
    expect(s.deliver(topics.command(DEVICE, 'system', 'ping'), data)).toBe(false);
    expect(published).toHaveLength(1); // the stream's announcement only: no RESET from deliver
    expect(s.deliver(topics.tty(DEVICE, 's-fast', 'in'), data)).toBe(true);
    await new Promise((r) => setImmediate(r));
    expect(got.join('')).toBe('x');
  });

  it('refuses bad and duplicate sids', () => {
    const { s } = setup();
    expect(() => s.open('../etc')).toThrow(expect.objectContaining({ code: 'E_BAD_ARGS' }));
    s.open('s-2');
    expect(() => s.open('s-2')).toThrow(expect.objectContaining({ code: 'E_CONFLICT' }));
  });

  it('answers frames for an unknown stream with one RESET, never a RESET with a RESET', () => {
    const { s, published } = setup();
    const data = Buffer.from(encodeFrame({ type: 'data', offset: 0, data: Buffer.from('x') }));
    s.handle(topics.tty(DEVICE, 's-unknown', 'in'), data);
    s.handle(topics.tty(DEVICE, 's-unknown', 'in'), data);
    expect(published).toHaveLength(1);
    expect(decodeFrame(published[0]?.payload as Buffer)).toMatchObject({
      type: 'reset',
      error: { code: 'E_NOT_FOUND' },
    });
    s.handle(
      topics.tty(DEVICE, 's-other', 'in'),
      Buffer.from(encodeFrame({ type: 'reset', error: { code: 'E_OFFLINE', message: 'x' } })),
    );
    // Another device's topic is not ours to answer.
    s.handle(topics.tty('d-other', 's-x', 'in'), data);
    expect(published).toHaveLength(1);
  });

  it('resends what was lost while the link was down', async () => {
    const { s, published, setLink } = setup();
    const stream = s.open('s-3');
    const received: Buffer[] = [];
    const server = new StreamEndpoint({
      send: (f) => s.handle(topics.tty(DEVICE, 's-3', 'in'), Buffer.from(f)),
      events: { data: (c) => received.push(Buffer.from(c)) },
    });
    server.receive(published[0]?.payload as Buffer);
    setLink(false);
    stream.write(Buffer.from('lost while offline'));
    await new Promise((r) => setImmediate(r));
    setLink(true);
    const before = published.length;
    s.linkUp();
    for (const p of published.slice(before)) server.receive(p.payload);
    expect(Buffer.concat(received).toString()).toBe('lost while offline');
  });

  it('aborts streams with E_OFFLINE when the link stays down past the grace period', async () => {
    const { s } = setup(50);
    const stream = s.open('s-4');
    s.linkDown();
    const error = (await stream.done) as OutpostError;
    expect(error.code).toBe('E_OFFLINE');
    expect(stream.abortedByPeer).toBe(false);
    expect(s.count).toBe(0);
  });

  it('keeps streams whose link came back within the grace period', async () => {
    const { s } = setup(100);
    const stream = s.open('s-5');
    s.linkDown();
    s.linkUp();
    await new Promise((r) => setTimeout(r, 200));
    expect(stream.endpoint.closed).toBe(false);
    expect(s.count).toBe(1);
  });
});
