/** Builds the `outpost` command tree: global connection flags, then one module per command group. */
import { Command } from 'commander';
import { registerApiTokens } from './commands/api-tokens.js';
import { registerApps } from './commands/apps.js';
import { registerAudit } from './commands/audit.js';
import { registerAuth } from './commands/auth.js';
import { registerCommands } from './commands/commands.js';
import { registerDemo } from './commands/demo.js';
import { registerDevices } from './commands/devices.js';
import { registerExec } from './commands/exec.js';
import { registerFiles } from './commands/files.js';
import { registerForward } from './commands/forward.js';
import { registerLogs } from './commands/logs.js';
import { registerPower } from './commands/power.js';
import { registerProcesses } from './commands/processes.js';
import { registerScripts } from './commands/scripts.js';
import { registerServer } from './commands/server.js';
import { registerServices } from './commands/services.js';
import { registerSessions } from './commands/sessions.js';
import { registerStats } from './commands/stats.js';
import { registerTerminal } from './commands/terminal.js';
import { registerTokens } from './commands/tokens.js';
import { registerUsers } from './commands/users.js';
import type { Context } from './context.js';
import { cliVersion } from './paths.js';

export function buildProgram(ctx: Context): Command {
  const program = new Command('outpost');
  program
    .description('Outpost: remote management for fleets of embedded Linux devices')
    .version(cliVersion(), '-V, --version')
    .option('--server <url>', 'server URL, e.g. https://host:8443 (env OUTPOST_URL)')
    .option('--token <token>', 'API token (env OUTPOST_TOKEN)')
    .option('--token-file <file>', 'read the API token from a file')
    .option('--ca <file>', "the server's CA certificate, PEM (env OUTPOST_CA)")
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .configureOutput({
      writeOut: (s) => ctx.io.stdout.write(s),
      writeErr: (s) => ctx.io.stderr.write(s),
    })
    .exitOverride()
    .addHelpText(
      'after',
      `
Start here:
  outpost demo                     a server and a demo device on this machine
  outpost server                   run the server
  outpost login --server URL --token-file FILE --ca FILE
  outpost login --server URL --ca FILE --user NAME       with a password
  outpost devices ls
  outpost exec DEVICE -- uname -a
  outpost stats DEVICE --watch
  outpost scripts run NAME DEVICE --param k=v
  outpost users invite NAME --role operator
  outpost audit --since 1h

Set OUTPOST_DEBUG=1 to see stack traces.`,
    );
  ctx.attach(program);
  registerServer(program, ctx);
  registerDemo(program, ctx);
  registerAuth(program, ctx);
  registerTokens(program, ctx);
  registerDevices(program, ctx);
  registerExec(program, ctx);
  registerTerminal(program, ctx);
  registerForward(program, ctx);
  registerStats(program, ctx);
  registerScripts(program, ctx);
  registerFiles(program, ctx);
  registerProcesses(program, ctx);
  registerServices(program, ctx);
  registerPower(program, ctx);
  registerLogs(program, ctx);
  registerApps(program, ctx);
  registerCommands(program, ctx);
  registerUsers(program, ctx);
  registerApiTokens(program, ctx);
  registerSessions(program, ctx);
  registerAudit(program, ctx);
  return program;
}
