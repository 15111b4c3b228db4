/**
 * `forward/open` at the stream level: the agent's real stream table (AgentStreams)
 * wired in memory to a client StreamDuplex (frames cross asynchronously, as over
 * MQTT), and real TCP targets on 127.0.0.1. Covers both half-closes, flow
 * control with a large transfer, refusals, and each way a connection can end.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { check, commands, parse, StreamDuplex, topics } from '@outpost/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { failure } from '../../test/actions.js';
import { agentConfig } from '../config.js';
import { silentLogger } from '../log.js';
import { AgentStreams } from '../streams.js';
import { CommandCancelled, type CommandContext } from './capability.js';
import { createForwardCapability } from './forward.js';

const DEVICE = 'd-test';
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
let counter = 0;
const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise<void>((r) => s.close(() => r()));
});

/** A TCP target on 127.0.0.1 that runs `onConnection` for each client. */
async function target(onConnection: (s: Socket) => void): Promise<number> {
  const server = createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => {}); // resets are what several cases provoke; they assert on them themselves
    onConnection(s);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as { port: number }).port;
}

/** The agent's stream table wired to a client end in memory. */
function wire(forwardAllow?: string[]) {
  const sid = `s${++counter}f`;
  let client: StreamDuplex | undefined;
  let published = 0;
  const streams = new AgentStreams({
    deviceId: DEVICE,
    log: silentLogger,
    graceMs: 60_000,
    publish: (_topic, payload) => {
      published++;
      setImmediate(() => client?.receive(payload));
    },
  });
  const controller = new AbortController();
  const ctx: CommandContext = {
    commandId: `c${counter}`,
    emit: () => {},
    signal: controller.signal,
    log: silentLogger,
    config: agentConfig({
      stateDir: join(tmpdir(), 'outpost-forward-unused'),
      ...(forwardAllow ? { forwardAllow } : {}),
    }),
    openStream: (id, opts) => streams.open(id, opts),
  };
  client = new StreamDuplex({
    send: (frame) => setImmediate(() => streams.handle(topics.tty(DEVICE, sid, 'in'), Buffer.from(frame))),
  });
  client.on('error', () => {});
  return { sid, ctx, client, controller, published: () => published };
}

async function open(args: { sid: string; host: string; port: number }, ctx: CommandContext): Promise<any> {
  const spec = commands['forward/open'];
  const handler = createForwardCapability().actions.open;
  if (!handler) throw new Error('forward/open missing');
  const result = await handler(parse(spec.args, args, 'args'), ctx);
  expect(check(spec.result, result)).toBe(true);
  return result;
}

const readAll = (s: NodeJS.ReadableStream) =>
  new Promise<Buffer>((resolve, reject) => {
    const parts: Buffer[] = [];
    s.on('data', (d: Buffer) => parts.push(d));
    s.on('end', () => resolve(Buffer.concat(parts)));
    s.on('error', reject);
  });

describe('forward/open', () => {
  it('carries a request after its FIN and the answer back, half-closing each way', async () => {
    // The target answers only once the client half-closed: the request's end must arrive as a FIN.
    const port = await target((s) => {
      const parts: Buffer[] = [];
      s.on('data', (d) => parts.push(d));
      s.on('end', () => s.end(`got ${Buffer.concat(parts).length} bytes, sha ${sha(Buffer.concat(parts))}`));
    });
    const w = wire();
    const request = randomBytes(300 * 1024);
    const running = open({ sid: w.sid, host: '127.0.0.1', port }, w.ctx);
    w.client.end(request);
    const answer = await readAll(w.client);
    expect(answer.toString()).toBe(`got ${request.length} bytes, sha ${sha(request)}`);
    const result = await running;
    expect(result).toMatchObject({
      reason: 'closed',
      address: '127.0.0.1',
      bytesToTarget: request.length,
      bytesFromTarget: answer.length,
    });
    expect(await w.client.done).toBeNull();
  });

  it('carries 8 MB from the target through the window with a slow reader, byte for byte', async () => {
    const data = randomBytes(8 * 1024 * 1024);
    const port = await target((s) => {
      s.end(data);
      s.resume();
    });
    const w = wire(['localhost:*']);
    const running = open({ sid: w.sid, host: 'localhost', port }, w.ctx);
    const parts: Buffer[] = [];
    let most = 0;
    w.client.on('data', (d: Buffer) => {
      parts.push(d);
      // A reader slower than the target: the device may never be more than a window ahead.
      w.client.pause();
      setTimeout(() => w.client.resume(), 1);
      most = Math.max(most, w.client.endpoint.unconsumedBytes);
    });
    await new Promise((r) => w.client.on('end', r));
    w.client.end();
    const result = await running;
    expect(sha(Buffer.concat(parts))).toBe(sha(data));
    expect(result).toMatchObject({ reason: 'closed', bytesFromTarget: data.length, bytesToTarget: 0 });
    expect(most).toBeLessThanOrEqual(w.client.endpoint.window);
  });

  it('refuses a target outside forwardAllow with E_DENIED, before any connection or stream', async () => {
    let connections = 0;
    const port = await target((s) => {
      connections++;
      s.destroy();
    });
    const w = wire(['127.0.0.1:1-1024']);
    const err = await failure(open({ sid: w.sid, host: '127.0.0.1', port }, w.ctx));
    expect(err.code).toBe('E_DENIED');
    expect(err.message).toBe(
      `forwarding to 127.0.0.1:${port} is not allowed on this device (forwardAllow: 127.0.0.1:1-1024)`,
    );
    expect(connections).toBe(0);
    expect(w.published()).toBe(0);
  });

  it('answers E_NOT_FOUND for a closed port, without accepting the stream', async () => {
    const port = await target(() => {});
    await new Promise<void>((r) => servers.pop()?.close(() => r()));
    const w = wire();
    const err = await failure(open({ sid: w.sid, host: 'localhost', port }, w.ctx));
    expect(err.code).toBe('E_NOT_FOUND');
    expect(err.message).toMatch(/^cannot connect to (127\.0\.0\.1|\[::1\]):\d+ from the device: connection refused/);
    expect(w.published()).toBe(0);
  });

  it('aborts the stream when the target resets the connection', async () => {
    let victim: Socket | undefined;
    const port = await target((s) => {
      victim = s;
      s.write('partial');
    });
    const w = wire();
    const running = open({ sid: w.sid, host: '127.0.0.1', port }, w.ctx);
    // Reset once the first bytes went all the way through, so nothing depends on timing.
    w.client.once('data', () => victim?.resetAndDestroy());
    const error = await w.client.done;
    expect(error?.code).toBe('E_NOT_FOUND');
    expect(error?.message).toMatch(/the connection to 127\.0\.0\.1:\d+ failed on the device \(ECONNRESET\)/);
    expect(await running).toMatchObject({ reason: 'target-error', bytesFromTarget: 7 });
  });

  it('resets the target connection when the client aborts the stream', async () => {
    const closed = new Promise<string>((resolve) => {
      void target((s) => {
        s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
        s.on('end', () => resolve('end'));
        s.resume();
      }).then((port) => {
        const w = wire();
        const running = open({ sid: w.sid, host: '127.0.0.1', port }, w.ctx);
        w.client.write('hello');
        setTimeout(() => w.client.abort('E_OFFLINE', 'the client disconnected'), 100);
        void running.then((r) => {
          expect(r).toMatchObject({ reason: 'client-closed', bytesToTarget: 5 });
        });
      });
    });
    expect(await closed).toBe('ECONNRESET');
  });

  it('ends with E_OFFLINE to the client when the agent stops, and says so in the result', async () => {
    const port = await target((s) => s.resume());
    const w = wire();
    const running = open({ sid: w.sid, host: '127.0.0.1', port }, w.ctx);
    w.client.write('x');
    await new Promise((r) => setTimeout(r, 100));
    w.controller.abort(new Error('agent stopping'));
    const error = await w.client.done;
    expect(error?.code).toBe('E_OFFLINE');
    expect(await running).toMatchObject({ reason: 'stopped' });
  });

  it('calls a cancelled forward closed by the client', async () => {
    const port = await target((s) => s.resume());
    const w = wire();
    const running = open({ sid: w.sid, host: '127.0.0.1', port }, w.ctx);
    await new Promise((r) => setTimeout(r, 100));
    w.controller.abort(new CommandCancelled());
    expect((await w.client.done)?.message).toBe('the forward was cancelled');
    expect(await running).toMatchObject({ reason: 'client-closed' });
  });
});
