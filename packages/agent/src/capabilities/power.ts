/**
 * `power/*` (docs/protocol.md §Power): schedules a reboot or shutdown and answers
 * at once with when it will happen, so the acknowledgement reaches the server
 * before the device goes down; after the delay it runs the configured
 * `powerCommand`, or else the system's own (`systemctl`, `shutdown`, then
 * `reboot`/`poweroff`). One action may be pending at a time; it lives in this
 * agent process only, so stopping or restarting the agent drops it.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import {
  OutpostError,
  POWER_DEFAULT_DELAY_SECONDS,
  type PowerAction,
  type PowerArgs,
  type PowerScheduled,
  type PowerStatus,
} from '@outpost/protocol';
import type { AgentConfig } from '../config.js';
import type { Logger } from '../log.js';
import { action, type Capability, type CommandContext } from './capability.js';

/** Runs the action for real; resolves when the command that does it has exited successfully. */
export type PowerExecutor = (
  action: PowerAction,
  reason: string | null,
  config: AgentConfig,
  log: Logger,
) => Promise<void>;

export interface PowerOptions {
  /** Replaces the default executor (unit tests); the e2e tests configure `powerCommand` instead. */
  execute?: PowerExecutor;
  /** Where systemd says it is PID 1 (default `/run/systemd/system`). */
  systemdMarker?: string;
}

/** Even a delay of 0 waits this long, so the acknowledgement leaves before the device goes down. */
export const MIN_DELAY_MS = 1000;
/** How long one power program may run before it counts as failed. */
const COMMAND_TIMEOUT_MS = 60_000;

/** Runs argv, resolving with its exit code (null when killed), or rejecting when it cannot start. */
function runProgram(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number | null> {
  const [program, ...rest] = argv as [string, ...string[]];
  return new Promise((resolve, reject) => {
    const child = spawn(program, rest, { stdio: 'ignore', env });
    const timer = setTimeout(() => child.kill('SIGKILL'), COMMAND_TIMEOUT_MS);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

/** The system's ways to reboot or power off, in the order they are tried. */
export function systemPowerCommands(act: PowerAction, systemd: boolean): string[][] {
  const out: string[][] = [];
  if (systemd) out.push(['systemctl', act === 'reboot' ? 'reboot' : 'poweroff']);
  out.push(['shutdown', act === 'reboot' ? '-r' : '-h', 'now']);
  out.push([act === 'reboot' ? 'reboot' : 'poweroff']);
  return out;
}

/** The default executor: `powerCommand ACTION` when configured, else the system's commands until one works. */
export function defaultExecutor(systemdMarker = '/run/systemd/system'): PowerExecutor {
  return async (act, reason, config, log) => {
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('OUTPOST_AGENT_')) env[k] = v;
    env.OUTPOST_POWER_ACTION = act;
    env.OUTPOST_POWER_REASON = reason ?? '';
    const candidates = config.powerCommand
      ? [[config.powerCommand, act]]
      : systemPowerCommands(act, existsSync(systemdMarker));
    const failures: string[] = [];
    for (const argv of candidates) {
      try {
        const code = await runProgram(argv, env);
        if (code === 0) {
          log.info('power command done', { argv });
          return;
        }
        failures.push(`${argv.join(' ')}: exit ${code ?? 'killed'}`);
      } catch (err) {
        failures.push(`${argv.join(' ')}: ${(err as NodeJS.ErrnoException).code ?? 'cannot start'}`);
      }
      log.warn('power command failed', { argv, failure: failures[failures.length - 1] });
    }
    throw new Error(failures.join('; '));
  };
}

interface Pending extends PowerScheduled {
  timer: NodeJS.Timeout;
  log: Logger;
}

export function createPowerCapability(options: PowerOptions = {}): Capability {
  const execute = options.execute ?? defaultExecutor(options.systemdMarker);
  let pending: Pending | undefined;
  /** The action whose command is running right now. */
  let running: PowerAction | undefined;
  let last: PowerStatus['last'] = null;

  const view = (p: Pending): PowerScheduled => ({ action: p.action, scheduledAt: p.scheduledAt, reason: p.reason });

  async function fire(p: Pending, config: AgentConfig, log: Logger): Promise<void> {
    pending = undefined;
    running = p.action;
    log.warn(`${p.action} now`, { reason: p.reason });
    try {
      await execute(p.action, p.reason, config, log);
      last = { action: p.action, at: new Date().toISOString(), ok: true, error: null };
    } catch (err) {
      const message = (err as Error).message.slice(0, 500);
      log.error(`${p.action} failed`, { reason: p.reason, error: message });
      last = { action: p.action, at: new Date().toISOString(), ok: false, error: message };
    } finally {
      running = undefined;
    }
  }

  const schedule = (act: PowerAction) => async (args: PowerArgs, ctx: CommandContext) => {
    if (pending) {
      throw new OutpostError(
        'E_CONFLICT',
        `a ${pending.action} is already scheduled for ${pending.scheduledAt}; cancel it first`,
        view(pending),
      );
    }
    if (running) throw new OutpostError('E_CONFLICT', `a ${running} is in progress`);
    const delayMs = Math.max(MIN_DELAY_MS, (args.delaySeconds ?? POWER_DEFAULT_DELAY_SECONDS) * 1000);
    const scheduledAt = new Date(Date.now() + delayMs).toISOString();
    const reason = args.reason ?? null;
    const timer = setTimeout(() => {
      if (pending?.timer === timer) void fire(pending, ctx.config, ctx.log);
    }, delayMs);
    // A pending action must not keep a stopping agent alive.
    timer.unref();
    pending = { action: act, scheduledAt, reason, timer, log: ctx.log };
    ctx.log.warn(`${act} scheduled`, { scheduledAt, reason });
    return view(pending);
  };

  return {
    name: 'power',
    actions: {
      reboot: action('power/reboot', schedule('reboot')),
      shutdown: action('power/shutdown', schedule('shutdown')),
      cancel: action('power/cancel', async (_args, ctx) => {
        if (!pending) return { cancelled: null };
        clearTimeout(pending.timer);
        const cancelled = view(pending);
        pending = undefined;
        ctx.log.warn(`${cancelled.action} cancelled`, { scheduledAt: cancelled.scheduledAt, reason: cancelled.reason });
        return { cancelled };
      }),
      status: action('power/status', async () => ({ pending: pending ? view(pending) : null, last })),
    },
    // A stopping agent must not reboot the device on its way out; the pending action goes with it.
    async stop() {
      if (!pending) return;
      clearTimeout(pending.timer);
      pending.log.warn(`agent stopping: the pending ${pending.action} is dropped`, {
        scheduledAt: pending.scheduledAt,
      });
      pending = undefined;
    },
  };
}
