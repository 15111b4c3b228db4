/** `outpost sessions ls|end`: browser sessions (the web UI's logins); the CLI itself uses API tokens. */
import type { Command } from 'commander';
import type { Session } from '../api-types.js';
import type { Context } from '../context.js';
import { relativeTime } from '../duration.js';
import { renderTable } from '../table.js';

export function renderSessions(items: readonly Session[], now = Date.now()): string {
  return renderTable(
    ['ID', 'USER', 'STARTED', 'LAST SEEN', 'EXPIRES', 'IP', 'BROWSER'],
    items.map((s) => [
      s.id,
      s.userName,
      relativeTime(s.createdAt, now),
      relativeTime(s.lastSeenAt, now),
      relativeTime(s.expiresAt, now),
      s.ip ?? '-',
      s.userAgent ? (s.userAgent.length > 40 ? `${s.userAgent.slice(0, 39)}…` : s.userAgent) : '-',
    ]),
  );
}

export function registerSessions(program: Command, ctx: Context): void {
  const sessions = program
    .command('sessions')
    .description('open browser sessions: list them, end one (CLI logins are API tokens: `outpost api-tokens`)');

  sessions
    .command('ls')
    .alias('list')
    .description('list your open browser sessions')
    .option('--all', "everyone's sessions (admins)")
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExamples:\n  outpost sessions ls\n  outpost sessions ls --all')
    .action(async (opts: { all?: boolean; json?: boolean }) => {
      const items = await (await ctx.api()).listSessions(opts.all === true);
      if (opts.json) return ctx.json(items);
      if (items.length === 0) return ctx.err('no open sessions');
      ctx.out(renderSessions(items));
    });

  sessions
    .command('end')
    .description("end a browser session (yours; admins: anyone's): it is logged out at once")
    .argument('<id>', 'session id (see `outpost sessions ls`)')
    .addHelpText('after', '\nExample:\n  outpost sessions end s-0123456789ab')
    .action(async (id: string) => {
      await (await ctx.api()).endSession(id);
      ctx.out(`ended session ${id}`);
    });
}
