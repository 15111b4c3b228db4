/** `outpost api-tokens create|ls|revoke` (alias `tokens-api`): personal API tokens for scripts and the CLI. */
import { type Command, Option } from 'commander';
import type { ApiToken, CreateApiTokenBody, Role } from '../api-types.js';
import { ROLES } from '../api-types.js';
import type { Context } from '../context.js';
import { formatDuration, relativeTime } from '../duration.js';
import { collect, durationOption } from '../parse.js';
import { list, renderFields, renderTable } from '../table.js';

export interface ApiTokenCreateOptions {
  role?: Role;
  ttl?: number;
  tag?: string[];
  json?: boolean;
}

/** The request body for `api-tokens create`; left-out options keep the server's defaults (your role, no expiry). */
export function apiTokenBody(name: string, opts: ApiTokenCreateOptions): CreateApiTokenBody {
  const body: CreateApiTokenBody = { name };
  if (opts.role !== undefined) body.role = opts.role;
  if (opts.ttl !== undefined) body.ttl = opts.ttl;
  if (opts.tag !== undefined) body.tags = opts.tag;
  return body;
}

export function apiTokenState(t: Pick<ApiToken, 'revokedAt' | 'expiresAt'>, now = Date.now()): string {
  if (t.revokedAt) return 'revoked';
  if (t.expiresAt && Date.parse(t.expiresAt) <= now) return 'expired';
  return 'active';
}

/** A token's own tags narrow its user's scope; they never widen it. */
export function tokenScope(tags: readonly string[]): string {
  return tags.length === 0 ? "the user's" : `devices tagged ${tags.join(' or ')}, within the user's`;
}

export function renderApiTokens(tokens: readonly ApiToken[], withUser: boolean, now = Date.now()): string {
  const header = [
    'ID',
    ...(withUser ? ['USER'] : []),
    'NAME',
    'ROLE',
    'TAGS',
    'STATE',
    'LAST USED',
    'EXPIRES',
    'CREATED',
  ];
  return renderTable(
    header,
    tokens.map((t) => [
      t.id,
      ...(withUser ? [t.userName ?? '-'] : []),
      t.name,
      t.role,
      list(t.tags),
      apiTokenState(t, now),
      relativeTime(t.lastUsedAt, now),
      t.expiresAt ? relativeTime(t.expiresAt, now) : 'never',
      relativeTime(t.createdAt, now),
    ]),
  );
}

export function registerApiTokens(program: Command, ctx: Context): void {
  const group = program
    .command('api-tokens')
    .alias('tokens-api')
    .description('personal API tokens (Bearer opt_...) for scripts and the CLI; not enrollment tokens')
    .addHelpText(
      'after',
      `
An API token acts as you, with at most your role and within your device scope. \`outpost login --user\`
makes one (named cli@HOST). Enrollment tokens, which let devices join, are \`outpost tokens\`.`,
    );

  group
    .command('create')
    .description('create an API token and print it (once)')
    .argument('<name>', 'a label, e.g. where it is used')
    .addOption(new Option('--role <role>', 'a lower role than yours (default: yours)').choices(ROLES))
    .option('--ttl <duration>', 'lifetime, e.g. 90d (default: never expires)', durationOption)
    .option('--tag <tag>', 'limit it to devices with this tag (repeatable: any of them)', collect)
    .option('--json', 'print the created token as JSON')
    .addHelpText(
      'after',
      `
Examples:
  outpost api-tokens create ci --role viewer --ttl 90d
  outpost api-tokens create lab-script --tag lab`,
    )
    .action(async (name: string, opts: ApiTokenCreateOptions) => {
      const t = await (await ctx.api()).createApiToken(apiTokenBody(name, opts));
      if (opts.json) return ctx.json(t);
      const left = t.expiresAt ? formatDuration((Date.parse(t.expiresAt) - Date.now()) / 1000) : undefined;
      ctx.out(
        renderFields([
          ['token', t.token],
          ['id', t.id],
          ['name', t.name],
          ['role', t.role],
          ['scope', tokenScope(t.tags)],
          ['expires', t.expiresAt ? `${t.expiresAt} (in ${left})` : 'never'],
        ]),
      );
      ctx.out('The token is shown only this once. Use it as OUTPOST_TOKEN, or save it to a file (mode 0600) for');
      ctx.out('  outpost login --token-file FILE');
    });

  group
    .command('ls')
    .alias('list')
    .description('list your API tokens with their last use (never their secret); TAGS narrow your own scope')
    .option('--all', "everyone's tokens (admins)")
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExamples:\n  outpost api-tokens ls\n  outpost api-tokens ls --all')
    .action(async (opts: { all?: boolean; json?: boolean }) => {
      const items = await (await ctx.api()).listApiTokens(opts.all === true);
      if (opts.json) return ctx.json(items);
      if (items.length === 0) return ctx.err('no API tokens (create one with `outpost api-tokens create NAME`)');
      ctx.out(renderApiTokens(items, opts.all === true));
    });

  group
    .command('revoke')
    .description('revoke an API token (yours; admins: anyone’s); it stops working at once')
    .argument('<id>', 'token id (see `outpost api-tokens ls`)')
    .addHelpText('after', '\nExample:\n  outpost api-tokens revoke tok-0123456789ab')
    .action(async (id: string) => {
      const api = await ctx.api();
      const me = await api.whoami().catch(() => undefined);
      await api.revokeApiToken(id);
      ctx.out(`revoked API token ${id}`);
      if (me?.kind === 'token' && me.id === id) {
        ctx.err('note: that was the token this CLI uses; log in again (`outpost login --help`)');
      }
    });
}
