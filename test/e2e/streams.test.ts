/**
 * The byte-stream layer end to end (docs/protocol.md §Byte streams): a real server, its
 * embedded broker and a real agent process. The server-terminated end (`duplex()`, what
 * file transfers use) carries a terminal's output and input with backpressure; every byte
 * the device produced arrives once, checked against a checksum the device computes itself.
 */
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { useOnlineDevice } from '../fixture.js';
import { sendCommand, waitUntil } from '../helpers.js';

const fx = useOnlineDevice();

async function actor() {
  return fx.ts.server.services.tokens.authenticate(fx.ts.token);
}

async function exec(script: string): Promise<string> {
  const r = await sendCommand(fx.ts, fx.deviceId, 'exec', 'run', { script, shell: true, timeoutMs: 60_000 });
  expect(r.body.status, JSON.stringify(r.body)).toBe('succeeded');
  return r.body.result.stdout as string;
}

describe('byte streams through the broker to a real agent', () => {
  it('carries 6 MB of device output once and in order, with a slow reader, and the exit code', async () => {
    const file = `/tmp/outpost-streams-${randomBytes(4).toString('hex')}`;
    await exec(`head -c 4500000 /dev/urandom > ${file}`);
    const expected = (await exec(`base64 ${file} | sha256sum`)).split(' ')[0];
    const stream = await fx.ts.server.services.streams.open({
      device: fx.deviceId,
      actor: await actor(),
      command: 'terminal/open',
      args: { cols: 80, rows: 24, command: ['sh', '-c', `stty -onlcr; base64 ${file}; rm ${file}; exit 3`] },
    });
    const duplex = stream.duplex();
    duplex.end(); // nothing to say to it
    const chunks: Buffer[] = [];
    let maxUnconsumed = 0;
    for await (const c of duplex) {
      chunks.push(c as Buffer);
      maxUnconsumed = Math.max(maxUnconsumed, duplex.endpoint.unconsumedBytes);
      // A slow consumer: the device must wait, not buffer or drop.
      if (chunks.length % 20 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    const got = Buffer.concat(chunks);
    expect(createHash('sha256').update(got).digest('hex')).toBe(expected);
    expect(maxUnconsumed).toBeLessThanOrEqual(duplex.endpoint.window);
    const final = await stream.result;
    expect(final.status).toBe('succeeded');
    expect(final.result).toMatchObject({ exitCode: 3, signal: null, reason: 'exit' });
    expect(await stream.closed).toBeNull();
  });

  it('carries 1 MB of input to the device with backpressure', async () => {
    const data = randomBytes(750_000).toString('base64'); // 1,000,000 printable bytes
    const stream = await fx.ts.server.services.streams.open({
      device: fx.deviceId,
      actor: await actor(),
      command: 'terminal/open',
      args: {
        cols: 80,
        rows: 24,
        command: ['sh', '-c', 'stty raw -echo; echo READY; head -c 1000000 | sha256sum'],
      },
    });
    const duplex = stream.duplex();
    let out = '';
    duplex.on('data', (c: Buffer) => {
      out += c.toString();
    });
    await waitUntil(() => out.includes('READY'), 'the terminal is in raw mode');
    duplex.end(data);
    await new Promise((r) => duplex.once('end', r));
    expect(out).toContain(createHash('sha256').update(data).digest('hex'));
    expect((await stream.result).result).toMatchObject({ exitCode: 0, reason: 'exit' });
  });

  it('refuses a stream on an offline device, and a stream command sent as a plain command', async () => {
    const direct = await sendCommand(fx.ts, fx.deviceId, 'terminal', 'open', { sid: 's-x', cols: 80, rows: 24 });
    expect(direct.status).toBe(400);
    expect(direct.body.error.message).toMatch(/opens a byte stream/);
    await expect(
      fx.ts.server.services.streams.open({
        device: 'no-such-device',
        actor: await actor(),
        command: 'terminal/open',
        args: { cols: 80, rows: 24 },
      }),
    ).rejects.toMatchObject({ code: 'E_NOT_FOUND' });
    await expect(
      fx.ts.server.services.streams.open({
        device: fx.deviceId,
        actor: await actor(),
        command: 'system/info' as 'terminal/open',
        args: { cols: 80, rows: 24 },
      }),
    ).rejects.toMatchObject({ code: 'E_BAD_ARGS' });
  });

  it('aborting the stream hangs up the terminal (SIGHUP) and the command says so', async () => {
    const stream = await fx.ts.server.services.streams.open({
      device: fx.deviceId,
      actor: await actor(),
      command: 'terminal/open',
      args: { cols: 80, rows: 24, command: ['sleep', '100'] },
    });
    const duplex = stream.duplex();
    duplex.on('error', () => {});
    await waitUntil(() => stream.accepted, 'the device accepted the stream');
    duplex.abort('E_OFFLINE', 'the user closed the terminal');
    const final = await stream.result;
    expect(final.result).toMatchObject({ exitCode: null, signal: 'SIGHUP', reason: 'closed' });
  });
});
