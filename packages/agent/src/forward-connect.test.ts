/** The device end of a forward connects to a real local listener, and a closed port gives a coded error. */
import { createServer, type Server } from 'node:net';
import { OutpostError } from '@outpost/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectTarget } from './forward-connect.js';

let server: Server;
let port = 0;
/** A port that was just free: nothing listens on it (the OS may hand it out again, but not within a test). */
let closedPort = 0;

beforeAll(async () => {
  server = createServer((s) => s.end('hello'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as { port: number }).port;
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  closedPort = (probe.address() as { port: number }).port;
  await new Promise<void>((r) => probe.close(() => r()));
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

async function codeOf(p: Promise<unknown>): Promise<OutpostError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(OutpostError);
    return err as OutpostError;
  }
  throw new Error('connected');
}

describe('connectTarget', () => {
  it('connects to the first address that answers (::1 refused, then 127.0.0.1)', async () => {
    const { socket, address } = await connectTarget(
      [
        { address: '::1', family: 6 },
        { address: '127.0.0.1', family: 4 },
      ],
      port,
      new AbortController().signal,
    );
    expect(address.address).toBe('127.0.0.1');
    const got = await new Promise<string>((r) => {
      let s = '';
      socket.on('data', (d) => {
        s += d.toString();
      });
      socket.on('end', () => r(s));
    });
    expect(got).toBe('hello');
    socket.destroy();
  });

  it('says E_NOT_FOUND, with the address and the reason, when the port is closed', async () => {
    const err = await codeOf(
      connectTarget([{ address: '127.0.0.1', family: 4 }], closedPort, new AbortController().signal),
    );
    expect(err.code).toBe('E_NOT_FOUND');
    expect(err.message).toBe(
      `cannot connect to 127.0.0.1:${closedPort} from the device: connection refused (nothing listens there)`,
    );
    expect(err.details).toEqual({ errno: 'ECONNREFUSED' });
  });

  it('says E_OFFLINE when the agent stops while connecting', async () => {
    const c = new AbortController();
    c.abort();
    const err = await codeOf(connectTarget([{ address: '127.0.0.1', family: 4 }], port, c.signal));
    expect(err.code).toBe('E_OFFLINE');
  });
});
