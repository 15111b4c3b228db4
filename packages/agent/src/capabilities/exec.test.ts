import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { check, commands, type ExecResult, parse } from '@outpost/protocol';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { failure } from '../../test/actions.js';
import { isDead } from '../../test/proc.js';
import { agentConfig } from '../config.js';
import { silentLogger } from '../log.js';
import type { CommandContext, OutputStream } from './capability.js';
import { createExecCapability, fitResult } from './exec.js';

const dir = mkdtempSync(join(tmpdir(), 'outpost-exec-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Harness {
  ctx: CommandContext;
  chunks: { stream: OutputStream; data: Buffer }[];
  controller: AbortController;
}

function harness(execConcurrency = 8): Harness {
  const chunks: Harness['chunks'] = [];
  const controller = new AbortController();
  const ctx: CommandContext = {
    commandId: 'c1',
    emit: (stream, data) => chunks.push({ stream, data: Buffer.from(data) }),
    signal: controller.signal,
    log: silentLogger,
    config: agentConfig({ stateDir: dir, execConcurrency }),
  };
  return { ctx, chunks, controller };
}

const spec = commands['exec/run'];

/** Runs exec/run the way the router does: args validated first, result checked against its schema. */
async function run(args: unknown, h: Harness = harness(), cap = createExecCapability()): Promise<ExecResult> {
  const handler = cap.actions.run;
  if (!handler) throw new Error('exec/run missing');
  const result = await handler(parse(spec.args, args, 'args'), h.ctx);
  expect(check(spec.result, result), 'exec result matches the protocol schema').toBe(true);
  return result as ExecResult;
}

describe('exec/run', () => {
  it('passes argv to the program literally, with no shell to expand $(…), ; or backticks', async () => {
    const marker = join(dir, 'injected');
    const args = [`$(touch ${marker})`, `;touch ${marker}`, `\`touch ${marker}\``, '*'];
    const r = await run({ argv: ['printf', '%s\\n', ...args] });
    expect(r.stdout).toBe(`${args.join('\n')}\n`);
    expect(r.exitCode).toBe(0);
    expect(existsSync(marker)).toBe(false);
  });

  it('runs a script only with shell: true', async () => {
    expect(() => parse(spec.args, { script: 'echo hi' }, 'args')).toThrow(/args/);
    expect(() => parse(spec.args, { script: 'echo hi', shell: false }, 'args')).toThrow();
    expect(() => parse(spec.args, { argv: ['echo'], script: 'echo hi', shell: true }, 'args')).toThrow();
    const r = await run({ script: 'echo "hi $((1 + 2))"', shell: true });
    expect(r.stdout).toBe('hi 3\n');
  });

  it('streams stdout and stderr chunks in the order they were written', async () => {
    const h = harness();
    const r = await run(
      { script: 'echo out1; sleep 0.3; echo err1 >&2; sleep 0.3; echo out2', shell: true, timeoutMs: 10_000 },
      h,
    );
    expect(h.chunks.map((c) => `${c.stream}:${c.data.toString()}`)).toEqual([
      'stdout:out1\n',
      'stderr:err1\n',
      'stdout:out2\n',
    ]);
    expect(r.stdout).toBe('out1\nout2\n');
    expect(r.stderr).toBe('err1\n');
    expect(r.truncated).toBe(false);
    expect(r.timedOut).toBe(false);
  });

  it('reports the exit code and the signal', async () => {
    const r = await run({ argv: ['sh', '-c', 'exit 3'] });
    expect(r).toMatchObject({ exitCode: 3, signal: null, timedOut: false });
    const k = await run({ argv: ['sh', '-c', 'kill -TERM $$'] });
    expect(k).toMatchObject({ exitCode: null, signal: 'SIGTERM' });
  });

  it('writes stdin and closes it', async () => {
    const r = await run({ argv: ['cat'], stdin: 'hello\nworld' });
    expect(r.stdout).toBe('hello\nworld');
    // A program that never reads stdin must not fail the command (EPIPE is ignored).
    const t = await run({ argv: ['true'], stdin: 'x'.repeat(200_000) });
    expect(t.exitCode).toBe(0);
  });

  it('merges env over the agent environment, without the agent’s own OUTPOST_AGENT_* settings', async () => {
    process.env.OUTPOST_AGENT_ENROLL_TOKEN = 'super-secret-token';
    try {
      const r = await run({ argv: ['env'], env: { FOO: 'bar baz' } });
      expect(r.stdout).toContain('FOO=bar baz\n');
      expect(r.stdout).toContain(`PATH=${process.env.PATH}`);
      expect(r.stdout).not.toContain('super-secret-token');
    } finally {
      delete process.env.OUTPOST_AGENT_ENROLL_TOKEN;
    }
  });

  it('runs in cwd, and answers E_NOT_FOUND for a missing one', async () => {
    const r = await run({ argv: ['pwd'], cwd: dir });
    expect(r.stdout.trim()).toBe(realpathSync(dir));
    const err = await failure(run({ argv: ['pwd'], cwd: join(dir, 'nope') }));
    expect(err.code).toBe('E_NOT_FOUND');
  });

  it('answers E_NOT_FOUND for a program that does not exist and E_DENIED for one it may not run', async () => {
    const missing = await failure(run({ argv: ['/nonexistent/outpost-prog', 'x'] }));
    expect(missing.code).toBe('E_NOT_FOUND');
    expect(missing.message).toBe('program not found: /nonexistent/outpost-prog');
    const notOnPath = await failure(run({ argv: ['outpost-no-such-program'] }));
    expect(notOnPath.code).toBe('E_NOT_FOUND');
    const file = join(dir, 'not-executable');
    writeFileSync(file, '#!/bin/sh\necho no\n', { mode: 0o644 });
    const denied = await failure(run({ argv: [file] }));
    expect(denied.code).toBe('E_DENIED');
  });

  it('caps a flood of output, keeps draining it, and flags truncated', async () => {
    const h = harness();
    const r = await run({ argv: ['head', '-c', '20000000', '/dev/zero'], maxOutputBytes: 100_000 }, h);
    expect(r.exitCode).toBe(0);
    expect(r.truncated).toBe(true);
    expect(r.stdout.length).toBe(100_000);
    expect(h.chunks.reduce((n, c) => n + c.data.length, 0)).toBe(100_000);
  });

  it('keeps memory bounded while `yes` floods until its timeout', async () => {
    const h = harness();
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 50);
    const r = await run({ argv: ['yes'], timeoutMs: 2000 }, h).finally(() => clearInterval(sampler));
    expect(r.timedOut).toBe(true);
    expect(r.truncated).toBe(true);
    expect(r.stdout.length).toBeLessThanOrEqual(1024 * 1024);
    expect(h.chunks.reduce((n, c) => n + c.data.length, 0)).toBe(1024 * 1024);
    // Generous: `yes` writes gigabytes in 2 s; keeping them would show here.
    expect(peak - before).toBeLessThan(300 * 1024 * 1024);
  });

  it('on timeout kills the whole process group, background children included', async () => {
    const r = await run({ script: 'sleep 1000 & echo $!; sleep 1000', shell: true, timeoutMs: 500 });
    expect(r.timedOut).toBe(true);
    expect(r.signal).toBe('SIGTERM');
    const bg = Number(r.stdout.trim());
    expect(bg).toBeGreaterThan(1);
    await vi.waitFor(() => expect(isDead(bg)).toBe(true), { timeout: 5000 });
  });

  it('reaps the group of a script that forked a daemon and exited', async () => {
    // The shell exits at once; its background child keeps the output pipe open until the timeout.
    const r = await run({ script: 'sleep 1000 & echo $!', shell: true, timeoutMs: 700 });
    expect(r.exitCode).toBe(0);
    expect(r.timedOut).toBe(true);
    const bg = Number(r.stdout.trim());
    await vi.waitFor(() => expect(isDead(bg)).toBe(true), { timeout: 5000 });
  });

  it('kills with SIGKILL a group that ignores SIGTERM', async () => {
    const r = await run({ script: "trap '' TERM; echo ready; sleep 1000", shell: true, timeoutMs: 300 });
    expect(r.timedOut).toBe(true);
    expect(r.signal).toBe('SIGKILL');
  });

  it('answers E_BUSY past the concurrency limit, and stops running programs when the agent stops', async () => {
    const cap = createExecCapability();
    const a = harness(2);
    const b = harness(2);
    const running = [run({ argv: ['sleep', '30'] }, a, cap), run({ argv: ['sleep', '30'] }, b, cap)].map(failure);
    const busy = await failure(run({ argv: ['true'] }, harness(2), cap));
    expect(busy.code).toBe('E_BUSY');
    a.controller.abort();
    b.controller.abort();
    for (const p of running) {
      const err = await p;
      expect(err.code).toBe('E_INTERNAL');
      expect(err.message).toBe('agent stopped while the command was running');
    }
    // Slots are released.
    expect((await run({ argv: ['true'] }, harness(2), cap)).exitCode).toBe(0);
  });

  it('answers E_BAD_ARGS for an argument with a NUL byte', async () => {
    const err = await failure(run({ argv: ['echo', 'a\u0000b'] }));
    expect(err.code).toBe('E_BAD_ARGS');
  });

  it('shortens a result that would not fit one MQTT payload', () => {
    const big: ExecResult = {
      exitCode: 0,
      signal: null,
      stdout: '\u0001'.repeat(900_000),
      stderr: 'e'.repeat(300_000),
      truncated: false,
      timedOut: false,
      durationMs: 1,
    };
    const fitted = fitResult(big, 1024 * 1024 - 4096);
    expect(Buffer.byteLength(JSON.stringify(fitted))).toBeLessThanOrEqual(1024 * 1024 - 4096);
    expect(fitted.truncated).toBe(true);
    expect(fitted.stdout.length + fitted.stderr.length).toBeGreaterThan(100_000);
  });
});

describe('exec/run with an interpreter', () => {
  /** A state dir of its own, so the files the capability writes there can be listed. */
  function scriptHarness(): Harness & { stateDir: string } {
    const stateDir = mkdtempSync(join(dir, 'state-'));
    const h = harness();
    return { ...h, ctx: { ...h.ctx, config: agentConfig({ stateDir }) }, stateDir };
  }
  const scripts = (stateDir: string) => readdirSync(join(stateDir, 'exec-scripts'));

  it('accepts only the four interpreters, and never together with shell or argv', () => {
    expect(() => parse(spec.args, { script: 'x', interpreter: 'perl' }, 'args')).toThrow();
    expect(() => parse(spec.args, { script: 'x', interpreter: 'sh', shell: true }, 'args')).toThrow();
    expect(() => parse(spec.args, { argv: ['x'], interpreter: 'sh' }, 'args')).toThrow();
    expect(() => parse(spec.args, { script: 'x', shell: true, args: ['a'] }, 'args')).toThrow();
    for (const interpreter of ['sh', 'bash', 'python3', 'node']) {
      expect(parse(spec.args, { script: 'x', interpreter, args: ['a'] }, 'args')).toMatchObject({ interpreter });
    }
  });

  it('runs sh, bash, python3 and node scripts with args passed literally, from a private file removed after', async () => {
    const marker = join(dir, 'interp-injected');
    const hostile = [`$(touch ${marker})`, `a b; touch ${marker}`, '*'];
    const cases = {
      sh: 'for a in "$@"; do printf "%s\\n" "$a"; done',
      bash: 'shopt -s extglob; printf "%s\\n" "$@"',
      python3: 'import sys\nfor a in sys.argv[1:]: print(a)',
      node: 'for (const a of process.argv.slice(2)) console.log(a)',
    } as const;
    for (const [interpreter, script] of Object.entries(cases)) {
      const h = scriptHarness();
      const r = await run({ script, interpreter, args: hostile }, h);
      expect(r, interpreter).toMatchObject({ exitCode: 0, stdout: `${hostile.join('\n')}\n`, stderr: '' });
      expect(scripts(h.stateDir), `${interpreter} script file removed`).toEqual([]);
      expect(statSync(join(h.stateDir, 'exec-scripts')).mode & 0o777).toBe(0o700);
    }
    expect(existsSync(marker)).toBe(false);
  });

  it('leaves stdin to the script and shows it its own file', async () => {
    const h = scriptHarness();
    const r = await run(
      {
        script: 'import os, sys\nprint(sys.stdin.read().upper())\nprint(oct(os.stat(sys.argv[0]).st_mode & 0o777))',
        interpreter: 'python3',
        stdin: 'from stdin',
      },
      h,
    );
    expect(r.stdout).toBe('FROM STDIN\n0o600\n');
  });

  it('answers E_UNSUPPORTED naming an interpreter the device lacks, and writes nothing', async () => {
    const h = scriptHarness();
    const empty = mkdtempSync(join(dir, 'empty-path-'));
    for (const interpreter of ['bash', 'python3'] as const) {
      const err = await failure(run({ script: 'true', interpreter, env: { PATH: empty } }, h));
      expect(err.code).toBe('E_UNSUPPORTED');
      expect(err.message).toBe(`interpreter ${interpreter} is not installed on this device`);
    }
    expect(existsSync(join(h.stateDir, 'exec-scripts'))).toBe(false);
    // Node.js runs the agent itself: a device always has it.
    const r = await run(
      { script: 'console.log(typeof process.version)', interpreter: 'node', env: { PATH: empty } },
      h,
    );
    expect(r.stdout).toBe('string\n');
  });

  it('removes the file when the program cannot start, and sweeps files a dead agent left behind', async () => {
    const h = scriptHarness();
    mkdirSync(join(h.stateDir, 'exec-scripts'), { recursive: true });
    writeFileSync(join(h.stateDir, 'exec-scripts', 'stale.sh'), 'echo stale');
    const err = await failure(run({ script: 'pwd', interpreter: 'sh', cwd: join(dir, 'nope') }, h));
    expect(err.code).toBe('E_NOT_FOUND');
    expect(scripts(h.stateDir)).toEqual([]);
  });

  it('reaps the whole group of a script that forked a daemon and exited', async () => {
    const h = scriptHarness();
    const r = await run({ script: '(sleep 300 & echo $!)\nexit 0', interpreter: 'sh', timeoutMs: 700 }, h);
    expect(r).toMatchObject({ exitCode: 0, timedOut: true });
    const daemon = Number(r.stdout.trim());
    expect(daemon).toBeGreaterThan(1);
    await vi.waitFor(() => expect(isDead(daemon)).toBe(true), { timeout: 5000 });
    expect(scripts(h.stateDir)).toEqual([]);
  });
});
