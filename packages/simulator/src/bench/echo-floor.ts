/**
 * The legs of a keystroke's echo (terminal.ts), each timed alone in the bench's run:
 * - the client leg: one frame-sized message over a WebSocket over TLS to an echoing WebSocket
 *   server, both in this process, with the server's TLS certificate; no relay;
 * - the device leg: the frame published in-process into a broker, as the server's link
 *   publishes, to an echoing device client and back; no relay, no agent;
 * - the PTY: one byte into `cat` in a raw-mode PTY opened in this process with node-pty, as
 *   the agent opens it and writes to it (PtyInput), and back; no network.
 * Their sum is what the terminal path costs before any of the server's or the agent's own code runs.
 */
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { loadPty, type Pty, PtyInput } from '@outpost/agent';
import WebSocket, { WebSocketServer } from 'ws';
import type { BaselineBroker } from './baseline-broker.js';
import type { Resources } from './proc.js';

const START_TIMEOUT_MS = 30_000;
const ECHO_TIMEOUT_MS = 10_000;
const KEY = Buffer.from('a');

/** One echo round trip; rejects after 10 s. */
export type Echo = () => Promise<void>;

/**
 * The one harness every echo of the terminal bench is timed with: the transport's standing
 * listener hands each answer to `answer`; `once(send)` arms the slot, sends, and resolves on
 * the first answer `accept` takes (any, by default), or rejects after 10 s.
 */
export class EchoSlot<T = void> {
  #waiting: ((value: T) => void) | null = null;

  constructor(readonly what: string) {}

  answer(value: T): void {
    this.#waiting?.(value);
  }

  once(send: () => void, accept: (value: T) => boolean = () => true): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting = null;
        reject(new Error(`${this.what} timed out`));
      }, ECHO_TIMEOUT_MS);
      this.#waiting = (value) => {
        if (!accept(value)) return;
        clearTimeout(timer);
        this.#waiting = null;
        resolve();
      };
      send();
    });
  }
}

/** `cat` in a raw-mode PTY in this process, ready to echo; killed when the bench ends. */
export async function ptyEcho(resources: Resources): Promise<Echo> {
  const pty = await loadPty();
  const p: Pty = pty.spawn('/bin/sh', ['-c', 'stty raw -echo; printf R; exec cat'], {
    name: 'xterm-256color',
    cols: 80,
    rows: 24,
    cwd: '/',
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', TERM: 'xterm-256color' },
    encoding: null,
  });
  resources.defer(async () => p.kill());
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the local PTY did not start')), START_TIMEOUT_MS);
    const sub = p.onData((d) => {
      if (!d.toString().includes('R')) return;
      clearTimeout(timer);
      sub.dispose();
      resolve();
    });
  });
  const slot = new EchoSlot('local PTY echo');
  p.onData(() => slot.answer());
  const input = new PtyInput(p);
  return () => slot.once(() => input.write(KEY));
}

/** An echoing WebSocket server over TLS and a client, both here, with no delay on either socket. */
export async function webSocketEcho(
  resources: Resources,
  tls: { key: string; cert: string; ca: Buffer },
  message: Buffer,
): Promise<Echo> {
  const https = createServer({ key: tls.key, cert: tls.cert });
  const wss = new WebSocketServer({ server: https, perMessageDeflate: false });
  wss.on('connection', (ws, req) => {
    req.socket.setNoDelay(true);
    ws.on('message', (data) => ws.send(data as Buffer, { binary: true }));
  });
  await new Promise<void>((resolve) => https.listen(0, '127.0.0.1', resolve));
  resources.defer(
    () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close();
        https.close(() => resolve());
      }),
  );
  const { port } = https.address() as AddressInfo;
  const ws = new WebSocket(`wss://127.0.0.1:${port}/`, { ca: tls.ca, perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  (ws as unknown as { _socket?: { setNoDelay?: (v: boolean) => void } })._socket?.setNoDelay?.(true);
  const slot = new EchoSlot('WebSocket echo');
  ws.on('message', () => slot.answer());
  return () => slot.once(() => ws.send(message, { binary: true }));
}

/**
 * The device leg: `frame` published in-process on `inTopic` of the baseline broker, whose device
 * client echoes it on `outTopic`, received in-process again.
 */
export async function linkEcho(
  broker: BaselineBroker,
  topics: { in: string; out: string },
  frame: Buffer,
): Promise<Echo> {
  const slot = new EchoSlot('in-process echo');
  await broker.inProcess.subscribe(topics.out, () => slot.answer());
  return () => slot.once(() => broker.inProcess.publish(topics.in, frame));
}
