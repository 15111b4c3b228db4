/** Runs `outpost` in-process through main() with captured stdout/stderr and a scripted stdin. */
import { Readable } from 'node:stream';
import type { Io } from '../src/context.js';
import { main } from '../src/main.js';

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  /** What stdin holds (piped, not a terminal), or a stream standing in for it. */
  stdin?: string | Io['stdin'];
}

/** `outpost ...args` against `url` with token `tok` and no saved login unless `env` says otherwise. */
export async function runCli(url: string, args: string[], options: RunOptions = {}): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const stdin =
    typeof options.stdin === 'string' ? Readable.from([Buffer.from(options.stdin)]) : (options.stdin ?? process.stdin);
  const io: Io = {
    stdout: { write: (c: string | Uint8Array) => (stdout += Buffer.from(c).toString()) },
    stderr: { write: (c: string | Uint8Array) => (stderr += Buffer.from(c).toString()) },
    stdin,
    env: { OUTPOST_URL: url, OUTPOST_TOKEN: 'tok', OUTPOST_CONFIG: '/nonexistent/cli.json', ...options.env },
  };
  const code = await main(['node', 'outpost', ...args], io);
  return { code, stdout, stderr };
}
