/**
 * `outpost login`, `logout`, `whoami`, `accept-invite` and `passwd`: get credentials (an API token, or
 * a password exchanged for one), keep them for later commands, and show who they belong to.
 */
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { ApiClient } from '../api.js';
import type { TokenLogin, WhoAmI } from '../api-types.js';
import { loadLogin, normalizeServerUrl, readTokenFile, removeLogin, type SavedLogin, saveLogin } from '../config.js';
import type { Context } from '../context.js';
import { formatDuration } from '../duration.js';
import { CliError } from '../errors.js';
import { durationOption, usage } from '../parse.js';
import { readNewPassword, readSecret, readStdinLines } from '../prompt.js';
import { renderFields, scope, scopes } from '../table.js';

/** How long a password login's token lives unless `--ttl` says otherwise. */
export const DEFAULT_LOGIN_TTL = 30 * 86_400;

/** The name a password login gives its API token, so `outpost api-tokens ls` says where it lives. */
export function loginTokenName(host: string = hostname()): string {
  return `cli@${host}`.slice(0, 128);
}

/** Where a login-like command connects and saves: --server, OUTPOST_URL or the saved server, and its CA. */
interface LoginTarget {
  server: string;
  ca: string | undefined;
  path: string;
}

async function loginTarget(ctx: Context): Promise<LoginTarget> {
  const flags = ctx.flags();
  const path = ctx.configPath();
  const saved = await loadLogin(path).catch(() => undefined);
  const rawServer = flags.server ?? ctx.env.OUTPOST_URL ?? saved?.server;
  if (!rawServer) throw new CliError('login needs --server URL (e.g. https://host:8443)');
  const server = normalizeServerUrl(rawServer);
  const sameServer = saved !== undefined && normalizeServerUrl(saved.server) === server;
  const ca = flags.ca ?? ctx.env.OUTPOST_CA ?? (sameServer ? saved.ca : undefined);
  // Said before anything secret is sent, not after.
  if (server.startsWith('http:')) ctx.err('warning: http:// sends passwords and tokens unencrypted; prefer https://');
  return { server, ca: ca ? resolve(ca) : undefined, path };
}

/** Checks a token with `whoami`, then saves it (mode 0600); the client stays open for the caller. */
async function saveChecked(ctx: Context, target: LoginTarget, token: string): Promise<WhoAmI> {
  const client = await ApiClient.connect({ server: target.server, token, ca: target.ca });
  ctx.adopt(client);
  const me = await client.whoami();
  const login: SavedLogin = target.ca
    ? { server: target.server, token, ca: target.ca }
    : { server: target.server, token };
  await saveLogin(target.path, login);
  return me;
}

/** Runs one call on an anonymous client (the public auth routes) and closes it. */
async function anonymously<T>(target: LoginTarget, fn: (api: ApiClient) => Promise<T>): Promise<T> {
  const api = await ApiClient.connect({ server: target.server, token: '', ca: target.ca });
  try {
    return await fn(api);
  } finally {
    await api.close();
  }
}

interface PasswordLoginOptions {
  ttl?: number;
  tokenName?: string;
}

/** Exchanges a name and password for a personal API token and saves it exactly as a token login would. */
async function passwordLogin(
  ctx: Context,
  target: LoginTarget,
  name: string,
  password: string,
  opts: PasswordLoginOptions,
): Promise<{ me: WhoAmI; created: TokenLogin }> {
  const created = await anonymously(target, (api) =>
    api.tokenLogin({
      name,
      password,
      tokenName: opts.tokenName ?? loginTokenName(),
      ttl: opts.ttl ?? DEFAULT_LOGIN_TTL,
    }),
  );
  return { me: await saveChecked(ctx, target, created.token), created };
}

function loggedIn(ctx: Context, target: LoginTarget, me: WhoAmI, created?: TokenLogin): void {
  ctx.out(`logged in to ${target.server} as ${me.name} (${me.role}); saved to ${target.path}`);
  if (created) {
    const left = created.expiresAt ? formatDuration((Date.parse(created.expiresAt) - Date.now()) / 1000) : undefined;
    const expiry = created.expiresAt ? `expires in ${left}, at ${created.expiresAt}` : 'never expires';
    ctx.out(`API token ${created.id} ${expiry}; see \`outpost api-tokens ls\``);
  }
}

export function renderWhoami(me: WhoAmI, server: string): string {
  return renderFields([
    ['name', me.name],
    ['role', me.role],
    ['scope', scopes(me.scopes)],
    ['kind', me.kind],
    ['id', me.id],
    ['user id', me.userId],
    ['server', server],
  ]);
}

/** One line from stdin (`--password-stdin`). */
async function stdinLine(ctx: Context, what: string): Promise<string> {
  const [line] = await readStdinLines(ctx, 1, what);
  return line ?? '';
}

interface LoginOptions extends PasswordLoginOptions {
  user?: string;
  passwordStdin?: boolean;
  json?: boolean;
}

interface AcceptOptions extends PasswordLoginOptions {
  code?: string;
  codeStdin?: boolean;
  passwordStdin?: boolean;
  json?: boolean;
}

/**
 * Whether the caller has a password to confirm. Users made from invitations always do; the first-start
 * `admin` has none until it sets one, and only admins may look that up.
 */
async function hasPassword(api: ApiClient, me: WhoAmI): Promise<boolean> {
  if (me.role !== 'admin' || !me.userId) return true;
  const users = await api.listUsers().catch(() => []);
  return users.find((u) => u.id === me.userId)?.hasPassword ?? true;
}

export function registerAuth(program: Command, ctx: Context): void {
  program
    .command('login')
    .description('log in with a password (--user) or an API token, then save the login for later commands')
    .option('--user <name>', 'log in as this user with a password, asked for on the terminal')
    .option('--password-stdin', 'with --user: read the password from stdin (for scripts)')
    .option('--ttl <duration>', 'with --user: lifetime of the API token the password is exchanged for', durationOption)
    .option('--token-name <name>', `with --user: name of that API token (default ${loginTokenName('HOST')})`)
    .option('--json', 'print the identity as JSON')
    .addHelpText(
      'after',
      `
Examples:
  outpost login --server https://host:8443 --ca ca.crt --user alice
  printf '%s\\n' "$PASSWORD" | outpost login --server https://host:8443 --ca ca.crt --user ci --password-stdin
  outpost login --server https://host:8443 --token-file admin.token --ca ca.crt

With --user, the password is exchanged for a personal API token (default lifetime 30d) and only the
token is saved. Otherwise the global --token (or --token-file) is checked and saved.
The login is saved to $OUTPOST_CONFIG, $XDG_CONFIG_HOME/outpost/cli.json or ~/.config/outpost/cli.json
(mode 0600). OUTPOST_URL, OUTPOST_TOKEN and OUTPOST_CA override it.`,
    )
    .action(async (opts: LoginOptions) => {
      const flags = ctx.flags();
      if (opts.user !== undefined) {
        if (flags.token || flags.tokenFile)
          throw usage('--user logs in with a password; leave out --token/--token-file');
        const target = await loginTarget(ctx);
        const password = opts.passwordStdin
          ? await stdinLine(ctx, 'the password')
          : await readSecret(ctx, `Password for ${opts.user}: `);
        const { me, created } = await passwordLogin(ctx, target, opts.user, password, opts);
        if (opts.json)
          return ctx.json({ server: target.server, config: target.path, whoami: me, token: tokenInfo(created) });
        return loggedIn(ctx, target, me, created);
      }
      if (opts.passwordStdin || opts.ttl !== undefined || opts.tokenName !== undefined) {
        throw usage('--password-stdin, --ttl and --token-name go with --user NAME');
      }
      const target = await loginTarget(ctx);
      const token =
        flags.token ?? (flags.tokenFile ? await readTokenFile(flags.tokenFile) : undefined) ?? ctx.env.OUTPOST_TOKEN;
      if (!token) throw new CliError('login needs --user NAME, or --token TOKEN or --token-file FILE');
      const me = await saveChecked(ctx, target, token);
      if (opts.json) return ctx.json({ server: target.server, config: target.path, whoami: me });
      loggedIn(ctx, target, me);
    });

  program
    .command('accept-invite')
    .description('accept an invitation: choose your password, then log in and save the login')
    .option('--code <code>', 'the invitation code (opi_...) you were sent')
    .option('--code-stdin', 'read the code from stdin (first line, before the password with --password-stdin)')
    .option('--password-stdin', 'read the new password from stdin instead of asking twice on the terminal')
    .option('--ttl <duration>', 'lifetime of the API token saved for later commands (default 30d)', durationOption)
    .option('--token-name <name>', `name of that API token (default ${loginTokenName('HOST')})`)
    .option('--json', 'print the account and identity as JSON')
    .addHelpText(
      'after',
      `
Example (the command your admin sent, with the server's CA saved as ca.crt):
  outpost accept-invite --server https://host:8443 --ca ca.crt --code opi_...

Without --code or --code-stdin the code is asked for on the terminal. The code works once.`,
    )
    .action(async (opts: AcceptOptions) => {
      if (opts.code !== undefined && opts.codeStdin) throw usage('give the code with --code or --code-stdin, not both');
      const target = await loginTarget(ctx);
      let code = opts.code;
      let password: string | undefined;
      if (opts.codeStdin || opts.passwordStdin) {
        const wanted = [opts.codeStdin && 'the invitation code', opts.passwordStdin && 'the new password'];
        const what = wanted.filter((w) => typeof w === 'string').join(', then ');
        const lines = await readStdinLines(ctx, opts.codeStdin && opts.passwordStdin ? 2 : 1, what);
        if (opts.codeStdin) code = lines.shift();
        if (opts.passwordStdin) password = lines.shift();
      }
      code ??= await readSecret(ctx, 'Invitation code: ', 'use --code or --code-stdin');
      password ??= await readNewPassword(ctx, 'Choose a password: ');
      const user = await anonymously(target, (api) => api.acceptInvitation(code.trim(), password));
      let me: WhoAmI;
      let created: TokenLogin;
      try {
        ({ me, created } = await passwordLogin(ctx, target, user.name, password, opts));
      } catch (err) {
        const why = err instanceof Error ? err.message : String(err);
        throw new CliError(
          `your account '${user.name}' was created, but logging in failed (${why}); ` +
            `run: outpost login --server ${target.server} --user ${user.name}`,
          err instanceof CliError && err.code ? { code: err.code } : {},
        );
      }
      if (opts.json) {
        return ctx.json({ server: target.server, config: target.path, user, whoami: me, token: tokenInfo(created) });
      }
      ctx.out(`welcome, ${user.name}: your account is ready (${user.role}, ${scope(user.tags)})`);
      loggedIn(ctx, target, me, created);
      ctx.out(renderWhoami(me, target.server));
    });

  program
    .command('passwd')
    .description('change your password (browser sessions other than this one end)')
    .option('--password-stdin', 'read the current password, then the new one, one per line, from stdin')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
Examples:
  outpost passwd
  printf '%s\\n%s\\n' "$OLD" "$NEW" | outpost passwd --password-stdin

The first-start admin has no password yet: only the new one is asked for (or read from stdin).
API tokens, including the one \`outpost login --user\` saved, stay valid: see \`outpost api-tokens ls\`.`,
    )
    .action(async (opts: { passwordStdin?: boolean; json?: boolean }) => {
      const api = await ctx.api();
      const me = await api.whoami();
      if (!me.userId) throw new CliError(`${me.name} is not a user and has no password`, { code: 'E_DENIED' });
      const needsCurrent = await hasPassword(api, me);
      let current: string | undefined;
      let next: string;
      if (opts.passwordStdin) {
        const lines = await readStdinLines(
          ctx,
          needsCurrent ? 2 : 1,
          needsCurrent ? 'the current password, then the new one' : 'the new password',
        );
        [current, next = ''] = needsCurrent ? lines : [undefined, lines[0]];
      } else {
        if (needsCurrent) current = await readSecret(ctx, 'Current password: ');
        next = await readNewPassword(ctx);
      }
      // The server requires `current` but ignores it for a user who has no password yet.
      const r = await api.changePassword(current ?? '-', next);
      if (opts.json) return ctx.json(r);
      const n = r.endedSessions;
      ctx.out(`password changed for ${me.name}; ended ${n} other browser session${n === 1 ? '' : 's'}`);
      ctx.err('note: API tokens stay valid; revoke any you no longer trust with `outpost api-tokens revoke ID`');
    });

  program
    .command('logout')
    .description('forget the saved login')
    .addHelpText('after', '\nExample:\n  outpost logout')
    .action(async () => {
      const path = ctx.configPath();
      const removed = await removeLogin(path);
      ctx.out(removed ? `logged out (removed ${path})` : `not logged in (no ${path})`);
      const env = ['OUTPOST_URL', 'OUTPOST_TOKEN', 'OUTPOST_CA'].filter((k) => ctx.env[k]);
      if (env.length > 0) ctx.err(`note: ${env.join(', ')} still set in the environment`);
    });

  program
    .command('whoami')
    .description('show who the current credentials belong to: name, role and which devices they reach')
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExample:\n  outpost whoami')
    .action(async (opts: { json?: boolean }) => {
      const api = await ctx.api();
      const me = await api.whoami();
      if (opts.json) return ctx.json(me);
      ctx.out(renderWhoami(me, api.server));
    });
}

/** The created token without its secret, for `--json` (the secret is in the saved login). */
function tokenInfo(created: TokenLogin): Omit<TokenLogin, 'token'> {
  const { token: _secret, ...rest } = created;
  return rest;
}
