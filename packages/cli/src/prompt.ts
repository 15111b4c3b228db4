/**
 * Asking the person at the terminal: secrets with echo off, yes/no confirmations, and secrets piped in
 * on stdin for scripts (`--password-stdin`), so a password never has to be a flag that `ps` shows.
 */
import { createInterface } from 'node:readline/promises';
import { StringDecoder } from 'node:string_decoder';
import type { Context } from './context.js';
import { CliError } from './errors.js';

type TtyInput = NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };

const MAX_STDIN = 64 * 1024;

/** True when stdin is a terminal we can read a secret from without echo. */
export function canPrompt(ctx: Context): boolean {
  const input = ctx.io.stdin as TtyInput;
  return input.isTTY === true && typeof input.setRawMode === 'function';
}

/**
 * Reads one line from the terminal with echo off (nothing is shown, like sudo). Backspace and Ctrl-U
 * edit, Ctrl-C interrupts (exit 130), Ctrl-D on an empty line gives up.
 */
export function readSecret(ctx: Context, prompt: string, hint = 'use --password-stdin'): Promise<string> {
  const input = ctx.io.stdin as TtyInput;
  if (!canPrompt(ctx)) {
    return Promise.reject(new CliError(`cannot ask for a secret: stdin is not a terminal (${hint})`, { exitCode: 2 }));
  }
  ctx.io.stderr.write(prompt);
  input.setRawMode?.(true);
  input.resume();
  const decoder = new StringDecoder('utf8');
  return new Promise((resolve, reject) => {
    let value = '';
    const finish = (err?: CliError) => {
      input.removeListener('data', onData);
      input.setRawMode?.(false);
      input.pause();
      ctx.io.stderr.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: Buffer | string) => {
      const text = typeof chunk === 'string' ? chunk : decoder.write(chunk);
      for (const ch of text) {
        if (ch === '\r' || ch === '\n') return finish();
        if (ch === '\u0003') return finish(new CliError('interrupted', { exitCode: 130 }));
        if (ch === '\u0004') return value === '' ? finish(new CliError('nothing entered', { exitCode: 1 })) : finish();
        if (ch === '\u007f' || ch === '\b') value = [...value].slice(0, -1).join('');
        else if (ch === '\u0015') value = '';
        else if (ch >= ' ') value += ch;
      }
    };
    input.on('data', onData);
  });
}

/** Asks for a new password twice; they must match and not be empty. */
export async function readNewPassword(ctx: Context, prompt = 'New password: '): Promise<string> {
  const first = await readSecret(ctx, prompt);
  if (first === '') throw new CliError('the password is empty');
  const again = await readSecret(ctx, 'Repeat it: ');
  if (again !== first) throw new CliError('the two passwords differ; nothing was changed');
  return first;
}

/**
 * The first `count` lines of stdin (read to its end), without their line ends. For scripts:
 * `printf '%s\n' "$PASSWORD" | outpost login --user NAME --password-stdin`.
 */
export async function readStdinLines(ctx: Context, count: number, what: string): Promise<string[]> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.io.stdin) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += b.length;
    if (size > MAX_STDIN) throw new CliError(`stdin is too large for ${what}`, { code: 'E_TOO_LARGE' });
    chunks.push(b);
  }
  const lines = Buffer.concat(chunks).toString('utf8').split(/\r?\n/).slice(0, count);
  if (lines.length < count || lines.some((l) => l === '')) {
    throw new CliError(count === 1 ? `expected ${what} on stdin` : `expected ${count} lines on stdin: ${what}`, {
      exitCode: 2,
    });
  }
  return lines;
}

/** Asks a yes/no question on the terminal; refuses to guess when there is no terminal. */
export async function confirm(ctx: Context, question: string, refusal: string): Promise<boolean> {
  if (!ctx.io.stdin.isTTY) throw new CliError(`${refusal} without --yes when stdin is not a terminal`, { exitCode: 2 });
  const rl = createInterface({ input: ctx.io.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}
