/** `outpost tokens create|ls|revoke`: enrollment tokens, which let new devices join the fleet. */
import type { Command } from 'commander';
import type { CreateEnrollmentTokenBody, EnrollmentToken } from '../api-types.js';
import type { Context } from '../context.js';
import { formatDuration, relativeTime } from '../duration.js';
import { collect, durationOption, positiveIntOption } from '../parse.js';
import { list, renderFields, renderTable } from '../table.js';

export interface TokenCreateOptions {
  name?: string;
  ttl?: number;
  maxUses?: number;
  tag?: string[];
  autoAccept?: boolean;
  broker?: string;
  json?: boolean;
}

/** The request body for `tokens create`; only the options given are sent, so server defaults apply. */
export function tokenCreateBody(opts: TokenCreateOptions): CreateEnrollmentTokenBody {
  const body: CreateEnrollmentTokenBody = { autoAccept: opts.autoAccept === true };
  if (opts.name !== undefined) body.name = opts.name;
  if (opts.ttl !== undefined) body.ttl = opts.ttl;
  if (opts.maxUses !== undefined) body.maxUses = opts.maxUses;
  if (opts.tag !== undefined) body.tags = opts.tag;
  return body;
}

/**
 * The broker URL an agent should dial: `--broker` if given; else the URL the server
 * advertises, with the API's host when the server only knows itself as localhost.
 */
export function brokerUrlFor(server: string, broker?: string, advertised?: string): string {
  if (broker) return broker;
  const apiHost = new URL(server).hostname;
  if (!advertised) return `mqtts://${apiHost}:8883`;
  const url = new URL(advertised);
  if (url.hostname === 'localhost' && apiHost !== 'localhost') url.hostname = apiHost;
  return url.toString().replace(/\/$/, '');
}

/** The line to paste on a device; the token goes in the environment, where `ps` does not show it. */
export function agentCommandLine(broker: string, token: string): string {
  return `OUTPOST_AGENT_ENROLL_TOKEN=${token} outpost-agent --server ${broker} --ca ca.crt`;
}

function uses(t: EnrollmentToken): string {
  return t.maxUses === null ? `${t.uses}/unlimited` : `${t.uses}/${t.maxUses}`;
}

export function renderTokens(tokens: readonly EnrollmentToken[], now = Date.now()): string {
  return renderTable(
    ['ID', 'NAME', 'STATE', 'USES', 'EXPIRES', 'AUTO-ACCEPT', 'TAGS'],
    tokens.map((t) => [
      t.id,
      t.name || '-',
      t.state,
      uses(t),
      t.expiresAt ? relativeTime(t.expiresAt, now) : 'never',
      t.autoAccept ? 'yes' : 'no',
      list(t.tags),
    ]),
  );
}

export function registerTokens(program: Command, ctx: Context): void {
  const tokens = program
    .command('tokens')
    .description('enrollment tokens, which let new devices join (API tokens: `outpost api-tokens`)')
    .addHelpText(
      'after',
      `
These are *enrollment* tokens (ope_...): an agent presents one once to join the fleet. To create,
list or revoke API tokens (opt_...), which let people and scripts use the API, see
\`outpost api-tokens --help\`.`,
    );

  tokens
    .command('create')
    .description('create an enrollment token and print it (once) with the agent command line')
    .option('--name <name>', 'a label for the token')
    .option('--ttl <duration>', 'lifetime: 3600, 3600s, 30m, 24h, 7d (default 24h)', durationOption)
    .option('--max-uses <n>', 'how many devices may enroll with it (default: the server decides)', positiveIntOption)
    .option('--tag <tag>', 'tag given to devices that enroll with it (repeatable)', collect)
    .option('--auto-accept', 'accept enrolled devices at once instead of leaving them pending')
    .option('--broker <url>', 'broker URL to print in the agent command (default: what the server advertises)')
    .option('--json', 'print the created token as JSON')
    .addHelpText(
      'after',
      '\nExample:\n  outpost tokens create --name lab --tag lab --ttl 2h --max-uses 5 --auto-accept',
    )
    .action(async (opts: TokenCreateOptions) => {
      const api = await ctx.api();
      const t = await api.createToken(tokenCreateBody(opts));
      if (opts.json) return ctx.json(t);
      const token = t.token ?? '';
      const ttl = t.expiresAt ? formatDuration((Date.parse(t.expiresAt) - Date.now()) / 1000) : undefined;
      ctx.out(
        renderFields([
          ['token', token],
          ['id', t.id],
          ['name', t.name],
          ['expires', t.expiresAt ? `${t.expiresAt} (in ${ttl})` : 'never'],
          ['uses', uses(t)],
          ['tags', list(t.tags)],
          ['auto-accept', t.autoAccept ? 'yes' : 'no (accept devices with `outpost devices accept DEVICE`)'],
        ]),
      );
      ctx.out('The token is shown only this once. On a device, with the server CA copied as ca.crt, run:');
      const advertised = opts.broker
        ? undefined
        : await api.health().then(
            (h) => h.mqttUrl,
            () => undefined,
          );
      ctx.out(`  ${agentCommandLine(brokerUrlFor(api.server, opts.broker, advertised), token)}`);
    });

  tokens
    .command('ls')
    .alias('list')
    .description('list enrollment tokens (never their secret)')
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExample:\n  outpost tokens ls')
    .action(async (opts: { json?: boolean }) => {
      const items = await (await ctx.api()).listTokens();
      if (opts.json) return ctx.json(items);
      if (items.length === 0) return ctx.err('no enrollment tokens (create one with `outpost tokens create`)');
      ctx.out(renderTokens(items));
    });

  tokens
    .command('revoke')
    .description('revoke an enrollment token; devices already enrolled keep working')
    .argument('<id>', 'token id')
    .option('--json', 'print the revoked token as JSON')
    .addHelpText('after', '\nExample:\n  outpost tokens revoke et-0123456789ab')
    .action(async (id: string, opts: { json?: boolean }) => {
      const t = await (await ctx.api()).revokeToken(id);
      if (opts.json) return ctx.json(t);
      ctx.out(`revoked token ${t.id}${t.name ? ` (${t.name})` : ''}`);
    });
}
