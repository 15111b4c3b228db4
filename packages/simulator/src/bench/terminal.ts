/**
 * Terminal benchmark (`npm run bench -- --only terminal`), docs/benchmarks.md:
 * - keystroke echo: one byte into `cat` in a raw-mode PTY on a real agent process, through
 *   the terminal WebSocket, the server's relay and its embedded broker, until it comes back;
 *   against a raw MQTT echo of a frame-sized message (QoS 0, as stream frames go) through the
 *   baseline broker (same Aedes, TLS material and ACL as the embedded one, baseline-broker.ts)
 *   to an echoing device client in its own process (the responder), as the agent is a process
 *   of its own and as the round trip's baseline has it. The same echo with the device client in
 *   this process is shown beside it. Interleaved, one at a time.
 * - throughput: `head -c N /dev/urandom` in a raw-mode PTY read through the WebSocket; against
 *   a raw MQTT device publishing the same bytes in 64 KiB frames (QoS 1, 32 in flight) on its
 *   `tty/{sid}/out` topic through the same embedded broker, timed to the last PUBACK.
 * - the echo's floor: the three legs of a keystroke's trip (the WebSocket, the broker to the
 *   device process, the PTY), each timed alone and interleaved with the echoes (echo-floor.ts).
 */

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiClient, openStreamSocket, type StreamSocket } from '@outpost/cli';
import { encodeFrame, FRAME_HEADER_BYTES, MAX_FRAME_DATA, type StreamDuplex, topics } from '@outpost/protocol';
import mqtt from 'mqtt';
import { setNoDelay } from '../device.js';
import { type Summary, summarize } from '../stats.js';
import { agentOnline, startBenchServer } from './admin-api.js';
import { startResponder, startServerBaseline } from './baseline-broker.js';
import { type Echo, EchoSlot, linkEcho, ptyEcho, webSocketEcho } from './echo-floor.js';
import { rawPublish } from './forward.js';
import type { Resources } from './proc.js';
import { enrollRaw } from './raw-device.js';
import { type Row, ratioText } from './table.js';

export interface TerminalBenchOptions {
  iterations: number;
  warmup: number;
  /** Bytes each throughput transfer moves, MiB. */
  mib: number;
  repetitions: number;
  resources: Resources;
  progress: (msg: string) => void;
}

export interface TerminalBenchResult {
  /** Keystroke echo through the terminal, ms. */
  echo: Summary;
  /** Raw MQTT echo through the baseline broker to an echoing device in its own process, ms. */
  rawEcho: Summary;
  /** The same with the echoing device in the bench's process, beside the requester and the broker, ms. */
  localEcho: Summary;
  /** The same frame published in-process into the baseline broker to the echoing device and back, ms. */
  linkEcho: Summary;
  /** The same keystroke through a local PTY running `cat`, no network, ms. */
  ptyEcho: Summary;
  /** The same frame through a WebSocket over TLS to an echoing server in the same process, ms. */
  wsEcho: Summary;
  /** MB/s (10^6 bytes/s) of each terminal transfer and each raw publish of the same bytes. */
  throughput: number[];
  raw: number[];
  mib: number;
  seconds: number;
}

export const GOAL_ECHO_RATIO = 1.5;
export const GOAL_TERMINAL_MB_PER_S = 10;

const MiB = 1024 * 1024;
const TIMEOUT_MS = 120_000;
const AGENT_BIN = join(dirname(fileURLToPath(import.meta.resolve('@outpost/agent'))), '..', 'bin', 'outpost-agent.js');

/**
 * A terminal session through the CLI's own stream client (`openStreamSocket`, as `outpost shell`
 * opens it): what is measured is the path a user's keystrokes take.
 */
function openTerminal(client: ApiClient, device: string, argv: string[]): StreamSocket {
  const sock = openStreamSocket(client, `/devices/${device}/terminal`, {
    cols: 80,
    rows: 24,
    argv: JSON.stringify(argv),
  });
  sock.stream.on('end', () => sock.stream.end());
  return sock;
}

/** Waits until `pred` holds over what `stream` printed (bytes as latin1 text). */
function waitFor(stream: StreamDuplex, pred: (text: string) => boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error('terminal output timed out')), TIMEOUT_MS);
    const on = (c: Buffer) => {
      text += c.toString('latin1');
      if (!pred(text)) return;
      clearTimeout(timer);
      stream.off('data', on);
      resolve();
    };
    stream.on('data', on);
  });
}

export async function runTerminal(options: TerminalBenchOptions): Promise<TerminalBenchResult> {
  const { resources, progress } = options;
  const dir = resources.tempDir('outpost-bench-terminal-');
  const { server, ca, api } = await startBenchServer(resources, dir, { timeoutMs: 60_000 });
  const adminToken = readFileSync(server.adminTokenFile, 'utf8').trim();
  const cli = new ApiClient(`https://127.0.0.1:${server.httpPort}`, adminToken, ca.toString());
  resources.defer(() => cli.close());
  const enrollToken = async () => {
    const t = await api('POST', '/enrollment-tokens', { name: 'bench-terminal', maxUses: 1, autoAccept: true });
    if (t.status !== 201) throw new Error(`enrollment token: ${JSON.stringify(t.body)}`);
    return String(t.body.token);
  };
  progress('terminal: enrolling a real agent process');
  const agentDir = join(dir, 'agent');
  const agent = resources.spawn(
    process.execPath,
    [AGENT_BIN, '--server', `mqtts://127.0.0.1:${server.mqttPort}`, '--ca', server.caFile, '--state-dir', agentDir],
    { env: { ...process.env, OUTPOST_AGENT_ENROLL_TOKEN: await enrollToken(), OUTPOST_AGENT_LOG_LEVEL: 'warn' } },
  );
  const deviceId = await agentOnline(api, resources, agent, agentDir);

  progress('terminal: starting the baseline broker and its echoing device');
  const tlsDir = join(dir, 'server', 'tls');
  const baseline = await startServerBaseline(resources, join(dir, 'server'), ca);
  const connectRaw = async (username: string, password: string, url = baseline.url) => {
    const c = await mqtt.connectAsync(url, {
      ca,
      clientId: username,
      username,
      password,
      clean: true,
      keepalive: 30,
      reconnectPeriod: 0,
      protocolVersion: 4,
    });
    resources.defer(() => c.endAsync(true));
    setNoDelay(c);
    return c;
  };
  const requester = await connectRaw(baseline.requester.username, baseline.requester.password);
  const keystroke = Buffer.from(encodeFrame({ type: 'data', offset: 0, data: Buffer.from('a') }));
  /** A raw echo through the baseline broker to `echoDeviceId`, which echoes `tty/sbench/in` on `.../out`. */
  const rawEchoTo = async (echoDeviceId: string): Promise<Echo> => {
    const inTopic = topics.tty(echoDeviceId, 'sbench', 'in');
    const outTopic = topics.tty(echoDeviceId, 'sbench', 'out');
    const slot = new EchoSlot('raw echo');
    requester.on('message', (topic) => topic === outTopic && slot.answer());
    await requester.subscribeAsync(outTopic, { qos: 1 });
    return () => slot.once(() => requester.publish(inTopic, keystroke, { qos: 0 }));
  };
  // The baseline: the echoing device in its own process, as the agent is (and as the round trip's responder).
  const responder = await startResponder(
    resources,
    baseline,
    `d-bench${randomBytes(6).toString('hex')}`,
    server.caFile,
  );
  const rawEcho = await rawEchoTo(responder.deviceId);
  // For comparison with earlier runs: the echoing device in this process, beside the requester and the broker.
  const localCreds = baseline.addDevice(`d-bench${randomBytes(6).toString('hex')}`);
  const localDevice = await connectRaw(localCreds.deviceId, localCreds.secret);
  await localDevice.subscribeAsync(topics.agentSubscriptions(localCreds.deviceId), { qos: 1 });
  const localOut = topics.tty(localCreds.deviceId, 'sbench', 'out');
  localDevice.on('message', (_t, payload) => localDevice.publish(localOut, payload, { qos: 0 }));
  const localEcho = await rawEchoTo(localCreds.deviceId);

  progress('terminal: opening a terminal running cat in raw mode');
  const term = openTerminal(cli, deviceId, ['sh', '-c', 'stty raw -echo; printf R; exec cat']);
  await waitFor(term.stream, (t) => t.includes('R'));
  // The same harness as the raw echo's: one standing listener, the slot armed per keystroke.
  let key = 0;
  const termSlot = new EchoSlot<Buffer>('terminal echo');
  term.stream.on('data', (chunk: Buffer) => termSlot.answer(chunk));
  const echo = () => {
    const ch = 97 + (key++ % 26);
    return termSlot.once(
      () => term.stream.write(Buffer.of(ch)),
      (chunk) => chunk.includes(ch),
    );
  };

  progress('terminal: the echo floor: a device leg, a local PTY and a WebSocket echo (echo-floor.ts)');
  const deviceLeg = await linkEcho(
    baseline,
    { in: topics.tty(responder.deviceId, 'slink', 'in'), out: topics.tty(responder.deviceId, 'slink', 'out') },
    keystroke,
  );
  const localPty = await ptyEcho(resources);
  const localWs = await webSocketEcho(
    resources,
    {
      key: readFileSync(join(tlsDir, 'server.key'), 'utf8'),
      cert: readFileSync(join(tlsDir, 'server.crt'), 'utf8'),
      ca,
    },
    keystroke,
  );

  const samples = {
    echo: [] as number[],
    rawEcho: [] as number[],
    localEcho: [] as number[],
    linkEcho: [] as number[],
    ptyEcho: [] as number[],
    wsEcho: [] as number[],
  };
  const kinds = [
    { name: 'echo', run: echo },
    { name: 'rawEcho', run: rawEcho },
    { name: 'localEcho', run: localEcho },
    { name: 'linkEcho', run: deviceLeg },
    { name: 'ptyEcho', run: localPty },
    { name: 'wsEcho', run: localWs },
  ] as const;
  progress(`terminal: echo warm-up (${options.warmup} of each)`);
  for (let i = 0; i < options.warmup; i++) for (const k of kinds) await k.run();
  progress(`terminal: measuring echo (${options.iterations} of each, interleaved)`);
  const started = Date.now();
  for (let i = 0; i < options.iterations; i++) {
    for (let j = 0; j < kinds.length; j++) {
      const k = kinds[(i + j) % kinds.length]!;
      const t0 = performance.now();
      await k.run();
      samples[k.name].push(performance.now() - t0);
    }
  }
  term.stream.end();
  term.stream.write('\x04');

  progress('terminal: enrolling a raw MQTT device for the throughput baseline');
  const rawToken = await enrollToken();
  const rawCreds = await enrollRaw(`mqtts://127.0.0.1:${server.mqttPort}`, ca, rawToken);
  const rawDevice = await connectRaw(rawCreds.deviceId, rawCreds.secret, `mqtts://127.0.0.1:${server.mqttPort}`);
  const rawTopic = topics.tty(rawCreds.deviceId, 'sbenchraw', 'out');
  const frame = Buffer.alloc(MAX_FRAME_DATA + FRAME_HEADER_BYTES, 7);

  const bytes = options.mib * MiB;
  const transfer = async (): Promise<number> => {
    const t = openTerminal(cli, deviceId, ['sh', '-c', `stty raw -echo; printf R; head -c ${bytes} /dev/urandom`]);
    let got = -1;
    let t0 = 0;
    const done = new Promise<number>((resolve) => {
      t.stream.on('data', (c: Buffer) => {
        if (got < 0) {
          // The clock starts at the ready mark, after the session's setup.
          got = c.length - 1;
          t0 = performance.now();
        } else got += c.length;
      });
      t.stream.on('end', () => resolve(performance.now()));
    });
    const t1 = await done;
    await t.result;
    if (got !== bytes) throw new Error(`terminal moved ${got} bytes, expected ${bytes}`);
    return bytes / 1e6 / ((t1 - t0) / 1000);
  };
  const raw = async (): Promise<number> => {
    const t0 = performance.now();
    await rawPublish(rawDevice, rawTopic, frame, bytes);
    return bytes / 1e6 / ((performance.now() - t0) / 1000);
  };
  const throughput: number[] = [];
  const rawRates: number[] = [];
  progress('terminal: throughput warm-up');
  await transfer();
  await raw();
  progress(`terminal: measuring throughput (${options.repetitions} × ${options.mib} MiB of each, interleaved)`);
  for (let i = 0; i < options.repetitions; i++) {
    if (i % 2 === 0) {
      throughput.push(await transfer());
      rawRates.push(await raw());
    } else {
      rawRates.push(await raw());
      throughput.push(await transfer());
    }
  }
  if (agent.exitCode !== null) throw new Error(`the agent exited during the run: ${resources.tail(agent)}`);
  return {
    echo: summarize(samples.echo),
    rawEcho: summarize(samples.rawEcho),
    localEcho: summarize(samples.localEcho),
    linkEcho: summarize(samples.linkEcho),
    ptyEcho: summarize(samples.ptyEcho),
    wsEcho: summarize(samples.wsEcho),
    throughput,
    raw: rawRates,
    mib: options.mib,
    seconds: (Date.now() - started) / 1000,
  };
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] ?? 0) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
};

export function terminalRows(r: TerminalBenchResult): Row[] {
  const ms = (v: number) => `${v.toFixed(2)} ms`;
  const echoRow = (measure: string, k: 'p50' | 'p99', goal: boolean): Row => {
    const x = r.echo[k] / r.rawEcho[k];
    return {
      measure,
      value: ms(r.echo[k]),
      baseline: `${ms(r.rawEcho[k])} raw MQTT echo`,
      ratio: ratioText(x, goal ? GOAL_ECHO_RATIO : undefined),
      goal: goal ? `≤ ${GOAL_ECHO_RATIO}×` : '',
      met: goal ? (x <= GOAL_ECHO_RATIO ? 'yes' : 'NO') : '',
    };
  };
  /** A p50 shown against the raw echo's (no goal): the floor's legs and the in-process echo. */
  const legRow = (measure: string, value: number): Row => ({
    measure,
    value: ms(value),
    baseline: `${ms(r.rawEcho.p50)} raw MQTT echo`,
    ratio: ratioText(value / r.rawEcho.p50),
    goal: '',
    met: '',
  });
  const t = median(r.throughput);
  const raw = median(r.raw);
  return [
    echoRow('terminal keystroke echo p50 (cat in a PTY)', 'p50', true),
    echoRow('terminal keystroke echo p99', 'p99', false),
    legRow('  raw MQTT echo with the echoing device in the bench process', r.localEcho.p50),
    legRow('  WebSocket/TLS echo alone, no relay (client leg)', r.wsEcho.p50),
    legRow('  in-process publish to the device process and back (device leg)', r.linkEcho.p50),
    legRow('  PTY echo alone, no network (node-pty + cat)', r.ptyEcho.p50),
    legRow('  echo floor: the three legs above (sum of p50s)', r.wsEcho.p50 + r.linkEcho.p50 + r.ptyEcho.p50),
    {
      measure: `terminal output throughput (${r.mib} MiB)`,
      value: `${t.toFixed(1)} MB/s`,
      baseline: `${raw.toFixed(1)} MB/s raw MQTT`,
      ratio: `${((t / raw) * 100).toFixed(0)} %`,
      goal: `≥ ${GOAL_TERMINAL_MB_PER_S} MB/s`,
      met: t >= GOAL_TERMINAL_MB_PER_S ? 'yes' : 'NO',
    },
  ];
}

export function terminalDetails(r: TerminalBenchResult): string[] {
  const line = (label: string, xs: number[]) => `  ${label.padEnd(44)} ${xs.map((x) => x.toFixed(1)).join(', ')}`;
  const s = (x: Summary) => `p50 ${x.p50.toFixed(2)}, p99 ${x.p99.toFixed(2)}, mean ${x.mean.toFixed(2)} ms`;
  return [
    `terminal (${r.seconds.toFixed(1)} s):`,
    `  keystroke echo through the terminal          ${s(r.echo)}`,
    `  raw MQTT echo, device in its own process      ${s(r.rawEcho)}`,
    `  raw MQTT echo, device in the bench process    ${s(r.localEcho)}`,
    `  in-process publish to the device process      ${s(r.linkEcho)}`,
    `  local PTY echo (cat), no network              ${s(r.ptyEcho)}`,
    `  WebSocket/TLS echo in one process, no relay   ${s(r.wsEcho)}`,
    line(`terminal output, MB/s (${r.mib} MiB each)`, r.throughput),
    line('raw MQTT publish, same broker, same bytes', r.raw),
  ];
}
