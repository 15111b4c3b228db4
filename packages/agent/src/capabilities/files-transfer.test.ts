/**
 * Uploads and downloads at the stream level: the agent's real stream table
 * (AgentStreams) on one side, a peer on the other (a StreamDuplex as the server
 * runs it, or raw frames for out-of-order, duplicated and excess data), and a
 * real file system. The full-disk case mounts a 1 MiB tmpfs (root only; skipped
 * with a warning where mounting is not allowed).
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { check, commands, encodeFrame, parse, StreamDuplex, topics } from '@outpost/protocol';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { failure } from '../../test/actions.js';
import { agentConfig } from '../config.js';
import { silentLogger } from '../log.js';
import { AgentStreams } from '../streams.js';
import type { CommandContext } from './capability.js';
import { createFilesCapability } from './files.js';
import { partName } from './files-transfer.js';

const base = realpathSync(mkdtempSync(join(tmpdir(), 'outpost-transfer-')));
const root = join(base, 'root');
const DEVICE = 'd-test';
afterAll(() => rmSync(base, { recursive: true, force: true }));
beforeEach(() => {
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
});

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
let sidCounter = 0;

/** The agent's stream table wired to a peer in memory; frames cross asynchronously, as over MQTT. */
function wire(roots = [root]) {
  const sid = `s${++sidCounter}x`;
  const toPeer: Buffer[] = [];
  let peer: StreamDuplex | undefined;
  const streams = new AgentStreams({
    deviceId: DEVICE,
    log: silentLogger,
    graceMs: 60_000,
    publish: (_topic, payload) => {
      toPeer.push(payload);
      setImmediate(() => peer?.receive(payload));
    },
  });
  const toDevice = (frame: Uint8Array) =>
    setImmediate(() => streams.handle(topics.tty(DEVICE, sid, 'in'), Buffer.from(frame)));
  const ctx: CommandContext = {
    commandId: `c${sidCounter}`,
    emit: () => {},
    signal: new AbortController().signal,
    log: silentLogger,
    config: agentConfig({ stateDir: join(base, 'state'), fileRoots: roots }),
    openStream: (id, opts) => streams.open(id, opts),
  };
  /** The server's end, as a Duplex (frames to the device cross asynchronously). */
  const duplex = () => {
    peer = new StreamDuplex({ send: toDevice, window: 1024 * 1024 });
    peer.on('error', () => {});
    return peer;
  };
  return { sid, ctx, streams, duplex, toDevice, toPeer };
}

async function act(name: 'upload' | 'download' | 'upload-status', args: unknown, ctx: CommandContext): Promise<any> {
  const spec = commands[`files/${name}`];
  const handler = createFilesCapability().actions[name];
  if (!handler) throw new Error(`files/${name} missing`);
  const result = await handler(parse(spec.args, args, 'args'), ctx);
  expect(check(spec.result, result)).toBe(true);
  return result;
}

describe('files/upload', () => {
  it('writes the file through its part, checks it and renames it into place', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 17);
    const w = wire();
    const peer = w.duplex();
    const args = {
      sid: w.sid,
      path: join(root, 'f.bin'),
      size: data.length,
      sha256: sha(data),
      transfer: 'transfer-1',
      mode: 0o640,
    };
    const [result] = await Promise.all([act('upload', args, w.ctx), pipeline(Readable.from([data]), peer)]);
    expect(result).toMatchObject({ size: data.length, sha256: sha(data), resumedFrom: 0 });
    expect(readFileSync(join(root, 'f.bin')).equals(data)).toBe(true);
    expect(statSync(join(root, 'f.bin')).mode & 0o7777).toBe(0o640);
    expect(readdirSync(root)).toEqual(['f.bin']);
    expect(await peer.done).toBeNull();
  });

  it('ignores out-of-order and duplicated frames: the sender resends, the file comes out right', async () => {
    const data = randomBytes(150 * 1024);
    const w = wire();
    const frames = [0, 64 * 1024, 128 * 1024].map((offset) =>
      encodeFrame({ type: 'data', offset, data: data.subarray(offset, offset + 64 * 1024) }),
    );
    const args = {
      sid: w.sid,
      path: join(root, 'o.bin'),
      size: data.length,
      sha256: sha(data),
      transfer: 'transfer-2',
    };
    const running = act('upload', args, w.ctx);
    // The device announces its window once it accepted the stream: only then does the sender start.
    for (let i = 0; i < 500 && w.toPeer.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    // A gap first (frame 2 before 0 and 1), then 0 twice, 1, 2 again, and the FIN.
    for (const f of [frames[2], frames[0], frames[0], frames[1], frames[2], frames[1]]) w.toDevice(f as Uint8Array);
    w.toDevice(encodeFrame({ type: 'fin', offset: data.length }));
    // Acknowledge the device's own FIN (it sends no data), as the server's endpoint would.
    for (let i = 0; i < 500 && !w.toPeer.some((f) => f[0] === 4); i++) await new Promise((r) => setTimeout(r, 10));
    w.toDevice(encodeFrame({ type: 'ack', offset: 0, window: 64 * 1024, fin: true, nack: false }));
    const result = await running;
    expect(result.sha256).toBe(sha(data));
    expect(readFileSync(join(root, 'o.bin')).equals(data)).toBe(true);
    const nacks = w.toPeer.filter((f) => f[0] === 2 && (f[7] ?? 0) & 0x02);
    expect(nacks.length).toBeGreaterThan(0);
  });

  it('a wrong checksum or more bytes than announced removes the part and replaces nothing', async () => {
    writeFileSync(join(root, 'keep'), 'old');
    const data = randomBytes(100_000);
    const w1 = wire();
    const args = {
      sid: w1.sid,
      path: join(root, 'keep'),
      size: data.length,
      sha256: 'b'.repeat(64),
      transfer: 'transfer-3',
    };
    const [bad] = await Promise.all([
      failure(act('upload', args, w1.ctx)),
      pipeline(Readable.from([data]), w1.duplex()).catch(() => {}),
    ]);
    expect(bad.code).toBe('E_CONFLICT');
    expect(bad.details).toEqual({ expected: 'b'.repeat(64), actual: sha(data) });
    const w2 = wire();
    const small = { ...args, sid: w2.sid, size: 1000, sha256: sha(data) };
    const [over] = await Promise.all([
      failure(act('upload', small, w2.ctx)),
      pipeline(Readable.from([data]), w2.duplex()).catch(() => {}),
    ]);
    expect(over.code).toBe('E_BAD_ARGS');
    expect(readdirSync(root)).toEqual(['keep']);
    expect(readFileSync(join(root, 'keep'), 'utf8')).toBe('old');
  });

  it('an interrupted upload keeps its part; upload-status reports it and the next attempt resumes', async () => {
    const data = randomBytes(1024 * 1024);
    const half = 512 * 1024;
    const path = join(root, 'r.bin');
    const part = join(root, partName('r.bin', 'transfer-4'));
    const common = { path, size: data.length, sha256: sha(data), transfer: 'transfer-4' };
    const w1 = wire();
    const peer1 = w1.duplex();
    const first = failure(act('upload', { ...common, sid: w1.sid }, w1.ctx));
    peer1.write(data.subarray(0, half));
    // Wait until the device has it on disk, then go away as a killed client would.
    for (let i = 0; i < 200 && (!existsSync(part) || statSync(part).size < half); i++)
      await new Promise((r) => setTimeout(r, 10));
    peer1.abort('E_INTERNAL', 'client went away');
    const interrupted = await first;
    expect(interrupted.message).toMatch(/interrupted at 524288 of 1048576/);
    expect(existsSync(path)).toBe(false);
    const status = await act('upload-status', { path, transfer: 'transfer-4' }, w1.ctx);
    expect(status).toEqual({ path, transfer: 'transfer-4', size: half, exists: true });

    const w2 = wire();
    const tooFar = await failure(act('upload', { ...common, sid: w2.sid, offset: half + 1 }, w2.ctx));
    expect(tooFar.code).toBe('E_CONFLICT');
    const w3 = wire();
    const peer3 = w3.duplex();
    const [done] = await Promise.all([
      act('upload', { ...common, sid: w3.sid, offset: half }, w3.ctx),
      pipeline(Readable.from([data.subarray(half)]), peer3),
    ]);
    expect(done).toMatchObject({ resumedFrom: half, sha256: sha(data) });
    expect(readFileSync(path).equals(data)).toBe(true);
    expect(readdirSync(root)).toEqual(['r.bin']);
    expect((await act('upload-status', { path, transfer: 'transfer-4' }, w3.ctx)).exists).toBe(false);
  });

  it('a full disk removes the part and reports E_TOO_LARGE', async (t) => {
    const small = join(base, 'tmpfs');
    mkdirSync(small, { recursive: true });
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', small], { stdio: 'pipe' });
    } catch (err) {
      console.warn(`skipping the full-disk test: cannot mount a tmpfs here (${String(err).split('\n')[0]})`);
      t.skip();
      return;
    }
    try {
      const data = randomBytes(3 * 1024 * 1024);
      const w = wire([small]);
      const args = {
        sid: w.sid,
        path: join(small, 'big.bin'),
        size: data.length,
        sha256: sha(data),
        transfer: 'transfer-5',
      };
      const [full] = await Promise.all([
        failure(act('upload', args, w.ctx)),
        pipeline(Readable.from([data]), w.duplex()).catch(() => {}),
      ]);
      expect(full.code).toBe('E_TOO_LARGE');
      expect(readdirSync(small)).toEqual([]);
    } finally {
      execFileSync('umount', [small]);
    }
  });
});

describe('files/download', () => {
  it('sends the file from an offset, framed by start and end control messages with the whole SHA-256', async () => {
    const data = randomBytes(700 * 1024 + 3);
    writeFileSync(join(root, 'd.bin'), data);
    for (const offset of [0, 300_000]) {
      const w = wire();
      const peer = w.duplex();
      const controls: any[] = [];
      peer.on('control', (c) => controls.push(c));
      const chunks: Buffer[] = [];
      peer.on('data', (c: Buffer) => chunks.push(c));
      peer.end();
      const result = await act('download', { sid: w.sid, path: join(root, 'd.bin'), offset }, w.ctx);
      await peer.done;
      expect(result).toMatchObject({ size: data.length, sha256: sha(data), sent: data.length - offset });
      expect(Buffer.concat(chunks).equals(data.subarray(offset))).toBe(true);
      expect(controls[0]).toMatchObject({ kind: 'start', size: data.length, offset });
      expect(controls[1]).toEqual({ kind: 'end', sha256: sha(data), size: data.length });
    }
  });

  it('refuses offsets past the end, directories, special files and paths outside the roots', async () => {
    writeFileSync(join(root, 'small'), 'abc');
    execFileSync('mkfifo', [join(root, 'fifo')]);
    const w = wire();
    const c = (path: string, offset = 0) => failure(act('download', { sid: w.sid, path, offset }, w.ctx));
    expect((await c(join(root, 'small'), 4)).code).toBe('E_BAD_ARGS');
    expect((await c(root)).code).toBe('E_BAD_ARGS');
    expect((await c(join(root, 'fifo'))).code).toBe('E_DENIED');
    expect((await c(join(base, 'state'))).code).toMatch(/E_DENIED|E_NOT_FOUND/);
    expect(w.streams.count).toBe(0);
  });
});
