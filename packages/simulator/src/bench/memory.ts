/**
 * Server memory per connected device: an Outpost server alone in a child
 * process (server-process.ts), sampled idle, after enrolling N lightweight
 * devices, and with all N connected over MQTT/TLS and settled. Resident memory
 * comes from /proc/<pid>/status, the V8 heap from the server after a full GC.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectFleet, enrollFleet, type Fleet } from '../fleet.js';
import { sleep } from '../pool.js';
import { adminApi } from './admin-api.js';
import { nextMessage, type Resources } from './proc.js';
import { type MemorySample, sampleMemory } from './sampling.js';

export interface MemoryOptions {
  devices: number;
  resources: Resources;
  progress: (msg: string) => void;
  /** Bounds connecting the fleet and waiting for the server to see it online. */
  maxSeconds: number;
}

export interface MemoryResult {
  devices: number;
  idle: MemorySample;
  enrolled: MemorySample;
  /** The first half of the fleet connected. */
  half: MemorySample;
  connected: MemorySample;
  enrollSeconds: number;
  connectSeconds: number;
  /** Whether gc() was available to the server process (it should be). */
  gc: boolean;
}

const SERVER = fileURLToPath(new URL('./server-process.js', import.meta.url));

interface Ready {
  type: 'ready';
  httpPort: number;
  mqttPort: number;
  caFile: string;
  adminTokenFile: string;
}
export async function runMemory(options: MemoryOptions): Promise<MemoryResult> {
  const { resources, progress, devices: count } = options;
  const dataDir = resources.tempDir('outpost-bench-mem-');
  const child = resources.fork(
    SERVER,
    [JSON.stringify({ dataDir: join(dataDir, 'server'), logFile: join(dataDir, 'server.log') })],
    ['--expose-gc'],
  );
  const ready = await nextMessage(
    child,
    (m): m is Ready => (m as { type?: string })?.type === 'ready',
    60_000,
    'the server process',
  );
  const ca = readFileSync(ready.caFile);
  const api = adminApi(resources, { ...ready, ca });

  const sample = (n: number, intervalMs: number) => sampleMemory(child, true, n, intervalMs);

  progress('memory: server process started; sampling it idle');
  await sleep(2000);
  const idle = await sample(5, 500);

  const token = await api('POST', '/enrollment-tokens', { name: 'bench-fleet', maxUses: count, autoAccept: true });
  if (token.status !== 201) throw new Error(`enrollment token: ${JSON.stringify(token.body)}`);
  const target = { url: `mqtts://127.0.0.1:${ready.mqttPort}`, ca };
  progress(`memory: enrolling ${count} lightweight devices`);
  const t0 = Date.now();
  const credentials = await enrollFleet({ ...target, token: String(token.body.token), count, concurrency: 16 });
  const enrollSeconds = (Date.now() - t0) / 1000;
  await sleep(2000);
  const enrolled = await sample(5, 500);

  // Two halves, so that the slope over the second half (the cost of one more device) can be
  // told apart from one-off growth such as V8's young generation reaching its full size.
  const halfCount = Math.floor(count / 2);
  const fleetOptions = { ...target, concurrency: 32, keepalive: 60, heartbeatSeconds: 60 };
  const connectTimeoutMs = options.maxSeconds * 1000;
  const fleets: Fleet[] = [];
  // After the server process is gone there is nobody to say goodbye to: drop the links.
  resources.defer(async () => {
    await Promise.all(fleets.map((f) => f.stop(false)));
  });
  const deadline = Date.now() + options.maxSeconds * 1000;
  let connectSeconds = 0;
  const connectAndSettle = async (from: number, to: number) => {
    const started = Date.now();
    progress(`memory: connecting devices ${from + 1} to ${to} (keepalive 60 s)`);
    fleets.push(
      await connectFleet({
        ...fleetOptions,
        credentials: credentials.slice(from, to),
        firstIndex: from,
        connectTimeoutMs,
      }),
    );
    for (;;) {
      const online = await api('GET', '/devices?online=true');
      const n = Array.isArray(online.body.items) ? online.body.items.length : 0;
      if (n >= to) break;
      if (Date.now() > deadline) throw new Error(`only ${n} of ${to} devices online in time`);
      await sleep(1000);
    }
    connectSeconds += (Date.now() - started) / 1000;
    await sleep(5000);
  };
  await connectAndSettle(0, halfCount);
  const half = await sample(5, 1000);
  await connectAndSettle(halfCount, count);
  progress(`memory: all ${count} online; sampling`);
  const connected = await sample(7, 1000);
  const stillUp = fleets.reduce((n, f) => n + f.devices.filter((d) => d.connected).length, 0);
  if (stillUp !== count) throw new Error(`only ${stillUp} of ${count} devices still connected after sampling`);
  await resources.stop(child);
  return {
    devices: count,
    idle,
    enrolled,
    half,
    connected,
    enrollSeconds,
    connectSeconds,
    gc: [idle, enrolled, half, connected].every((x) => x.gc),
  };
}
