/**
 * Where a connected device's memory goes: the layers of the server's connection
 * stack measured one at a time, each alone in a child process (layer-process.ts)
 * with the same simulated devices as the memory benchmark, plus Mosquitto when it
 * is installed, for the external-broker option. Reports the slope over the second
 * half of the connections, so one-off growth does not count.
 */
import { type ChildProcess, execFileSync } from 'node:child_process';
import { chmodSync, createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, connect as netConnect, type Socket } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { startServer } from '@outpost/server';
import { SimDevice } from '../device.js';
import { mapLimit, sleep } from '../pool.js';
import { nextMessage, type Resources } from './proc.js';
import { type MemorySample, sampleMemory } from './sampling.js';

export type Layer = 'tcp' | 'tls' | 'aedes-tcp' | 'aedes-tls';

export interface LayerResult {
  name: string;
  connections: number;
  /** RSS per connection over the second half, KiB. */
  marginalRss: number;
  /** RSS per connection from none to all, KiB. */
  averageRss: number;
  /** V8 heap used per connection over the second half, KiB (NaN for Mosquitto). */
  marginalHeap: number;
}

const LAYER_PROCESS = fileURLToPath(new URL('./layer-process.js', import.meta.url));

/** Something holding connections open; `close` drops them all. */
interface Connections {
  add(index: number): Promise<void>;
  close(): Promise<void>;
}

function sockets(open: () => Socket, ready: 'connect' | 'secureConnect'): Connections {
  const all: Socket[] = [];
  return {
    add: (_i) =>
      new Promise((resolve, reject) => {
        const s = open();
        all.push(s);
        s.once('error', reject);
        s.once(ready, () => {
          // About the size of an MQTT CONNECT, so read buffers are touched as they would be.
          s.write(Buffer.alloc(100, 0x20));
          resolve();
        });
      }),
    close: async () => {
      for (const s of all) s.destroy();
    },
  };
}

function devices(url: string, ca: Buffer | undefined): Connections {
  const all: SimDevice[] = [];
  return {
    add: async (i) => {
      const deviceId = `d-${String(i).padStart(20, '0')}`;
      all.push(
        await SimDevice.start({
          url,
          ...(ca ? { ca } : {}),
          credentials: { deviceId, secret: 'unchecked' },
          index: i,
          keepalive: 60,
          heartbeatSeconds: 60,
        }),
      );
    },
    close: async () => {
      await Promise.all(all.map((d) => d.stop(false)));
    },
  };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === 'object' && address ? address.port : 0;
}

/** The Mosquitto binary and its version, when installed. */
function findMosquitto(): { path: string; version: string } | null {
  for (const path of ['mosquitto', '/usr/sbin/mosquitto', '/usr/local/sbin/mosquitto']) {
    let out: string;
    try {
      out = execFileSync(path, ['-h'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 5000 });
    } catch (err) {
      // `mosquitto -h` exits non-zero after printing its usage.
      out = String((err as { stdout?: string }).stdout ?? '');
    }
    const m = /mosquitto version (\S+)/.exec(out);
    if (m?.[1]) return { path, version: m[1] };
  }
  return null;
}

export async function runBreakdown(options: {
  connections: number;
  resources: Resources;
  progress: (msg: string) => void;
  /** Only these layers (default all); the memory benchmark measures `tls` alone as its floor. */
  layers?: readonly Layer[];
  /** Also Mosquitto, when installed (default true). */
  mosquitto?: boolean;
}): Promise<LayerResult[]> {
  const { resources, progress } = options;
  const n = Math.max(2, options.connections);
  const half = Math.floor(n / 2);
  const dir = resources.tempDir('outpost-bench-layers-');

  // The server's own TLS material (an RSA-2048 certificate from its CA), from a throwaway server.
  progress('breakdown: creating TLS material with a throwaway server');
  const server = await startServer({
    dataDir: join(dir, 'server'),
    httpPort: 0,
    mqttPort: 0,
    host: '127.0.0.1',
    logLevel: 'silent',
    logDestination: createWriteStream(join(dir, 'server.log')),
    env: {},
  });
  await server.close();
  const key = readFileSync(join(dir, 'server', 'tls', 'server.key'), 'utf8');
  const cert = readFileSync(join(dir, 'server', 'tls', 'server.crt'), 'utf8');
  const ca = readFileSync(server.caFile);

  const measure = async (
    name: string,
    child: ChildProcess,
    ipc: boolean,
    connections: Connections,
  ): Promise<LayerResult> => {
    progress(`breakdown: ${name}`);
    try {
      await sleep(1000);
      const none = await sampleMemory(child, ipc, 5, 300);
      const connectRange = (from: number, to: number) =>
        mapLimit(
          Array.from({ length: to - from }, (_, i) => from + i),
          32,
          (i) => connections.add(i),
        );
      await connectRange(0, half);
      await sleep(3000);
      const some = await sampleMemory(child, ipc, 5, 300);
      await connectRange(half, n);
      await sleep(3000);
      const all = await sampleMemory(child, ipc, 5, 300);
      const per = (k: keyof Omit<MemorySample, 'gc'>, a: MemorySample, b: MemorySample, count: number) =>
        (b[k] - a[k]) / count;
      return {
        name,
        connections: n,
        marginalRss: per('rss', some, all, n - half),
        averageRss: per('rss', none, all, n),
        marginalHeap: per('heapUsed', some, all, n - half),
      };
    } finally {
      await connections.close();
      await resources.stop(child);
    }
  };

  const results: LayerResult[] = [];
  const layers: [Layer, string][] = [
    ['tcp', 'Node.js net server: idle TCP connection'],
    ['tls', 'Node.js TLS server, same certificate: idle TLS connection'],
    ['aedes-tcp', 'Aedes over TCP: one simulated device'],
    ['aedes-tls', 'Aedes over TLS: one simulated device'],
  ];
  for (const [layer, name] of layers.filter(([l]) => !options.layers || options.layers.includes(l))) {
    const child = resources.fork(
      LAYER_PROCESS,
      [JSON.stringify({ layer, key, cert, clientCa: ca.toString('utf8') })],
      ['--expose-gc'],
    );
    const { port } = await nextMessage(
      child,
      (m): m is { type: 'ready'; port: number } => (m as { type?: string })?.type === 'ready',
      30_000,
      `the ${layer} process`,
    );
    const connections =
      layer === 'tcp'
        ? sockets(() => netConnect({ port, host: '127.0.0.1' }), 'connect')
        : layer === 'tls'
          ? sockets(() => tlsConnect({ port, host: '127.0.0.1', ca }), 'secureConnect')
          : devices(`${layer === 'aedes-tls' ? 'mqtts' : 'mqtt'}://127.0.0.1:${port}`, ca);
    results.push(await measure(name, child, true, connections));
  }

  if (options.mosquitto === false) return results;
  const mosquitto = findMosquitto();
  if (!mosquitto) {
    progress('breakdown: mosquitto not installed; skipping the external-broker comparison');
    return results;
  }
  // Mosquitto started as root drops to its own user: the throwaway TLS files must be readable to it.
  const mdir = join(dir, 'mosquitto');
  mkdirSync(mdir, { mode: 0o755 });
  chmodSync(dir, 0o755);
  writeFileSync(join(mdir, 'server.key'), key, { mode: 0o644 });
  writeFileSync(join(mdir, 'server.crt'), cert, { mode: 0o644 });
  for (const tls of [false, true]) {
    const port = await freePort();
    const conf = join(mdir, `${tls ? 'tls' : 'tcp'}.conf`);
    writeFileSync(
      conf,
      [
        `listener ${port} 127.0.0.1`,
        ...(tls ? [`certfile ${join(mdir, 'server.crt')}`, `keyfile ${join(mdir, 'server.key')}`] : []),
        'allow_anonymous true',
        'persistence false',
        'log_dest stderr',
        'log_type error',
        '',
      ].join('\n'),
      { mode: 0o644 },
    );
    const child = resources.spawn(mosquitto.path, ['-c', conf]);
    const deadline = Date.now() + 10_000;
    for (;;) {
      const up = await new Promise<boolean>((resolve) => {
        const s = netConnect({ port, host: '127.0.0.1' }, () => {
          s.destroy();
          resolve(true);
        });
        s.on('error', () => resolve(false));
      });
      if (up) break;
      if (child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`mosquitto did not start: ${resources.tail(child)}`);
      }
      await sleep(100);
    }
    results.push(
      await measure(
        `Mosquitto ${mosquitto.version} over ${tls ? 'TLS' : 'TCP'}: one simulated device`,
        child,
        false,
        devices(`${tls ? 'mqtts' : 'mqtt'}://127.0.0.1:${port}`, ca),
      ),
    );
  }
  return results;
}
