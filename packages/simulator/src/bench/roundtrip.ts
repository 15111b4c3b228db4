/**
 * Command round trip: `POST /api/v1/devices/{id}/commands?wait=true` of
 * `system/ping` to a real agent process, against raw MQTT request/response
 * through a broker with the same TLS and ACL (baseline-broker.ts), to a
 * lightweight responder process and to a second real agent process. The three
 * run interleaved, one request at a time, so they share the machine's noise.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CommandResponse, check, commandSpec, parseJson, parseTopic, topics } from '@outpost/protocol';
import mqtt, { type MqttClient } from 'mqtt';
import { setNoDelay } from '../device.js';
import { type Summary, summarize } from '../stats.js';
import { agentOnline, startBenchServer, until } from './admin-api.js';
import { startResponder, startServerBaseline } from './baseline-broker.js';
import type { Resources } from './proc.js';

export interface RoundTripOptions {
  iterations: number;
  warmup: number;
  /** Stops measuring after this long, whatever the count. */
  maxSeconds: number;
  resources: Resources;
  progress: (msg: string) => void;
}

export interface RoundTripResult {
  /** Through the HTTP API and the server to a real agent process. */
  api: Summary;
  /** Raw MQTT request/response to a lightweight responder process. */
  raw: Summary;
  /** Raw MQTT request/response to a second real agent process. */
  rawAgent: Summary;
  /** Requests that failed or timed out (left out of the summaries). */
  failures: number;
  seconds: number;
}

const REQUEST_TIMEOUT_MS = 10_000;
const AGENT_BIN = join(dirname(fileURLToPath(import.meta.resolve('@outpost/agent'))), '..', 'bin', 'outpost-agent.js');

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';
/** An id shaped like the server's (`c-` or `d-` and 20 base32 characters), so payloads are the same size. */
function serverStyleId(prefix: string): string {
  let s = '';
  for (const b of randomBytes(20)) s += BASE32[b & 31];
  return `${prefix}-${s}`;
}

/** A raw MQTT client acting as the server: publishes commands, matches `res/{id}` by id. */
class RawRequester {
  private readonly waiting = new Map<string, (payload: Buffer) => void>();
  readonly online = new Set<string>();

  constructor(private readonly client: MqttClient) {
    client.on('message', (topic, payload) => {
      const t = parseTopic(topic);
      if (t?.kind === 'result') this.waiting.get(t.commandId)?.(payload);
      if (t?.kind === 'status' && payload.length > 0) {
        const online = (JSON.parse(payload.toString('utf8')) as { online?: boolean }).online;
        if (online) this.online.add(t.deviceId);
        else this.online.delete(t.deviceId);
      }
    });
  }

  /** One `system/ping`, the same payload the server publishes; resolves with the validated response. */
  async ping(deviceId: string): Promise<void> {
    const id = serverStyleId('c');
    const payload = JSON.stringify({ id, args: {}, ttl: 3600, ts: Date.now() });
    const answered = new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('raw ping timed out')), REQUEST_TIMEOUT_MS);
      this.waiting.set(id, (p) => {
        clearTimeout(timer);
        resolve(p);
      });
    });
    try {
      const [, reply] = await Promise.all([
        this.client.publishAsync(topics.command(deviceId, 'system', 'ping'), payload, { qos: 1 }),
        answered,
      ]);
      // Validate as the server does: the envelope, then the result against the command's schema.
      const response = parseJson(CommandResponse, reply, 'command response');
      if (!response.ok || !check(commandSpec('system', 'ping')!.result, response.data)) {
        throw new Error('raw ping: bad response');
      }
    } finally {
      this.waiting.delete(id);
    }
  }
}

export async function runRoundTrip(options: RoundTripOptions): Promise<RoundTripResult> {
  const { resources, progress } = options;
  const dataDir = resources.tempDir('outpost-bench-rt-');
  const { server, ca, api } = await startBenchServer(resources, dataDir, {
    timeoutMs: REQUEST_TIMEOUT_MS,
    keepAliveTimeout: 120_000,
  });

  const spawnAgent = (serverUrl: string, stateDir: string, env: NodeJS.ProcessEnv = {}) =>
    resources.spawn(
      process.execPath,
      [AGENT_BIN, '--server', serverUrl, '--ca', server.caFile, '--state-dir', stateDir, '--log-level', 'warn'],
      { env: { ...process.env, ...env } },
    );

  // The API path: a real agent process, enrolled like on a device.
  progress('round trip: enrolling a real agent process');
  const token = await api('POST', '/enrollment-tokens', { name: 'bench', maxUses: 1, autoAccept: true });
  if (token.status !== 201) throw new Error(`enrollment token: ${JSON.stringify(token.body)}`);
  const agentDir = join(dataDir, 'agent');
  const agent = spawnAgent(`mqtts://127.0.0.1:${server.mqttPort}`, agentDir, {
    OUTPOST_AGENT_ENROLL_TOKEN: String(token.body.token),
  });
  const deviceId = await agentOnline(api, resources, agent, agentDir);

  // The baseline: raw clients through a broker with the same TLS material and ACL.
  progress('round trip: starting the baseline broker, responder and second agent');
  const baseline = await startServerBaseline(resources, join(dataDir, 'server'), ca);
  const client = await mqtt.connectAsync(baseline.url, {
    ca,
    clientId: serverStyleId('bench'),
    username: baseline.requester.username,
    password: baseline.requester.password,
    clean: true,
    keepalive: 30,
    reconnectPeriod: 0,
    protocolVersion: 4,
  });
  resources.defer(() => client.endAsync(true));
  setNoDelay(client); // as the agent and HTTP clients do
  const requester = new RawRequester(client);
  await client.subscribeAsync(['outpost/v1/d/+/res/+', 'outpost/v1/d/+/status'], { qos: 1 });

  const responderCreds = await startResponder(resources, baseline, serverStyleId('d'), server.caFile);

  // A second real agent on the baseline broker, with an identity file as enrollment would have written it.
  const agent2Creds = baseline.addDevice(serverStyleId('d'));
  const agent2Dir = join(dataDir, 'agent2');
  mkdirSync(agent2Dir, { recursive: true, mode: 0o700 });
  writeFileSync(
    join(agent2Dir, 'identity.json'),
    JSON.stringify({ server: baseline.url, ...agent2Creds, enrolledAt: new Date().toISOString() }),
    { mode: 0o600 },
  );
  const agent2 = spawnAgent(baseline.url, agent2Dir);
  await until(async () => {
    if (agent2.exitCode !== null) throw new Error(`second agent exited: ${resources.tail(agent2)}`);
    return requester.online.has(agent2Creds.deviceId) && requester.online.has(responderCreds.deviceId);
  }, 'the baseline devices online');

  const apiPing = async (): Promise<void> => {
    const r = await api('POST', `/devices/${deviceId}/commands?wait=true&timeout=10`, {
      capability: 'system',
      action: 'ping',
      args: {},
    });
    if (r.status !== 200 || r.body.status !== 'succeeded') throw new Error(`api ping: ${r.status} ${r.body.status}`);
  };
  const kinds = [
    { name: 'api', run: apiPing },
    { name: 'raw', run: () => requester.ping(responderCreds.deviceId) },
    { name: 'rawAgent', run: () => requester.ping(agent2Creds.deviceId) },
  ] as const;
  const samples: Record<(typeof kinds)[number]['name'], number[]> = { api: [], raw: [], rawAgent: [] };
  let failures = 0;

  progress(`round trip: warm-up (${options.warmup} of each)`);
  for (let i = 0; i < options.warmup; i++) for (const k of kinds) await k.run();

  progress(`round trip: measuring (${options.iterations} of each, interleaved, at most ${options.maxSeconds} s)`);
  const started = Date.now();
  for (let i = 0; i < options.iterations && Date.now() - started < options.maxSeconds * 1000; i++) {
    // Rotate the order each iteration, so none always runs right after another.
    for (let j = 0; j < kinds.length; j++) {
      const k = kinds[(i + j) % kinds.length]!;
      const t0 = performance.now();
      try {
        await k.run();
        samples[k.name].push(performance.now() - t0);
      } catch (err) {
        failures++;
        progress(`round trip: ${k.name} request failed: ${(err as Error).message}`);
        if (failures > 10) throw new Error('round trip: too many failed requests');
      }
    }
  }
  return {
    api: summarize(samples.api),
    raw: summarize(samples.raw),
    rawAgent: summarize(samples.rawAgent),
    failures,
    seconds: (Date.now() - started) / 1000,
  };
}
