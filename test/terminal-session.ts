/**
 * A terminal session through the CLI's WebSocket client (`openStreamSocket`), as the terminal
 * e2e files open them: `out` gathers everything it printed so far (as latin1, byte for byte),
 * and the client ends its side when the device ends its own.
 */
import type { ApiClient } from '../packages/cli/src/api.js';
import { openStreamSocket, type StreamSocket } from '../packages/cli/src/stream-socket.js';

export interface TerminalSession {
  sock: StreamSocket;
  out: string;
}

export function openTerminal(
  client: ApiClient,
  device: string,
  query: Record<string, string | number> = {},
): TerminalSession {
  const sock = openStreamSocket(client, `/devices/${device}/terminal`, { cols: 80, rows: 24, ...query });
  const session: TerminalSession = { sock, out: '' };
  sock.stream.on('data', (c: Buffer) => {
    session.out += c.toString('latin1');
  });
  sock.stream.on('end', () => sock.stream.end());
  return session;
}
