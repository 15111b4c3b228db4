/**
 * Process groups of exec runs and supervised apps: starting errors as coded
 * errors, signalling a whole group, telling whether any live (non-zombie) member
 * is left, waiting for it to empty, and a process's start time from /proc so a
 * recorded pid is never mistaken for a reused one.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { OutpostError } from '@outpost/protocol';

/** Why a program could not start, as a coded error that names only the program. */
export function spawnError(err: unknown, program: string): OutpostError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new OutpostError('E_NOT_FOUND', `program not found: ${program}`);
  if (code === 'EACCES' || code === 'EPERM') return new OutpostError('E_DENIED', `permission denied: ${program}`);
  if (code === 'ERR_INVALID_ARG_VALUE' || code === 'ERR_INVALID_ARG_TYPE') {
    return new OutpostError('E_BAD_ARGS', 'arguments, cwd and env must not contain NUL bytes');
  }
  return new OutpostError('E_INTERNAL', `could not start ${program}`);
}

/** Signals a whole process group; false when it no longer exists. */
export function killGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Fields of /proc/PID/stat after the command name (which may hold spaces and parentheses). */
function statFields(pid: number | string): string[] | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const close = text.lastIndexOf(')');
  return close === -1 ? undefined : text.slice(close + 2).split(' ');
}

/** Clock ticks since boot when `pid` started (stat field 22), or undefined if it is gone or /proc is absent. */
export function processStartTime(pid: number): string | undefined {
  return statFields(pid)?.[19];
}

let procUsable: boolean | undefined;

/**
 * Whether a member of group `pgid` is still alive. Zombies do not count: an orphan
 * reaped late by PID 1 is already dead. Without /proc, any member counts.
 */
export function groupAlive(pgid: number): boolean {
  if (!killGroup(pgid, 0)) return false;
  if (procUsable === undefined) procUsable = statFields('self') !== undefined;
  if (!procUsable) return true;
  let pids: string[];
  try {
    pids = readdirSync('/proc');
  } catch {
    return true;
  }
  for (const p of pids) {
    if (!/^\d+$/.test(p)) continue;
    const f = statFields(p);
    // f[0] is the state, f[2] the process group.
    if (f && f[2] === String(pgid) && f[0] !== 'Z' && f[0] !== 'X') return true;
  }
  return false;
}

/** Resolves true once group `pgid` has no live member, false if it still has one after `timeoutMs`. */
export async function waitGroupGone(pgid: number, timeoutMs: number, intervalMs = 50): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!groupAlive(pgid)) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** SIGTERM to the group, SIGKILL after `graceMs` if anything is left; resolves when it is gone (or given up). */
export async function terminateGroup(pgid: number, graceMs: number): Promise<boolean> {
  if (!killGroup(pgid, 'SIGTERM')) return true;
  if (await waitGroupGone(pgid, graceMs)) return true;
  killGroup(pgid, 'SIGKILL');
  return waitGroupGone(pgid, 2000);
}
