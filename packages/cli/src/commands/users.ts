/** `outpost users ...` (admins): list users, invite them, change their role or device scope, remove them. */
import { type Command, Option } from 'commander';
import type { Invitation, InviteBody, Role, User } from '../api-types.js';
import { ROLES } from '../api-types.js';
import type { Context } from '../context.js';
import { formatDuration, relativeTime } from '../duration.js';
import { CliError } from '../errors.js';
import { collect, durationOption } from '../parse.js';
import { confirm } from '../prompt.js';
import { renderFields, renderTable, scope } from '../table.js';

export interface InviteOptions {
  role: Role;
  email?: string;
  tag?: string[];
  ttl?: number;
  json?: boolean;
}

/** The request body for `users invite`; only what was given is sent, so server defaults apply. */
export function inviteBody(name: string, opts: InviteOptions): InviteBody {
  const body: InviteBody = { name, role: opts.role };
  if (opts.email !== undefined) body.email = opts.email;
  if (opts.tag !== undefined) body.tags = opts.tag;
  if (opts.ttl !== undefined) body.ttl = opts.ttl;
  return body;
}

/** What the invitee runs; `--ca ca.crt` when this server is trusted through its own CA. */
export function acceptCommand(server: string, code: string, withCa: boolean): string {
  return `outpost accept-invite --server ${server}${withCa ? ' --ca ca.crt' : ''} --code ${code}`;
}

export function renderUsers(users: readonly User[], now = Date.now()): string {
  return renderTable(
    ['NAME', 'ROLE', 'SCOPE', 'PASSWORD', 'EMAIL', 'CREATED'],
    users.map((u) => [
      u.name,
      u.role,
      scope(u.tags),
      u.hasPassword ? 'yes' : 'no',
      u.email ?? '-',
      relativeTime(u.createdAt, now),
    ]),
  );
}

export function renderInvitations(items: readonly Invitation[], now = Date.now()): string {
  return renderTable(
    ['ID', 'NAME', 'ROLE', 'SCOPE', 'STATE', 'EXPIRES', 'CREATED'],
    items.map((i) => [
      i.id,
      i.name,
      i.role,
      scope(i.tags),
      i.state,
      i.state === 'open' ? relativeTime(i.expiresAt, now) : '-',
      relativeTime(i.createdAt, now),
    ]),
  );
}

async function findUser(ctx: Context, ref: string): Promise<User> {
  const users = await (await ctx.api()).listUsers();
  const u = users.find((x) => x.name === ref) ?? users.find((x) => x.id === ref);
  if (!u) throw new CliError(`user '${ref}' not found`, { code: 'E_NOT_FOUND' });
  return u;
}

const roleArgument = (o: Option) => o.choices(ROLES);

export function registerUsers(program: Command, ctx: Context): void {
  const users = program
    .command('users')
    .description('people who may use this server (admins): invite, list, change role or scope, remove');

  users
    .command('ls')
    .alias('list')
    .description('list users')
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExample:\n  outpost users ls')
    .action(async (opts: { json?: boolean }) => {
      const items = await (await ctx.api()).listUsers();
      if (opts.json) return ctx.json(items);
      ctx.out(renderUsers(items));
    });

  users
    .command('invite')
    .description('invite a user: prints a one-time code (once) and the command that accepts it')
    .argument('<name>', 'their user name (letters, digits, . _ @ -)')
    .addOption(roleArgument(new Option('--role <role>', 'what they may do').makeOptionMandatory()))
    .option('--email <email>', 'their email address, for your records')
    .option('--tag <tag>', 'limit them to devices with this tag (repeatable: any of them)', collect)
    .option('--ttl <duration>', 'how long the code stays valid (default 7d, at most 30d)', durationOption)
    .option('--json', 'print the invitation, with its code, as JSON')
    .addHelpText(
      'after',
      `
Examples:
  outpost users invite alice --role operator --tag lab --email alice@example.com
  outpost users invite bob --role viewer --ttl 1d

Roles: admin (everything), operator (runs commands on devices), viewer (reads).`,
    )
    .action(async (name: string, opts: InviteOptions) => {
      const api = await ctx.api();
      const inv = await api.invite(inviteBody(name, opts));
      if (opts.json) return ctx.json(inv);
      const left = formatDuration((Date.parse(inv.expiresAt) - Date.now()) / 1000);
      ctx.out(
        renderFields([
          ['code', inv.code],
          ['id', inv.id],
          ['name', inv.name],
          ['role', inv.role],
          ['scope', scope(inv.tags)],
          ['email', inv.email],
          ['expires', `${inv.expiresAt} (in ${left})`],
        ]),
      );
      ctx.out(`The code is shown only this once and works once. Send it to ${inv.name} privately; they run:`);
      ctx.out(`  ${acceptCommand(api.server, inv.code ?? '', api.caFile !== undefined)}`);
      if (api.caFile) ctx.out(`with this server's CA certificate (${api.caFile}) saved as ca.crt.`);
    });

  users
    .command('invitations')
    .description('list invitations, newest first (never their codes)')
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExample:\n  outpost users invitations')
    .action(async (opts: { json?: boolean }) => {
      const items = await (await ctx.api()).listInvitations();
      if (opts.json) return ctx.json(items);
      if (items.length === 0) return ctx.err('no invitations (invite someone with `outpost users invite`)');
      ctx.out(renderInvitations(items));
    });

  users
    .command('revoke-invite')
    .description('revoke an open invitation so its code stops working')
    .argument('<id>', 'invitation id (see `outpost users invitations`)')
    .option('--json', 'print the invitation as JSON')
    .addHelpText('after', '\nExample:\n  outpost users revoke-invite inv-0123456789ab')
    .action(async (id: string, opts: { json?: boolean }) => {
      const inv = await (await ctx.api()).revokeInvitation(id);
      if (opts.json) return ctx.json(inv);
      ctx.out(
        inv.state === 'revoked'
          ? `revoked the invitation of ${inv.name} (${inv.id})`
          : `the invitation of ${inv.name} (${inv.id}) is ${inv.state}; nothing to revoke`,
      );
    });

  users
    .command('role')
    .description("change a user's role")
    .argument('<name>', 'user name or id')
    .argument('<role>', `the new role: ${ROLES.join(', ')}`)
    .option('--json', 'print the user as JSON')
    .addHelpText('after', '\nExample:\n  outpost users role alice viewer')
    .action(async (ref: string, role: string, opts: { json?: boolean }) => {
      if (!(ROLES as readonly string[]).includes(role)) {
        throw new CliError(`'${role}' is not a role (use one of ${ROLES.join(', ')})`, { exitCode: 2 });
      }
      const u = await (await ctx.api()).updateUser(ref, { role: role as Role });
      if (opts.json) return ctx.json(u);
      ctx.out(`${u.name} is now ${u.role}`);
    });

  users
    .command('scope')
    .description('show or set which devices a user reaches: --tag limits them, --clear gives them all')
    .argument('<name>', 'user name or id')
    .addOption(new Option('--tag <tag>', 'only devices with this tag (repeatable: any of them)').argParser(collect))
    .addOption(new Option('--clear', 'no limit: every device').conflicts('tag'))
    .option('--json', 'print the user as JSON')
    .addHelpText(
      'after',
      `
Examples:
  outpost users scope alice                   show it
  outpost users scope alice --tag lab --tag pi
  outpost users scope alice --clear`,
    )
    .action(async (ref: string, opts: { tag?: string[]; clear?: boolean; json?: boolean }) => {
      const changing = opts.tag !== undefined || opts.clear === true;
      const u = changing
        ? await (await ctx.api()).updateUser(ref, { tags: opts.clear ? [] : (opts.tag ?? []) })
        : await findUser(ctx, ref);
      if (opts.json) return ctx.json(u);
      ctx.out(`${u.name}: ${scope(u.tags)}`);
    });

  users
    .command('rm')
    .alias('delete')
    .description('remove a user: their browser sessions end and their API tokens are revoked')
    .argument('<name>', 'user name or id')
    .option('-y, --yes', 'do not ask for confirmation')
    .addHelpText('after', '\nExample:\n  outpost users rm alice --yes')
    .action(async (ref: string, opts: { yes?: boolean }) => {
      const u = await findUser(ctx, ref);
      const question = `Remove user ${u.name} (${u.role})? Their sessions end and API tokens are revoked.`;
      if (!opts.yes && !(await confirm(ctx, question, 'refusing to remove a user'))) {
        ctx.err('not removed');
        ctx.exitCode = 1;
        return;
      }
      await (await ctx.api()).deleteUser(u.id);
      ctx.out(`removed user ${u.name}; their sessions ended and their API tokens were revoked`);
    });
}
