/**
 * One supervised app: starts its command (argv, no shell) as the leader of its own
 * process group, copies its stdout/stderr lines into its ring, and when it dies
 * restarts it after an exponential delay (base doubling to cap, reset once it has
 * stayed up `stableMs`); after `crashAfter` failures in a row it is `crashed` and
 * retried only at the cap, so a broken app never spins. Stopping signals the whole
 * group: SIGTERM, then SIGKILL after a grace period.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { type AppExit, type AppState, type AppStatus, MAX_LOG_LINE_BYTES, OutpostError } from '@outpost/protocol';
import type { Logger } from '../log.js';
import type { LineRing } from '../log-ring.js';
import { groupAlive, processStartTime, spawnError, terminateGroup } from '../process-group.js';
import { writeFileAtomic } from '../state.js';
import { type AppManifest, appDir, commandLine, filesDir } from './store.js';

export interface SupervisorTuning {
  /** First restart delay; doubles with each failure in a row. */
  baseMs: number;
  capMs: number;
  /** Up this long, an app's failure count goes back to zero. */
  stableMs: number;
  /** Failures in a row after which the app is `crashed` (retried at `capMs` only). */
  crashAfter: number;
  /** SIGTERM to SIGKILL on stop. */
  stopGraceMs: number;
}

export const DEFAULT_TUNING: SupervisorTuning = {
  baseMs: 1000,
  capMs: 60_000,
  stableMs: 10_000,
  crashAfter: 5,
  stopGraceMs: 5000,
};

/** What one app needs from its supervisor. */
export interface AppHost {
  stateDir: string;
  log: Logger;
  tuning: SupervisorTuning;
}

/** `run.json`: the running instance, so an agent restarted after a crash can find and end it. */
export interface RunRecord {
  pid: number;
  startTime: string;
}

export const runFile = (stateDir: string, name: string): string => join(appDir(stateDir, name), 'run.json');

/** The agent's environment minus its own settings (the enrollment token), plus the app's. */
function childEnv(m: AppManifest): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('OUTPOST_AGENT_')) env[k] = v;
  return { ...env, ...m.env, OUTPOST_APP_NAME: m.name };
}

/** Splits one pipe into lines for the ring; a line longer than the limit is cut into pieces. */
function capture(stream: NodeJS.ReadableStream | null, name: 'stdout' | 'stderr', ring: LineRing): void {
  if (!stream) return;
  const decoder = new StringDecoder('utf8');
  let partial = '';
  const push = (text: string): void => {
    ring.push({ ts: Date.now(), stream: name, text: text.endsWith('\r') ? text.slice(0, -1) : text });
  };
  stream.on('data', (chunk: Buffer) => {
    const parts = (partial + decoder.write(chunk)).split('\n');
    partial = parts.pop() ?? '';
    for (const p of parts) push(p);
    while (partial.length > MAX_LOG_LINE_BYTES) {
      push(partial.slice(0, MAX_LOG_LINE_BYTES));
      partial = partial.slice(MAX_LOG_LINE_BYTES);
    }
  });
  stream.on('end', () => {
    const rest = partial + decoder.end();
    if (rest) push(rest);
    partial = '';
  });
  stream.on('error', () => {
    // The pipe broke with the process: what was read is in the ring.
  });
}

export class SupervisedApp {
  private state: AppState = 'stopped';
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private startedAt: number | null = null;
  private restarts = 0;
  private failures = 0;
  private lastExit: AppExit | null = null;
  private lastError: string | null = null;
  private nextStartAt: number | null = null;
  private restartTimer: NodeJS.Timeout | undefined;
  private stableTimer: NodeJS.Timeout | undefined;
  /** Whether it should be running: false after a stop, so an exit is not answered with a restart. */
  private wanted = false;

  constructor(
    private readonly host: AppHost,
    public manifest: AppManifest,
    readonly ring: LineRing,
  ) {}

  get name(): string {
    return this.manifest.name;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /**
   * Starts it unless it runs. By hand (`manual`), the restart count and failure streak
   * start over and a failure to start is thrown; by the supervisor, it is a failure
   * like a crash and retried after the backoff delay.
   */
  async start(manual: boolean): Promise<void> {
    if (this.child) return;
    this.clearRestart();
    this.wanted = true;
    if (manual) {
      this.restarts = 0;
      this.failures = 0;
    }
    try {
      await this.spawnOnce();
    } catch (err) {
      const e = err instanceof OutpostError ? err : new OutpostError('E_INTERNAL', `could not start ${this.name}`);
      this.lastError = e.message;
      this.host.log.warn('app failed to start', { app: this.name, reason: e.message });
      if (manual) {
        this.wanted = false;
        this.state = 'stopped';
        throw e;
      }
      this.afterFailure();
    }
  }

  /** Stops it and everything in its process group: SIGTERM, SIGKILL after the grace period. */
  async stop(graceMs = this.host.tuning.stopGraceMs): Promise<void> {
    this.wanted = false;
    this.clearRestart();
    const child = this.child;
    if (!child) {
      this.state = 'stopped';
      return;
    }
    const exited = this.exited;
    if (child.pid !== undefined) {
      const gone = await terminateGroup(child.pid, graceMs);
      if (!gone) this.host.log.warn('app left processes that would not die', { app: this.name, pgid: child.pid });
    }
    // The leader's exit event follows its death closely; do not hang on it.
    await Promise.race([exited, new Promise((r) => setTimeout(r, 2000).unref())]);
    this.state = 'stopped';
  }

  status(now = Date.now()): AppStatus {
    const m = this.manifest;
    const files = filesDir(this.host.stateDir, m.name);
    const command =
      m.kind === 'script'
        ? [m.interpreter ?? '', join(files, m.script ?? ''), ...m.args]
        : [...(m.entry ?? []), ...m.args];
    const running = this.state === 'running' && this.startedAt !== null;
    return {
      name: m.name,
      state: this.state,
      pid: this.child?.pid ?? null,
      restarts: this.restarts,
      lastExit: this.lastExit,
      lastError: this.lastError,
      startedAt: this.startedAt,
      uptime: running && this.startedAt !== null ? Math.max(0, (now - this.startedAt) / 1000) : null,
      nextStartAt: this.nextStartAt,
      autostart: m.autostart,
      restart: m.restart,
      kind: m.kind,
      ...(m.interpreter ? { interpreter: m.interpreter } : {}),
      command,
      cwd: m.cwd ?? files,
      env: Object.keys(m.env).sort(),
      installedAt: m.installedAt,
    };
  }

  private clearRestart(): void {
    clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    this.nextStartAt = null;
  }

  private async spawnOnce(): Promise<void> {
    const m = this.manifest;
    const env = childEnv(m);
    const argv = commandLine(this.host.stateDir, m, env.PATH);
    const program = argv[0] ?? '';
    const cwd = m.cwd ?? filesDir(this.host.stateDir, m.name);
    let isDir = false;
    try {
      isDir = statSync(cwd).isDirectory();
    } catch {
      isDir = false;
    }
    if (!isDir) throw new OutpostError('E_NOT_FOUND', `working directory not found: ${cwd}`);
    this.state = 'starting';
    let child: ChildProcess;
    try {
      // Leader of a new process group: stop and cleanup signal everything it started.
      child = spawn(program, argv.slice(1), { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      this.state = 'stopped';
      throw spawnError(err, program);
    }
    this.child = child;
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.onExit(child, code, signal);
        resolve();
      });
    });
    try {
      await once(child, 'spawn');
    } catch (err) {
      // No process came of it: there will be no exit event to wait for.
      this.child = undefined;
      this.exited = Promise.resolve();
      this.state = 'stopped';
      throw spawnError(err, program);
    }
    child.on('error', (err) => this.host.log.warn('app process error', { app: m.name, err }));
    capture(child.stdout, 'stdout', this.ring);
    capture(child.stderr, 'stderr', this.ring);
    const pid = child.pid ?? 0;
    this.startedAt = Date.now();
    this.lastError = null;
    if (this.state === 'starting') this.state = 'running';
    const startTime = processStartTime(pid);
    if (startTime !== undefined) {
      try {
        writeFileAtomic(
          runFile(this.host.stateDir, m.name),
          `${JSON.stringify({ pid, startTime } satisfies RunRecord)}\n`,
        );
      } catch (err) {
        this.host.log.warn('cannot record the app pid', { app: m.name, err });
      }
    }
    clearTimeout(this.stableTimer);
    this.stableTimer = setTimeout(() => {
      this.failures = 0;
    }, this.host.tuning.stableMs);
    this.host.log.info('app started', { app: m.name, pid });
  }

  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (child !== this.child) return;
    this.child = undefined;
    this.startedAt = null;
    clearTimeout(this.stableTimer);
    this.lastExit = { code, signal, at: Date.now() };
    rmSync(runFile(this.host.stateDir, this.name), { force: true });
    // Whatever the app left running in its group goes with it, so restarts never pile up.
    const pgid = child.pid;
    if (pgid !== undefined && groupAlive(pgid)) void terminateGroup(pgid, 2000);
    if (!this.wanted) {
      this.state = 'stopped';
      this.host.log.info('app stopped', { app: this.name, code, signal });
      return;
    }
    const policy = this.manifest.restart;
    if (policy === 'never' || (policy === 'on-failure' && code === 0)) {
      this.wanted = false;
      this.state = 'stopped';
      this.host.log.info('app exited; not restarted by its policy', { app: this.name, code, signal, policy });
      return;
    }
    this.afterFailure(code, signal);
  }

  /** Counts a failure and schedules the next start: base·2^(n-1) up to the cap, the cap once crashed. */
  private afterFailure(code: number | null = null, signal: NodeJS.Signals | null = null): void {
    const t = this.host.tuning;
    this.failures++;
    const crashed = this.failures >= t.crashAfter;
    const delay = crashed ? t.capMs : Math.min(t.capMs, t.baseMs * 2 ** Math.min(this.failures - 1, 30));
    this.state = crashed ? 'crashed' : 'backoff';
    this.nextStartAt = Date.now() + delay;
    this.host.log.warn(crashed ? 'app keeps failing; retrying at the longest delay' : 'app exited; restarting', {
      app: this.name,
      code,
      signal,
      failures: this.failures,
      inMs: delay,
    });
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      this.nextStartAt = null;
      if (!this.wanted) return;
      this.restarts++;
      void this.start(false);
    }, delay);
  }
}
