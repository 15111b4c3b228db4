/**
 * `outpost scripts ls|show|create|edit|versions|rm|run`: the server's script library.
 * `run` sends the script to a device as an ordinary exec command and follows it like
 * `outpost exec`: output streams live and the remote exit code is ours.
 */
import { readFile } from 'node:fs/promises';
import { api, SCRIPT_INTERPRETERS, type ScriptInterpreter } from '@outpost/protocol';
import { Option, type Command as Program } from 'commander';
import type {
  Script,
  ScriptParameter,
  ScriptSummary,
  ScriptVersion,
  ScriptVersionSummary,
  UpdateScriptBody,
} from '../api-types.js';
import type { Context } from '../context.js';
import { relativeTime } from '../duration.js';
import { CliError } from '../errors.js';
import { collect, durationOption, usage } from '../parse.js';
import { confirm } from '../prompt.js';
import { renderFields, renderTable } from '../table.js';
import { followSent, readStdin } from './exec.js';

const MAX_CONTENT = 256 * 1024;
const NAME = new RegExp(api.SCRIPT_NAME_PATTERN);
const PARAM_NAME = new RegExp(api.PARAM_NAME_PATTERN);

const NAME_RULE = "lowercase letters, digits, '.', '_' and '-', at most 64, starting with a letter or digit";

function checkName(name: string): string {
  if (!NAME.test(name)) throw usage(`'${name}' is not a script name: ${NAME_RULE}`);
  return name;
}

/**
 * `NAME` or `NAME@VERSION` (`probe@2`). A version is not an option: the global
 * `--version` flag would take `--version N` wherever it stands on the command line.
 */
export function parseScriptRef(ref: string): { name: string; version?: number } {
  const at = ref.lastIndexOf('@');
  if (at === -1) return { name: checkName(ref) };
  const name = checkName(ref.slice(0, at));
  const text = ref.slice(at + 1);
  const version = /^[1-9]\d{0,9}$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(version) || version > 2 ** 31 - 1) {
    throw usage(`'${ref}': the version after @ must be a positive whole number, e.g. ${name}@2`);
  }
  return { name, version };
}

/**
 * One `--param` of create/edit: `name:type[:required][=default]`, the type one of
 * string, integer, boolean (default string). The default is sent as text; the server
 * checks it against the type.
 */
export function parseParamSpec(spec: string): ScriptParameter {
  const eq = spec.indexOf('=');
  const head = eq === -1 ? spec : spec.slice(0, eq);
  const [name = '', type = 'string', flag, ...rest] = head.split(':');
  const hint = 'expected name:type[:required][=default], e.g. count:integer=3 or host:string:required';
  if (!PARAM_NAME.test(name)) throw usage(`--param ${spec}: '${name}' is not a parameter name; ${hint}`);
  if (!(api.SCRIPT_PARAM_TYPES as readonly string[]).includes(type)) {
    throw usage(`--param ${spec}: type must be one of ${api.SCRIPT_PARAM_TYPES.join(', ')}; ${hint}`);
  }
  if (rest.length > 0 || (flag !== undefined && flag !== 'required' && flag !== 'optional')) {
    throw usage(`--param ${spec}: ${hint}`);
  }
  const param: ScriptParameter = { name, type: type as api.ScriptParamType, required: flag === 'required' };
  if (eq !== -1) param.default = spec.slice(eq + 1);
  return param;
}

/** The `--param k=v` values of a run, as text (the server converts integers and booleans). */
export function parseParamValues(pairs: readonly string[]): Record<string, string> {
  const values: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    const name = eq === -1 ? pair : pair.slice(0, eq);
    if (eq === -1 || !PARAM_NAME.test(name)) throw usage(`--param ${pair}: expected NAME=VALUE`);
    if (Object.hasOwn(values, name)) throw usage(`--param ${name} is given twice`);
    values[name] = pair.slice(eq + 1);
  }
  return values;
}

/** Script text from a file, or from stdin for `-`, at most 256 KiB. */
async function readContent(ctx: Context, file: string): Promise<string> {
  if (file === '-') return readStdin(ctx, '--file -');
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${(err as Error).message}`);
  }
  if (bytes.length > MAX_CONTENT) {
    throw new CliError(`${file} is ${bytes.length} bytes; a script may have at most 256 KiB`, { code: 'E_TOO_LARGE' });
  }
  return bytes.toString('utf8');
}

export function renderScripts(items: readonly ScriptSummary[], now = Date.now()): string {
  return renderTable(
    ['NAME', 'VERSION', 'INTERPRETER', 'PARAMS', 'UPDATED', 'DESCRIPTION'],
    items.map((s) => [
      s.name,
      String(s.version),
      s.interpreter,
      s.params.length > 0 ? s.params.map((p) => p.name).join(', ') : '-',
      `${relativeTime(s.updatedAt, now)} by ${s.updatedBy ?? '?'}`,
      s.description || '-',
    ]),
  );
}

export function renderParams(params: readonly ScriptParameter[]): string {
  return renderTable(
    ['NAME', 'TYPE', 'REQUIRED', 'DEFAULT', 'PATTERN', 'DESCRIPTION'],
    params.map((p) => [
      p.name,
      p.type,
      p.required ? 'yes' : 'no',
      p.default === undefined ? '-' : String(p.default),
      p.pattern ?? '-',
      p.description ?? '-',
    ]),
  );
}

/** A version (or a script's latest one) for people: fields, parameters, then the text. */
export function renderScript(s: Script | ScriptVersion, latest?: number, now = Date.now()): string {
  const when = (iso: string, by: string | null) => `${iso} (${relativeTime(iso, now)}) by ${by ?? '?'}`;
  // A script shows its whole history's ends; a version, when it was saved.
  const history: [string, string][] =
    'updatedAt' in s
      ? [
          ['created', when(s.createdAt, s.createdBy)],
          ['updated', when(s.updatedAt, s.updatedBy)],
        ]
      : [['saved', when(s.createdAt, s.createdBy)]];
  const fields: [string, string | null][] = [
    ['name', s.name],
    ['version', latest !== undefined && latest !== s.version ? `${s.version} (latest is ${latest})` : `${s.version}`],
    ['interpreter', s.interpreter],
    ['description', s.description],
    ['size', `${s.size} bytes`],
    ['sha256', s.sha256],
    ...history,
  ];
  const params = s.params.length > 0 ? `parameters:\n${renderParams(s.params)}` : 'parameters: none\n';
  const text = s.content.endsWith('\n') ? s.content : `${s.content}\n`;
  return `${renderFields(fields)}${params}--- content ---\n${text}`;
}

export function renderVersions(items: readonly ScriptVersionSummary[], now = Date.now()): string {
  return renderTable(
    ['VERSION', 'INTERPRETER', 'SIZE', 'SHA256', 'SAVED', 'BY', 'DESCRIPTION'],
    items.map((v) => [
      String(v.version),
      v.interpreter,
      `${v.size} B`,
      v.sha256.slice(0, 12),
      relativeTime(v.createdAt, now),
      v.createdBy ?? '-',
      v.description || '-',
    ]),
  );
}

interface SaveOptions {
  file?: string;
  interpreter?: ScriptInterpreter;
  param?: string[];
  clearParams?: boolean;
  description?: string;
  json?: boolean;
}

interface RunOptions {
  param?: string[];
  timeout?: number;
  ttl?: number;
  wait?: boolean;
  json?: boolean;
}

const interpreterOption = () =>
  new Option('--interpreter <name>', 'what runs the script on the device').choices(SCRIPT_INTERPRETERS);
const paramSpecHelp =
  'declare a parameter name:type[:required][=default] (repeatable; type string, integer or boolean)';

export function registerScripts(program: Program, ctx: Context): void {
  const scripts = program.command('scripts').description('the script library: save, version and run scripts');
  const nameArg = ['<name>', 'script name'] as const;
  const refArg = [
    '<name[@version]>',
    'script name, and a version to pick one other than the latest (probe@2)',
  ] as const;

  scripts
    .command('ls')
    .alias('list')
    .description('list the scripts in the library')
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExample:\n  outpost scripts ls')
    .action(async (opts: { json?: boolean }) => {
      const items = await (await ctx.api()).listScripts();
      if (opts.json) return ctx.json(items);
      if (items.length === 0) return ctx.err('no scripts yet (add one: `outpost scripts create --help`)');
      ctx.out(renderScripts(items));
    });

  scripts
    .command('show')
    .description('show a script: its latest version, or the one asked for, with its text')
    .argument(...refArg)
    .option('--raw', 'print only the text (to edit it and save it back)')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  outpost scripts show rotate-logs\n  outpost scripts show rotate-logs@2 --raw > rotate.sh',
    )
    .action(async (ref: string, opts: { raw?: boolean; json?: boolean }) => {
      const { name, version } = parseScriptRef(ref);
      const client = await ctx.api();
      const latest = await client.getScript(name);
      const s = version === undefined ? latest : await client.getScriptVersion(name, version);
      if (opts.json) return ctx.json(s);
      if (opts.raw) return void ctx.io.stdout.write(s.content);
      ctx.io.stdout.write(renderScript(s, latest.version));
    });

  scripts
    .command('create')
    .description('add a script to the library (version 1)')
    .argument(...nameArg)
    .requiredOption('--file <file>', 'the script text (- reads stdin), at most 256 KiB')
    .addOption(interpreterOption().makeOptionMandatory())
    .option('--param <spec>', paramSpecHelp, collect)
    .option('--description <text>', 'what the script does')
    .option('--json', 'print the script as JSON')
    .addHelpText(
      'after',
      `
Examples:
  outpost scripts create rotate-logs --file rotate.sh --interpreter sh --param keep:integer=7
  outpost scripts create probe --file probe.py --interpreter python3 --param host:string:required

Parameters reach the script as environment variables OUTPOST_PARAM_<NAME> and as
positional arguments in the order declared, never inside its text.`,
    )
    .action(async (name: string, opts: SaveOptions & { file: string; interpreter: ScriptInterpreter }) => {
      const content = await readContent(ctx, opts.file);
      const s = await (await ctx.api()).createScript({
        name: checkName(name),
        interpreter: opts.interpreter,
        content,
        params: (opts.param ?? []).map(parseParamSpec),
        ...(opts.description !== undefined ? { description: opts.description } : {}),
      });
      if (opts.json) return ctx.json(s);
      ctx.out(`created script ${s.name} version ${s.version} (${s.interpreter}, ${s.size} bytes)`);
    });

  scripts
    .command('edit')
    .description('save a new version of a script; what is not given stays as it was')
    .argument(...nameArg)
    .option('--file <file>', 'the new text (- reads stdin), at most 256 KiB')
    .addOption(interpreterOption())
    .addOption(new Option('--param <spec>', `${paramSpecHelp}; replaces all of them`).argParser(collect))
    .addOption(new Option('--clear-params', 'declare no parameters').conflicts('param'))
    .option('--description <text>', 'what the script does')
    .option('--json', 'print the script as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  outpost scripts edit rotate-logs --file rotate.sh\n  outpost scripts edit probe --param host:string:required --param port:integer=22',
    )
    .action(async (name: string, opts: SaveOptions) => {
      const body: UpdateScriptBody = {};
      if (opts.file !== undefined) body.content = await readContent(ctx, opts.file);
      if (opts.interpreter !== undefined) body.interpreter = opts.interpreter;
      if (opts.param !== undefined) body.params = opts.param.map(parseParamSpec);
      if (opts.clearParams) body.params = [];
      if (opts.description !== undefined) body.description = opts.description;
      if (Object.keys(body).length === 0) {
        throw usage('nothing to change: give --file, --interpreter, --param, --clear-params or --description');
      }
      const client = await ctx.api();
      const before = await client.getScript(checkName(name));
      const s = await client.updateScript(name, body);
      if (opts.json) return ctx.json(s);
      ctx.out(
        s.version === before.version
          ? `script ${s.name} unchanged (still version ${s.version})`
          : `saved script ${s.name} version ${s.version}`,
      );
    });

  scripts
    .command('versions')
    .description("list a script's versions, newest first")
    .argument(...nameArg)
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExample:\n  outpost scripts versions rotate-logs')
    .action(async (name: string, opts: { json?: boolean }) => {
      const items = await (await ctx.api()).listScriptVersions(checkName(name));
      if (opts.json) return ctx.json(items);
      ctx.out(renderVersions(items));
    });

  scripts
    .command('rm')
    .alias('delete')
    .description('delete a script and all its versions (commands already sent keep their copy)')
    .argument(...nameArg)
    .option('-y, --yes', 'do not ask for confirmation')
    .addHelpText('after', '\nExample:\n  outpost scripts rm rotate-logs --yes')
    .action(async (name: string, opts: { yes?: boolean }) => {
      const client = await ctx.api();
      const s = await client.getScript(checkName(name));
      const question = `Delete script ${s.name} and its ${s.version} version(s)? This cannot be undone.`;
      if (!opts.yes && !(await confirm(ctx, question, 'refusing to delete'))) {
        ctx.err('not deleted');
        ctx.exitCode = 1;
        return;
      }
      await client.deleteScript(s.name);
      ctx.out(`deleted script ${s.name}`);
    });

  scripts
    .command('run')
    .description('run a library script on a device, stream its output and exit with its exit code')
    .argument(...refArg)
    .argument('<device>', 'device id or name')
    .option('--param <name=value>', 'a parameter value (repeatable)', collect)
    .option('--timeout <duration>', 'kill the script on the device after this long (default 60s)', durationOption)
    .option('--ttl <duration>', 'how long the command may wait for an offline device (default 1h)', durationOption)
    .option('--no-wait', 'queue the command, print its id and return at once')
    .option('--json', 'print the final command as JSON instead of its output')
    .addHelpText(
      'after',
      `
Examples:
  outpost scripts run rotate-logs gw-12 --param keep=3
  outpost scripts run probe@2 gw-12 --param host=10.0.0.1 --timeout 5m

A script killed by signal N exits 128+N, like outpost exec.`,
    )
    .action(async (ref: string, device: string, opts: RunOptions) => {
      const { name, version } = parseScriptRef(ref);
      const params = parseParamValues(opts.param ?? []);
      const client = await ctx.api();
      const command = await client.runScript(device, name, {
        params,
        ...(version !== undefined ? { version } : {}),
        ...(opts.timeout !== undefined ? { timeoutMs: Math.round(opts.timeout * 1000) } : {}),
        ...(opts.ttl !== undefined ? { ttl: opts.ttl } : {}),
      });
      await followSent(ctx, client, command, device, opts);
    });
}
