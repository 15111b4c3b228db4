/** What every command runs with: the process's streams and env, the global flags and a lazily opened API client. */
import type { Command } from 'commander';
import { ApiClient } from './api.js';
import { type ConnectionFlags, configPath, loadLogin, resolveConnection } from './config.js';

/** The slice of a process the CLI touches, so tests can run it in-process. */
export interface Io {
  stdout: { write(chunk: string | Uint8Array): unknown; isTTY?: boolean };
  stderr: { write(chunk: string | Uint8Array): unknown; isTTY?: boolean };
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
}

export function processIo(): Io {
  return { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env };
}

export class Context {
  readonly io: Io;
  /** What the process exits with when the action returns normally. */
  exitCode = 0;
  private program: Command | undefined;
  private client: ApiClient | undefined;

  constructor(io: Io) {
    this.io = io;
  }

  attach(program: Command): void {
    this.program = program;
  }

  get env(): NodeJS.ProcessEnv {
    return this.io.env;
  }

  out(text: string): void {
    this.io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  err(text: string): void {
    this.io.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  json(value: unknown): void {
    this.io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }

  /** The global `--server/--token/--token-file/--ca` flags. */
  flags(): ConnectionFlags {
    return (this.program?.opts() ?? {}) as ConnectionFlags;
  }

  configPath(): string {
    return configPath(this.io.env);
  }

  /** The API client for the resolved connection (flags, then env, then the saved login). */
  async api(): Promise<ApiClient> {
    if (!this.client) {
      const saved = await loadLogin(this.configPath());
      const conn = await resolveConnection(this.flags(), this.io.env, saved);
      this.client = await ApiClient.connect(conn);
    }
    return this.client;
  }

  /** Uses a client made elsewhere (login checks credentials before saving them). */
  adopt(client: ApiClient): void {
    this.client = client;
  }

  async close(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    await c?.close();
  }
}
