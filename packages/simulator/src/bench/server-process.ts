/**
 * Child process of the memory benchmark: an Outpost server alone in its process,
 * so its resident memory can be read from /proc without the simulated devices.
 * Run with --expose-gc. argv[2]: JSON `{dataDir, logFile}`.
 * IPC: sends `{type:'ready', ...ports}`; answers `{type:'memory'}` after a full GC.
 */
import { createWriteStream } from 'node:fs';
import { getHeapSpaceStatistics, getHeapStatistics } from 'node:v8';
import { startServer } from '@outpost/server';

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

const collect = globalThis.gc;
process.on('message', (m: { type?: string }) => {
  if (m?.type !== 'memory') return;
  // Two passes: the first may only schedule finalizers whose memory the second frees.
  collect?.();
  setImmediate(() => {
    collect?.();
    const heap = getHeapStatistics();
    const newSpace = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
    process.send?.({
      type: 'memory',
      gc: Boolean(collect),
      usage: process.memoryUsage(),
      mallocedKiB: Math.round(heap.malloced_memory / 1024),
      newSpaceKiB: Math.round((newSpace?.space_size ?? 0) / 1024),
    });
  });
});

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
