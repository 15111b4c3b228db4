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

/** node-pty 1.1.0 internals (pinned version): the PTY master's fd, the socket reading it, the slave's path. */
interface PtyInternals {
  fd?: unknown;
  _socket?: { read(): unknown };
  ptsName?: unknown;
}

/** How soon input the PTY did not take is offered again once it stopped taking any. */
const INPUT_RETRY_MS = 5;
/** Offers in a row that found the PTY full, each on the next turn of the event loop, before that. */
const INPUT_SPINS = 64;

/**
 * Input to one PTY. node-pty queues every write for libuv's thread pool, which costs a
 * keystroke a thread's wake-up before the program sees it, and keeps what the kernel refuses
 * (EAGAIN) in an unbounded queue that it retries in a busy loop. The master fd is non-blocking,
 * so input is written here at once; what the PTY does not take waits here and is offered again,
 * on the next turns of the event loop while the program is taking it (or only just stopped), then
 * every 5 ms while it takes nothing (a program that does not read costs next to no CPU), and `pending`
 * says how much waits, so the caller can stop reading its client meanwhile. After another error
 * (EIO: the program is gone) input is dropped, as a closed terminal would.
 */
export class PtyInput {
  readonly #term: Pty;
  readonly #onDrain: () => void;
  readonly #waiting: Buffer[] = [];
  #pending = 0;
  /** Offers in a row that the PTY took nothing of. */
  #misses = 0;
  #retrySoon: NodeJS.Immediate | undefined;
  #retryLater: NodeJS.Timeout | undefined;

  /** `onDrain`: everything that waited was taken. */
  constructor(term: Pty, onDrain: () => void = () => {}) {
    this.#term = term;
    this.#onDrain = onDrain;
  }

  /** Bytes written but not yet taken by the PTY. */
  get pending(): number {
    return this.#pending;
  }

  write(data: Buffer): void {
    if (data.length === 0) return;
    if (this.#pending > 0) {
      this.#wait(data);
      return;
    }
    const taken = this.#offer(data);
    if (taken < data.length) this.#wait(data.subarray(taken));
  }

  /** Stops retrying; what still waits is dropped. */
  close(): void {
    clearImmediate(this.#retrySoon);
    clearTimeout(this.#retryLater);
    this.#retrySoon = undefined;
    this.#retryLater = undefined;
    this.#waiting.length = 0;
    this.#pending = 0;
  }

  /** Bytes the PTY took now (all of them when the rest must be dropped). */
  #offer(data: Buffer): number {
    const fd = (this.#term as unknown as PtyInternals).fd;
    if (typeof fd !== 'number') {
      // Not the node-pty this was written against: its own write path, without flow control.
      this.#term.write(data);
      return data.length;
    }
    try {
      return writeSync(fd, data);
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'EAGAIN' ? 0 : data.length;
    }
  }

  #wait(data: Buffer): void {
    this.#waiting.push(data);
    this.#pending += data.length;
    if (this.#retrySoon === undefined && this.#retryLater === undefined) {
      this.#misses = 0;
      this.#schedule();
    }
  }

  #schedule(): void {
    if (this.#misses < INPUT_SPINS) this.#retrySoon = setImmediate(() => this.#retry());
    else this.#retryLater = setTimeout(() => this.#retry(), INPUT_RETRY_MS);
  }

  #retry(): void {
    this.#retrySoon = undefined;
    this.#retryLater = undefined;
    let progress = false;
    while (this.#waiting.length > 0) {
      const head = this.#waiting[0] as Buffer;
      const taken = this.#offer(head);
      this.#pending -= taken;
      if (taken > 0) progress = true;
      if (taken < head.length) {
        this.#waiting[0] = head.subarray(taken);
        this.#misses = progress ? 0 : this.#misses + 1;
        this.#schedule();
        return;
      }
      this.#waiting.shift();
    }
    this.#onDrain();
  }
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
