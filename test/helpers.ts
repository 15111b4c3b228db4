/**
 * End-to-end test harness: a real server (in-process, port 0, temp data dir,
 * real TLS, real SQLite), real agent processes (the bundled `outpost-agent`),
 * the real CLI as a process, and raw MQTT clients for hostile-device tests.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type OutpostServer, type ServerOptions, startServer } from '@outpost/server';
import mqtt, { type MqttClient } from 'mqtt';
import { Agent, fetch } from 'undici';

export const ROOT = resolve(import.meta.dirname, '..');
export const AGENT_BIN = join(ROOT, 'packages/agent/bin/outpost-agent.js');
export const CLI_BIN = join(ROOT, 'packages/cli/bin/outpost.js');

export { removeTempDirs, tempDir } from './tmp.js';

import { tempDir } from './tmp.js';

export async function waitUntil<T>(
  fn: () => T | Promise<T>,
  what: string,
  timeoutMs = 20_000,
  intervalMs = 50,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export interface ApiResult<T = any> {
  status: number;
  body: T;
  headers: Headers;
  text: string;
}

const dispatchers = new WeakMap<Buffer, Agent>();

/** One HTTPS request to a test server's API, as a client would send it; no credentials unless given. */
export async function request(
  ts: Pick<TestServer, 'server' | 'ca'>,
  method: string,
  path: string,
  opts: { body?: unknown; rawBody?: string | undefined; headers?: Record<string, string> | undefined } = {},
): Promise<ApiResult> {
  let dispatcher = dispatchers.get(ts.ca);
  if (!dispatcher) {
    dispatcher = new Agent({ connect: { ca: ts.ca } });
    dispatchers.set(ts.ca, dispatcher);
  }
  const payload = opts.rawBody ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body));
  const headers: Record<string, string> = {
    ...(payload !== undefined ? { 'content-type': 'application/json' } : {}),
    ...opts.headers,
  };
  const res = await fetch(`https://127.0.0.1:${ts.server.httpPort}/api/v1${path}`, {
    method,
    headers,
    body: payload,
    dispatcher,
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {}
  return { status: res.status, body, headers: res.headers as unknown as Headers, text };
}

/** The Authorization header for a bearer token. */
export const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });

/** A request as the first-start admin that must succeed; returns the parsed body. */
export async function asAdmin(
  ts: Pick<TestServer, 'server' | 'ca' | 'token'>,
  method: string,
  path: string,
  body?: unknown,
): Promise<any> {
  const r = await request(ts, method, path, { body, headers: bearer(ts.token) });
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${r.text}`);
  return r.body;
}

/** Invites a user with `role`, accepts with `password` and logs in for an API token: that user's bearer credential. */
export async function userToken(
  ts: Pick<TestServer, 'server' | 'ca' | 'token'>,
  name: string,
  role: string,
  password = `${name}-password-ok`,
): Promise<string> {
  const inv = await asAdmin(ts, 'POST', '/invitations', { name, role });
  const accepted = await request(ts, 'POST', '/auth/accept-invitation', { body: { code: inv.code, password } });
  if (accepted.status !== 201) throw new Error(`accepting ${name}'s invitation: ${accepted.status} ${accepted.text}`);
  const login = await request(ts, 'POST', '/auth/token', { body: { name, password, tokenName: 't' } });
  if (login.status !== 201) throw new Error(`token for ${name}: ${login.status} ${login.text}`);
  return login.body.token as string;
}

export interface TestServer {
  server: OutpostServer;
  dataDir: string;
  logFile: string;
  token: string;
  ca: Buffer;
  api<T = any>(
    method: string,
    path: string,
    body?: unknown,
    opts?: { token?: string | null; rawBody?: string; headers?: Record<string, string> },
  ): Promise<ApiResult<T>>;
  enrollmentToken(body?: Record<string, unknown>): Promise<string>;
  device(ref: string): Promise<any>;
  close(): Promise<void>;
  restart(): Promise<void>;
}

export async function startTestServer(options: ServerOptions = {}, dataDir = tempDir()): Promise<TestServer> {
  const logFile = join(dataDir, 'server.log');
  const open = async (extra: ServerOptions) => {
    // The log is a debugging aid: a write after the temp dir is gone (a server that failed to
    // start, then the file's clean-up) must not become an uncaught error that hides the real one.
    const logDestination = createWriteStream(logFile, { flags: 'a' }).on('error', () => {});
    try {
      return await startServer({
        dataDir,
        httpPort: 0,
        mqttPort: 0,
        host: '127.0.0.1',
        logLevel: 'debug',
        logDestination,
        env: {},
        ...options,
        ...extra,
      });
    } catch (err) {
      logDestination.destroy();
      throw err;
    }
  };
  let server = await open({});
  const token = readFileSync(server.adminTokenFile, 'utf8').trim();
  const ca = readFileSync(server.caFile);
  const ts: TestServer = {
    get server() {
      return server;
    },
    dataDir,
    logFile,
    token,
    ca,
    async api(method, path, body, opts = {}) {
      const auth = opts.token === undefined ? token : opts.token;
      const headers: Record<string, string> = { ...(auth ? { authorization: `Bearer ${auth}` } : {}), ...opts.headers };
      return request(ts, method, path, { body, rawBody: opts.rawBody, headers });
    },
    async enrollmentToken(body = { autoAccept: true }) {
      const r = await ts.api('POST', '/enrollment-tokens', body);
      if (r.status !== 201) throw new Error(`enrollment token: ${JSON.stringify(r.body)}`);
      return r.body.token as string;
    },
    async device(ref) {
      const r = await ts.api('GET', `/devices/${encodeURIComponent(ref)}`);
      return r.status === 200 ? r.body : null;
    },
    async close() {
      await server.close();
    },
    async restart() {
      const { httpPort, mqttPort } = server;
      await server.close();
      server = await open({ httpPort, mqttPort });
    },
  };
  return ts;
}

export interface TestAgent {
  proc: ChildProcess;
  stateDir: string;
  output(): string;
  identity(): { deviceId: string; secret: string };
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** How to start an agent process: its enrollment token, state dir, transport, extra flags and environment. */
export interface AgentOptions {
  enroll?: string;
  stateDir?: string;
  transport?: 'mqtts' | 'wss';
  args?: string[];
  env?: NodeJS.ProcessEnv;
  /** Another Node.js binary to run the agent bundle with (e.g. Node 18). */
  node?: string;
  /** Broker URL to give the agent instead of the server's own (external-broker mode). */
  serverUrl?: string;
}

export function spawnAgent(ts: TestServer, opts: AgentOptions = {}): TestAgent {
  const stateDir = opts.stateDir ?? tempDir('outpost-agent-');
  const url =
    opts.serverUrl ??
    (opts.transport === 'wss'
      ? `wss://127.0.0.1:${ts.server.httpPort}/mqtt`
      : `mqtts://127.0.0.1:${ts.server.mqttPort}`);
  const args = [
    AGENT_BIN,
    '--server',
    url,
    '--ca',
    ts.server.caFile,
    '--state-dir',
    stateDir,
    '--heartbeat',
    '1',
    ...(opts.args ?? []),
  ];
  if (opts.enroll) args.push('--enroll', opts.enroll);
  const proc = spawn(opts.node ?? process.execPath, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...opts.env },
  });
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  proc.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  return {
    proc,
    stateDir,
    output: () => out,
    identity: () =>
      JSON.parse(readFileSync(join(stateDir, 'identity.json'), 'utf8')) as { deviceId: string; secret: string },
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
}

/** Enrolls a real agent and waits until the server sees it online; returns its device record. */
export async function onlineAgent(ts: TestServer, opts: AgentOptions = {}): Promise<{ agent: TestAgent; device: any }> {
  const enroll = opts.enroll ?? (await ts.enrollmentToken());
  const agent = spawnAgent(ts, { ...opts, enroll });
  const device = await waitUntil(async () => {
    if (agent.proc.exitCode !== null) throw new Error(`agent exited ${agent.proc.exitCode}: ${agent.output()}`);
    let id: string;
    try {
      id = agent.identity().deviceId;
    } catch {
      return null;
    }
    const d = await ts.device(id);
    return d?.online ? d : null;
  }, 'agent online').catch(async (err: Error) => {
    await agent.stop(); // not left running when no caller gets it to stop
    throw new Error(`${err.message}; agent output:\n${agent.output().slice(-4000)}`);
  });
  return { agent, device };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(
  ts: TestServer | null,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {},
): Promise<CliResult> {
  const home = tempDir('outpost-home-');
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: home, XDG_CONFIG_HOME: join(home, '.config') };
  if (ts)
    Object.assign(env, {
      OUTPOST_URL: `https://127.0.0.1:${ts.server.httpPort}`,
      OUTPOST_TOKEN: ts.token,
      OUTPOST_CA: ts.server.caFile,
    });
  Object.assign(env, opts.env);
  return new Promise((resolvePromise) => {
    const proc = spawn(process.execPath, [CLI_BIN, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    proc.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    proc.stdin.end(opts.input ?? '');
    const timer = setTimeout(() => proc.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    proc.on('close', (code) => {
      clearTimeout(timer);
      rmSync(home, { recursive: true, force: true });
      resolvePromise({ code, stdout, stderr });
    });
  });
}

/** A raw MQTT client speaking as a device (or anyone), for hostile-input tests. */
export async function rawClient(
  ts: TestServer,
  opts: { clientId: string; username?: string; password?: string },
): Promise<MqttClient> {
  return mqtt.connectAsync(`mqtts://127.0.0.1:${ts.server.mqttPort}`, {
    ca: ts.ca,
    clientId: opts.clientId,
    username: opts.username,
    password: opts.password,
    reconnectPeriod: 0,
    connectTimeout: 5000,
  });
}

export async function sendCommand(
  ts: TestServer,
  device: string,
  capability: string,
  action: string,
  args: unknown,
  query = 'wait=true&timeout=60',
) {
  return ts.api('POST', `/devices/${encodeURIComponent(device)}/commands?${query}`, { capability, action, args });
}
