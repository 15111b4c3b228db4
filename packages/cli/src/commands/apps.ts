/**
 * `outpost apps ...`: supervised apps on a device: list them, install one from a
 * local script (with its interpreter) or from a bundle already on the device,
 * start, stop, restart, remove, inspect, and read or follow its output.
 */
import { readFile } from 'node:fs/promises';
import {
  APP_NAME_PATTERN,
  type AppsInstallArgs,
  type api,
  commands,
  MAX_SCRIPT_BYTES,
  parse,
  SCRIPT_INTERPRETERS,
} from '@outpost/protocol';
import { Option, type Command as Program } from 'commander';
import type { Context } from '../context.js';
import { formatDuration, relativeTime } from '../duration.js';
import { CliError } from '../errors.js';
import { collect, parseEnvPairs, usage } from '../parse.js';
import { confirm } from '../prompt.js';
import { list, renderFields, renderTable } from '../table.js';
import { addLogOptions, type LogsOptions, runLogs } from './logs.js';

const enc = encodeURIComponent;
const nameRe = new RegExp(APP_NAME_PATTERN);

export interface InstallOptions {
  script?: string;
  interpreter?: (typeof SCRIPT_INTERPRETERS)[number];
  bundle?: string;
  entry?: string;
  autostart?: boolean;
  env?: string[];
  cwd?: string;
  restart?: 'always' | 'on-failure' | 'never';
  replace?: boolean;
  json?: boolean;
}

export function checkName(name: string): string {
  if (!nameRe.test(name)) {
    throw usage(`'${name}' is not an app name: 1-64 of a-z, 0-9, _ and -, starting with a letter or digit`);
  }
  return name;
}

/** The `apps/install` args for the options, checked against the protocol's schema (usage errors exit 2). */
export function installArgs(
  name: string,
  words: readonly string[],
  opts: InstallOptions,
  script: string | undefined,
  localEnv: NodeJS.ProcessEnv,
): AppsInstallArgs {
  checkName(name);
  const common: Omit<AppsInstallArgs, 'script' | 'interpreter' | 'bundle' | 'entry'> = { name };
  if (words.length > 0) common.args = [...words];
  if (opts.env && opts.env.length > 0) common.env = parseEnvPairs(opts.env, localEnv);
  if (opts.cwd !== undefined) common.cwd = opts.cwd;
  if (opts.autostart === false) common.autostart = false;
  if (opts.restart !== undefined) common.restart = opts.restart;
  if (opts.replace) common.replace = true;
  let args: AppsInstallArgs;
  if (opts.script !== undefined) {
    if (opts.bundle !== undefined || opts.entry !== undefined)
      throw usage('--script does not go with --bundle/--entry');
    if (!opts.interpreter) throw usage(`--script needs --interpreter (${SCRIPT_INTERPRETERS.join(', ')})`);
    args = { ...common, script: script ?? '', interpreter: opts.interpreter };
  } else if (opts.bundle !== undefined) {
    if (opts.interpreter !== undefined) throw usage('--interpreter goes with --script');
    if (!opts.entry) throw usage('--bundle needs --entry PROGRAM (e.g. ./run.sh, or python3 with the file after --)');
    args = { ...common, bundle: opts.bundle, entry: [opts.entry] };
  } else {
    throw usage('give --script FILE --interpreter NAME, or --bundle PATH --entry PROGRAM');
  }
  try {
    return parse(commands['apps/install'].args, args, 'app install arguments');
  } catch (err) {
    throw new CliError((err as Error).message, { code: 'E_BAD_ARGS', exitCode: 2 });
  }
}

async function readScript(ctx: Context, file: string): Promise<string> {
  let bytes: Buffer;
  if (file === '-') {
    const chunks: Buffer[] = [];
    for await (const c of ctx.io.stdin) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
    bytes = Buffer.concat(chunks);
  } else {
    try {
      bytes = await readFile(file);
    } catch (err) {
      throw new CliError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  if (bytes.length > MAX_SCRIPT_BYTES) {
    throw new CliError(`the script is larger than ${MAX_SCRIPT_BYTES / 1024} KiB`, { code: 'E_TOO_LARGE' });
  }
  if (bytes.length === 0) throw usage('the script is empty');
  return bytes.toString('utf8');
}

/** `running (pid 812, up 5m)`, `backoff (restart in 4s)`, `crashed`, `stopped`. */
export function describeState(a: api.App, now = Date.now()): string {
  if (a.state === 'running') {
    const up = a.uptime === null ? '' : `, up ${formatDuration(a.uptime)}`;
    return `running (pid ${a.pid ?? '?'}${up})`;
  }
  if ((a.state === 'backoff' || a.state === 'crashed') && a.nextStartAt) {
    return `${a.state} (next start in ${formatDuration(Math.max(0, (Date.parse(a.nextStartAt) - now) / 1000))})`;
  }
  return a.state;
}

export function describeExit(e: api.App['lastExit'], now = Date.now()): string {
  if (!e) return '-';
  const how = e.signal ? `killed by ${e.signal}` : `exit ${e.code ?? '?'}`;
  return `${how} ${relativeTime(e.at, now)}`;
}

export function renderApps(items: readonly api.App[], now = Date.now()): string {
  return renderTable(
    ['NAME', 'STATE', 'PID', 'RESTARTS', 'UPTIME', 'LAST EXIT', 'AUTOSTART', 'COMMAND'],
    items.map((a) => [
      a.name,
      a.state,
      a.pid === null ? '-' : String(a.pid),
      String(a.restarts),
      a.uptime === null ? '-' : formatDuration(a.uptime),
      describeExit(a.lastExit, now),
      a.autostart ? 'yes' : 'no',
      a.command.join(' '),
    ]),
  );
}

export function renderApp(a: api.App, now = Date.now()): string {
  return renderFields([
    ['name', a.name],
    ['state', describeState(a, now)],
    ['restarts', String(a.restarts)],
    ['last exit', describeExit(a.lastExit, now)],
    ['last error', a.lastError],
    ['started', a.startedAt],
    ['autostart', a.autostart ? 'yes' : 'no'],
    ['restart', a.restart],
    ['kind', a.interpreter ? `${a.kind} (${a.interpreter})` : a.kind],
    ['command', a.command.join(' ')],
    ['cwd', a.cwd],
    ['env', list(a.env)],
    ['installed', a.installedAt],
  ]);
}

export function registerApps(program: Program, ctx: Context): void {
  const apps = program.command('apps').description('supervised apps: programs a device keeps running and restarts');
  const base = (path: string) => `/devices/${enc(path)}/apps`;

  apps
    .command('ls')
    .alias('list')
    .description("list a device's apps with their state, pid and restarts")
    .argument('<device>', 'device id or name')
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExample:\n  outpost apps ls gw-12')
    .action(async (device: string, opts: { json?: boolean }) => {
      const r = await (await ctx.api()).call<api.AppList>('GET', base(device));
      if (opts.json) return ctx.json(r.items);
      if (r.items.length === 0) return ctx.err('no apps');
      ctx.out(renderApps(r.items));
    });

  apps
    .command('install')
    .description('install an app on a device and (unless --no-autostart) start it now and at every agent start')
    .argument('<device>', 'device id or name')
    .argument('<name>', 'app name: a-z, 0-9, _ and -')
    .argument('[args...]', "the app's own arguments, after --")
    .option('--script <file>', 'a local script to run (- reads it from stdin)')
    .addOption(new Option('--interpreter <name>', 'what runs the script').choices([...SCRIPT_INTERPRETERS]))
    .option('--bundle <path>', 'a .tar, .tar.gz/.tgz or single file already on the device')
    .option('--entry <program>', 'with --bundle: the program to run (./run.sh is inside the bundle)')
    .option('--no-autostart', 'do not start it now nor when the agent starts')
    .option('-e, --env <K=V>', 'an environment variable (repeatable); a bare K copies the local value', collect)
    .option('--cwd <dir>', "working directory on the device (default: the app's files)")
    .addOption(
      new Option('--restart <policy>', 'when to restart it after it exits (default always)').choices([
        'always',
        'on-failure',
        'never',
      ]),
    )
    .option('--replace', 'replace an installed app of the same name')
    .option('--json', 'print the app as JSON')
    .addHelpText(
      'after',
      `
Examples:
  outpost apps install gw-12 sensor --script sensor.py --interpreter python3 -- --port 8080
  outpost apps install gw-12 blink --script blink.sh --interpreter sh --env LED=17
  outpost apps install gw-12 web --bundle /data/web.tgz --entry ./run.sh

Environment values are kept in the command history: do not pass secrets with --env.`,
    )
    .action(async (device: string, name: string, words: string[], opts: InstallOptions) => {
      checkName(name);
      const script = opts.script !== undefined ? await readScript(ctx, opts.script) : undefined;
      const body = installArgs(name, words, opts, script, ctx.env);
      const a = await (await ctx.api()).call<api.App>('POST', base(device), { body });
      if (opts.json) return ctx.json(a);
      ctx.out(`installed app ${a.name} on ${device}: ${describeState(a)}`);
      if (a.lastError) ctx.err(`outpost: it could not start: ${a.lastError}`);
    });

  for (const verb of ['start', 'stop', 'restart'] as const) {
    apps
      .command(verb)
      .description(`${verb} an app`)
      .argument('<device>', 'device id or name')
      .argument('<name>', 'app name')
      .option('--json', 'print the app as JSON')
      .addHelpText('after', `\nExample:\n  outpost apps ${verb} gw-12 sensor`)
      .action(async (device: string, name: string, opts: { json?: boolean }) => {
        checkName(name);
        const a = await (await ctx.api()).call<api.App>('POST', `${base(device)}/${enc(name)}/${verb}`);
        if (opts.json) return ctx.json(a);
        ctx.out(`app ${a.name}: ${describeState(a)}`);
      });
  }

  apps
    .command('status')
    .alias('show')
    .description("an app's state, pid, restarts, last exit and command")
    .argument('<device>', 'device id or name')
    .argument('<name>', 'app name')
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExample:\n  outpost apps status gw-12 sensor')
    .action(async (device: string, name: string, opts: { json?: boolean }) => {
      checkName(name);
      const a = await (await ctx.api()).call<api.App>('GET', `${base(device)}/${enc(name)}`);
      if (opts.json) return ctx.json(a);
      ctx.out(renderApp(a));
    });

  apps
    .command('rm')
    .alias('uninstall')
    .description('stop an app and remove it (its files and output) from the device')
    .argument('<device>', 'device id or name')
    .argument('<name>', 'app name')
    .option('-y, --yes', 'do not ask for confirmation')
    .option('--json', 'print the answer as JSON')
    .addHelpText('after', '\nExample:\n  outpost apps rm gw-12 sensor --yes')
    .action(async (device: string, name: string, opts: { yes?: boolean; json?: boolean }) => {
      checkName(name);
      if (!opts.yes && !(await confirm(ctx, `Remove app ${name} from ${device}?`, 'refusing to remove'))) {
        ctx.err('not removed');
        ctx.exitCode = 1;
        return;
      }
      const r = await (await ctx.api()).call<api.AppRemoved>('DELETE', `${base(device)}/${enc(name)}`);
      if (opts.json) return ctx.json(r);
      ctx.out(`removed app ${name} from ${device}`);
    });

  addLogOptions(
    apps
      .command('logs')
      .description("print an app's output (same as outpost logs DEVICE --app NAME)")
      .argument('<device>', 'device id or name')
      .argument('<name>', 'app name'),
  )
    .addHelpText('after', '\nExamples:\n  outpost apps logs gw-12 sensor\n  outpost apps logs gw-12 sensor -f')
    .action(async (device: string, name: string, opts: LogsOptions) => {
      checkName(name);
      await runLogs(ctx, device, { ...opts, app: name });
    });
}
