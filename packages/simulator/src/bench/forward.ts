/**
 * Port-forward throughput (`npm run bench -- --only forward`): bytes through the
 * real `outpost forward` CLI process, the server (its embedded broker, in this
 * process) and a real agent process, to and from TCP services on 127.0.0.1 that
 * stand in for services on the device. Against it, in the same run and through
 * the same broker: a raw MQTT client, logged in as a second enrolled device,
 * publishing the same bytes in frames of the same size (64 KiB + the 8-byte
 * frame header) on its `tty/{sid}/out` topic, which the server's own link
 * receives. The raw publishes are QoS 1 with up to 32 in flight, timed to the
 * last PUBACK (Aedes acknowledges once it has handed the message to the
 * server's link); the forward's bytes take that path plus the server's relay,
 * two WebSocket hops, TCP at both ends and the stream's window. The kinds run
 * interleaved, so they share the machine's noise.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FRAME_HEADER_BYTES, MAX_FRAME_DATA, topics } from '@outpost/protocol';
import mqtt, { type MqttClient } from 'mqtt';
import { setNoDelay } from '../device.js';
import { agentOnline, startBenchServer, until } from './admin-api.js';
import type { Resources } from './proc.js';
import { enrollRaw } from './raw-device.js';
import type { Row } from './table.js';

export interface ForwardBenchOptions {
  /** Bytes moved by each measured transfer, MiB. */
  mib: number;
  repetitions: number;
  /** Connections of the parallel download (each moves mib / parallel). */
  parallel: number;
  resources: Resources;
  progress: (msg: string) => void;
}

/** MB/s (10^6 bytes per second) of each measured transfer, by kind. */
export interface ForwardBenchResult {
  mib: number;
  parallel: number;
  download: number[];
  upload: number[];
  parallelDownload: number[];
  raw: number[];
  seconds: number;
}

/** The goal for one forwarded connection on this machine. */
export const GOAL_FORWARD_MB_PER_S = 10;

const MiB = 1024 * 1024;
const FRAME = MAX_FRAME_DATA + FRAME_HEADER_BYTES;
const RAW_IN_FLIGHT = 32;
const TRANSFER_TIMEOUT_MS = 300_000;
const AGENT_BIN = join(dirname(fileURLToPath(import.meta.resolve('@outpost/agent'))), '..', 'bin', 'outpost-agent.js');
const CLI_BIN = join(dirname(fileURLToPath(import.meta.resolve('@outpost/cli/package.json'))), 'bin', 'outpost.js');

const listen = async (server: Server): Promise<number> => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as { port: number }).port;
};

/** Writes `bytes` of `block` repeated to `socket` with backpressure, then ends it. */
async function send(socket: Socket, block: Buffer, bytes: number): Promise<void> {
  for (let sent = 0; sent < bytes; sent += block.length) {
    const chunk = bytes - sent >= block.length ? block : block.subarray(0, bytes - sent);
    if (!socket.write(chunk)) await new Promise<void>((r) => socket.once('drain', () => r()));
  }
  await new Promise<void>((r) => socket.end(() => r()));
}

/** A device-side service: a source sends `bytes` on connect, a sink answers with how many it read. */
async function targets(resources: Resources, bytes: () => number): Promise<{ source: number; sink: number }> {
  const block = randomBytes(MiB);
  const source = createServer((s) => {
    s.on('error', () => {});
    s.resume();
    void send(s, block, bytes());
  });
  const sink = createServer({ allowHalfOpen: true }, (s) => {
    let got = 0;
    s.on('error', () => {});
    s.on('data', (d: Buffer) => {
      got += d.length;
    });
    s.on('end', () => s.end(String(got)));
  });
  resources.defer(() => new Promise<void>((r) => source.close(() => r())));
  resources.defer(() => new Promise<void>((r) => sink.close(() => r())));
  return { source: await listen(source), sink: await listen(sink) };
}

/** Starts `outpost forward DEVICE 0:127.0.0.1:PORT` and returns the local port it listens on. */
async function startForward(
  resources: Resources,
  env: NodeJS.ProcessEnv,
  deviceId: string,
  port: number,
): Promise<{ proc: ChildProcess; port: number }> {
  const proc = resources.spawn(process.execPath, [CLI_BIN, 'forward', deviceId, `0:127.0.0.1:${port}`, '--json'], {
    env,
  });
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const local = await until(async () => {
    if (proc.exitCode !== null) throw new Error(`outpost forward exited: ${resources.tail(proc)}`);
    const line = out.split('\n').find((l) => l.includes('"listening"'));
    return line ? (JSON.parse(line) as { port: number }).port : null;
  }, 'outpost forward to listen');
  return { proc, port: local };
}

/** Connects to the forward and reads until the target ends; the byte count. */
function readAll(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let got = 0;
    const s = connect(port, '127.0.0.1');
    const timer = setTimeout(() => s.destroy(new Error('download timed out')), TRANSFER_TIMEOUT_MS);
    s.on('data', (d: Buffer) => {
      got += d.length;
    });
    s.on('end', () => {
      clearTimeout(timer);
      s.end();
      resolve(got);
    });
    s.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** Sends `bytes` through the forward to the sink and waits for its count. */
function writeAll(port: number, block: Buffer, bytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let answer = '';
    const s = connect({ port, host: '127.0.0.1', allowHalfOpen: true }, () => void send(s, block, bytes));
    const timer = setTimeout(() => s.destroy(new Error('upload timed out')), TRANSFER_TIMEOUT_MS);
    s.on('data', (d: Buffer) => {
      answer += d.toString();
    });
    s.on('end', () => {
      clearTimeout(timer);
      resolve(Number(answer));
    });
    s.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** Publishes `bytes` in frame-sized QoS 1 messages, at most RAW_IN_FLIGHT unacknowledged; resolves at the last PUBACK. */
export async function rawPublish(client: MqttClient, topic: string, frame: Buffer, bytes: number): Promise<void> {
  const count = Math.ceil(bytes / MAX_FRAME_DATA);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < count) {
      next++;
      await client.publishAsync(topic, frame, { qos: 1 });
    }
  };
  await Promise.all(Array.from({ length: RAW_IN_FLIGHT }, lane));
}

export async function runForward(options: ForwardBenchOptions): Promise<ForwardBenchResult> {
  const { resources, progress, mib, parallel } = options;
  const bytes = mib * MiB;
  const dir = resources.tempDir('outpost-bench-forward-');
  const { server, ca, api } = await startBenchServer(resources, dir, { timeoutMs: 60_000 });

  progress('forward: enrolling a real agent process');
  const token = async () => {
    const t = await api('POST', '/enrollment-tokens', { name: 'bench-forward', maxUses: 1, autoAccept: true });
    if (t.status !== 201) throw new Error(`enrollment token: ${JSON.stringify(t.body)}`);
    return String(t.body.token);
  };
  const agentDir = join(dir, 'agent');
  const agent = resources.spawn(
    process.execPath,
    [AGENT_BIN, '--server', `mqtts://127.0.0.1:${server.mqttPort}`, '--ca', server.caFile, '--state-dir', agentDir],
    { env: { ...process.env, OUTPOST_AGENT_ENROLL_TOKEN: await token(), OUTPOST_AGENT_LOG_LEVEL: 'warn' } },
  );
  const deviceId = await agentOnline(api, resources, agent, agentDir);

  let perTransfer = bytes;
  const ports = await targets(resources, () => perTransfer);
  const cliEnv = {
    PATH: process.env.PATH,
    HOME: dir,
    XDG_CONFIG_HOME: join(dir, 'cli-config'),
    OUTPOST_URL: `https://127.0.0.1:${server.httpPort}`,
    OUTPOST_TOKEN: readFileSync(server.adminTokenFile, 'utf8').trim(),
    OUTPOST_CA: server.caFile,
  };
  progress('forward: starting two `outpost forward` processes (to a source and to a sink)');
  const down = await startForward(resources, cliEnv, deviceId, ports.source);
  const up = await startForward(resources, cliEnv, deviceId, ports.sink);

  progress('forward: enrolling a raw MQTT device for the baseline');
  const rawCreds = await enrollRaw(`mqtts://127.0.0.1:${server.mqttPort}`, ca, await token());
  const raw = await mqtt.connectAsync(`mqtts://127.0.0.1:${server.mqttPort}`, {
    ca,
    clientId: rawCreds.deviceId,
    username: rawCreds.deviceId,
    password: rawCreds.secret,
    clean: true,
    keepalive: 30,
    reconnectPeriod: 0,
    protocolVersion: 4,
  });
  resources.defer(() => raw.endAsync(true));
  setNoDelay(raw);
  const rawTopic = topics.tty(rawCreds.deviceId, 'benchraw', 'out');
  const frame = Buffer.alloc(FRAME, 7);
  const block = randomBytes(MiB);

  const check = (what: string, got: number, want: number) => {
    if (got !== want) throw new Error(`forward: ${what} moved ${got} bytes, expected ${want}`);
  };
  const kinds = [
    {
      name: 'download',
      run: async () => {
        perTransfer = bytes;
        check('download', await readAll(down.port), bytes);
      },
    },
    { name: 'upload', run: async () => check('upload', await writeAll(up.port, block, bytes), bytes) },
    {
      name: 'parallelDownload',
      run: async () => {
        perTransfer = Math.floor(bytes / parallel);
        const got = await Promise.all(Array.from({ length: parallel }, () => readAll(down.port)));
        check(
          'parallel download',
          got.reduce((a, b) => a + b, 0),
          perTransfer * parallel,
        );
      },
    },
    { name: 'raw', run: () => rawPublish(raw, rawTopic, frame, bytes) },
  ] as const;

  const result: ForwardBenchResult = {
    mib,
    parallel,
    download: [],
    upload: [],
    parallelDownload: [],
    raw: [],
    seconds: 0,
  };
  progress('forward: warm-up (one of each)');
  for (const k of kinds) await k.run();
  progress(`forward: measuring (${options.repetitions} of each, ${mib} MiB, interleaved)`);
  const started = Date.now();
  for (let i = 0; i < options.repetitions; i++) {
    for (let j = 0; j < kinds.length; j++) {
      const k = kinds[(i + j) % kinds.length]!;
      const moved = k.name === 'parallelDownload' ? Math.floor(bytes / parallel) * parallel : bytes;
      const t0 = performance.now();
      await k.run();
      result[k.name].push(moved / 1e6 / ((performance.now() - t0) / 1000));
    }
  }
  result.seconds = (Date.now() - started) / 1000;
  for (const [name, p] of [
    ['the agent', agent],
    ['outpost forward (download)', down.proc],
    ['outpost forward (upload)', up.proc],
  ] as const) {
    if (p.exitCode !== null) throw new Error(`${name} exited during the run: ${resources.tail(p)}`);
  }
  return result;
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] ?? 0) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
};
const rate = (v: number) => `${v.toFixed(1)} MB/s`;

/** The results table's rows: median MB/s of each kind, against raw MQTT through the same broker. */
export function forwardRows(r: ForwardBenchResult): Row[] {
  const raw = median(r.raw);
  const row = (measure: string, xs: number[], goal: boolean): Row => {
    const v = median(xs);
    return {
      measure,
      value: rate(v),
      baseline: `${rate(raw)} raw MQTT`,
      ratio: `${((v / raw) * 100).toFixed(0)} %`,
      goal: goal ? `≥ ${GOAL_FORWARD_MB_PER_S} MB/s` : '',
      met: goal ? (v >= GOAL_FORWARD_MB_PER_S ? 'yes' : 'NO') : '',
    };
  };
  return [
    row(`forward download, 1 connection (${r.mib} MiB)`, r.download, true),
    row(`forward upload, 1 connection (${r.mib} MiB)`, r.upload, true),
    row(`forward download, ${r.parallel} connections at once`, r.parallelDownload, false),
  ];
}

export function forwardDetails(r: ForwardBenchResult): string[] {
  const line = (label: string, xs: number[]) => `  ${label.padEnd(44)} ${xs.map((x) => x.toFixed(1)).join(', ')}`;
  return [
    `port forwarding (${r.mib} MiB per transfer, MB/s = 10^6 bytes/s, interleaved, ${r.seconds.toFixed(1)} s):`,
    line('download through outpost forward', r.download),
    line('upload through outpost forward', r.upload),
    line(`download, ${r.parallel} connections at once`, r.parallelDownload),
    line('raw MQTT publish, same broker, same bytes', r.raw),
  ];
}
