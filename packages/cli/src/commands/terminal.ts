/**
 * `outpost shell DEVICE [-- CMD ARGS...]`: an interactive terminal on a device, like ssh:
 * raw mode, Ctrl-C goes to the remote side, the window size follows SIGWINCH, and the exit
 * code is the remote shell's. `outpost terminal-sessions ls|download` for admins: the
 * recorded sessions (asciicast v2). docs/terminal.md.
 */
import { createWriteStream } from 'node:fs';
import { constants } from 'node:os';
import { pipeline } from 'node:stream/promises';
import type { Command as Program } from 'commander';
import type { Command, TerminalSession } from '../api-types.js';
import type { Context } from '../context.js';
import { CliError } from '../errors.js';
import { openStreamSocket } from '../stream-socket.js';
import { renderTable } from '../table.js';

interface ShellOptions {
  term?: string;
  json?: boolean;
}

type TtyIn = NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
type TtyOut = Context['io']['stdout'] & { columns?: number; rows?: number; on?: (e: string, l: () => void) => unknown };

/** The local exit code for the remote outcome: its exit code, or 128+N for signal N (like ssh). */
export function shellExitCode(command: Command): number {
  if (command.status !== 'succeeded') return 1;
  const r = command.result as { exitCode?: number | null; signal?: string | null } | null;
  if (typeof r?.exitCode === 'number') return r.exitCode;
  const n = r?.signal ? constants.signals[r.signal as keyof typeof constants.signals] : undefined;
  return typeof n === 'number' ? 128 + n : 1;
}

async function shell(ctx: Context, device: string, words: string[], opts: ShellOptions): Promise<void> {
  const api = await ctx.api();
  const stdin = ctx.io.stdin as TtyIn;
  const stdout = ctx.io.stdout as TtyOut;
  const interactive = stdin.isTTY === true && typeof stdin.setRawMode === 'function';
  const size = () => ({ cols: stdout.columns || 80, rows: stdout.rows || 24 });
  const term = opts.term ?? ctx.env.TERM ?? 'xterm-256color';
  const sock = openStreamSocket(api, `/devices/${encodeURIComponent(device)}/terminal`, {
    ...size(),
    ...(/^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/.test(term) ? { term } : {}),
    ...(words.length > 0 ? { argv: JSON.stringify(words) } : {}),
  });
  const stream = sock.stream;
  await sock.opened; // rejects with the server's reason (E_OFFLINE, E_DENIED...)

  // Raw mode: every key, Ctrl-C included, goes to the remote side. Restored on any exit.
  const restore = (): void => {
    if (interactive) stdin.setRawMode?.(false);
  };
  if (interactive) {
    stdin.setRawMode?.(true);
    process.once('exit', restore);
  }
  const onResize = (): void => {
    if (!stream.endpoint.closed) stream.sendControl({ type: 'resize', ...size() });
  };
  stdout.on?.('resize', onResize);
  const onSignal = (): void => sock.close();
  process.once('SIGTERM', onSignal);
  process.once('SIGHUP', onSignal);
  try {
    stdin.pipe(stream);
    stream.on('data', (chunk: Buffer) => {
      // Backpressure: a slow terminal stops the remote program instead of filling memory.
      if (stdout.write(chunk) === false && 'once' in stdout) {
        stream.pause();
        (stdout as unknown as NodeJS.WritableStream).once('drain', () => stream.resume());
      }
    });
    // The remote side ended: stop sending and end ours, so the stream closes cleanly.
    stream.on('end', () => {
      stdin.unpipe(stream);
      stream.end();
    });
    const final = await sock.result;
    if (!final) throw new CliError('the connection to the server was lost', { code: 'E_OFFLINE' });
    if (opts.json) ctx.json(final);
    if (final.status !== 'succeeded') {
      const e = final.error;
      throw new CliError(e?.message ?? `terminal ${final.status}`, e?.code ? { code: e.code } : {});
    }
    ctx.exitCode = shellExitCode(final);
  } finally {
    stdin.unpipe(stream);
    stdout.on && (stdout as unknown as NodeJS.EventEmitter).removeListener('resize', onResize);
    process.removeListener('SIGTERM', onSignal);
    process.removeListener('SIGHUP', onSignal);
    restore();
    process.removeListener('exit', restore);
    stdin.pause();
    sock.close();
  }
}

export function registerTerminal(program: Program, ctx: Context): void {
  program
    .command('shell')
    .description('open an interactive terminal on a device (like ssh); exits with the remote exit code')
    .argument('<device>', 'device id or name')
    .argument('[command...]', 'a program and its arguments to run in the terminal instead of the shell, after --')
    .option('--term <name>', 'TERM for the session (default: $TERM, else xterm-256color)')
    .option('--json', 'after the session, print the terminal/open command (exit status, reason) as JSON')
    .addHelpText(
      'after',
      `
Examples:
  outpost shell gw-12
  outpost shell gw-12 -- top
  outpost shell gw-12 -- journalctl -f

Operators and admins only. Every session is audited and, unless the server turned it
off, recorded (outpost terminal-sessions). A session killed by signal N exits 128+N.`,
    )
    .action(async (device: string, words: string[], opts: ShellOptions) => {
      await shell(ctx, device, words, opts);
    });

  const sessions = program.command('terminal-sessions').description('recorded terminal sessions (admins)');
  sessions
    .command('ls')
    .description('list terminal sessions, newest first')
    .option('--device <device>', 'only this device')
    .option('--limit <n>', 'at most this many (default 100)', (v) => Number.parseInt(v, 10))
    .option('--json', 'print JSON')
    .action(async (opts: { device?: string; limit?: number; json?: boolean }) => {
      const api = await ctx.api();
      const { items } = await api.call<{ items: TerminalSession[] }>('GET', '/terminal-sessions', {
        query: { device: opts.device, limit: opts.limit },
      });
      if (opts.json) return ctx.json(items);
      ctx.out(
        renderTable(
          ['ID', 'DEVICE', 'USER', 'STARTED', 'DURATION', 'EXIT', 'REASON', 'RECORDING'],
          items.map((s) => [
            s.id,
            s.deviceId,
            s.userName ?? s.user,
            s.startedAt,
            s.durationMs === null ? 'running' : `${Math.round(s.durationMs / 1000)}s`,
            s.exitCode !== null ? String(s.exitCode) : (s.signal ?? '-'),
            s.reason ?? '-',
            s.recorded ? `${s.recordingBytes} B` : '-',
          ]),
        ),
      );
    });
  sessions
    .command('download')
    .description('download the asciicast v2 recording of a session (play it with asciinema play FILE)')
    .argument('<id>', 'session id')
    .option('-o, --output <file>', 'write to this file (default ID.cast; - for stdout)')
    .option('--json', 'print what was written as JSON')
    .action(async (id: string, opts: { output?: string; json?: boolean }) => {
      const api = await ctx.api();
      const res = await api.transfer('GET', `/terminal-sessions/${encodeURIComponent(id)}/recording`, { query: {} });
      const file = opts.output ?? `${id}.cast`;
      if (file === '-') {
        for await (const chunk of res.body) ctx.io.stdout.write(chunk as Buffer);
        return;
      }
      await pipeline(res.body, createWriteStream(file, { flags: 'wx', mode: 0o600 })).catch((err: unknown) => {
        const code = (err as NodeJS.ErrnoException).code;
        throw new CliError(code === 'EEXIST' ? `${file} already exists` : `cannot write ${file}: ${code ?? 'error'}`);
      });
      if (opts.json) ctx.json({ id, file });
      else ctx.err(`wrote ${file}`);
    });
}
