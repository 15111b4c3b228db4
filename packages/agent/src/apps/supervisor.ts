/**
 * The app supervisor: the agent's set of supervised apps. At agent start it loads
 * every installed app, ends an instance a crashed agent left behind (by its
 * recorded pid and start time) and starts the autostart ones; at agent stop it
 * stops them all and saves each output ring to `output.jsonl` so the lines
 * survive an agent restart. Actions on one app run one at a time.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { type AppStatus, type AppsInstallArgs, OutpostError } from '@outpost/protocol';
import type { CapabilityHost } from '../capabilities/capability.js';
import { DEFAULT_APP_LOG_BYTES, LineRing, type RingLine } from '../log-ring.js';
import { processStartTime, terminateGroup } from '../process-group.js';
import { writeFileAtomic } from '../state.js';
import { appDir, checkAppName, commitInstall, prepareInstall, readManifests, removeApp } from './store.js';
import {
  type AppHost,
  DEFAULT_TUNING,
  type RunRecord,
  runFile,
  SupervisedApp,
  type SupervisorTuning,
} from './supervised.js';

export const MAX_APPS = 64;
/** Apps get less time to stop when the whole agent stops: it has its own deadline (main.ts). */
const SHUTDOWN_GRACE_MS = 3000;

const outputFile = (stateDir: string, name: string): string => join(appDir(stateDir, name), 'output.jsonl');

function loadRing(ring: LineRing, path: string): void {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return;
  }
  for (const row of text.split('\n')) {
    if (!row) continue;
    try {
      const v = JSON.parse(row) as Partial<RingLine>;
      if (typeof v.ts !== 'number' || typeof v.text !== 'string') continue;
      ring.push({
        ts: v.ts,
        text: v.text,
        ...(v.stream === 'stdout' || v.stream === 'stderr' ? { stream: v.stream } : {}),
      });
    } catch {
      // A torn line from a crash while saving: skip it.
    }
  }
}

export class AppSupervisor {
  private readonly apps = new Map<string, SupervisedApp>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private host: AppHost | undefined;
  private ringBytes = DEFAULT_APP_LOG_BYTES;
  private stopped = false;

  constructor(private readonly tuning: SupervisorTuning = DEFAULT_TUNING) {}

  /** Loads the installed apps and starts the autostart ones (their failures back off, never throw). */
  async start(host: Pick<CapabilityHost, 'config' | 'log'>): Promise<void> {
    const stateDir = host.config.stateDir;
    this.host = { stateDir, log: host.log, tuning: this.tuning };
    this.ringBytes = host.config.appLogBytes;
    const manifests = readManifests(stateDir, (name, reason) =>
      host.log.error('installed app is unreadable; skipped', { app: name, reason }),
    );
    for (const m of manifests) {
      const ring = new LineRing(this.ringBytes);
      loadRing(ring, outputFile(stateDir, m.name));
      await this.endLeftover(m.name);
      this.apps.set(m.name, new SupervisedApp(this.host, m, ring));
    }
    for (const app of this.apps.values()) if (app.manifest.autostart) await app.start(false);
    if (this.apps.size > 0) host.log.info('apps loaded', { apps: this.apps.size });
  }

  /** Stops every app (SIGTERM, then SIGKILL) and saves their output rings. */
  async stop(): Promise<void> {
    this.stopped = true;
    const host = this.host;
    if (!host) return;
    await Promise.all([...this.apps.values()].map((a) => a.stop(SHUTDOWN_GRACE_MS)));
    for (const app of this.apps.values()) {
      const lines = app.ring.lines().map((l) => JSON.stringify({ ts: l.ts, stream: l.stream, text: l.text }));
      try {
        writeFileAtomic(outputFile(host.stateDir, app.name), lines.length > 0 ? `${lines.join('\n')}\n` : '');
      } catch (err) {
        host.log.warn('cannot save app output', { app: app.name, err });
      }
    }
  }

  /** The output ring of an installed app. */
  ring(name: string): LineRing {
    return this.get(name).ring;
  }

  has(name: string): boolean {
    return this.apps.has(name);
  }

  list(): AppStatus[] {
    return [...this.apps.values()].map((a) => a.status()).sort((a, b) => a.name.localeCompare(b.name));
  }

  status(name: string): AppStatus {
    return this.get(name).status();
  }

  async install(args: AppsInstallArgs): Promise<AppStatus> {
    checkAppName(args.name);
    return this.locked(args.name, async () => {
      const host = this.ready();
      const existing = this.apps.get(args.name);
      if (existing && !args.replace) {
        throw new OutpostError('E_CONFLICT', `app ${args.name} is already installed (replace it with replace: true)`);
      }
      if (!existing && this.apps.size >= MAX_APPS) {
        throw new OutpostError('E_BUSY', `too many apps installed (limit ${MAX_APPS})`);
      }
      const { manifest, staging } = await prepareInstall(host.stateDir, args, Date.now());
      if (existing) await existing.stop();
      try {
        commitInstall(host.stateDir, args.name, staging);
      } catch (err) {
        rmSync(staging, { recursive: true, force: true });
        throw err;
      }
      // The output ring stays with the name: a replaced app's history is still worth reading.
      const app = new SupervisedApp(host, manifest, existing?.ring ?? new LineRing(this.ringBytes));
      this.apps.set(args.name, app);
      host.log.info('app installed', { app: args.name, kind: manifest.kind, replaced: existing !== undefined });
      if (manifest.autostart) {
        try {
          await app.start(true);
        } catch {
          // Installed all the same; the status says why it is not running (lastError).
        }
      }
      return app.status();
    });
  }

  async uninstall(name: string): Promise<{ name: string; removed: true }> {
    checkAppName(name);
    return this.locked(name, async () => {
      const host = this.ready();
      const app = this.get(name);
      await app.stop();
      removeApp(host.stateDir, name);
      this.apps.delete(name);
      host.log.info('app uninstalled', { app: name });
      return { name, removed: true as const };
    });
  }

  startApp(name: string): Promise<AppStatus> {
    return this.locked(name, async () => {
      const app = this.get(name);
      await app.start(true);
      return app.status();
    });
  }

  stopApp(name: string): Promise<AppStatus> {
    return this.locked(name, async () => {
      const app = this.get(name);
      await app.stop();
      return app.status();
    });
  }

  restartApp(name: string): Promise<AppStatus> {
    return this.locked(name, async () => {
      const app = this.get(name);
      await app.stop();
      await app.start(true);
      return app.status();
    });
  }

  private get(name: string): SupervisedApp {
    checkAppName(name);
    const app = this.apps.get(name);
    if (!app) throw new OutpostError('E_NOT_FOUND', `no app named ${name}`);
    return app;
  }

  private ready(): AppHost {
    if (!this.host || this.stopped) throw new OutpostError('E_BUSY', 'the agent is starting or stopping; try again');
    return this.host;
  }

  /** Runs `fn` after every earlier action on the same app has finished. */
  private locked<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const before = this.locks.get(name) ?? Promise.resolve();
    const run = before.then(fn, fn);
    const tail = run.catch(() => {});
    this.locks.set(name, tail);
    void tail.then(() => {
      if (this.locks.get(name) === tail) this.locks.delete(name);
    });
    return run;
  }

  /** Ends an instance a crashed agent left running (same pid and start time as recorded). */
  private async endLeftover(name: string): Promise<void> {
    const host = this.host;
    if (!host) return;
    const path = runFile(host.stateDir, name);
    let record: Partial<RunRecord> | undefined;
    try {
      record = JSON.parse(readFileSync(path, 'utf8')) as Partial<RunRecord>;
    } catch {
      return;
    }
    rmSync(path, { force: true });
    const { pid, startTime } = record ?? {};
    if (typeof pid !== 'number' || !Number.isInteger(pid) || pid <= 1 || typeof startTime !== 'string') return;
    if (processStartTime(pid) !== startTime) return; // gone, or the pid now belongs to someone else
    host.log.warn('ending an app instance left by a previous agent', { app: name, pid });
    await terminateGroup(pid, this.tuning.stopGraceMs);
  }
}
