/**
 * Two legs of the keystroke echo's floor (terminal.ts), each timed alone in the bench's run:
 * - a PTY round trip: one byte into `cat` in a raw-mode PTY opened in this process with
 *   node-pty, as the agent opens it, and back; no network;
 * - a WebSocket round trip over TLS: one frame-sized message from a client to an echoing
 *   WebSocket server, both in this process, with the server's TLS certificate; no relay.
 * With the device leg (terminal.ts) they make the floor of a keystroke's echo.
 */
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { loadPty, type Pty } from '@outpost/agent';
import WebSocket, { WebSocketServer } from 'ws';
import type { Resources } from './proc.js';

const START_TIMEOUT_MS = 30_000;
const ECHO_TIMEOUT_MS = 10_000;

/** One echo round trip; rejects after 10 s. */
export type Echo = () => Promise<void>;

function once(what: string, subscribe: (done: () => void) => () => void, send: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`${what} timed out`));
    }, ECHO_TIMEOUT_MS);
    const unsubscribe = subscribe(() => {
      clearTimeout(timer);
      unsubscribe();
      resolve();
    });
    send();
  });
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
  return () =>
    once(
      'local PTY echo',
      (done) => {
        const sub = p.onData(done);
        return () => sub.dispose();
      },
      () => p.write('a'),
    );
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
  return () =>
    once(
      'WebSocket echo',
      (done) => {
        ws.once('message', done);
        return () => ws.off('message', done);
      },
      () => ws.send(message, { binary: true }),
    );
}
