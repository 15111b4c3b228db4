/**
 * @outpost/cli as a library (the package's `main`): the HTTP API client and the byte-stream
 * client the `outpost` command is built on, for programs that drive a server the same way
 * (the simulator's benchmarks). The command itself is bin/outpost.js.
 */
export { ApiClient } from './api.js';
export { openStreamSocket, type StreamSocket } from './stream-socket.js';
