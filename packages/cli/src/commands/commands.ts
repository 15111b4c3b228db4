/** `outpost commands ls|show|follow`: the history of commands sent to devices, and following one to its end. */
import type { Command as Program } from 'commander';
import type { Command } from '../api-types.js';
import type { Context } from '../context.js';
import { relativeTime } from '../duration.js';
import { renderFields, renderTable } from '../table.js';
import { followAndReport } from './exec.js';

/** A short, single-line view of a command's args: `uname -a` for argv execs, JSON otherwise. */
export function summarizeArgs(command: Pick<Command, 'capability' | 'action' | 'args'>, max = 48): string {
  const a = command.args as {
    argv?: unknown;
    script?: unknown;
    interpreter?: unknown;
    env?: { OUTPOST_SCRIPT_NAME?: unknown; OUTPOST_SCRIPT_VERSION?: unknown };
  } | null;
  const library = a?.env?.OUTPOST_SCRIPT_NAME;
  let text: string;
  if (a && Array.isArray(a.argv)) text = a.argv.map(String).join(' ');
  // A run of a library script (`outpost scripts run`) is known by its name and version.
  else if (typeof library === 'string') text = `script ${library}@${String(a?.env?.OUTPOST_SCRIPT_VERSION)}`;
  else if (a && typeof a.script === 'string') {
    text = `${typeof a.interpreter === 'string' ? a.interpreter : 'sh'}: ${a.script}`;
  } else text = JSON.stringify(command.args ?? {});
  text = text.replace(/\s+/g, ' ');
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** How it ended, in a word: `exit 0`, `SIGKILL`, an error code, or `-` while it is not over. */
export function summarizeOutcome(command: Pick<Command, 'result' | 'error'>): string {
  if (command.error) return command.error.code;
  const r = command.result as { exitCode?: unknown; signal?: unknown } | null;
  if (r && typeof r.exitCode === 'number') return `exit ${r.exitCode}`;
  if (r && typeof r.signal === 'string') return r.signal;
  return command.result === null || command.result === undefined ? '-' : 'ok';
}

export function renderCommands(items: readonly Command[], now = Date.now()): string {
  return renderTable(
    ['ID', 'COMMAND', 'ARGS', 'STATUS', 'RESULT', 'CREATED', 'DURATION'],
    items.map((c) => [
      c.id,
      `${c.capability}/${c.action}`,
      summarizeArgs(c),
      c.status,
      summarizeOutcome(c),
      relativeTime(c.createdAt, now),
      c.durationMs === null || c.durationMs === undefined ? '-' : `${c.durationMs} ms`,
    ]),
  );
}

export function registerCommands(program: Program, ctx: Context): void {
  const cmds = program.command('commands').description('commands sent to devices: history and results');

  cmds
    .command('ls')
    .alias('list')
    .description('list the commands sent to a device, newest first as the server orders them')
    .argument('<device>', 'device id or name')
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExample:\n  outpost commands ls gw-12')
    .action(async (device: string, opts: { json?: boolean }) => {
      const items = await (await ctx.api()).listCommands(device);
      if (opts.json) return ctx.json(items);
      if (items.length === 0) return ctx.err('no commands');
      ctx.out(renderCommands(items));
    });

  cmds
    .command('show')
    .description("show a command's state, result or error")
    .argument('<id>', 'command id')
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExample:\n  outpost commands show c-k3x9q2')
    .action(async (id: string, opts: { json?: boolean }) => {
      const c = await (await ctx.api()).getCommand(id);
      if (opts.json) return ctx.json(c);
      ctx.out(
        renderFields([
          ['id', c.id],
          ['device', c.deviceId],
          ['command', `${c.capability}/${c.action}`],
          ['args', JSON.stringify(c.args)],
          ['status', c.status],
          ['created', `${c.createdAt}${c.createdBy ? ` by ${c.createdBy}` : ''}`],
          ['sent', c.sentAt],
          ['finished', c.finishedAt],
          ['expires', c.expiresAt],
          ['duration', c.durationMs === null ? null : `${c.durationMs} ms`],
          ['error', c.error ? `${c.error.message} (${c.error.code})` : null],
        ]),
      );
      if (c.result !== null && c.result !== undefined) ctx.out(`result\n${JSON.stringify(c.result, null, 2)}`);
    });

  cmds
    .command('follow')
    .description("stream a command's output until it ends and exit with its exit code")
    .argument('<id>', 'command id')
    .option('--json', 'print the final command as JSON instead of its output')
    .addHelpText('after', '\nExample:\n  outpost commands follow c-k3x9q2')
    .action(async (id: string, opts: { json?: boolean }) => {
      const api = await ctx.api();
      const c = await api.getCommand(id);
      await followAndReport(ctx, api, c, opts.json ? { json: true } : {});
    });
}
