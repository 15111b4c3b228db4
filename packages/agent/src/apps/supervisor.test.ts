/**
 * The app supervisor with real processes: installs, restarts after a kill,
 * backoff for an app that keeps dying, stops that reap the whole process group,
 * restart policies, bundles, and output kept across an agent restart. Delays are
 * shortened (same code, smaller numbers); assertions bound counts, not timings.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AppStatus, AppsInstallArgs } from '@outpost/protocol';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { agentConfig } from '../config.js';
import { silentLogger } from '../log.js';
import { groupAlive } from '../process-group.js';
import type { SupervisorTuning } from './supervised.js';
import { AppSupervisor } from './supervisor.js';

const fast: SupervisorTuning = { baseMs: 200, capMs: 2000, stableMs: 1500, crashAfter: 4, stopGraceMs: 1000 };

let stateDir: string;
let supervisors: AppSupervisor[] = [];

beforeEach(() => {
  stateDir = mkdtempSync(join(tmpdir(), 'outpost-apps-'));
});
afterEach(async () => {
  for (const s of supervisors) await s.stop();
  supervisors = [];
  rmSync(stateDir, { recursive: true, force: true });
});

async function supervisor(): Promise<AppSupervisor> {
  const s = new AppSupervisor(fast);
  supervisors.push(s);
  await s.start({ config: agentConfig({ stateDir }), log: silentLogger });
  return s;
}

const sh = (name: string, script: string, extra: Partial<AppsInstallArgs> = {}): AppsInstallArgs =>
  ({ name, script, interpreter: 'sh', ...extra }) as AppsInstallArgs;

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'resolved';
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
}

const texts = (s: AppSupervisor, name: string) =>
  s
    .ring(name)
    .lines()
    .map((l) => `${l.stream}:${l.text}`);

describe('supervised apps', () => {
  it('installs a script app, runs it with a pid, captures both streams, and restarts it after SIGKILL', async () => {
    const s = await supervisor();
    // The agent's own settings (the enrollment token above all) must not reach an app.
    process.env.OUTPOST_AGENT_ENROLL_TOKEN = 'et-must-not-leak';
    const installed = await s
      .install(
        sh(
          'ticker',
          'echo "up as $OUTPOST_APP_NAME with $GREETING [$OUTPOST_AGENT_ENROLL_TOKEN]"; echo oops >&2; exec sleep 300',
          {
            env: { GREETING: 'hello' },
          },
        ),
      )
      .finally(() => {
        delete process.env.OUTPOST_AGENT_ENROLL_TOKEN;
      });
    expect(installed).toMatchObject({ name: 'ticker', state: 'running', restarts: 0, autostart: true, kind: 'script' });
    expect(installed.pid).toBeGreaterThan(1);
    expect(installed.env).toEqual(['GREETING']);
    await vi.waitFor(() => expect(texts(s, 'ticker')).toEqual(['stdout:up as ticker with hello []', 'stderr:oops']));

    process.kill(installed.pid ?? 0, 'SIGKILL');
    const restarted = await vi.waitFor(
      () => {
        const st = s.status('ticker');
        expect(st.state).toBe('running');
        expect(st.restarts).toBe(1);
        return st;
      },
      { timeout: 10_000 },
    );
    expect(restarted.pid).not.toBe(installed.pid);
    expect(restarted.lastExit).toMatchObject({ code: null, signal: 'SIGKILL' });
    await vi.waitFor(() => expect(texts(s, 'ticker').filter((t) => t.startsWith('stdout:up'))).toHaveLength(2));
  });

  it('backs off an app that dies at once and marks it crashed, with a bounded number of restarts', async () => {
    const s = await supervisor();
    await s.install(sh('broken', 'echo dying; exit 1'));
    const crashed = await vi.waitFor(
      () => {
        const st = s.status('broken');
        expect(st.state).toBe('crashed');
        return st;
      },
      { timeout: 15_000, interval: 50 },
    );
    expect(crashed.lastExit).toMatchObject({ code: 1, signal: null });
    expect(crashed.nextStartAt).toBeGreaterThan(Date.now() + 500); // retried only at the cap now
    await new Promise((r) => setTimeout(r, 1000));
    const later = s.status('broken');
    // Delays 200, 400, 800 ms, then the 2 s cap: a handful of restarts, never a busy loop.
    expect(later.restarts).toBeGreaterThanOrEqual(3);
    expect(later.restarts).toBeLessThanOrEqual(5);
    expect(['crashed', 'starting', 'running']).toContain(later.state);
  });

  it('stops the whole process group, killing what ignores SIGTERM after the grace period', async () => {
    const s = await supervisor();
    const st = await s.install(sh('stubborn', "trap '' TERM; sleep 300 & sleep 300 & echo ready; wait"));
    const pgid = st.pid ?? 0;
    await vi.waitFor(() => expect(texts(s, 'stubborn')).toContain('stdout:ready'));
    expect(groupAlive(pgid)).toBe(true);
    const started = Date.now();
    const stopped = await s.stopApp('stubborn');
    expect(Date.now() - started).toBeGreaterThanOrEqual(900); // it waited the grace period before SIGKILL
    expect(stopped).toMatchObject({ state: 'stopped', pid: null });
    expect(groupAlive(pgid)).toBe(false);
    await new Promise((r) => setTimeout(r, 600));
    expect(s.status('stubborn').state).toBe('stopped'); // a stop is not a crash: no restart
  });

  it('follows its restart policy: on-failure leaves a clean exit alone, never leaves any exit alone', async () => {
    const s = await supervisor();
    await s.install(sh('oneshot', 'echo done', { restart: 'on-failure' }));
    await s.install(sh('once', 'exit 3', { restart: 'never' }));
    await vi.waitFor(() => {
      expect(s.status('oneshot')).toMatchObject({ state: 'stopped', lastExit: { code: 0 } });
      expect(s.status('once')).toMatchObject({ state: 'stopped', lastExit: { code: 3 } });
    });
    await new Promise((r) => setTimeout(r, 500));
    expect(s.status('oneshot').restarts).toBe(0);
    expect((await s.startApp('oneshot')).restarts).toBe(0);
  });

  it('refuses names with shell or path metacharacters, duplicates, and missing apps', async () => {
    const s = await supervisor();
    for (const name of ['a;rm -rf /', '../evil', 'UPPER', '$(id)', '-lead', '', 'x'.repeat(65)]) {
      expect(await codeOf(s.install(sh(name, 'true'))), name).toBe('E_BAD_ARGS');
    }
    expect(existsSync(join(stateDir, 'evil'))).toBe(false);
    await s.install(sh('twice', 'sleep 300', { autostart: false }));
    expect(s.status('twice').state).toBe('stopped');
    expect(await codeOf(s.install(sh('twice', 'sleep 300')))).toBe('E_CONFLICT');
    const replaced = await s.install(sh('twice', 'exec sleep 301', { replace: true }));
    expect(replaced.state).toBe('running');
    expect(await codeOf(s.startApp('nope'))).toBe('E_NOT_FOUND');
    expect(await codeOf(s.install({ ...sh('badcwd', 'true'), cwd: '/nonexistent/dir' }))).toBe('resolved');
    expect(s.status('badcwd')).toMatchObject({
      state: 'stopped',
      lastError: 'working directory not found: /nonexistent/dir',
    });
    expect(await codeOf(s.uninstall('twice'))).toBe('resolved');
    expect(existsSync(join(stateDir, 'apps', 'twice'))).toBe(false);
  });

  it('installs a bundle (a .tgz unpacked, entry inside it) and refuses one with a member climbing out', async () => {
    const src = join(stateDir, 'src');
    mkdirSync(join(src, 'bin'), { recursive: true });
    writeFileSync(join(src, 'bin', 'run.sh'), '#!/bin/sh\necho "bundle says $1"\nexec sleep 300\n', { mode: 0o755 });
    const good = join(stateDir, 'good.tgz');
    execFileSync('tar', ['-C', src, '-czf', good, 'bin']);
    const s = await supervisor();
    const st = await s.install({ name: 'bundled', bundle: good, entry: ['./bin/run.sh'], args: ['hi'] });
    expect(st).toMatchObject({ state: 'running', kind: 'bundle', command: ['./bin/run.sh', 'hi'] });
    await vi.waitFor(() => expect(texts(s, 'bundled')).toContain('stdout:bundle says hi'));

    writeFileSync(join(stateDir, 'evil.txt'), 'x');
    const bad = join(stateDir, 'bad.tgz');
    execFileSync('tar', ['-C', src, '-cPzf', bad, '../evil.txt']);
    expect(await codeOf(s.install({ name: 'evil', bundle: bad, entry: ['./run.sh'] }))).toBe('E_BAD_ARGS');
    expect(await codeOf(s.install({ name: 'nofile', bundle: '/nonexistent.tgz', entry: ['./run.sh'] }))).toBe(
      'E_NOT_FOUND',
    );
    expect(s.has('evil')).toBe(false);
  });

  it('keeps output across an agent restart and starts autostart apps again', async () => {
    const first = await supervisor();
    await first.install(sh('keeper', 'echo "run $$"; exec sleep 300'));
    await first.install(sh('idle', 'sleep 300', { autostart: false }));
    await vi.waitFor(() => expect(texts(first, 'keeper')).toHaveLength(1));
    await first.stop();
    supervisors = [];
    const second = await supervisor();
    const statuses = Object.fromEntries(second.list().map((a: AppStatus) => [a.name, a.state]));
    expect(statuses).toEqual({ idle: 'stopped', keeper: 'running' });
    await vi.waitFor(() => expect(texts(second, 'keeper')).toHaveLength(2));
    expect(texts(second, 'keeper')[0]).toMatch(/^stdout:run \d+$/);
  });
});
