/** `outpost exec DEVICE -- CMD ARGS...`: run a program on a device, stream its output, exit with its code. */
import { commands, type ExecArgs, parse } from '@outpost/protocol';
import type { Command as Program } from 'commander';
import type { ApiClient } from '../api.js';
import type { Command } from '../api-types.js';
import type { Context } from '../context.js';
import { formatDuration } from '../duration.js';
import { CliError } from '../errors.js';
import { execOutcome } from '../exit-code.js';
import { followCommand } from '../follow.js';
import { collect, durationOption, parseEnvPairs } from '../parse.js';

export interface ExecOptions {
  timeout?: number;
  cwd?: string;
  env?: string[];
  ttl?: number;
  shell?: boolean;
  stdin?: boolean;
  wait?: boolean;
  json?: boolean;
}

const MAX_STDIN = 256 * 1024;

/** The `exec/run` args for the words after `--`, validated against the protocol's schema. */
export function execArgs(
  words: readonly string[],
  opts: ExecOptions,
  localEnv: NodeJS.ProcessEnv,
  stdin?: string,
): ExecArgs {
  if (words.length === 0) throw new CliError('nothing to run: put the command after --', { exitCode: 2 });
  const common: Omit<ExecArgs, 'argv' | 'script' | 'shell'> = {};
  if (opts.cwd !== undefined) common.cwd = opts.cwd;
  if (opts.env && opts.env.length > 0) common.env = parseEnvPairs(opts.env, localEnv);
  if (opts.timeout !== undefined) common.timeoutMs = opts.timeout * 1000;
  if (stdin !== undefined) common.stdin = stdin;
  const args: ExecArgs = opts.shell
    ? { script: words.join(' '), shell: true, ...common }
    : { argv: [...words], ...common };
  try {
    return parse(commands['exec/run'].args, args, 'exec arguments');
  } catch (err) {
    // Caught here rather than by the device: a usage error, exit 2.
    throw new CliError((err as Error).message, { code: 'E_BAD_ARGS', exitCode: 2 });
  }
}

/** Reads all of local stdin as text, refusing more than 256 KiB; `what` names the option in the error. */
export async function readStdin(ctx: Context, what = '--stdin'): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.io.stdin) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += b.length;
    if (size > MAX_STDIN) throw new CliError(`${what} takes at most ${MAX_STDIN / 1024} KiB`, { code: 'E_TOO_LARGE' });
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Follows a command to its end, writing its output to our stdout/stderr (unless `json`), and sets
 * the exit code from the outcome. Ctrl-C stops following, not the remote program.
 */
export async function followAndReport(
  ctx: Context,
  api: ApiClient,
  command: Command,
  opts: { json?: boolean; device?: string },
): Promise<void> {
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let followed: Awaited<ReturnType<typeof followCommand>>;
  try {
    followed = await followCommand(api, command.id, {
      signal: stop.signal,
      onOutput: (stream, bytes) => {
        if (!opts.json) (stream === 'stdout' ? ctx.io.stdout : ctx.io.stderr).write(bytes);
      },
    });
  } catch (err) {
    if (!stop.signal.aborted) throw err;
    ctx.err(`\noutpost: stopped following command ${command.id}; it keeps going on the device`);
    ctx.err(`see it with: outpost commands show ${command.id}`);
    ctx.exitCode = 130;
    return;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
  const final = followed.command;
  const outcome = execOutcome(final, opts.device);
  if (opts.json) {
    ctx.json(final);
  } else {
    const result = final.result as { stdout?: unknown; stderr?: unknown } | null;
    if (followed.chunks === 0 && result && typeof result === 'object') {
      // Nothing was streamed (the server kept no output buffer): the result still carries it.
      if (typeof result.stdout === 'string') ctx.io.stdout.write(result.stdout);
      if (typeof result.stderr === 'string') ctx.io.stderr.write(result.stderr);
    } else if (followed.gaps || (!followed.complete && followed.chunks > 0)) {
      ctx.err('outpost: the output stream was interrupted; some output may be missing');
    }
    if (outcome.message) ctx.err(outcome.message);
  }
  ctx.exitCode = outcome.exitCode;
}

export function registerExec(program: Program, ctx: Context): void {
  program
    .command('exec')
    .description('run a program on a device, stream its output and exit with its exit code')
    .argument('<device>', 'device id or name')
    .argument('<command...>', 'the program and its arguments, after --')
    .option('--timeout <duration>', 'kill the program on the device after this long (default 60s)', durationOption)
    .option('--cwd <dir>', 'working directory on the device')
    .option('-e, --env <K=V>', 'set an environment variable (repeatable); a bare K copies the local value', collect)
    .option('--ttl <duration>', 'how long the command may wait for an offline device (default 1h)', durationOption)
    .option('--shell', 'join the words into one /bin/sh script (pipes, globs, $VARS) instead of running a program')
    .option('-i, --stdin', `send local stdin (up to ${MAX_STDIN / 1024} KiB) to the program`)
    .option('--no-wait', 'queue the command, print its id and return at once')
    .option('--json', 'print the final command as JSON instead of its output')
    .addHelpText(
      'after',
      `
Examples:
  outpost exec demo -- uname -a
  outpost exec gw-12 --timeout 5m -- apt-get -s upgrade
  outpost exec gw-12 --shell -- 'df -h | grep /data'

No shell is involved unless --shell is given. A program killed by signal N exits 128+N.
If the device is offline the command waits in the queue until it comes back or --ttl passes.`,
    )
    .action(async (device: string, words: string[], opts: ExecOptions) => {
      const stdin = opts.stdin ? await readStdin(ctx) : undefined;
      const args = execArgs(words, opts, ctx.env, stdin);
      const api = await ctx.api();
      const body = { capability: 'exec', action: 'run', args, ...(opts.ttl !== undefined ? { ttl: opts.ttl } : {}) };
      const command = await api.sendCommand(device, body);
      await followSent(ctx, api, command, device, opts);
    });
}

/**
 * What `exec` and `scripts run` do with the command they just sent: say so if it waits
 * for an offline device, then print its id (`--no-wait`) or follow it to its end.
 */
export async function followSent(
  ctx: Context,
  api: ApiClient,
  command: Command,
  device: string,
  opts: { wait?: boolean; json?: boolean },
): Promise<void> {
  if (command.status === 'queued') {
    const d = await api.getDevice(command.deviceId).catch(() => undefined);
    if (d?.online === false) {
      const left = formatDuration((Date.parse(command.expiresAt) - Date.now()) / 1000);
      ctx.err(`device ${d.name || device} is offline; command queued (expires in ${left}, at ${command.expiresAt})`);
    }
  }
  if (opts.wait === false) {
    if (opts.json) return ctx.json(command);
    ctx.out(command.id);
    ctx.err(`follow it with: outpost commands follow ${command.id}`);
    return;
  }
  await followAndReport(ctx, api, command, { device, ...(opts.json ? { json: true } : {}) });
}
