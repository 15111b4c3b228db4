import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CommandResponse,
  type CommandResponse as CommandResponseT,
  check,
  commands,
  OutputChunk,
  type OutputChunk as OutputChunkT,
  topics,
} from '@outpost/protocol';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type Capability, createCapabilities } from './capabilities/index.js';
import { agentConfig } from './config.js';
import { CommandJournal, RESTARTED_MESSAGE } from './journal.js';
import { silentLogger } from './log.js';
import { CommandRouter } from './router.js';

const DEVICE = 'd-test';
let stateDir: string;

beforeEach(() => {
  stateDir = mkdtempSync(join(tmpdir(), 'outpost-router-'));
});
afterEach(() => rmSync(stateDir, { recursive: true, force: true }));

interface Sent {
  topic: string;
  payload: unknown;
  qos: 0 | 1;
}

function setup(options: { capabilities?: Capability[]; journal?: CommandJournal } = {}) {
  const sent: Sent[] = [];
  const journal = options.journal ?? new CommandJournal(stateDir, silentLogger);
  const router = new CommandRouter({
    deviceId: DEVICE,
    capabilities: options.capabilities ?? createCapabilities(),
    journal,
    publish: (topic, payload, qos) => sent.push({ topic, payload: JSON.parse(payload), qos }),
    log: silentLogger,
    config: agentConfig({ stateDir }),
  });
  const deliver = (capability: string, action: string, body: unknown): void =>
    router.handle(
      `outpost/v1/d/${DEVICE}/cmd/${capability}/${action}`,
      Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)),
    );
  const responses = (id?: string): CommandResponseT[] =>
    sent
      .filter((s) => s.topic.startsWith(`outpost/v1/d/${DEVICE}/res/`) && (!id || s.topic.endsWith(`/res/${id}`)))
      .map((s) => s.payload as CommandResponseT);
  const chunks = (id: string): OutputChunkT[] =>
    sent.filter((s) => s.topic === topics.output(DEVICE, id)).map((s) => s.payload as OutputChunkT);
  const response = async (id: string): Promise<CommandResponseT> => {
    await vi.waitFor(() => expect(responses(id).length).toBeGreaterThan(0), { timeout: 10_000 });
    const r = responses(id)[0];
    if (!r) throw new Error('no response');
    expect(check(CommandResponse, r), 'response matches CommandResponse').toBe(true);
    return r;
  };
  return { router, sent, journal, deliver, responses, chunks, response };
}

const request = (id: string, args: unknown) => ({ id, args, ts: Date.now() });

describe('command router', () => {
  it('runs exec/run: output chunks in order, then exactly one response at QoS 1', async () => {
    const t = setup();
    t.deliver('exec', 'run', request('c1', { script: 'printf one; printf two >&2', shell: true }));
    const r = await t.response('c1');
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(check(commands['exec/run'].result, r.data)).toBe(true);
    expect(r.data).toMatchObject({ exitCode: 0, stdout: 'one', stderr: 'two' });
    const chunks = t.chunks('c1');
    for (const c of chunks) expect(check(OutputChunk, c)).toBe(true);
    expect(chunks.map((c) => [c.seq, c.stream, Buffer.from(c.data, 'base64').toString()])).toEqual([
      [0, 'stdout', 'one'],
      [1, 'stderr', 'two'],
    ]);
    // The response comes after every chunk.
    const order = t.sent.map((s) => s.topic);
    expect(order.lastIndexOf(topics.output(DEVICE, 'c1'))).toBeLessThan(order.indexOf(topics.result(DEVICE, 'c1')));
    expect(t.sent.every((s) => s.qos === 1)).toBe(true);
    expect(t.responses('c1')).toHaveLength(1);
  });

  it('splits output chunks larger than 64 KiB, seq counting from 0', async () => {
    const t = setup();
    t.deliver('exec', 'run', request('big', { argv: ['head', '-c', '300000', '/dev/zero'] }));
    await t.response('big');
    const chunks = t.chunks('big');
    expect(chunks.map((c) => c.seq)).toEqual(chunks.map((_, i) => i));
    const sizes = chunks.map((c) => Buffer.from(c.data, 'base64').length);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(64 * 1024);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(300_000);
  });

  it('answers system/info', async () => {
    const t = setup();
    t.deliver('system', 'info', request('s1', {}));
    const r = await t.response('s1');
    expect(r.ok && check(commands['system/info'].result, r.data)).toBe(true);
  });

  it('drops malformed JSON it cannot answer, without throwing', async () => {
    const t = setup();
    expect(() => t.deliver('exec', 'run', '{ "id": "c1", ')).not.toThrow();
    expect(() => t.deliver('exec', 'run', 'null')).not.toThrow();
    expect(() => t.deliver('exec', 'run', '{"id": "../etc", "args": {}, "ts": 1}')).not.toThrow();
    expect(() => t.router.handle('outpost/v1/d/other-device/cmd/exec/run', Buffer.from('{}'))).not.toThrow();
    expect(() => t.router.handle('garbage/#', Buffer.alloc(0))).not.toThrow();
    await new Promise((r) => setTimeout(r, 50));
    expect(t.sent).toEqual([]);
  });

  it('answers E_BAD_ARGS for wrong types and extra fields, when the id is usable', async () => {
    const t = setup();
    t.deliver('exec', 'run', { id: 'c2', args: { argv: ['true'] }, ts: 'yesterday' });
    expect(await t.response('c2')).toMatchObject({ ok: false, error: { code: 'E_BAD_ARGS' } });
    t.deliver('exec', 'run', { id: 'c3', args: { argv: ['true'] }, ts: 1, extra: true });
    const r3 = await t.response('c3');
    expect(r3).toMatchObject({ ok: false, error: { code: 'E_BAD_ARGS' } });
    expect(!r3.ok && r3.error.message).toMatch(/unknown field 'extra'/);
    t.deliver('exec', 'run', request('c4', { argv: 'true' }));
    expect(await t.response('c4')).toMatchObject({ ok: false, error: { code: 'E_BAD_ARGS' } });
    t.deliver('exec', 'run', request('c5', { argv: ['true'], sudo: true }));
    const r5 = await t.response('c5');
    expect(r5).toMatchObject({ ok: false, error: { code: 'E_BAD_ARGS' } });
  });

  it('answers E_UNSUPPORTED for an unknown capability or action', async () => {
    const t = setup();
    t.deliver('gpio', 'write', request('u1', {}));
    expect(await t.response('u1')).toMatchObject({ ok: false, error: { code: 'E_UNSUPPORTED' } });
    // Not a prototype property either.
    t.deliver('exec', 'constructor', request('u2', {}));
    expect(await t.response('u2')).toMatchObject({ ok: false, error: { code: 'E_UNSUPPORTED' } });
  });

  it('answers E_TOO_LARGE for an oversized command', async () => {
    const t = setup();
    const body = `{"id":"big1","args":{"argv":["echo","${'a'.repeat(1024 * 1024)}"]},"ts":1}`;
    t.deliver('exec', 'run', body);
    expect(await t.response('big1')).toMatchObject({ ok: false, error: { code: 'E_TOO_LARGE' } });
  });

  it('runs a re-delivered id once and sends the same response again', async () => {
    const t = setup();
    const file = join(stateDir, 'side-effects');
    const cmd = request('dup1', { script: `echo ran >> '${file}'; echo hi`, shell: true });
    t.deliver('exec', 'run', cmd);
    const first = await t.response('dup1');
    t.deliver('exec', 'run', cmd);
    await vi.waitFor(() => expect(t.responses('dup1')).toHaveLength(2));
    expect(t.responses('dup1')[1]).toEqual(first);
    expect(readFileSync(file, 'utf8')).toBe('ran\n');
    // The replay carries no output chunks.
    expect(t.chunks('dup1')).toHaveLength(1);
  });

  it('ignores a re-delivery while the command is still running', async () => {
    const t = setup();
    const file = join(stateDir, 'side-effects');
    const cmd = request('dup2', { script: `sleep 0.5; echo ran >> '${file}'`, shell: true });
    t.deliver('exec', 'run', cmd);
    t.deliver('exec', 'run', cmd);
    await t.response('dup2');
    await new Promise((r) => setTimeout(r, 200));
    expect(t.responses('dup2')).toHaveLength(1);
    expect(readFileSync(file, 'utf8')).toBe('ran\n');
  });

  it('answers E_INTERNAL, without running, an id that was running when the agent died', async () => {
    new CommandJournal(stateDir, silentLogger).markRunning('stale1');
    // A new journal is what a restarted agent opens.
    const t = setup({ journal: new CommandJournal(stateDir, silentLogger) });
    const file = join(stateDir, 'side-effects');
    t.deliver('exec', 'run', request('stale1', { script: `echo ran >> '${file}'`, shell: true }));
    const r = await t.response('stale1');
    expect(r).toEqual({ id: 'stale1', ok: false, error: { code: 'E_INTERNAL', message: RESTARTED_MESSAGE } });
    expect(existsSync(file)).toBe(false);
  });

  it('turns a crash inside a capability into E_INTERNAL with a generic message', async () => {
    const broken: Capability = {
      name: 'system',
      actions: {
        info: async () => {
          throw new TypeError('/secret/path: cannot read property x of undefined');
        },
      },
    };
    const t = setup({ capabilities: [broken] });
    t.deliver('system', 'info', request('boom', {}));
    expect(await t.response('boom')).toEqual({
      id: 'boom',
      ok: false,
      error: { code: 'E_INTERNAL', message: 'internal error' },
    });
  });

  it('refuses a result that does not match the command’s result schema', async () => {
    const wrong: Capability = { name: 'system', actions: { info: async () => ({ hostname: 42 }) } };
    const t = setup({ capabilities: [wrong] });
    t.deliver('system', 'info', request('bad-result', {}));
    expect(await t.response('bad-result')).toMatchObject({ ok: false, error: { code: 'E_INTERNAL' } });
  });

  it('does not run a command it cannot journal', async () => {
    class FullDisk extends CommandJournal {
      override markRunning(): void {
        throw new Error('ENOSPC');
      }
    }
    const t = setup({ journal: new FullDisk(stateDir, silentLogger) });
    const file = join(stateDir, 'side-effects');
    t.deliver('exec', 'run', request('nodisk', { script: `echo ran >> '${file}'`, shell: true }));
    expect(await t.response('nodisk')).toMatchObject({ ok: false, error: { code: 'E_INTERNAL' } });
    expect(existsSync(file)).toBe(false);
  });

  it('on shutdown stops running commands and still answers them', async () => {
    const t = setup();
    t.deliver('exec', 'run', request('long', { argv: ['sleep', '30'] }));
    await vi.waitFor(() => expect(t.router.runningCount).toBe(1));
    await t.router.shutdown(5000);
    expect(await t.response('long')).toMatchObject({ ok: false, error: { code: 'E_INTERNAL' } });
    // Commands arriving while stopping are left for re-delivery.
    t.deliver('exec', 'run', request('late', { argv: ['true'] }));
    await new Promise((r) => setTimeout(r, 50));
    expect(t.responses('late')).toHaveLength(0);
  });
});
