/** The CLI entry: parses argv, runs the command, prints failures as one line and returns the exit code. */
import { CommanderError } from 'commander';
import { Context, type Io, processIo } from './context.js';
import { exitCodeOfError, formatError } from './errors.js';
import { buildProgram } from './program.js';

/** Runs `outpost` with `argv` (`[node, script, ...args]`) and resolves to the exit code. */
export async function main(argv: readonly string[], io: Io = processIo()): Promise<number> {
  const ctx = new Context(io);
  const program = buildProgram(ctx);
  try {
    await program.parseAsync([...argv]);
    return ctx.exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander already printed the help or its one-line `error: ...`; usage errors exit 2.
      return err.exitCode === 0 ? 0 : 2;
    }
    io.stderr.write(`${formatError(err)}\n`);
    if (io.env.OUTPOST_DEBUG === '1') io.stderr.write(`${debugDump(err)}\n`);
    return exitCodeOfError(err);
  } finally {
    await ctx.close().catch(() => undefined);
  }
}

function debugDump(err: unknown): string {
  const lines: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e !== undefined && depth < 5; depth++) {
    lines.push(e instanceof Error ? (e.stack ?? e.message) : String(e));
    e = e instanceof Error ? e.cause : undefined;
    if (e !== undefined) lines.push('caused by:');
  }
  return lines.join('\n');
}

/** Runs the real process: exits with the command's code once stdout and stderr are flushed. */
export async function run(): Promise<void> {
  // `outpost devices ls | head` closes the pipe early; that is not an error worth a trace.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
  });
  const code = await main(process.argv);
  await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
  await new Promise<void>((resolve) => process.stderr.write('', () => resolve()));
  process.exit(code);
}
