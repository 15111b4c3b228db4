/**
 * Terminals end to end (docs/terminal.md): a real server, its broker, a real agent with a
 * real PTY (node-pty), and the CLI's WebSocket client (`openStreamSocket`), through
 * `GET /devices/:device/terminal`. Sizes and resizes, full-screen programs, Ctrl-C, a
 * flood read slowly (every byte counted, buffers bounded), roles, audit and recordings.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ApiClient } from '../../packages/cli/src/api.js';
import type { StreamSocket } from '../../packages/cli/src/stream-socket.js';
import { useOnlineDevice } from '../fixture.js';
import { sendCommand, waitUntil } from '../helpers.js';
import { openTerminal } from '../terminal-session.js';

let client: ApiClient;

const fx = useOnlineDevice({
  setup: ({ ts }) => {
    client = new ApiClient(`https://127.0.0.1:${ts.server.httpPort}`, ts.token, ts.ca.toString());
  },
  teardown: async () => {
    await client?.close();
  },
});

/** A terminal session on the file's device with everything it printed so far. */
const terminal = (query: Record<string, string | number> = {}, as = client) => openTerminal(as, fx.deviceId, query);

const typed = (s: { sock: StreamSocket }, text: string) => s.sock.stream.write(text);
const until = (s: { out: string }, re: RegExp, what: string) =>
  waitUntil(() => re.test(s.out), `${what}; output so far: ${JSON.stringify(s.out.slice(-300))}`, 30_000);

describe('terminal over a WebSocket, through the broker, to a real PTY', () => {
  it('reports its size, follows a resize, and exits with the shell’s code', async () => {
    const s = terminal({ cols: 100, rows: 30, argv: JSON.stringify(['/bin/sh']) });
    const opened = await s.sock.opened;
    expect(opened.deviceId).toBe(fx.deviceId);
    typed(s, 'stty size\r');
    await until(s, /[\r\n]30 100\r\n/, 'stty size shows 30 100');
    s.sock.stream.sendControl({ type: 'resize', cols: 132, rows: 40 });
    typed(s, 'stty size\r');
    await until(s, /[\r\n]40 132\r\n/, 'stty size shows 40 132 after the resize');
    typed(s, 'echo "$TERM"; exit 7\r');
    const final = await s.sock.result;
    expect(s.out).toContain('xterm-256color');
    expect(final?.result).toMatchObject({ exitCode: 7, signal: null, reason: 'exit' });
  });

  it('runs a full-screen program (vi) and quits it cleanly', async () => {
    const s = terminal({ argv: JSON.stringify(['vi', '/tmp/outpost-terminal-vi-test']) });
    await s.sock.opened;
    // vi paints the screen (clears it and shows the file name on the status line).
    await until(s, /outpost-terminal-vi-test/, 'vi shows the file');
    typed(s, '\x1b:q!\r');
    const final = await s.sock.result;
    expect(final?.result).toMatchObject({ exitCode: 0, reason: 'exit' });
  });

  it('Ctrl-C interrupts the foreground program, not the session', async () => {
    const s = terminal({ argv: JSON.stringify(['/bin/sh']) });
    await s.sock.opened;
    typed(s, 'sleep 100\r');
    await new Promise((r) => setTimeout(r, 500));
    typed(s, '\x03');
    await until(s, /\^C\r\n/, 'the terminal echoes ^C');
    typed(s, 'echo "status=$?"\r');
    await until(s, /status=130/, 'sleep ended with 130 (SIGINT) and the shell is still there');
    typed(s, 'exit\r');
    expect((await s.sock.result)?.result).toMatchObject({ exitCode: 0, reason: 'exit' });
  });

  it('input to a program that is not reading waits at the client, then arrives whole', async () => {
    const go = `/tmp/outpost-input-go-${randomBytes(4).toString('hex')}`;
    const size = 16 * 1024 * 1024;
    const data = randomBytes(size);
    // The program reads nothing until the file exists, then reads and hashes exactly `size` bytes.
    const s = terminal({
      argv: JSON.stringify([
        'sh',
        '-c',
        `stty raw -echo; printf R; while [ ! -e ${go} ]; do sleep 0.05; done; head -c ${size} | sha256sum`,
      ]),
    });
    await s.sock.opened;
    await until(s, /R/, 'the program is ready');
    const { stream } = s.sock;
    for (let off = 0; off < size; off += 64 * 1024) stream.write(data.subarray(off, off + 64 * 1024));
    // The device takes what the PTY and its window hold, then stops acknowledging: the rest waits here.
    await waitUntil(() => stream.endpoint.offsets.acked > 0, 'the device took some input', 30_000);
    await new Promise((r) => setTimeout(r, 1000));
    const acked = stream.endpoint.offsets.acked;
    expect(acked).toBeLessThan(2 * 1024 * 1024);
    // Everything else is still at the client: its Writable buffer (which counts the chunk the endpoint
    // is taking) and what the endpoint sent without an acknowledgement.
    expect(stream.writableLength + stream.endpoint.unackedBytes).toBeGreaterThanOrEqual(size - acked);
    await sendCommand(fx.ts, fx.deviceId, 'exec', 'run', { argv: ['touch', go] });
    await until(s, /[0-9a-f]{64}/, 'the program hashed its input');
    expect(s.out).toContain(createHash('sha256').update(data).digest('hex'));
    expect((await s.sock.result)?.result).toMatchObject({ exitCode: 0, reason: 'exit' });
    await sendCommand(fx.ts, fx.deviceId, 'exec', 'run', { argv: ['rm', '-f', go] });
  });

  it('a program that exits with input still waiting ends the session cleanly', async () => {
    // It reads 10 bytes of a 4 MiB paste and exits: the rest is dropped, the stream still closes cleanly.
    const s = terminal({ argv: JSON.stringify(['sh', '-c', 'stty raw -echo; printf R; head -c 10 >/dev/null']) });
    await s.sock.opened;
    await until(s, /R/, 'the program is ready');
    s.sock.stream.write(randomBytes(4 * 1024 * 1024));
    expect((await s.sock.result)?.result).toMatchObject({ exitCode: 0, reason: 'exit' });
    expect(await s.sock.stream.done).toBeNull();
  });

  it('a flood read slowly loses no byte and buffers at most a window at the server', async () => {
    const file = `/tmp/outpost-flood-${randomBytes(4).toString('hex')}`;
    const gen = await sendCommand(fx.ts, fx.deviceId, 'exec', 'run', {
      script: `head -c 15000000 /dev/urandom > ${file}; base64 ${file} | sha256sum`,
      shell: true,
      timeoutMs: 60_000,
    });
    const expected = (gen.body.result.stdout as string).split(' ')[0];
    const s = terminal({ argv: JSON.stringify(['sh', '-c', `stty -onlcr; base64 ${file}; rm ${file}`]) });
    const opened = await s.sock.opened;
    const hash = createHash('sha256');
    let bytes = 0;
    s.sock.stream.removeAllListeners('data');
    s.sock.stream.on('data', (c: Buffer) => {
      hash.update(c);
      bytes += c.length;
      // The reader is slow: it pauses after every chunk, so the device must wait for it.
      s.sock.stream.pause();
      setTimeout(() => s.sock.stream.resume(), 1);
    });
    const relay = fx.ts.server.services.streams.get(
      fx.deviceId,
      opened.sid,
      await fx.ts.server.services.tokens.authenticate(fx.ts.token),
    );
    let maxServer = 0;
    const sampler = setInterval(() => {
      if (relay.mode.kind === 'relay') maxServer = Math.max(maxServer, relay.mode.relay.stats.maxUnacked);
    }, 20);
    const ended = new Promise((r) => s.sock.stream.once('end', r));
    const final = await s.sock.result;
    await ended; // the reader may still be behind when the server closes the connection
    clearInterval(sampler);
    if (relay.mode.kind === 'relay') maxServer = Math.max(maxServer, relay.mode.relay.stats.maxUnacked);
    expect(final?.result).toMatchObject({ exitCode: 0, reason: 'exit' });
    expect(bytes).toBe(20_263_158); // base64 of 15,000,000 bytes in 76-column lines
    expect(hash.digest('hex')).toBe(expected);
    // The server never held more than the client's window of the device's output in flight.
    expect(maxServer).toBeGreaterThan(0);
    expect(maxServer).toBeLessThanOrEqual(s.sock.stream.endpoint.window);
    // The agent's memory stayed bounded too (its peak resident set, not the flood's size).
    const status = readFileSync(`/proc/${fx.agent.proc.pid}/status`, 'utf8');
    const peakKiB = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1]);
    expect(peakKiB).toBeLessThan(200 * 1024);
  });
});
