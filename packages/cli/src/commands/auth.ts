/** `outpost login`, `logout` and `whoami`: check credentials against the server and keep them for later. */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { ApiClient } from '../api.js';
import { loadLogin, normalizeServerUrl, readTokenFile, removeLogin, type SavedLogin, saveLogin } from '../config.js';
import type { Context } from '../context.js';
import { CliError } from '../errors.js';
import { renderFields } from '../table.js';

export function registerAuth(program: Command, ctx: Context): void {
  program
    .command('login')
    .description('check a server URL, token and CA, then save them for later commands (mode 0600)')
    .option('--json', 'print the identity as JSON')
    .addHelpText(
      'after',
      `
Uses the global --server, --token (or --token-file) and --ca flags, e.g.
  outpost login --server https://host:8443 --token-file admin.token --ca ca.crt
The login is saved to $OUTPOST_CONFIG, $XDG_CONFIG_HOME/outpost/cli.json or ~/.config/outpost/cli.json.
OUTPOST_URL, OUTPOST_TOKEN and OUTPOST_CA override it.`,
    )
    .action(async (opts: { json?: boolean }) => {
      const flags = ctx.flags();
      const path = ctx.configPath();
      const saved = await loadLogin(path).catch(() => undefined);
      const rawServer = flags.server ?? ctx.env.OUTPOST_URL ?? saved?.server;
      if (!rawServer) throw new CliError('login needs --server URL (e.g. https://host:8443)');
      const server = normalizeServerUrl(rawServer);
      const token =
        flags.token ?? (flags.tokenFile ? await readTokenFile(flags.tokenFile) : undefined) ?? ctx.env.OUTPOST_TOKEN;
      if (!token) throw new CliError('login needs --token TOKEN or --token-file FILE');
      const sameServer = saved !== undefined && normalizeServerUrl(saved.server) === server;
      const ca = flags.ca ?? ctx.env.OUTPOST_CA ?? (sameServer ? saved.ca : undefined);
      const login: SavedLogin = ca ? { server, token, ca: resolve(ca) } : { server, token };
      const client = await ApiClient.connect({ server, token, ca: login.ca });
      ctx.adopt(client);
      const me = await client.whoami();
      await saveLogin(path, login);
      if (opts.json) return ctx.json({ server, config: path, whoami: me });
      if (server.startsWith('http:')) ctx.err('warning: http:// sends the token unencrypted; prefer https://');
      ctx.out(`logged in to ${server} as ${me.name} (${me.role}); saved to ${path}`);
    });

  program
    .command('logout')
    .description('forget the saved login')
    .action(async () => {
      const path = ctx.configPath();
      const removed = await removeLogin(path);
      ctx.out(removed ? `logged out (removed ${path})` : `not logged in (no ${path})`);
      const env = ['OUTPOST_URL', 'OUTPOST_TOKEN', 'OUTPOST_CA'].filter((k) => ctx.env[k]);
      if (env.length > 0) ctx.err(`note: ${env.join(', ')} still set in the environment`);
    });

  program
    .command('whoami')
    .description('show who the current credentials belong to')
    .option('--json', 'print as JSON')
    .action(async (opts: { json?: boolean }) => {
      const api = await ctx.api();
      const me = await api.whoami();
      if (opts.json) return ctx.json(me);
      ctx.out(
        renderFields([
          ['name', me.name],
          ['role', me.role],
          ['kind', me.kind],
          ['id', me.id],
          ['server', api.server],
        ]),
      );
    });
}
