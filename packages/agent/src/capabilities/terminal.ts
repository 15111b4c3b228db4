/**
 * The `terminal` capability (docs/terminal.md): `terminal/open` runs the configured shell,
 * or a one-off program, in a PTY (node-pty, loaded lazily: without the native module the
 * answer is E_UNSUPPORTED) and carries it on the byte stream the server opened. Output
 * pauses the PTY when the stream's window is full, so a flood never piles up in memory.
 * The session ends when the program exits, the user closes it, it sits idle, or the link
 * stays down longer than the grace period; the result says which, with the exit status.
 */
import { closeSync, existsSync } from 'node:fs';
import {
  check,
  DEFAULT_TERM,
  OutpostError,
  type StreamDuplex,
  TerminalControl,
  type TerminalEndReason,
  type TerminalOpenArgs,
  type TerminalOpenResult,
} from '@outpost/protocol';
import { acceptStream } from '../streams.js';
import { action, type Capability, type CommandContext } from './capability.js';
import {
  account,
  drainAtExit,
  EXIT_WATCH_MS,
  holdSlave,
  isRunning,
  loadPty,
  type Pty,
  PtyInput,
  program,
  signalName,
} from './terminal-pty.js';

export { loadPty } from './terminal-pty.js';

/** Sessions one device runs at once. */
export const MAX_TERMINALS = 16;

/** Output gathered in one turn of the event loop is written at once past this size. */
const BATCH_BYTES = 64 * 1024;

export function createTerminalCapability(): Capability {
  let running = 0;

  const open = action('terminal/open', async (args, ctx): Promise<TerminalOpenResult> => {
    if (running >= MAX_TERMINALS) throw new OutpostError('E_BUSY', `${MAX_TERMINALS} terminals are already open`);
    const pty = await loadPty();
    const user = account(ctx);
    const { file, argv } = program(ctx, args, user);
    running++;
    try {
      const stream = acceptStream(ctx, args.sid);
      return await session(ctx, args, stream, () =>
        pty.spawn(file, argv, {
          name: args.term ?? DEFAULT_TERM,
          cols: args.cols,
          rows: args.rows,
          cwd: existsSync(user.home) ? user.home : '/',
          env: {
            TERM: args.term ?? DEFAULT_TERM,
            HOME: user.home,
            USER: user.name,
            LOGNAME: user.name,
            SHELL: file,
            PATH: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
            LANG: process.env.LANG ?? 'C.UTF-8',
          },
          encoding: null,
          ...(user.switchUser ? { uid: user.uid, gid: user.gid } : {}),
        }),
      );
    } finally {
      running--;
    }
  });

  return { name: 'terminal', actions: { open } };
}

/**
 * Waits for a clean close after the program exited, while the client keeps consuming the
 * last output; a client that makes no progress for `stallMs` is dropped.
 */
async function drained(stream: StreamDuplex, stallMs: number): Promise<void> {
  let last = -1;
  let since = Date.now();
  for (;;) {
    const done = await Promise.race([
      stream.done.then(() => true),
      new Promise<false>((r) => setTimeout(() => r(false), 1000).unref()),
    ]);
    if (done) return;
    const acked = stream.endpoint.offsets.acked;
    if (acked !== last) {
      last = acked;
      since = Date.now();
    } else if (Date.now() - since > stallMs) {
      stream.abort('E_TIMEOUT', 'the client stopped reading the end of the session');
      return;
    }
  }
}

/** Runs one session: PTY ⇄ stream with backpressure, resize, idle timeout, and the end. */
async function session(
  ctx: CommandContext,
  args: TerminalOpenArgs,
  stream: StreamDuplex,
  spawn: () => Pty,
): Promise<TerminalOpenResult> {
  const started = Date.now();
  let term: Pty;
  try {
    term = spawn();
  } catch (err) {
    stream.abort('E_INTERNAL', 'the terminal could not start');
    // node-pty reports a missing program or a failed exec as a plain Error.
    throw new OutpostError(
      'E_NOT_FOUND',
      `cannot start ${args.command?.[0] ?? 'the shell'}: ${(err as Error).message}`,
    );
  }
  const log = ctx.log.child({ sid: args.sid, pid: term.pid });
  log.info('terminal started', { cols: args.cols, rows: args.rows, oneOff: args.command !== undefined });
  let reason: TerminalEndReason | null = null;
  let exited = false;
  const idleMs = ctx.config.terminalIdleTimeout * 1000;
  let idleTimer: NodeJS.Timeout | undefined;
  // Input and output only note the (monotonic) time; the one timer re-arms itself for what is left.
  let lastActive = performance.now();
  const touch = (): void => {
    lastActive = performance.now();
  };
  const armIdle = (ms: number): void => {
    idleTimer = setTimeout(() => {
      if (exited) return;
      const left = lastActive + idleMs - performance.now();
      if (left > 0) return armIdle(left);
      reason ??= 'idle';
      log.info('terminal idle; closing', { idleSeconds: idleMs / 1000 });
      stream.abort('E_TIMEOUT', `terminal closed after ${idleMs / 1000} s without input or output`);
    }, ms);
    idleTimer.unref();
  };
  if (idleMs > 0) armIdle(idleMs);

  // Input waits for the program: while the PTY has not taken what was written (a paste into a
  // program that is not reading), the stream is paused, so its window closes and the client stops
  // sending. The agent then holds at most a window of input, whatever the client sends.
  const input = new PtyInput(term, () => stream.resume());
  const exit = new Promise<{ exitCode: number; signal?: number }>((resolve) => {
    term.onExit((e) => {
      exited = true;
      // Nobody reads input any more: what waits is dropped, and so is what the client still sends.
      input.close();
      stream.resume();
      resolve(e);
    });
  });
  // The window is full: stop reading the PTY until the client consumed (the program blocks).
  // The first read of a turn of the event loop goes out at once, so a keystroke's echo waits for
  // nothing; the reads that follow in the same turn are gathered and go out together at its end
  // (up to 64 KiB a write), so a flood travels in few large frames.
  let paused = false;
  let childGone = false;
  let batch: Buffer[] = [];
  let batchBytes = 0;
  let batched: NodeJS.Immediate | undefined;
  const send = (chunk: Buffer): void => {
    if (stream.writableEnded || stream.destroyed) return;
    if (stream.write(chunk) || paused || childGone) return;
    paused = true;
    term.pause();
  };
  const flush = (): void => {
    if (batched !== undefined) clearImmediate(batched);
    batched = undefined;
    if (batch.length === 0) return;
    const chunk = batch.length === 1 ? (batch[0] as Buffer) : Buffer.concat(batch);
    batch = [];
    batchBytes = 0;
    send(chunk);
  };
  const output = (data: Buffer | string): void => {
    touch();
    const chunk = typeof data === 'string' ? Buffer.from(data) : data;
    if (batched === undefined) {
      send(chunk);
      batched = setImmediate(flush);
      return;
    }
    batch.push(chunk);
    batchBytes += chunk.length;
    if (batchBytes >= BATCH_BYTES) flush();
  };
  term.onData(output);
  stream.on('drain', () => {
    if (!paused) return;
    paused = false;
    term.resume();
  });
  // The end of the output must not be lost. When the program's side of the PTY closes, Linux may
  // answer the master's reads with EIO before the last bytes reached it, and node-pty destroys
  // the PTY's socket 200 ms after the exit anyway, dropping what is unread (all of it while
  // paused, or when the event loop lags). So the agent holds the PTY's slave open itself, watches
  // for the exit on a timer that always runs before node-pty's, reads everything left, and only
  // then lets go of the slave (the master then sees EIO and node-pty reports the exit).
  let slave = holdSlave(term);
  const release = (): void => {
    if (slave === null) return;
    try {
      closeSync(slave);
    } catch {
      // already closed
    }
    slave = null;
  };
  const watch = setInterval(() => {
    if (isRunning(term.pid)) return;
    clearInterval(watch);
    childGone = true;
    drainAtExit(term, output);
    flush();
    release();
    if (paused) {
      paused = false;
      term.resume();
    }
  }, EXIT_WATCH_MS);
  stream.on('data', (chunk: Buffer) => {
    if (exited) return;
    input.write(chunk);
    touch();
    if (input.pending > 0) stream.pause();
  });
  stream.on('control', (value: Record<string, unknown>) => {
    if (!check(TerminalControl, value)) {
      log.debug('ignoring an unknown terminal control message');
      return;
    }
    if (!exited) term.resize(value.cols, value.rows);
  });
  // The client ended its input (stdin closed): the terminal's end-of-file character.
  stream.on('end', () => {
    if (!exited) term.write('\x04');
  });
  const onAbort = (): void => {
    reason ??= 'stopped';
    stream.abort('E_OFFLINE', 'the agent is stopping');
  };
  ctx.signal.addEventListener('abort', onAbort);

  // Whichever comes first: the program exits, or the stream is aborted (closed, idle, link lost).
  const first = await Promise.race([exit.then((e) => ({ exit: e })), stream.done.then((error) => ({ error }))]);
  if ('error' in first) {
    if (first.error) {
      // The peer's RESET is the user closing it; our own E_OFFLINE is the grace period running out.
      reason ??= stream.abortedByPeer ? 'closed' : first.error.code === 'E_OFFLINE' ? 'link-lost' : 'closed';
      log.info('terminal stream ended; hanging up', { code: first.error.code });
    }
    term.kill('SIGHUP');
    // A program that ignores SIGHUP is killed.
    const killer = setTimeout(() => term.kill('SIGKILL'), 5000);
    killer.unref();
    await exit;
    clearTimeout(killer);
  } else {
    // Output already read goes out before the FIN; the client ends its side on seeing it.
    flush();
    stream.end();
    await drained(stream, ctx.config.streamGrace * 1000);
  }
  clearTimeout(idleTimer);
  clearInterval(watch);
  input.close();
  release();
  ctx.signal.removeEventListener('abort', onAbort);
  const e = await exit;
  const signal = signalName(e.signal);
  const result: TerminalOpenResult = {
    exitCode: signal ? null : e.exitCode,
    signal,
    reason: reason ?? 'exit',
    durationMs: Date.now() - started,
  };
  log.info('terminal ended', { ...result });
  if (!stream.destroyed) stream.destroy();
  return result;
}
