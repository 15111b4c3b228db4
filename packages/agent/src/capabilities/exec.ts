/**
 * `exec/run`: runs a program from an argv array without a shell, a script
 * through `/bin/sh -c` only when `shell: true`, or a script file through the
 * `interpreter` it names (script-file.ts; docs/protocol.md §Commands). The
 * program leads its own process group so a timeout or shutdown kills everything
 * it started; output streams out as it is read, capped at `maxOutputBytes`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { statSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { type ExecArgs, type ExecResult, MAX_PAYLOAD_BYTES, OutpostError } from '@outpost/protocol';
import { killGroup, spawnError } from '../process-group.js';
import { action, type Capability, type CommandContext, isCancelled, type OutputStream } from './capability.js';
import { findInterpreter, writeScriptFile } from './script-file.js';

export const DEFAULT_TIMEOUT_MS = 60_000;
export const DEFAULT_MAX_OUTPUT_BYTES = 1024 * 1024;
/** Between SIGTERM and SIGKILL, and between SIGKILL and giving up on the pipes. */
export const KILL_GRACE_MS = 2000;
/** The response must fit one MQTT payload with room for the envelope; the chunks carry the rest. */
const RESULT_BUDGET_BYTES = MAX_PAYLOAD_BYTES - 4096;

export function createExecCapability(): Capability {
  let running = 0;
  return {
    name: 'exec',
    actions: {
      run: action('exec/run', async (args, ctx) => {
        const limit = ctx.config.execConcurrency;
        if (running >= limit) throw new OutpostError('E_BUSY', `too many commands running (limit ${limit})`);
        running++;
        try {
          return await runProgram(args, ctx);
        } finally {
          running--;
        }
      }),
    },
  };
}

/** The agent's environment minus its own settings: the enrollment token must not reach child programs. */
function childEnv(extra: Record<string, string> | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('OUTPOST_AGENT_')) env[k] = v;
  return { ...env, ...extra };
}

function checkCwd(cwd: string): void {
  let isDir: boolean;
  try {
    isDir = statSync(cwd).isDirectory();
  } catch {
    throw new OutpostError('E_NOT_FOUND', `working directory not found: ${cwd}`);
  }
  if (!isDir) throw new OutpostError('E_NOT_FOUND', `working directory is not a directory: ${cwd}`);
}

async function runProgram(args: ExecArgs, ctx: CommandContext): Promise<ExecResult> {
  const env = childEnv(args.env);
  if ('argv' in args) return runArgv(args.argv, env, args, ctx);
  if (!('interpreter' in args)) return runArgv(['/bin/sh', '-c', args.script], env, args, ctx);
  // Looked up on the PATH the script will see, before anything is written.
  const interpreter = findInterpreter(args.interpreter, env.PATH);
  const file = writeScriptFile(ctx.config.stateDir, args.interpreter, args.script);
  try {
    return await runArgv([interpreter, file.path, ...(args.args ?? [])], env, args, ctx);
  } finally {
    file.remove();
  }
}

async function runArgv(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  args: ExecArgs,
  ctx: CommandContext,
): Promise<ExecResult> {
  const program = argv[0] ?? '';
  if (program === '') throw new OutpostError('E_BAD_ARGS', 'argv[0] must name a program');
  if (args.cwd !== undefined) checkCwd(args.cwd);
  const timeoutMs = args.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const cap = args.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  const started = performance.now();

  let child: ChildProcess;
  try {
    child = spawn(program, argv.slice(1), {
      cwd: args.cwd,
      env,
      // Leader of a new process group, so the group can be signalled as one (kill(-pid)).
      detached: true,
      stdio: [args.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
  } catch (err) {
    throw spawnError(err, program);
  }
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal }));
  });
  try {
    // Rejects with the spawn error (ENOENT, EACCES...) when 'error' comes first.
    await once(child, 'spawn');
  } catch (err) {
    throw spawnError(err, program);
  }
  child.on('error', (err) => ctx.log.warn('exec child error', { err }));
  const pgid = child.pid;
  if (pgid === undefined) throw new OutpostError('E_INTERNAL', `could not start ${program}`);
  const mode = 'argv' in args ? 'argv' : 'interpreter' in args ? args.interpreter : 'shell';
  ctx.log.debug('exec started', { program, pid: pgid, mode });

  const output = new OutputCapture(cap, ctx.emit);
  child.stdout?.on('data', (chunk: Buffer) => output.add('stdout', chunk));
  child.stderr?.on('data', (chunk: Buffer) => output.add('stderr', chunk));
  if (child.stdin) {
    child.stdin.on('error', () => {
      // EPIPE: the program exited or closed stdin without reading it all; not our failure.
    });
    child.stdin.end(args.stdin ?? '');
  }

  let timedOut = false;
  let aborted = false;
  const timers: NodeJS.Timeout[] = [];
  let terminating = false;
  const terminate = (): void => {
    if (terminating) return;
    terminating = true;
    killGroup(pgid, 'SIGTERM');
    timers.push(
      setTimeout(() => {
        killGroup(pgid, 'SIGKILL');
        // A process that left the group can still hold our pipes: stop waiting for them.
        timers.push(
          setTimeout(() => {
            child.stdout?.destroy();
            child.stderr?.destroy();
          }, KILL_GRACE_MS),
        );
      }, KILL_GRACE_MS),
    );
  };
  const timeout = setTimeout(() => {
    timedOut = true;
    ctx.log.info('exec timed out; killing its process group', { pid: pgid, timeoutMs });
    terminate();
  }, timeoutMs);
  const onAbort = (): void => {
    aborted = true;
    terminate();
  };
  if (ctx.signal.aborted) onAbort();
  else ctx.signal.addEventListener('abort', onAbort, { once: true });

  const exit = await closed;
  clearTimeout(timeout);
  ctx.signal.removeEventListener('abort', onAbort);
  // Leave the SIGKILL pending only while something of the group is still alive.
  if (!terminating || !killGroup(pgid, 0)) for (const t of timers) clearTimeout(t);
  for (const t of timers) t.unref();

  // A cancelled program answers like a killed one (its output so far, its signal); an agent stop is an error.
  if (aborted && !timedOut && !isCancelled(ctx.signal)) {
    throw new OutpostError('E_INTERNAL', 'agent stopped while the command was running');
  }
  return fitResult({
    exitCode: exit.code,
    signal: exit.signal,
    stdout: output.text('stdout'),
    stderr: output.text('stderr'),
    truncated: output.truncated,
    timedOut,
    durationMs: Math.max(0, Math.round(performance.now() - started)),
  });
}

/** Counts output against the cap, streams what fits, keeps a copy for the result, drops the rest. */
class OutputCapture {
  private counted = 0;
  private kept = 0;
  private readonly parts: Record<OutputStream, Buffer[]> = { stdout: [], stderr: [] };
  truncated = false;
  /** The result can never carry more than one payload's worth; the chunks can. */
  private readonly keepLimit: number;

  constructor(
    private readonly cap: number,
    private readonly emit: (stream: OutputStream, chunk: Buffer) => void,
  ) {
    this.keepLimit = Math.min(cap, MAX_PAYLOAD_BYTES);
  }

  add(stream: OutputStream, chunk: Buffer): void {
    const room = this.cap - this.counted;
    if (room <= 0) {
      this.truncated = true;
      return;
    }
    const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
    if (part.length < chunk.length) this.truncated = true;
    this.counted += part.length;
    this.emit(stream, part);
    const keepRoom = this.keepLimit - this.kept;
    if (keepRoom <= 0) return;
    const keep = part.length > keepRoom ? part.subarray(0, keepRoom) : part;
    this.parts[stream].push(keep);
    this.kept += keep.length;
  }

  text(stream: OutputStream): string {
    return Buffer.concat(this.parts[stream]).toString('utf8');
  }
}

/** Shortens stdout/stderr (keeping their beginnings) until the result fits one payload. */
export function fitResult(result: ExecResult, budget = RESULT_BUDGET_BYTES): ExecResult {
  let out = result;
  for (let i = 0; i < 64; i++) {
    const size = Buffer.byteLength(JSON.stringify(out));
    if (size <= budget) return out;
    const over = size - budget;
    const key = out.stdout.length >= out.stderr.length ? 'stdout' : 'stderr';
    const text = out[key];
    out = { ...out, [key]: text.slice(0, Math.max(0, text.length - Math.max(over, 1024))), truncated: true };
  }
  return { ...out, stdout: '', stderr: '', truncated: true };
}
