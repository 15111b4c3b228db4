/**
 * Child process of the memory benchmark: an Outpost server alone in its process,
 * so its resident memory can be read from /proc without the simulated devices.
 * Run with --expose-gc. argv[2]: JSON `{dataDir, logFile}`.
 * IPC: sends `{type:'ready', ...ports}`; answers `{type:'memory'}` after a full GC.
 */
import { createWriteStream } from 'node:fs';
import { startServer } from '@outpost/server';
import { serveMemoryRequests } from './sampling.js';

const { dataDir, logFile } = JSON.parse(process.argv[2] ?? '{}') as { dataDir: string; logFile: string };
const server = await startServer({
  dataDir,
  httpPort: 0,
  mqttPort: 0,
  host: '127.0.0.1',
  logLevel: 'warn',
  logDestination: createWriteStream(logFile, { flags: 'a' }),
  env: {},
});
process.send?.({
  type: 'ready',
  httpPort: server.httpPort,
  mqttPort: server.mqttPort,
  caFile: server.caFile,
  adminTokenFile: server.adminTokenFile,
});

serveMemoryRequests();

let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  const force = setTimeout(() => process.exit(1), 10_000);
  const exit = (code: number) => () => {
    clearTimeout(force);
    process.exit(code);
  };
  server.close().then(exit(0), exit(1));
};
process.on('SIGTERM', stop);
process.on('disconnect', stop);
