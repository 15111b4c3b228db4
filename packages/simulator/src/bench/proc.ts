/**
 * The processes and temp dirs a benchmark run owns: every child is tracked so
 * that a normal end, an error, a signal or the watchdog stops exactly those
 * children (by their own pid) and removes exactly those directories.
 */
import { type ChildProcess, fork, type SpawnOptions, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export class Resources {
  private readonly children = new Set<ChildProcess>();
  private readonly dirs = new Set<string>();
  private readonly closers: (() => Promise<void>)[] = [];
  /** The last lines each child wrote, for error messages. */
  private readonly output = new Map<ChildProcess, string>();

  constructor() {
    // Last resort if the run dies without cleaning up: never leave a child running.
    process.on('exit', () => {
      for (const c of this.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      for (const d of this.dirs) rmSync(d, { recursive: true, force: true });
    });
  }

  tempDir(prefix: string): string {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    this.dirs.add(dir);
    return dir;
  }

  /** Runs `close` at cleanup, most recent first. */
  defer(close: () => Promise<void>): void {
    this.closers.push(close);
  }

  spawn(command: string, args: string[], options: SpawnOptions = {}): ChildProcess {
    return this.track(spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options }));
  }

  /** A Node.js child with an IPC channel. */
  fork(module: string, args: string[], execArgv: string[] = []): ChildProcess {
    return this.track(fork(module, args, { execArgv, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] }));
  }

  tail(child: ChildProcess): string {
    return (this.output.get(child) ?? '').split('\n').slice(-20).join('\n');
  }

  private track(child: ChildProcess): ChildProcess {
    this.children.add(child);
    this.output.set(child, '');
    const keep = (d: Buffer) => {
      this.output.set(child, ((this.output.get(child) ?? '') + d.toString()).slice(-16_384));
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    child.on('exit', () => this.children.delete(child));
    return child;
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the child is gone. */
  async stop(child: ChildProcess, graceMs = 5000): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }

  /** Stops every child still running, closes what was deferred and removes the temp dirs. */
  async cleanup(): Promise<void> {
    await Promise.all([...this.children].map((c) => this.stop(c)));
    for (const close of this.closers.splice(0).reverse()) {
      await close().catch((err: unknown) => process.stderr.write(`bench: cleanup step failed: ${String(err)}\n`));
    }
    for (const d of this.dirs) rmSync(d, { recursive: true, force: true });
    this.dirs.clear();
  }
}

/** Waits for an IPC message matching `accept`, failing if the child exits first or `timeoutMs` passes. */
export function nextMessage<T>(
  child: ChildProcess,
  accept: (m: unknown) => m is T,
  timeoutMs: number,
  what: string,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`timed out waiting for ${what}`)), timeoutMs);
    const onMessage = (m: unknown) => {
      if (accept(m)) done(null, m);
    };
    const onExit = (code: number | null) => done(new Error(`${what}: child exited (${code}) first`));
    function done(err: Error | null, value?: T): void {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve(value as T);
    }
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

/** Resident set size of a process in KiB, from /proc/<pid>/status (VmRSS). */
export function rssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m?.[1]) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]);
}
