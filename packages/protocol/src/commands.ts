/**
 * The command catalogue: every `capability/action` with its args and result
 * schema. Both ends validate against it; adding a command means adding one entry
 * here and one capability module in the agent.
 */
import type { Static, TSchema } from '@sinclair/typebox';
import {
  AppStatus,
  AppsInstallArgs,
  AppsList,
  AppsListArgs,
  AppsNameArgs,
  AppsUninstallResult,
} from './capabilities/apps.js';
import { CommandCancelArgs, CommandCancelResult } from './capabilities/command.js';
import { ExecArgs, ExecResult } from './capabilities/exec.js';
import {
  FilesDeleteArgs,
  FilesDeleteResult,
  FilesDownloadArgs,
  FilesDownloadResult,
  FilesFetchArgs,
  FilesFetchResult,
  FilesListArgs,
  FilesListResult,
  FilesMkdirArgs,
  FilesMkdirResult,
  FilesMoveArgs,
  FilesMoveResult,
  FilesStatArgs,
  FilesStatResult,
  FilesUploadArgs,
  FilesUploadResult,
  FilesUploadStatusArgs,
  FilesUploadStatusResult,
} from './capabilities/files.js';
import { ForwardOpenArgs, ForwardOpenResult } from './capabilities/forward.js';
import { LogsFollowArgs, LogsFollowResult, LogsReadArgs, LogsReadResult } from './capabilities/logs.js';
import { Metrics, MetricsSampleArgs } from './capabilities/metrics.js';
import {
  PowerArgs,
  PowerCancelArgs,
  PowerCancelResult,
  PowerScheduled,
  PowerStatus,
  PowerStatusArgs,
} from './capabilities/power.js';
import { ProcessList, ProcessListArgs, ProcessSignalArgs, ProcessSignalResult } from './capabilities/processes.js';
import {
  ServiceActionArgs,
  ServiceActionResult,
  ServiceList,
  ServiceListArgs,
  ServiceStatus,
  ServiceStatusArgs,
} from './capabilities/services.js';
import { SystemInfo, SystemInfoArgs, SystemPing, SystemPingArgs } from './capabilities/system.js';
import { TerminalOpenArgs, TerminalOpenResult } from './capabilities/terminal.js';

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
  /**
   * Accepts a byte stream (docs/protocol.md §Byte streams): its args carry the stream id
   * `sid`, and it is sent only by the server's stream service, never as a plain command.
   */
  opensStream?: boolean;
}

const spec = <A extends TSchema, R extends TSchema>(s: CommandSpec<A, R>): CommandSpec<A, R> => s;

export const commands = {
  'exec/run': spec({
    args: ExecArgs,
    result: ExecResult,
    streams: true,
    summary: 'Run a program (argv) or an explicit shell script',
  }),
  'forward/open': spec({
    args: ForwardOpenArgs,
    result: ForwardOpenResult,
    streams: false,
    opensStream: true,
    summary: 'Connect a byte stream to a TCP port reachable from the device (port forwarding)',
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
  'metrics/sample': spec({
    args: MetricsSampleArgs,
    result: Metrics,
    streams: false,
    readOnly: true,
    summary: 'A fresh metrics sample: CPU, load, memory, disks, network, temperature, processes',
  }),
  'files/list': spec({
    args: FilesListArgs,
    result: FilesListResult,
    streams: false,
    readOnly: true,
    summary: 'List a directory (a page of entries sorted by name)',
  }),
  'files/stat': spec({
    args: FilesStatArgs,
    result: FilesStatResult,
    streams: false,
    readOnly: true,
    summary: 'Describe one file, directory or symlink (not followed)',
  }),
  'files/mkdir': spec({
    args: FilesMkdirArgs,
    result: FilesMkdirResult,
    streams: false,
    summary: 'Make a directory (with its parents when recursive)',
  }),
  'files/delete': spec({
    args: FilesDeleteArgs,
    result: FilesDeleteResult,
    streams: false,
    summary: 'Delete a file, symlink or directory (non-empty only when recursive)',
  }),
  'files/move': spec({
    args: FilesMoveArgs,
    result: FilesMoveResult,
    streams: false,
    summary: 'Move or rename a file or directory, without overwriting unless asked',
  }),
  'files/fetch': spec({
    args: FilesFetchArgs,
    result: FilesFetchResult,
    streams: true,
    summary: 'Download an http(s) URL into a file on the device (checked, atomic)',
  }),
  'files/upload': spec({
    args: FilesUploadArgs,
    result: FilesUploadResult,
    streams: false,
    opensStream: true,
    summary: 'Receive a file on a byte stream (resumable, checked, atomic)',
  }),
  'files/upload-status': spec({
    args: FilesUploadStatusArgs,
    result: FilesUploadStatusResult,
    streams: false,
    readOnly: true,
    summary: "How many bytes of an upload's partial file are on the device (resume point)",
  }),
  'files/download': spec({
    args: FilesDownloadArgs,
    result: FilesDownloadResult,
    streams: false,
    opensStream: true,
    readOnly: true,
    summary: 'Send a file (from an offset) on a byte stream',
  }),
  'processes/list': spec({
    args: ProcessListArgs,
    result: ProcessList,
    streams: false,
    readOnly: true,
    summary: 'List processes from /proc: CPU %, memory, user, state, command line',
  }),
  'processes/signal': spec({
    args: ProcessSignalArgs,
    result: ProcessSignalResult,
    streams: false,
    summary: 'Send TERM, KILL, INT, HUP, STOP, CONT, USR1, USR2 or QUIT to one process',
  }),
  'services/list': spec({
    args: ServiceListArgs,
    result: ServiceList,
    streams: false,
    readOnly: true,
    summary: 'List systemd units of a type (default services)',
  }),
  'services/status': spec({
    args: ServiceStatusArgs,
    result: ServiceStatus,
    streams: false,
    readOnly: true,
    summary: "One systemd unit's state, main pid, memory and unit file",
  }),
  'services/start': spec({
    args: ServiceActionArgs,
    result: ServiceActionResult,
    streams: false,
    summary: 'Start a systemd unit',
  }),
  'services/stop': spec({
    args: ServiceActionArgs,
    result: ServiceActionResult,
    streams: false,
    summary: 'Stop a systemd unit',
  }),
  'services/restart': spec({
    args: ServiceActionArgs,
    result: ServiceActionResult,
    streams: false,
    summary: 'Restart a systemd unit',
  }),
  'services/enable': spec({
    args: ServiceActionArgs,
    result: ServiceActionResult,
    streams: false,
    summary: 'Enable a systemd unit at boot',
  }),
  'services/disable': spec({
    args: ServiceActionArgs,
    result: ServiceActionResult,
    streams: false,
    summary: 'Disable a systemd unit at boot',
  }),
  'power/reboot': spec({
    args: PowerArgs,
    result: PowerScheduled,
    streams: false,
    summary: 'Reboot the device after a delay (acknowledged before it acts)',
  }),
  'power/shutdown': spec({
    args: PowerArgs,
    result: PowerScheduled,
    streams: false,
    summary: 'Power the device off after a delay (acknowledged before it acts)',
  }),
  'power/cancel': spec({
    args: PowerCancelArgs,
    result: PowerCancelResult,
    streams: false,
    summary: 'Call off a pending reboot or shutdown',
  }),
  'power/status': spec({
    args: PowerStatusArgs,
    result: PowerStatus,
    streams: false,
    readOnly: true,
    summary: 'Whether a reboot or shutdown is pending, and how the last one went',
  }),
  'command/cancel': spec({
    args: CommandCancelArgs,
    result: CommandCancelResult,
    streams: false,
    summary: 'Stop a command the agent is running (or refuse it if it has not arrived yet)',
  }),
  'logs/read': spec({
    args: LogsReadArgs,
    result: LogsReadResult,
    streams: false,
    readOnly: true,
    summary: "The newest lines of the agent's log, an app's output, a unit's journal or a log file",
  }),
  // Journaled (not readOnly): a re-delivered follow must not start a second stream under the same id.
  'logs/follow': spec({
    args: LogsFollowArgs,
    result: LogsFollowResult,
    streams: true,
    summary: 'Stream new log lines of one source until cancelled or maxSeconds pass',
  }),
  'apps/install': spec({
    args: AppsInstallArgs,
    result: AppStatus,
    streams: false,
    summary: 'Install a supervised app from a script or a bundle file on the device',
  }),
  'apps/uninstall': spec({
    args: AppsNameArgs,
    result: AppsUninstallResult,
    streams: false,
    summary: 'Stop a supervised app and remove it',
  }),
  'apps/start': spec({ args: AppsNameArgs, result: AppStatus, streams: false, summary: 'Start a supervised app' }),
  'apps/stop': spec({ args: AppsNameArgs, result: AppStatus, streams: false, summary: 'Stop a supervised app' }),
  'apps/restart': spec({ args: AppsNameArgs, result: AppStatus, streams: false, summary: 'Restart a supervised app' }),
  'apps/list': spec({
    args: AppsListArgs,
    result: AppsList,
    streams: false,
    readOnly: true,
    summary: 'The supervised apps and their states',
  }),
  'apps/status': spec({
    args: AppsNameArgs,
    result: AppStatus,
    streams: false,
    readOnly: true,
    summary: "One supervised app's state, pid, restarts and last exit",
  }),
  'terminal/open': spec({
    args: TerminalOpenArgs,
    result: TerminalOpenResult,
    streams: false,
    opensStream: true,
    summary: 'An interactive terminal (PTY) carried on a byte stream; answers with how it ended',
  }),
} as const;

export type CommandName = keyof typeof commands;
export type CommandArgs<N extends CommandName> = Static<(typeof commands)[N]['args']>;
export type CommandResult<N extends CommandName> = Static<(typeof commands)[N]['result']>;

export function commandSpec(capability: string, action: string): CommandSpec | undefined {
  const key = `${capability}/${action}`;
  return Object.hasOwn(commands, key) ? commands[key as CommandName] : undefined;
}
