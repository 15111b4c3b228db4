/**
 * The command catalogue: every `capability/action` with its args and result
 * schema. Both ends validate against it; adding a command means adding one entry
 * here and one capability module in the agent.
 */
import type { Static, TSchema } from '@sinclair/typebox';
import { ExecArgs, ExecResult } from './capabilities/exec.js';
import { SystemInfo, SystemInfoArgs, SystemPing, SystemPingArgs } from './capabilities/system.js';

export interface CommandSpec<A extends TSchema = TSchema, R extends TSchema = TSchema> {
  args: A;
  result: R;
  summary: string;
  /** Whether the command streams `out` chunks before its response. */
  streams: boolean;
  /**
   * Reads only, changes nothing on the device: running it twice is harmless, so the
   * agent answers it without journaling (no disk writes for a liveness probe).
   */
  readOnly?: boolean;
}

const spec = <A extends TSchema, R extends TSchema>(s: CommandSpec<A, R>): CommandSpec<A, R> => s;

export const commands = {
  'exec/run': spec({
    args: ExecArgs,
    result: ExecResult,
    streams: true,
    summary: 'Run a program (argv) or an explicit shell script',
  }),
  'system/info': spec({
    args: SystemInfoArgs,
    result: SystemInfo,
    streams: false,
    readOnly: true,
    summary: 'Hostname, OS, kernel, architecture, addresses',
  }),
  'system/ping': spec({
    args: SystemPingArgs,
    result: SystemPing,
    streams: false,
    readOnly: true,
    summary: "Answer at once with the device's clock: liveness and latency",
  }),
} as const;

export type CommandName = keyof typeof commands;
export type CommandArgs<N extends CommandName> = Static<(typeof commands)[N]['args']>;
export type CommandResult<N extends CommandName> = Static<(typeof commands)[N]['result']>;

export function commandSpec(capability: string, action: string): CommandSpec | undefined {
  const key = `${capability}/${action}`;
  return Object.hasOwn(commands, key) ? commands[key as CommandName] : undefined;
}
