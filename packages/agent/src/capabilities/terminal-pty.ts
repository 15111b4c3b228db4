/**
 * The PTY side of terminals (terminal.ts): loading node-pty lazily, choosing the user and the
 * program, and reading a PTY to its very end when its program exits (node-pty internals,
 * pinned version; docs/decisions.md §Terminals).
 */
import { existsSync, constants as fsConstants, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { constants, userInfo } from 'node:os';
import { basename } from 'node:path';
import { OutpostError, type TerminalOpenArgs } from '@outpost/protocol';
import type { CommandContext } from './capability.js';

/** The slice of node-pty this module uses (its types are not a dependency of the bundle). */
export interface Pty {
  readonly pid: number;
  onData(listener: (data: Buffer | string) => void): { dispose(): void };
  onExit(listener: (e: { exitCode: number; signal?: number }) => void): { dispose(): void };
  write(data: string | Buffer): void;
  resize(cols: number, rows: number): void;
  pause(): void;
  resume(): void;
  kill(signal?: string): void;
}
export interface PtyModule {
  spawn(
    file: string,
    args: string[],
    options: {
      name: string;
      cols: number;
      rows: number;
      cwd: string;
      env: Record<string, string>;
      encoding: null;
      uid?: number;
      gid?: number;
    },
  ): Pty;
}

let ptyModule: Promise<PtyModule> | undefined;

/** Loads node-pty once; E_UNSUPPORTED with a clear message when the native module is missing. */
export function loadPty(): Promise<PtyModule> {
  ptyModule ??= import('node-pty').then(
    (m: unknown) => {
      const mod = ((m as { default?: unknown }).default ?? m) as Partial<PtyModule>;
      if (typeof mod.spawn !== 'function') throw new Error('node-pty has no spawn()');
      return mod as PtyModule;
    },
    (err: unknown) => {
      ptyModule = undefined;
      throw err;
    },
  );
  return ptyModule.catch((err: unknown) => {
    throw new OutpostError(
      'E_UNSUPPORTED',
      `terminals need the node-pty native module next to the agent (npm install node-pty@1.1.0; docs/terminal.md): ${(err as Error).message.split('\n')[0]}`,
    );
  });
}

export interface Account {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

/** A user from /etc/passwd (no NSS: embedded images keep their users there). */
export function lookupUser(name: string): Account | undefined {
  let text: string;
  try {
    text = readFileSync('/etc/passwd', 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f[0] === name && f.length >= 7) {
      return { name, uid: Number(f[2]), gid: Number(f[3]), home: f[5] || '/', shell: f[6] || '' };
    }
  }
  return undefined;
}

/** Who the session runs as: the configured user (root needed to switch) or the agent's own. */
export function account(ctx: CommandContext): Account & { switchUser: boolean } {
  const me = userInfo();
  const wanted = ctx.config.terminalUser;
  if (!wanted || wanted === me.username) {
    return { name: me.username, uid: me.uid, gid: me.gid, home: me.homedir, shell: me.shell ?? '', switchUser: false };
  }
  const user = lookupUser(wanted);
  if (!user) throw new OutpostError('E_UNSUPPORTED', `terminal user '${wanted}' does not exist on this device`);
  if (me.uid !== 0)
    throw new OutpostError('E_DENIED', `the agent is not root, so it cannot start terminals as '${wanted}'`);
  return { ...user, switchUser: true };
}

/** Shells that take `-l` for a login shell, like sshd starts them. */
const LOGIN_SHELLS = new Set(['sh', 'bash', 'dash', 'ash', 'zsh', 'ksh', 'mksh', 'fish']);

export function program(ctx: CommandContext, args: TerminalOpenArgs, user: Account): { file: string; argv: string[] } {
  if (args.command) return { file: args.command[0] as string, argv: args.command.slice(1) };
  const configured = ctx.config.terminalShell;
  const shell = configured ?? (user.shell && existsSync(user.shell) ? user.shell : '/bin/sh');
  if (!existsSync(shell)) throw new OutpostError('E_UNSUPPORTED', `terminal shell ${shell} does not exist`);
  return { file: shell, argv: LOGIN_SHELLS.has(basename(shell)) ? ['-l'] : [] };
}

/** How often a session checks whether its program exited; must stay well below node-pty's 200 ms. */
export const EXIT_WATCH_MS = 50;

/**
 * node-pty 1.1.0 internals (pinned version): the PTY master's fd, the socket reading it, the
 * queue of its writes, the slave's path.
 */
interface PtyInternals {
  fd?: unknown;
  _socket?: { read(): unknown };
  _writeStream?: { _writeQueue?: unknown };
  ptsName?: unknown;
}

/**
 * Writes input to the PTY. node-pty queues every write for libuv's thread pool, which
 * costs a keystroke a thread's wake-up before the program sees it. The master fd is
 * non-blocking, so when nothing is queued the bytes are written here at once; what the
 * kernel does not take (EAGAIN, a short write) or any error goes to node-pty's queue, in order.
 */
export function writePty(term: Pty, data: Buffer): void {
  const internals = term as unknown as PtyInternals;
  const queue = internals._writeStream?._writeQueue;
  let rest = data;
  if (typeof internals.fd === 'number' && Array.isArray(queue) && queue.length === 0) {
    try {
      rest = data.subarray(writeSync(internals.fd, data));
    } catch {
      // EAGAIN (the PTY's input is full) or worse: node-pty retries and reports it as it always did.
    }
  }
  if (rest.length > 0) term.write(rest);
}

/** Opens the PTY's slave (without making it our controlling terminal); null if it cannot. */
export function holdSlave(term: Pty): number | null {
  const path = (term as unknown as PtyInternals).ptsName;
  if (typeof path !== 'string' || !/^\/dev\/pts\/\d+$/.test(path)) return null;
  try {
    return openSync(path, fsConstants.O_RDWR | fsConstants.O_NOCTTY | fsConstants.O_NONBLOCK);
  } catch {
    return null;
  }
}

/**
 * Reads what the exited program left in the PTY, in order: first the chunks node-pty's
 * socket already buffered (read() emits them through onData), then the kernel's buffer,
 * straight from the non-blocking master fd (EAGAIN or EIO ends it).
 */
export function drainAtExit(term: Pty, output: (data: Buffer) => void): void {
  const internals = term as unknown as PtyInternals;
  try {
    while (internals._socket && internals._socket.read() !== null) {
      // each chunk went to onData
    }
  } catch {
    // A socket node-pty already closed has nothing left.
  }
  if (typeof internals.fd !== 'number') return;
  const buf = Buffer.allocUnsafe(64 * 1024);
  for (;;) {
    let n: number;
    try {
      n = readSync(internals.fd, buf, 0, buf.length, null);
    } catch {
      return;
    }
    if (n <= 0) return;
    output(Buffer.from(buf.subarray(0, n)));
  }
}

/** False once the process is gone or a zombie (exited, waiting to be reaped). */
export function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

export function signalName(n: number | undefined): string | null {
  if (!n) return null;
  const entry = Object.entries(constants.signals).find(([, v]) => v === n);
  return entry ? entry[0] : `SIG${n}`;
}
