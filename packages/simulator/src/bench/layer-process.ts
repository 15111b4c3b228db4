/**
 * Child process of the memory breakdown: one layer of the server's connection
 * stack alone, to weigh it per connection. argv[2]: JSON `{layer, key, cert, clientCa}`.
 * `tcp` and `tls` hold sockets open and discard what arrives; `aedes-tcp` and
 * `aedes-tls` serve MQTT with Aedes (the embedded broker's version and
 * connectTimeout, no authentication or ACL hooks). Run with --expose-gc.
 */
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { Aedes } from 'aedes';
import type { Layer } from './breakdown.js';
import { serveMemoryRequests } from './sampling.js';

const { layer, key, cert, clientCa } = JSON.parse(process.argv[2] ?? '{}') as {
  layer: Layer;
  key: string;
  cert: string;
  clientCa: string;
};

let onSocket = (socket: Socket) => {
  socket.on('data', () => {});
};
if (layer.startsWith('aedes')) {
  const aedes = new Aedes({ connectTimeout: 30_000 });
  await aedes.listen();
  onSocket = (socket) => {
    aedes.handle(socket);
  };
}
const handler = (socket: Socket) => {
  socket.on('error', () => {});
  onSocket(socket);
};
// The embedded broker's socket options: TCP_NODELAY; over TLS a device certificate asked for, not required.
const tlsOptions = {
  key,
  cert,
  minVersion: 'TLSv1.2' as const,
  requestCert: true,
  rejectUnauthorized: false,
  ca: [clientCa],
  noDelay: true,
};
const server: Server = layer.endsWith('tls')
  ? createTlsServer(tlsOptions, handler)
  : createNetServer({ noDelay: true }, handler);
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.send?.({ type: 'ready', port: typeof address === 'object' && address ? address.port : 0 });
});
serveMemoryRequests();
process.on('disconnect', () => process.exit(0));
