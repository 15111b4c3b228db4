/**
 * The benchmarks' way into a server under test: starting one in the bench process,
 * its HTTP API as the first-start admin over one keep-alive HTTPS connection
 * trusting the server's CA, and the wait for a real agent process to enroll and
 * be seen online.
 */
import type { ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type OutpostServer, startServer } from '@outpost/server';
import { Agent, request } from 'undici';
import { sleep } from '../pool.js';
import type { Resources } from './proc.js';

export interface AdminTarget {
  httpPort: number;
  /** The server's CA certificate (PEM). */
  ca: Buffer;
  adminTokenFile: string;
}

export type AdminApi = (
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
) => Promise<{ status: number; body: Record<string, unknown> }>;

/** Calls `/api/v1` as the admin; the connection is closed at the run's cleanup. */
export function adminApi(
  resources: Resources,
  target: AdminTarget,
  options: { timeoutMs?: number; keepAliveTimeout?: number } = {},
): AdminApi {
  const adminToken = readFileSync(target.adminTokenFile, 'utf8').trim();
  const dispatcher = new Agent({
    connect: { ca: target.ca },
    connections: 1,
    ...(options.keepAliveTimeout !== undefined ? { keepAliveTimeout: options.keepAliveTimeout } : {}),
  });
  resources.defer(() => dispatcher.close());
  const timeouts =
    options.timeoutMs === undefined ? {} : { headersTimeout: options.timeoutMs, bodyTimeout: options.timeoutMs };
  return async (method, path, body) => {
    const res = await request(`https://127.0.0.1:${target.httpPort}/api/v1${path}`, {
      method,
      dispatcher,
      headers: {
        authorization: `Bearer ${adminToken}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      ...timeouts,
    });
    return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
  };
}

/** A real server in this process (ports 0 on 127.0.0.1, log level warn), stopped at the run's cleanup. */
export async function startBenchServer(
  resources: Resources,
  dataDir: string,
  apiOptions: Parameters<typeof adminApi>[2] = {},
): Promise<{ server: OutpostServer; ca: Buffer; api: AdminApi }> {
  const server = await startServer({
    dataDir: join(dataDir, 'server'),
    httpPort: 0,
    mqttPort: 0,
    host: '127.0.0.1',
    logLevel: 'warn',
    logDestination: createWriteStream(join(dataDir, 'server.log')),
    env: {},
  });
  resources.defer(() => server.close());
  const ca = readFileSync(server.caFile);
  return { server, ca, api: adminApi(resources, { ...server, ca }, apiOptions) };
}

/** Polls `fn` until it yields a value (an error counts as not yet), or fails after `timeoutMs`. */
export async function until<T>(fn: () => Promise<T | null | undefined>, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    const v = await fn().catch((err: unknown) => {
      last = err;
      return null;
    });
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? ` (${String(last)})` : ''}`);
    await sleep(100);
  }
}

/** Waits until the agent process in `stateDir` has enrolled and the server sees it online; its device id. */
export async function agentOnline(
  api: AdminApi,
  resources: Resources,
  agent: ChildProcess,
  stateDir: string,
  timeoutMs = 30_000,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (agent.exitCode !== null) throw new Error(`agent exited: ${resources.tail(agent)}`);
    let deviceId: string | undefined;
    try {
      deviceId = (JSON.parse(readFileSync(join(stateDir, 'identity.json'), 'utf8')) as { deviceId: string }).deviceId;
    } catch {
      // Not enrolled yet.
    }
    if (deviceId && (await api('GET', `/devices/${deviceId}`)).body.online === true) return deviceId;
    if (Date.now() > deadline) throw new Error('timed out waiting for the agent to come online');
    await sleep(100);
  }
}
