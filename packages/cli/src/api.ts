/** The HTTP client for the server's `/api/v1`: bearer auth, the server's CA, stable errors, typed calls. */
import { readFile } from 'node:fs/promises';
import { Agent, request } from 'undici';
import type {
  Command,
  CreateTokenBody,
  Device,
  DeviceFilter,
  EnrollmentToken,
  Health,
  PresenceEntry,
  SendCommandBody,
  WhoAmI,
} from './api-types.js';
import type { Connection } from './config.js';
import { CliError, networkError } from './errors.js';
import { cliVersion } from './paths.js';

type Query = Record<string, string | number | boolean | undefined>;

interface CallOptions {
  query?: Query;
  body?: unknown;
  signal?: AbortSignal;
}

/** A response body being streamed (for Server-Sent Events). */
export interface OpenStream {
  body: AsyncIterable<Buffer>;
  close(): void;
}

const enc = encodeURIComponent;

export class ApiClient {
  readonly server: string;
  private readonly token: string;
  private readonly dispatcher: Agent;

  constructor(server: string, token: string, ca?: string) {
    this.server = server;
    this.token = token;
    this.dispatcher = new Agent({ connect: ca ? { ca } : {}, headersTimeout: 60_000, bodyTimeout: 60_000 });
  }

  /** A client for a resolved connection, reading its CA file. */
  static async connect(conn: Connection): Promise<ApiClient> {
    let ca: string | undefined;
    if (conn.ca) {
      try {
        ca = await readFile(conn.ca, 'utf8');
      } catch (err) {
        throw new CliError(`cannot read CA file ${conn.ca}: ${(err as Error).message}`);
      }
    }
    return new ApiClient(conn.server, conn.token, ca);
  }

  url(path: string, query: Query = {}): string {
    const url = new URL(`${this.server}/api/v1${path}`);
    for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, String(v));
    return url.toString();
  }

  async close(): Promise<void> {
    await this.dispatcher.destroy();
  }

  /** One JSON call; non-2xx answers become CliErrors carrying the server's code and message. */
  async call<T>(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, options: CallOptions = {}): Promise<T> {
    const url = this.url(path, options.query);
    const headers: Record<string, string> = {
      accept: 'application/json',
      authorization: `Bearer ${this.token}`,
      'user-agent': `outpost-cli/${cliVersion()}`,
    };
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    let res: Awaited<ReturnType<typeof request>>;
    try {
      res = await request(url, {
        method,
        headers,
        dispatcher: this.dispatcher,
        ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (err) {
      if (options.signal?.aborted) throw err;
      throw networkError(err, url);
    }
    const text = await res.body.text().catch((err: unknown) => {
      throw networkError(err, url);
    });
    if (res.statusCode >= 400) throw apiError(res.statusCode, text);
    if (res.statusCode === 204 || text === '') return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new CliError(`unexpected answer from ${this.server} (not JSON): is it an Outpost server?`);
    }
  }

  /** Opens a streaming GET (Server-Sent Events); idle for more than `idleMs` counts as a dropped link. */
  async stream(path: string, query: Query, signal: AbortSignal, idleMs = 60_000): Promise<OpenStream> {
    const url = this.url(path, query);
    let res: Awaited<ReturnType<typeof request>>;
    try {
      res = await request(url, {
        method: 'GET',
        headers: {
          accept: 'text/event-stream',
          authorization: `Bearer ${this.token}`,
          'user-agent': `outpost-cli/${cliVersion()}`,
        },
        dispatcher: this.dispatcher,
        signal,
        bodyTimeout: idleMs,
      });
    } catch (err) {
      if (signal.aborted) throw err;
      throw networkError(err, url);
    }
    if (res.statusCode >= 400) throw apiError(res.statusCode, await res.body.text().catch(() => ''));
    const body = res.body;
    return {
      body: body as AsyncIterable<Buffer>,
      close: () => body.destroy(),
    };
  }

  health(): Promise<Health> {
    return this.call('GET', '/health');
  }
  whoami(): Promise<WhoAmI> {
    return this.call('GET', '/whoami');
  }

  createToken(body: CreateTokenBody): Promise<EnrollmentToken> {
    return this.call('POST', '/enrollment-tokens', { body });
  }
  async listTokens(): Promise<EnrollmentToken[]> {
    return items(await this.call('GET', '/enrollment-tokens'), 'enrollment tokens');
  }
  revokeToken(id: string): Promise<EnrollmentToken> {
    return this.call('DELETE', `/enrollment-tokens/${enc(id)}`);
  }

  async listDevices(filter: DeviceFilter = {}): Promise<Device[]> {
    const query: Query = { status: filter.status, tag: filter.tag, online: filter.online };
    return items(await this.call('GET', '/devices', { query }), 'devices');
  }
  getDevice(ref: string): Promise<Device> {
    return this.call('GET', `/devices/${enc(ref)}`);
  }
  deviceAction(ref: string, action: 'accept' | 'reject' | 'revoke'): Promise<Device> {
    return this.call('POST', `/devices/${enc(ref)}/${action}`);
  }
  deleteDevice(ref: string): Promise<void> {
    return this.call('DELETE', `/devices/${enc(ref)}`);
  }
  updateDevice(ref: string, patch: { name?: string; tags?: string[] }): Promise<Device> {
    return this.call('PATCH', `/devices/${enc(ref)}`, { body: patch });
  }
  async presence(ref: string): Promise<PresenceEntry[]> {
    return items(await this.call('GET', `/devices/${enc(ref)}/presence`), 'presence');
  }

  sendCommand(ref: string, body: SendCommandBody): Promise<Command> {
    return this.call('POST', `/devices/${enc(ref)}/commands`, { body, query: { wait: false } });
  }
  getCommand(id: string, signal?: AbortSignal): Promise<Command> {
    return this.call('GET', `/commands/${enc(id)}`, signal ? { signal } : {});
  }
  async listCommands(ref: string): Promise<Command[]> {
    return items(await this.call('GET', `/devices/${enc(ref)}/commands`), 'commands');
  }
}

function items<T>(value: unknown, what: string): T[] {
  const list = (value as { items?: unknown } | null)?.items;
  if (!Array.isArray(list)) throw new CliError(`unexpected answer listing ${what}: no 'items' array`);
  return list as T[];
}

/** Reads `{"error": {"code", "message"}}`; anything else still yields a one-line error. */
export function apiError(status: number, text: string): CliError {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const error = (body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  if (error && typeof error.message === 'string') {
    return new CliError(error.message, { status, ...(typeof error.code === 'string' ? { code: error.code } : {}) });
  }
  return new CliError(`the server answered HTTP ${status}`, { status });
}
