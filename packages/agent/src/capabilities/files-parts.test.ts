/**
 * The registry of upload partial files against a real file system: uploads run
 * through the files capability and the agent's real stream table, with a peer in
 * memory that sends some bytes and then goes away (as a killed client does). Time
 * is a clock the test moves forward; the sweep is the one the capability runs at start.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StreamDuplex, topics } from '@outpost/protocol';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { failure, runAction } from '../../test/actions.js';
import { type AgentConfig, agentConfig } from '../config.js';
import { createLogger, silentLogger } from '../log.js';
import { AgentStreams } from '../streams.js';
import type { Capability, CommandContext } from './capability.js';
import { createFilesCapability } from './files.js';
import { UPLOAD_PARTS_FILE } from './files-parts.js';
import { partName } from './files-transfer.js';

const base = realpathSync(mkdtempSync(join(tmpdir(), 'outpost-parts-')));
const root = join(base, 'root');
const outside = join(base, 'outside');
const stateDir = join(base, 'state');
const registry = join(stateDir, UPLOAD_PARTS_FILE);
const DAY = 86400_000;
const DEVICE = 'd-test';
afterAll(() => rmSync(base, { recursive: true, force: true }));

let offset = 0;
let cap: Capability;
let logged: Record<string, unknown>[];
const log = createLogger({ write: (line) => logged.push(JSON.parse(line)) });
beforeEach(() => {
  for (const dir of [root, outside, stateDir]) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
  }
  offset = 0;
  logged = [];
  cap = createFilesCapability({ now: () => Date.now() + offset });
});

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const config = (more: Partial<AgentConfig> = {}) => agentConfig({ stateDir, fileRoots: [root], ...more });
const registered = (): string[] =>
  (JSON.parse(readFileSync(registry, 'utf8')) as { parts: { part: string }[] }).parts.map((p) => p.part);

/** A files/upload of `data` to `name` whose stream ends at a peer in memory, frames crossing asynchronously. */
function uploading(name: string, data: Buffer, transfer: string, from = 0) {
  const sid = `s${transfer}`;
  let peer: StreamDuplex | undefined;
  const streams = new AgentStreams({
    deviceId: DEVICE,
    log: silentLogger,
    graceMs: 60_000,
    publish: (_topic, payload) => setImmediate(() => peer?.receive(payload)),
  });
  peer = new StreamDuplex({
    send: (frame) => setImmediate(() => streams.handle(topics.tty(DEVICE, sid, 'in'), Buffer.from(frame))),
    window: 1024 * 1024,
  });
  peer.on('error', () => {});
  const ctx: CommandContext = {
    commandId: `c-${transfer}`,
    emit: () => {},
    signal: new AbortController().signal,
    log,
    config: config(),
    openStream: (id, opts) => streams.open(id, opts),
  };
  const args = { sid, path: join(root, name), size: data.length, sha256: sha(data), transfer, offset: from };
  return { peer, result: runAction(cap, 'files/upload', args, ctx), part: join(root, partName(name, transfer)) };
}

/** Sends the first half of `data`, waits until the device has it on disk, then the client goes away. */
async function interrupt(name: string, transfer: string, data = randomBytes(256 * 1024)): Promise<string> {
  const u = uploading(name, data, transfer);
  u.peer.write(data.subarray(0, data.length / 2));
  for (let i = 0; i < 200 && (!existsSync(u.part) || statSync(u.part).size < data.length / 2); i++)
    await new Promise((r) => setTimeout(r, 10));
  // Registered before the upload stops, so an agent that dies mid-upload still knows its part.
  expect(registered()).toContain(u.part);
  u.peer.abort('E_INTERNAL', 'client went away');
  expect((await failure(u.result)).message).toMatch(/interrupted/);
  return u.part;
}

/** Starts the capability as the agent does (its first sweep runs then) and stops it once that sweep is done. */
async function startAndStop(more: Partial<AgentConfig> = {}): Promise<void> {
  await cap.start?.({ config: config(more), log, agentLog: undefined as never });
  await cap.stop?.();
}

describe('upload parts', () => {
  it('registers the part an interrupted upload keeps, and forgets it once the resumed upload completes', async () => {
    const data = randomBytes(256 * 1024);
    const part = await interrupt('r.bin', 'transfer-r1', data);
    expect(registered()).toEqual([part]);
    expect(statSync(registry).mode & 0o777).toBe(0o600);
    const u = uploading('r.bin', data, 'transfer-r1', data.length / 2);
    const [done] = await Promise.all([u.result, pipeline(Readable.from([data.subarray(data.length / 2)]), u.peer)]);
    expect(done.resumedFrom).toBe(data.length / 2);
    expect(registered()).toEqual([]);
  });

  it('forgets a part that was discarded (checksum mismatch)', async () => {
    const data = randomBytes(64 * 1024);
    const u = uploading('bad.bin', data, 'transfer-b1');
    const wrong = Buffer.from(data).fill(1, 0, 10);
    const [err] = await Promise.all([failure(u.result), pipeline(Readable.from([wrong]), u.peer).catch(() => {})]);
    expect(err.code).toBe('E_CONFLICT');
    expect(existsSync(u.part)).toBe(false);
    expect(registered()).toEqual([]);
  });

  it('removes a part idle past uploadPartTtl at start, logs it, and keeps a fresh one', async () => {
    const old = await interrupt('old.bin', 'transfer-o1');
    offset = 8 * DAY;
    const fresh = await interrupt('fresh.bin', 'transfer-f1');
    await startAndStop();
    expect(existsSync(old)).toBe(false);
    expect(existsSync(fresh)).toBe(true);
    expect(registered()).toEqual([fresh]);
    const removed = logged.find((l) => l.msg === 'removed an abandoned upload part');
    expect(removed).toMatchObject({ level: 'info', path: old, size: 128 * 1024 });
    expect(Number(removed?.ageSeconds) - 8 * 86400).toBeGreaterThanOrEqual(0);
    expect(Number(removed?.ageSeconds) - 8 * 86400).toBeLessThan(60);
  });

  it('keeps every part when uploadPartTtl is 0', async () => {
    const part = await interrupt('keep.bin', 'transfer-k1');
    offset = 365 * DAY;
    await startAndStop({ uploadPartTtl: 0 });
    expect(existsSync(part)).toBe(true);
    expect(registered()).toEqual([part]);
  });

  it('takes a write after the part was left as new activity, and removes it only once idle after that', async () => {
    const part = await interrupt('w.bin', 'transfer-w1');
    const later = (Date.now() + DAY) / 1000;
    utimesSync(part, later, later);
    offset = 8 * DAY;
    await startAndStop();
    expect(existsSync(part)).toBe(true);
    offset = 9 * DAY;
    await startAndStop();
    expect(existsSync(part)).toBe(false);
  });

  it('never follows or removes a symlink or a directory that took the place of a part; drops parts already gone', async () => {
    const secret = join(outside, 'secret');
    writeFileSync(secret, 'keep me');
    const link = await interrupt('l.bin', 'transfer-l1');
    const dir = await interrupt('d.bin', 'transfer-d1');
    const gone = await interrupt('g.bin', 'transfer-g1');
    rmSync(link);
    symlinkSync(secret, link);
    rmSync(dir);
    mkdirSync(dir);
    writeFileSync(join(dir, 'inside'), 'x');
    rmSync(gone);
    offset = 8 * DAY;
    await startAndStop();
    expect(readFileSync(secret, 'utf8')).toBe('keep me');
    expect(readFileSync(link, 'utf8')).toBe('keep me');
    expect(readFileSync(join(dir, 'inside'), 'utf8')).toBe('x');
    expect(registered()).toEqual([]);
    const replaced = logged.filter((l) => String(l.msg).includes('replaced by something else'));
    expect(replaced.map((l) => l.path)).toEqual([link, dir]);
  });

  it('replaces a registry of garbage, and never acts on an entry that does not name a part', async () => {
    writeFileSync(registry, '{ not json');
    await startAndStop();
    expect(JSON.parse(readFileSync(registry, 'utf8'))).toEqual({ version: 1, parts: [] });
    expect(logged.some((l) => l.level === 'warn' && String(l.msg).includes('corrupt'))).toBe(true);

    const victim = join(root, 'victim');
    writeFileSync(victim, 'not a part');
    const entry = { path: join(root, 'x'), transfer: 'transfer-v1', part: victim, at: 0 };
    writeFileSync(registry, JSON.stringify({ version: 1, parts: [entry] }));
    cap = createFilesCapability({ now: () => Date.now() + offset });
    await startAndStop();
    expect(readFileSync(victim, 'utf8')).toBe('not a part');
    expect(registered()).toEqual([]);
  });
});
