/**
 * File-transfer throughput (`npm run bench -- --only files`): a file uploaded
 * with `PUT /files/content` and downloaded with `GET /files/content` by a client
 * process, through the server and a real agent process (byte streams over MQTT,
 * written to and read from disk on the device), against raw MQTT moving the same
 * number of bytes in frames of the same size (64 KiB + the 8-byte frame header):
 * - download: a raw device publishing to the server's own link through the
 *   server's embedded broker (QoS 1, 32 in flight, timed to the last PUBACK);
 * - upload: the embedded broker lets no outside client publish to a device, so a
 *   client and a device process talk through a broker with the same TLS and ACL
 *   (baseline-broker.ts), QoS 0, timed until the device has every byte; the same
 *   pair measures the download direction too, for reference.
 * The kinds run interleaved, so they share the machine's noise.
 */
import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FRAME_HEADER_BYTES, MAX_FRAME_DATA, topics } from '@outpost/protocol';
import { startServer } from '@outpost/server';
import { adminApi, agentOnline } from './admin-api.js';
import { startServerBaseline } from './baseline-broker.js';
import { nextMessage, type Resources } from './proc.js';
import { enrollRaw } from './raw-device.js';
import type { Row } from './table.js';

export interface FilesBenchOptions {
  /** Size of the file moved each time, MiB. */
  mib: number;
  /** Measured transfers of each kind. */
  repetitions: number;
  resources: Resources;
  progress: (msg: string) => void;
}

/** MiB/s of each measured transfer, by kind. */
export interface FilesBenchResult {
  mib: number;
  upload: number[];
  download: number[];
  rawUpload: number[];
  rawDownload: number[];
  /** Raw device → the server's own link through the server's embedded broker (QoS 1, 32 in flight). */
  rawServerLink: number[];
  /** CPU seconds per process, summed over each kind's measured transfers. */
  cpu: Record<string, Record<string, number>>;
  seconds: number;
}

const AGENT_BIN = join(dirname(fileURLToPath(import.meta.resolve('@outpost/agent'))), '..', 'bin', 'outpost-agent.js');
const PEER = fileURLToPath(new URL('./files-peer.js', import.meta.url));
const CLIENT = fileURLToPath(new URL('./files-client.js', import.meta.url));
const MiB = 1024 * 1024;
const FRAME = MAX_FRAME_DATA + FRAME_HEADER_BYTES;

type Msg<T extends string> = { type: T };

/** Sends a request to a child and waits for its answer of type `done`; `{type:'error'}` rejects. */
function ask(child: ChildProcess, message: object, done: string, what: string, timeoutMs = 600_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`timed out waiting for ${what}`)), timeoutMs);
    const onMessage = (m: { type?: string; message?: string }) => {
      if (m?.type === done) finish(null);
      else if (m?.type === 'error') finish(new Error(`${what}: ${m.message ?? 'failed'}`));
    };
    const onExit = (code: number | null) => finish(new Error(`${what}: child exited (${code})`));
    function finish(err: Error | null): void {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve();
    }
    child.on('message', onMessage);
    child.once('exit', onExit);
    child.send(message);
  });
}
const is =
  <T extends string>(type: T) =>
  (m: unknown): m is Msg<T> =>
    (m as { type?: unknown })?.type === type;

/** CPU seconds (user + system) each process has used so far, from /proc (clock ticks of 1/100 s). */
function cpuNow(pids: Record<string, number | undefined>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, pid] of Object.entries(pids)) {
    if (pid === undefined) continue;
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
      out[name] = (Number(fields[11]) + Number(fields[12])) / 100;
    } catch {
      // The process is gone; its row stays empty.
    }
  }
  return out;
}

export async function runFiles(options: FilesBenchOptions): Promise<FilesBenchResult> {
  const { resources, progress, mib } = options;
  const bytes = mib * MiB;
  const dir = resources.tempDir('outpost-bench-files-');
  const server = await startServer({
    dataDir: join(dir, 'server'),
    httpPort: 0,
    mqttPort: 0,
    host: '127.0.0.1',
    logLevel: 'warn',
    logDestination: createWriteStream(join(dir, 'server.log')),
    env: {},
  });
  resources.defer(() => server.close());
  const ca = readFileSync(server.caFile);
  const api = adminApi(resources, { ...server, ca }, { timeoutMs: 60_000 });

  progress('files: enrolling a real agent process');
  const token = await api('POST', '/enrollment-tokens', { name: 'bench-files', maxUses: 1, autoAccept: true });
  if (token.status !== 201) throw new Error(`enrollment token: ${JSON.stringify(token.body)}`);
  const agentDir = join(dir, 'agent');
  const deviceRoot = join(dir, 'device-files');
  mkdirSync(deviceRoot, { recursive: true });
  const agent = resources.spawn(
    process.execPath,
    [AGENT_BIN, '--server', `mqtts://127.0.0.1:${server.mqttPort}`, '--ca', server.caFile, '--state-dir', agentDir],
    {
      env: {
        ...process.env,
        OUTPOST_AGENT_ENROLL_TOKEN: String(token.body.token),
        OUTPOST_AGENT_LOG_LEVEL: 'warn',
        OUTPOST_AGENT_FILE_ROOTS: deviceRoot,
      },
    },
  );
  const deviceId = await agentOnline(api, resources, agent, agentDir);

  progress(`files: writing a ${mib} MiB file`);
  const local = join(dir, 'payload.bin');
  const hash = createHash('sha256');
  const out = createWriteStream(local);
  for (let i = 0; i < mib; i++) {
    const block = randomBytes(MiB);
    hash.update(block);
    if (!out.write(block)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((r) => out.end(() => r()));
  const sha256 = hash.digest('hex');

  progress('files: starting the baseline broker, the raw device and the client processes');
  const baseline = await startServerBaseline(resources, join(dir, 'server'), ca);
  const peerCreds = baseline.addDevice(`d-benchfiles${randomBytes(4).toString('hex')}`);
  const peer = resources.fork(PEER, [JSON.stringify({ url: baseline.url, caFile: server.caFile, ...peerCreds })]);
  await nextMessage(peer, is('ready'), 30_000, 'the raw device process');
  // The sender outside the device (HTTP client, or MQTT requester for the baseline) runs in its
  // own process, as a CLI does: the server's process does not also pay for the client's TLS.
  const client = resources.fork(CLIENT, [
    JSON.stringify({
      caFile: server.caFile,
      http: {
        base: `https://127.0.0.1:${server.httpPort}/api/v1/devices/${deviceId}/files/content`,
        token: readFileSync(server.adminTokenFile, 'utf8').trim(),
      },
      mqtt: { url: baseline.url, ...baseline.requester },
    }),
  ]);
  await nextMessage(client, is('ready'), 30_000, 'the client process');
  // Through the server's own broker a raw client can only be a device publishing to the server's link.
  const rawToken = await api('POST', '/enrollment-tokens', { name: 'bench-files-raw', maxUses: 1, autoAccept: true });
  if (rawToken.status !== 201) throw new Error(`enrollment token: ${JSON.stringify(rawToken.body)}`);
  const linkPeer = resources.fork(PEER, [
    JSON.stringify({
      url: `mqtts://127.0.0.1:${server.mqttPort}`,
      caFile: server.caFile,
      ...(await enrollRaw(`mqtts://127.0.0.1:${server.mqttPort}`, ca, String(rawToken.body.token))),
    }),
  ]);
  await nextMessage(linkPeer, is('ready'), 30_000, 'the raw device on the server broker');

  const path = join(deviceRoot, 'payload.bin');
  let transfers = 0;
  const upload = async (): Promise<void> => {
    const query = new URLSearchParams({
      path,
      size: String(bytes),
      sha256,
      transfer: `bench-${++transfers}-${Date.now()}`,
    });
    await ask(client, { type: 'put', query: query.toString(), bytes, file: local }, 'done', 'the upload');
  };
  const download = async (): Promise<void> => {
    await ask(client, { type: 'get', query: new URLSearchParams({ path }).toString(), bytes }, 'done', 'the download');
  };
  let sids = 0;
  const rawUpload = async (): Promise<void> => {
    const sid = `bench${++sids}`;
    await ask(peer, { type: 'sink', sid, bytes }, 'subscribed', 'the raw device subscribing');
    const received = nextMessage(peer, is('received'), 600_000, 'the raw bytes to arrive');
    const topic = topics.tty(peerCreds.deviceId, sid, 'in');
    await ask(client, { type: 'publish', topic, bytes, frame: FRAME }, 'done', 'the raw publishing');
    await received;
  };
  const rawDownload = async (): Promise<void> => {
    const sid = `bench${++sids}`;
    const topic = topics.tty(peerCreds.deviceId, sid, 'out');
    const sunk = ask(client, { type: 'sink', topic, bytes }, 'done', 'the raw bytes to arrive');
    await nextMessage(client, is('subscribed'), 10_000, 'the client subscribing');
    peer.send({ type: 'source', sid, bytes, frame: FRAME });
    await sunk;
  };

  const rawServerLink = async (): Promise<void> => {
    await ask(
      linkPeer,
      { type: 'source', sid: `bench${++sids}`, bytes, frame: FRAME, qos: 1, inFlight: 32 },
      'sent',
      'the raw publishes to the server',
    );
  };

  const kinds = [
    { name: 'upload', run: upload },
    { name: 'rawUpload', run: rawUpload },
    { name: 'download', run: download },
    { name: 'rawDownload', run: rawDownload },
    { name: 'rawServerLink', run: rawServerLink },
  ] as const;
  const result: FilesBenchResult = {
    mib,
    upload: [],
    download: [],
    rawUpload: [],
    rawDownload: [],
    rawServerLink: [],
    cpu: {},
    seconds: 0,
  };
  progress('files: warm-up (one of each)');
  for (const k of kinds) await k.run();
  progress(`files: measuring (${options.repetitions} of each, ${mib} MiB, interleaved)`);
  // CPU seconds each process spends per kind: which one limits a transfer.
  const processes: Record<string, number | undefined> = {
    'server+brokers': process.pid,
    agent: agent.pid,
    client: client.pid,
    'raw device': peer.pid,
    'raw device (server broker)': linkPeer.pid,
  };
  const started = Date.now();
  for (let i = 0; i < options.repetitions; i++) {
    for (let j = 0; j < kinds.length; j++) {
      const k = kinds[(i + j) % kinds.length]!;
      const cpu0 = cpuNow(processes);
      const t0 = performance.now();
      await k.run();
      result[k.name].push(mib / ((performance.now() - t0) / 1000));
      const cpu1 = cpuNow(processes);
      const used = result.cpu[k.name] ?? {};
      result.cpu[k.name] = used;
      for (const name of Object.keys(cpu1)) used[name] = (used[name] ?? 0) + ((cpu1[name] ?? 0) - (cpu0[name] ?? 0));
    }
  }
  result.seconds = (Date.now() - started) / 1000;
  if (agent.exitCode !== null) throw new Error(`the agent exited during the run: ${resources.tail(agent)}`);
  return result;
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] ?? 0) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
};

/** Transfers must reach this share of raw MQTT's throughput. */
export const GOAL_FILES_RATIO = 0.7;

/** The results table's rows: median MiB/s of each direction against its raw baseline. */
export function filesRows(r: FilesBenchResult): Row[] {
  const row = (measure: string, api: number[], raw: number[]): Row => {
    const ratio = median(api) / median(raw);
    return {
      measure,
      value: `${median(api).toFixed(1)} MiB/s`,
      baseline: `${median(raw).toFixed(1)} MiB/s raw MQTT, baseline broker`,
      ratio: `${(ratio * 100).toFixed(0)} %`,
      goal: `≥ ${GOAL_FILES_RATIO * 100} %`,
      met: ratio >= GOAL_FILES_RATIO ? 'yes' : 'NO',
    };
  };
  const info = (measure: string, api: number[], raw: number[], what: string): Row => ({
    ...row(measure, api, raw),
    baseline: `${median(raw).toFixed(1)} MiB/s ${what}`,
    goal: '',
    met: '',
  });
  return [
    row(`file upload ${r.mib} MiB (PUT → server → agent → disk)`, r.upload, r.rawUpload),
    {
      ...row(`file download ${r.mib} MiB (disk → agent → server → GET)`, r.download, r.rawServerLink),
      baseline: `${median(r.rawServerLink).toFixed(1)} MiB/s raw MQTT, same broker`,
    },
    info('  download vs raw MQTT device → client', r.download, r.rawDownload, 'raw, baseline broker'),
  ];
}

export function filesDetails(r: FilesBenchResult): string[] {
  const list = (xs: number[]) => xs.map((x) => x.toFixed(1)).join(', ');
  return [
    `file transfers (${r.mib} MiB each, MiB/s, interleaved, ${r.seconds.toFixed(1)} s):`,
    `  upload through the API     ${list(r.upload)}`,
    `  raw MQTT, client → device  ${list(r.rawUpload)}`,
    `  download through the API   ${list(r.download)}`,
    `  raw MQTT, device → client  ${list(r.rawDownload)}`,
    `  raw MQTT, device → server  ${list(r.rawServerLink)}  (the server's own broker, QoS 1, 32 in flight)`,
    `CPU seconds per GiB moved, by process (user + system):`,
    ...Object.entries(r.cpu).map(([kind, byProcess]) => {
      const gib = (r.mib * (r[kind as keyof FilesBenchResult] as number[]).length) / 1024;
      const parts = Object.entries(byProcess)
        .filter(([, v]) => v > 0)
        .map(([name, v]) => `${name} ${(v / gib).toFixed(1)}`);
      return `  ${kind.padEnd(14)} ${parts.join(', ')}`;
    }),
  ];
}
