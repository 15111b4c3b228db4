/** The HTTP client for the server's `/api/v1`: bearer auth, the server's CA, stable errors, typed calls. */
import { readFile } from 'node:fs/promises';
import { Agent, request } from 'undici';
import type {
  ApiToken,
  AuditFilter,
  AuditFormat,
  AuditPage,
  Command,
  CreateApiTokenBody,
  CreateEnrollmentTokenBody,
  CreateScriptBody,
  Device,
  DeviceListQuery,
  DevicePatch,
  EnrollmentToken,
  Health,
  Invitation,
  InviteBody,
  MetricsHistory,
  MetricsLatest,
  MetricsQuery,
  MetricsSample,
  PasswordChanged,
  PresenceEntry,
  RunScriptBody,
  Script,
  ScriptSummary,
  ScriptVersion,
  ScriptVersionSummary,
  SendCommandBody,
  Session,
  TokenLogin,
  TokenLoginBody,
  UpdateScriptBody,
  User,
  UserPatch,
  WhoAmI,
} from './api-types.js';
import type { Connection } from './config.js';
import { apiError, CliError, networkError } from './errors.js';
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
  /** The CA file the client trusts, when it is not the system's CAs (for printing commands for others). */
  caFile: string | undefined;
  private readonly token: string;
  private readonly dispatcher: Agent;
  private readonly ca: string | undefined;

  /** An empty `token` makes an anonymous client, for the public routes (password login, invitations). */
  constructor(server: string, token: string, ca?: string) {
    this.server = server;
    this.token = token;
    this.ca = ca;
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
    const client = new ApiClient(conn.server, conn.token, ca);
    client.caFile = conn.ca;
    return client;
  }

  url(path: string, query: Query = {}): string {
    const url = new URL(`${this.server}/api/v1${path}`);
    for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, String(v));
    return url.toString();
  }

  async close(): Promise<void> {
    await this.dispatcher.destroy();
  }

  /** Where and how to open a WebSocket to an API path (byte streams: stream-socket.ts). */
  socketOptions(path: string, query: Query = {}): { url: string; headers: Record<string, string>; ca?: string } {
    const url = this.url(path, query).replace(/^http/, 'ws');
    return { url, headers: this.headers('application/json'), ...(this.ca ? { ca: this.ca } : {}) };
  }

  /** One JSON call; non-2xx answers become CliErrors carrying the server's code and message. */
  async call<T>(
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    path: string,
    options: CallOptions = {},
  ): Promise<T> {
    const url = this.url(path, options.query);
    const headers = this.headers('application/json');
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
    if (res.statusCode >= 400) throw apiError(res.statusCode, text, res.headers['retry-after']);
    if (res.statusCode === 204 || text === '') return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new CliError(`unexpected answer from ${this.server} (not JSON): is it an Outpost server?`);
    }
  }

  private headers(accept: string): Record<string, string> {
    const headers: Record<string, string> = { accept, 'user-agent': `outpost-cli/${cliVersion()}` };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    return headers;
  }

  /** Opens a streaming GET (Server-Sent Events); idle for more than `idleMs` counts as a dropped link. */
  stream(path: string, query: Query, signal: AbortSignal, idleMs = 60_000): Promise<OpenStream> {
    return this.open(path, query, signal, 'text/event-stream', idleMs);
  }

  /** Opens a GET whose body is read as it arrives (SSE, exports); errors are read whole. */
  async open(path: string, query: Query, signal: AbortSignal, accept: string, idleMs = 60_000): Promise<OpenStream> {
    const url = this.url(path, query);
    let res: Awaited<ReturnType<typeof request>>;
    try {
      res = await request(url, {
        method: 'GET',
        headers: this.headers(accept),
        dispatcher: this.dispatcher,
        signal,
        bodyTimeout: idleMs,
      });
    } catch (err) {
      if (signal.aborted) throw err;
      throw networkError(err, url);
    }
    if (res.statusCode >= 400) {
      throw apiError(res.statusCode, await res.body.text().catch(() => ''), res.headers['retry-after']);
    }
    const body = res.body;
    return {
      body: body as AsyncIterable<Buffer>,
      close: () => body.destroy(),
    };
  }

  /**
   * A raw streaming exchange for file contents (`outpost cp`): an octet-stream body
   * sent with backpressure (PUT), or the answer's headers, streamed body and
   * trailers (GET). Errors (status ≥ 400) are read whole and thrown as CliErrors.
   */
  async transfer(
    method: 'GET' | 'PUT',
    path: string,
    options: { query: Query; headers?: Record<string, string>; body?: NodeJS.ReadableStream; signal?: AbortSignal },
  ): Promise<Awaited<ReturnType<typeof request>>> {
    const url = this.url(path, options.query);
    const headers = {
      ...this.headers(method === 'GET' ? 'application/octet-stream' : 'application/json'),
      ...options.headers,
    };
    if (options.body) headers['content-type'] = 'application/octet-stream';
    let res: Awaited<ReturnType<typeof request>>;
    try {
      res = await request(url, {
        method,
        headers,
        dispatcher: this.dispatcher,
        // Large files: no overall deadline, only a long idle one.
        headersTimeout: 600_000,
        bodyTimeout: 600_000,
        ...(options.body ? { body: options.body as import('node:stream').Readable } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (err) {
      if (options.signal?.aborted) throw err;
      throw networkError(err, url);
    }
    if (res.statusCode >= 400) {
      throw apiError(res.statusCode, await res.body.text().catch(() => ''), res.headers['retry-after']);
    }
    return res;
  }

  health(): Promise<Health> {
    return this.call('GET', '/health');
  }
  whoami(): Promise<WhoAmI> {
    return this.call('GET', '/whoami');
  }

  /** Anonymous: a password for a personal API token (`outpost login --user`). */
  tokenLogin(body: TokenLoginBody): Promise<TokenLogin> {
    return this.call('POST', '/auth/token', { body });
  }
  /** Anonymous: sets the password of an invited account, which creates it. */
  acceptInvitation(code: string, password: string): Promise<User> {
    return this.call('POST', '/auth/accept-invitation', { body: { code, password } });
  }
  changePassword(current: string, next: string): Promise<PasswordChanged> {
    return this.call('POST', '/auth/password', { body: { current, new: next } });
  }
  async listSessions(all = false): Promise<Session[]> {
    return items(await this.call('GET', '/sessions', { query: { all: all || undefined } }), 'sessions');
  }
  endSession(id: string): Promise<void> {
    return this.call('DELETE', `/sessions/${enc(id)}`);
  }

  async listUsers(): Promise<User[]> {
    return items(await this.call('GET', '/users'), 'users');
  }
  updateUser(ref: string, patch: UserPatch): Promise<User> {
    return this.call('PATCH', `/users/${enc(ref)}`, { body: patch });
  }
  deleteUser(ref: string): Promise<void> {
    return this.call('DELETE', `/users/${enc(ref)}`);
  }
  invite(body: InviteBody): Promise<Invitation> {
    return this.call('POST', '/invitations', { body });
  }
  async listInvitations(): Promise<Invitation[]> {
    return items(await this.call('GET', '/invitations'), 'invitations');
  }
  revokeInvitation(id: string): Promise<Invitation> {
    return this.call('DELETE', `/invitations/${enc(id)}`);
  }

  createApiToken(body: CreateApiTokenBody): Promise<ApiToken> {
    return this.call('POST', '/api-tokens', { body });
  }
  async listApiTokens(all = false): Promise<ApiToken[]> {
    return items(await this.call('GET', '/api-tokens', { query: { all: all || undefined } }), 'API tokens');
  }
  revokeApiToken(id: string): Promise<void> {
    return this.call('DELETE', `/api-tokens/${enc(id)}`);
  }

  /** One page of the audit log, oldest first, entries with ids above `after`. */
  async auditPage(
    filter: AuditFilter,
    after: number | undefined,
    limit: number,
    signal?: AbortSignal,
  ): Promise<AuditPage> {
    const page = await this.call<AuditPage>('GET', '/audit', {
      query: { ...filter, after, limit },
      ...(signal ? { signal } : {}),
    });
    if (!Array.isArray(page?.items)) throw new CliError("unexpected answer reading the audit log: no 'items' array");
    return { items: page.items, next: typeof page.next === 'number' ? page.next : null };
  }
  /** One page of the audit log as the server exports it (JSON Lines or CSV with a header), streamed. */
  auditExport(
    filter: AuditFilter,
    format: AuditFormat,
    after: number | undefined,
    limit: number,
    signal: AbortSignal,
  ): Promise<OpenStream> {
    const accept = format === 'csv' ? 'text/csv' : 'application/x-ndjson';
    return this.open('/audit', { ...filter, format, after, limit }, signal, accept);
  }

  createToken(body: CreateEnrollmentTokenBody): Promise<EnrollmentToken> {
    return this.call('POST', '/enrollment-tokens', { body });
  }
  async listTokens(): Promise<EnrollmentToken[]> {
    return items(await this.call('GET', '/enrollment-tokens'), 'enrollment tokens');
  }
  revokeToken(id: string): Promise<EnrollmentToken> {
    return this.call('DELETE', `/enrollment-tokens/${enc(id)}`);
  }

  async listDevices(filter: DeviceListQuery = {}): Promise<Device[]> {
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
  updateDevice(ref: string, patch: DevicePatch): Promise<Device> {
    return this.call('PATCH', `/devices/${enc(ref)}`, { body: patch });
  }
  async presence(ref: string): Promise<PresenceEntry[]> {
    return items(await this.call('GET', `/devices/${enc(ref)}/presence`), 'presence');
  }
  /** A fresh sample from the (online) device. */
  liveMetrics(ref: string, signal?: AbortSignal): Promise<MetricsSample> {
    return this.call('GET', `/devices/${enc(ref)}/metrics/live`, signal ? { signal } : {});
  }
  /** The last sample the device sent with its heartbeat. */
  latestMetrics(ref: string, signal?: AbortSignal): Promise<MetricsLatest> {
    return this.call('GET', `/devices/${enc(ref)}/metrics/latest`, signal ? { signal } : {});
  }
  metricsHistory(ref: string, query: MetricsQuery): Promise<MetricsHistory> {
    return this.call('GET', `/devices/${enc(ref)}/metrics`, { query: { ...query } });
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

  async listScripts(): Promise<ScriptSummary[]> {
    return items(await this.call('GET', '/scripts'), 'scripts');
  }
  getScript(name: string): Promise<Script> {
    return this.call('GET', `/scripts/${enc(name)}`);
  }
  getScriptVersion(name: string, version: number): Promise<ScriptVersion> {
    return this.call('GET', `/scripts/${enc(name)}/versions/${version}`);
  }
  async listScriptVersions(name: string): Promise<ScriptVersionSummary[]> {
    return items(await this.call('GET', `/scripts/${enc(name)}/versions`), 'script versions');
  }
  createScript(body: CreateScriptBody): Promise<Script> {
    return this.call('POST', '/scripts', { body });
  }
  updateScript(name: string, body: UpdateScriptBody): Promise<Script> {
    return this.call('PUT', `/scripts/${enc(name)}`, { body });
  }
  deleteScript(name: string): Promise<void> {
    return this.call('DELETE', `/scripts/${enc(name)}`);
  }
  /** Sends the script's `exec/run` command and answers with it at once (follow it like any exec). */
  runScript(ref: string, name: string, body: RunScriptBody): Promise<Command> {
    return this.call('POST', `/devices/${enc(ref)}/scripts/${enc(name)}/run`, { body, query: { wait: false } });
  }
}

function items<T>(value: unknown, what: string): T[] {
  const list = (value as { items?: unknown } | null)?.items;
  if (!Array.isArray(list)) throw new CliError(`unexpected answer listing ${what}: no 'items' array`);
  return list as T[];
}
