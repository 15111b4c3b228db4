/**
 * `outpost services DEVICE [ls|status|start|stop|restart|enable|disable] [UNIT]`:
 * a device's systemd units. A bare unit name means `NAME.service`; names are
 * checked here against the same strict pattern the server and the device use.
 */
import {
  isUnitName,
  SERVICE_ACTIONS,
  type ServiceAction,
  type ServiceActionResult,
  type ServiceList,
  type ServiceStatus,
  UNIT_TYPES,
  type UnitType,
} from '@outpost/protocol';
import { Argument, type Command, Option } from 'commander';
import type { Context } from '../context.js';
import { relativeTime } from '../duration.js';
import { CliError } from '../errors.js';
import { renderFields, renderTable } from '../table.js';
import { compactBytes } from './processes.js';

const enc = encodeURIComponent;
const VERBS = ['ls', 'status', ...SERVICE_ACTIONS] as const;
type Verb = (typeof VERBS)[number];

const PAST: Record<ServiceAction, string> = {
  start: 'started',
  stop: 'stopped',
  restart: 'restarted',
  enable: 'enabled',
  disable: 'disabled',
};

/** `nginx` → `nginx.service`; a name with a unit type suffix is kept; a bad name is a usage error. */
export function unitName(raw: string): string {
  const hasType = UNIT_TYPES.some((t) => raw.endsWith(`.${t}`));
  const name = hasType ? raw : `${raw}.service`;
  if (!isUnitName(name)) {
    throw new CliError(
      `invalid unit name ${JSON.stringify(raw.slice(0, 100))}: letters, digits and ":_.@-" only, not starting with "-", ending in .${UNIT_TYPES.join('|.')}`,
      { code: 'E_BAD_ARGS', exitCode: 2 },
    );
  }
  return name;
}

export function renderUnits(list: ServiceList): string {
  return renderTable(
    ['UNIT', 'LOAD', 'ACTIVE', 'SUB', 'ENABLED', 'DESCRIPTION'],
    list.units.map((u) => [u.unit, u.load, u.active, u.sub, u.enabled ?? '-', u.description]),
  );
}

export function renderStatus(s: ServiceStatus, now = Date.now()): string {
  return renderFields([
    ['unit', s.unit],
    ['description', s.description],
    ['state', `${s.active} (${s.sub})`],
    ['since', s.activeSince ? `${s.activeSince} (${relativeTime(s.activeSince, now)})` : null],
    ['enabled', s.enabled],
    ['loaded', s.load],
    ['main pid', s.mainPid === null ? null : String(s.mainPid)],
    ['memory', s.memoryBytes === null ? null : compactBytes(s.memoryBytes)],
    ['restarts', s.restarts === null ? null : String(s.restarts)],
    ['result', s.result],
    ['unit file', s.path],
  ]);
}

export function registerServices(program: Command, ctx: Context): void {
  program
    .command('services')
    .description("list and control a device's systemd units")
    .argument('<device>', 'device id or name')
    .addArgument(new Argument('[action]', 'what to do').choices(VERBS).default('ls'))
    .argument('[unit]', 'unit name (a bare name means NAME.service)')
    .addOption(new Option('--type <type>', 'with ls: unit type').choices(UNIT_TYPES))
    .option('--state <state>', 'with ls: only units in this state (failed, running, active...)')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  outpost services gw-12\n  outpost services gw-12 ls --state failed\n  outpost services gw-12 status nginx\n  outpost services gw-12 restart nginx.service',
    )
    .action(
      async (
        device: string,
        verb: Verb,
        raw: string | undefined,
        opts: { type?: UnitType; state?: string; json?: boolean },
      ) => {
        const api = await ctx.api();
        if (verb === 'ls') {
          if (raw !== undefined) throw new CliError('ls takes no unit (try: status UNIT)', { exitCode: 2 });
          const query: Record<string, string | undefined> = { type: opts.type, state: opts.state };
          const list = await api.call<ServiceList>('GET', `/devices/${enc(device)}/services`, { query });
          if (opts.json) return ctx.json(list);
          if (list.units.length === 0) return ctx.err('no units match');
          return ctx.out(renderUnits(list));
        }
        if (raw === undefined) throw new CliError(`${verb} needs a unit name`, { exitCode: 2 });
        const unit = unitName(raw);
        if (verb === 'status') {
          const status = await api.call<ServiceStatus>('GET', `/devices/${enc(device)}/services/${enc(unit)}`);
          if (opts.json) return ctx.json(status);
          return ctx.out(renderStatus(status));
        }
        const result = await api.call<ServiceActionResult>(
          'POST',
          `/devices/${enc(device)}/services/${enc(unit)}/${verb}`,
        );
        if (opts.json) return ctx.json(result);
        const s = result.status;
        ctx.out(`${PAST[verb]} ${unit} on ${device}: now ${s.active} (${s.sub}), ${s.enabled ?? 'enablement unknown'}`);
      },
    );
}
