/**
 * `logs/*` and `command/cancel` through the real command router: reads of the
 * agent's ring and of files, follows streamed as NDJSON `out` chunks, ended by a
 * cancel, by their duration or by their app going away, and cancels that
 * overtake their command.
 */
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type CommandResponse,
  check,
  commands,
  type LogLine,
  LogLine as LogLineSchema,
  type OutputChunk,
  topics,
} from '@outpost/protocol';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AppSupervisor } from '../apps/supervisor.js';
import { agentConfig } from '../config.js';
import { CommandJournal } from '../journal.js';
import { createLogger, silentLogger } from '../log.js';
import { LineRing, ringSink } from '../log-ring.js';
import { CommandRouter } from '../router.js';
import { createAppsCapability } from './apps.js';
import { createLogsCapability } from './logs.js';

const DEVICE = 'd-logs';
let stateDir: string;
let apps: AppSupervisor;

beforeEach(() => {
  stateDir = mkdtempSync(join(tmpdir(), 'outpost-logs-'));
});
afterEach(async () => {
  await apps?.stop();
  rmSync(stateDir, { recursive: true, force: true });
});

async function setup() {
  const config = agentConfig({ stateDir, logRoots: [join(stateDir, 'logs')] });
  mkdirSync(join(stateDir, 'logs'));
  const agentLog = new LineRing(64 * 1024);
  const log = createLogger({ level: 'info', write: () => {}, sink: ringSink(agentLog) });
  apps = new AppSupervisor({ baseMs: 200, capMs: 2000, stableMs: 1500, crashAfter: 4, stopGraceMs: 1000 });
  const capabilities = [createAppsCapability(apps), createLogsCapability(apps)];
  for (const c of capabilities) await c.start?.({ config, log, agentLog });
  const sent: { topic: string; payload: any }[] = [];
  const router = new CommandRouter({
    deviceId: DEVICE,
    capabilities,
    journal: new CommandJournal(stateDir, silentLogger),
    publish: (topic, payload) => sent.push({ topic, payload: JSON.parse(payload) }),
    log,
    config,
  });
  const send = (command: string, id: string, args: unknown) =>
    router.handle(
      topics.command(DEVICE, ...(command.split('/') as [string, string])),
      Buffer.from(JSON.stringify({ id, args, ts: Date.now() })),
    );
  const response = async (id: string): Promise<CommandResponse> =>
    vi.waitFor(
      () => {
        const r = sent.find((s) => s.topic === topics.result(DEVICE, id));
        expect(r).toBeDefined();
        return r?.payload as CommandResponse;
      },
      { timeout: 10_000 },
    );
  /** The lines a follow streamed so far: every chunk is NDJSON of whole LogLines. */
  const streamed = (id: string): LogLine[] =>
    sent
      .filter((s) => s.topic === topics.output(DEVICE, id))
      .flatMap((s) => {
        const chunk = s.payload as OutputChunk;
        expect(chunk.stream).toBe('stdout');
        const text = Buffer.from(chunk.data, 'base64').toString('utf8');
        expect(text.endsWith('\n')).toBe(true);
        return text
          .trimEnd()
          .split('\n')
          .map((l) => JSON.parse(l) as LogLine);
      });
  return { router, send, response, streamed, log, agentLog };
}

describe('logs capability', () => {
  it("reads the agent's own records with level, grep and since filters", async () => {
    const t = await setup();
    const before = Date.now();
    t.log.warn('disk almost full', { pct: 97 });
    t.log.info('heartbeat sent');
    t.log.error('disk full');
    t.send('logs/read', 'r1', { source: 'agent', level: 'warn', grep: 'disk', since: before - 1000 });
    const r = await t.response('r1');
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(check(commands['logs/read'].result, r.data)).toBe(true);
    const lines = (r.data as { lines: LogLine[] }).lines;
    expect(lines.map((l) => [l.level, JSON.parse(l.text).msg])).toEqual([
      ['warn', 'disk almost full'],
      ['error', 'disk full'],
    ]);
    t.send('logs/read', 'r2', { source: 'app:nothere' });
    expect(await t.response('r2')).toMatchObject({ ok: false, error: { code: 'E_NOT_FOUND' } });
    t.send('logs/read', 'r3', { source: 'file:/etc/passwd' });
    expect(await t.response('r3')).toMatchObject({ ok: false, error: { code: 'E_DENIED' } });
    t.send('logs/read', 'r4', { source: 'app:x', level: 'info' });
    expect(await t.response('r4')).toMatchObject({ ok: false, error: { code: 'E_BAD_ARGS' } });
  });

  it('follows a file as NDJSON chunks until cancelled, then answers why it ended', async () => {
    const t = await setup();
    const path = join(stateDir, 'logs', 'app.log');
    writeFileSync(path, 'h1\nh2\nh3\n');
    t.send('logs/follow', 'f1', { source: `file:${path}`, lines: 2 });
    await vi.waitFor(() => expect(t.streamed('f1').map((l) => l.text)).toEqual(['h2', 'h3']), { timeout: 5000 });
    appendFileSync(path, 'new one\nnew two\n');
    await vi.waitFor(() => expect(t.streamed('f1').map((l) => l.text)).toEqual(['h2', 'h3', 'new one', 'new two']), {
      timeout: 5000,
    });
    for (const l of t.streamed('f1')) expect(check(LogLineSchema, l)).toBe(true);
    t.send('command/cancel', 'x1', { id: 'f1' });
    expect(await t.response('x1')).toMatchObject({ ok: true, data: { cancelled: true } });
    const end = await t.response('f1');
    expect(end).toMatchObject({ ok: true, data: { source: `file:${path}`, lines: 4, reason: 'cancelled' } });
    t.send('command/cancel', 'x2', { id: 'f1' });
    expect(await t.response('x2')).toMatchObject({ ok: true, data: { cancelled: false } });
  });

  it("follows an app's output and ends when the app is uninstalled; a follow also ends at maxSeconds", async () => {
    const t = await setup();
    t.send('apps/install', 'i1', {
      name: 'talker',
      script: 'while true; do echo "say $$"; sleep 0.2; done',
      interpreter: 'sh',
    });
    expect((await t.response('i1')).ok).toBe(true);
    t.send('logs/follow', 'f2', { source: 'app:talker', lines: 0, grep: 'say' });
    await vi.waitFor(() => expect(t.streamed('f2').length).toBeGreaterThanOrEqual(2), { timeout: 5000 });
    expect(t.streamed('f2')[0]).toMatchObject({ stream: 'stdout', text: expect.stringMatching(/^say \d+$/) });
    t.send('apps/uninstall', 'u1', { name: 'talker' });
    expect((await t.response('u1')).ok).toBe(true);
    expect(await t.response('f2')).toMatchObject({ ok: true, data: { reason: 'gone' } });

    t.send('logs/follow', 'f3', { source: 'agent', lines: 0, maxSeconds: 1 });
    expect(await t.response('f3')).toMatchObject({ ok: true, data: { reason: 'duration' } });
  });

  it('refuses a command whose cancel arrived first', async () => {
    const t = await setup();
    t.send('command/cancel', 'x3', { id: 'later' });
    expect(await t.response('x3')).toMatchObject({ ok: true, data: { cancelled: true } });
    t.send('logs/follow', 'later', { source: 'agent' });
    expect(await t.response('later')).toMatchObject({ ok: false, error: { code: 'E_CONFLICT' } });
  });
});
