/** `outpost devices ...`: list, inspect, accept/reject/revoke, delete, tag and rename devices. */
import { type Command, Option } from 'commander';
import { DEVICE_STATUSES, type Device, type DeviceListQuery, type DeviceStatusName } from '../api-types.js';
import type { Context } from '../context.js';
import { relativeTime } from '../duration.js';
import { collect } from '../parse.js';
import { confirm } from '../prompt.js';
import { list, renderFields, renderTable } from '../table.js';

export interface DeviceListOptions {
  status?: DeviceStatusName;
  tag?: string;
  online?: boolean;
  offline?: boolean;
}

export function deviceFilter(opts: DeviceListOptions): DeviceListQuery {
  const filter: DeviceListQuery = {};
  if (opts.status) filter.status = opts.status;
  if (opts.tag) filter.tag = opts.tag;
  if (opts.online) filter.online = true;
  if (opts.offline) filter.online = false;
  return filter;
}

/** The address most worth showing: the first that is not loopback or link-local. */
export function primaryIp(ips: readonly string[] | null | undefined): string {
  const usable = (ips ?? []).filter((ip) => !/^(127\.|::1$|fe80:|169\.254\.)/i.test(ip));
  return usable[0] ?? ips?.[0] ?? '-';
}

export function renderDevices(devices: readonly Device[], now = Date.now()): string {
  return renderTable(
    ['ID', 'NAME', 'STATUS', 'ONLINE', 'LAST SEEN', 'IP', 'AGENT', 'TAGS'],
    devices.map((d) => [
      d.id,
      d.name,
      d.status,
      d.online ? 'yes' : 'no',
      d.online ? 'now' : relativeTime(d.lastSeen, now),
      primaryIp(d.ips),
      d.agentVersion ?? '-',
      list(d.tags),
    ]),
  );
}

/** The headline of the last metrics sample: `cpu 12.0%, mem 40.5%, disk 22.1%, 48.3 °C, load 0.42 (5s ago)`. */
export function metricsLine(d: Device, now = Date.now()): string | null {
  const m = d.metrics;
  if (!m) return null;
  const parts = [`cpu ${m.cpu.toFixed(1)}%`, `mem ${m.mem.toFixed(1)}%`];
  if (m.disk !== null) parts.push(`disk ${m.disk.toFixed(1)}%`);
  if (m.temperature !== null) parts.push(`${m.temperature.toFixed(1)} °C`);
  parts.push(`load ${m.load1.toFixed(2)}`);
  return `${parts.join(', ')} (${relativeTime(m.sampledAt, now)}; more: outpost stats ${d.id})`;
}

export function renderDevice(d: Device, now = Date.now()): string {
  const when = (iso: string | null) => (iso ? `${iso} (${relativeTime(iso, now)})` : null);
  return renderFields([
    ['id', d.id],
    ['name', d.name],
    ['status', d.status],
    ['online', d.online ? `yes, since ${when(d.onlineSince) ?? '?'}` : 'no'],
    ['last seen', when(d.lastSeen) ?? 'never'],
    ['metrics', metricsLine(d, now)],
    ['tags', list(d.tags)],
    ['hostname', d.hostname],
    ['os', d.os],
    ['kernel', d.kernel],
    ['arch', d.arch],
    ['agent', d.agentVersion],
    ['ips', list(d.ips)],
    ['macs', list(d.macs)],
    ['first seen', when(d.firstSeen)],
    ['enrolled', when(d.enrolledAt)],
  ]);
}

export interface TagChange {
  set?: readonly string[];
  add?: readonly string[];
  remove?: readonly string[];
  clear?: boolean;
}

/** The tags after a change: `set` (or `clear`) replaces, then `add` and `remove` apply; order is kept. */
export function nextTags(current: readonly string[], change: TagChange): string[] {
  let tags = change.clear ? [] : change.set && change.set.length > 0 ? [...change.set] : [...current];
  for (const t of change.add ?? []) if (!tags.includes(t)) tags.push(t);
  tags = tags.filter((t) => !(change.remove ?? []).includes(t));
  return [...new Set(tags)];
}

const label = (d: Device) => (d.name && d.name !== d.id ? `${d.name} (${d.id})` : d.id);

export function registerDevices(program: Command, ctx: Context): void {
  const devices = program.command('devices').description('list and manage devices');
  const deviceArg = ['<device>', 'device id or name'] as const;

  devices
    .command('ls')
    .alias('list')
    .description('list devices')
    .addOption(new Option('--status <status>', 'only devices with this status').choices(DEVICE_STATUSES))
    .option('--tag <tag>', 'only devices with this tag')
    .addOption(new Option('--online', 'only online devices').conflicts('offline'))
    .addOption(new Option('--offline', 'only offline devices'))
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExamples:\n  outpost devices ls\n  outpost devices ls --status pending --tag lab --online')
    .action(async (opts: DeviceListOptions & { json?: boolean }) => {
      const items = await (await ctx.api()).listDevices(deviceFilter(opts));
      if (opts.json) return ctx.json(items);
      if (items.length === 0) {
        const filtered = Object.keys(deviceFilter(opts)).length > 0;
        return ctx.err(filtered ? 'no devices match' : 'no devices yet (enroll one: `outpost tokens create --help`)');
      }
      ctx.out(renderDevices(items));
    });

  devices
    .command('show')
    .description("show one device's details")
    .argument(...deviceArg)
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExample:\n  outpost devices show gw-12')
    .action(async (ref: string, opts: { json?: boolean }) => {
      const d = await (await ctx.api()).getDevice(ref);
      if (opts.json) return ctx.json(d);
      ctx.out(renderDevice(d));
    });

  const transitions = {
    accept: 'let a pending (or rejected) device in',
    reject: 'refuse a pending device',
    revoke: 'cut a device off: its connection is dropped and its credentials stop working',
  } as const;
  for (const [action, description] of Object.entries(transitions) as [keyof typeof transitions, string][]) {
    devices
      .command(action)
      .description(description)
      .argument(...deviceArg)
      .option('--json', 'print the device as JSON')
      .addHelpText('after', `\nExample:\n  outpost devices ${action} gw-12`)
      .action(async (ref: string, opts: { json?: boolean }) => {
        const d = await (await ctx.api()).deviceAction(ref, action);
        if (opts.json) return ctx.json(d);
        ctx.out(`device ${label(d)} is now ${d.status}`);
      });
  }

  devices
    .command('rm')
    .alias('delete')
    .description('delete a device and its history; it must enroll again to come back')
    .argument(...deviceArg)
    .option('-y, --yes', 'do not ask for confirmation')
    .addHelpText('after', '\nExample:\n  outpost devices rm gw-12 --yes')
    .action(async (ref: string, opts: { yes?: boolean }) => {
      const api = await ctx.api();
      const d = await api.getDevice(ref);
      if (
        !opts.yes &&
        !(await confirm(ctx, `Delete device ${label(d)}? This cannot be undone.`, 'refusing to delete'))
      ) {
        ctx.err('not deleted');
        ctx.exitCode = 1;
        return;
      }
      await api.deleteDevice(d.id);
      ctx.out(`deleted device ${label(d)}`);
    });

  devices
    .command('tag')
    .description("show or change a device's tags: TAGs replace them, --add/--remove edit them")
    .argument(...deviceArg)
    .argument('[tags...]', 'the new tag list')
    .option('--add <tag>', 'add a tag (repeatable)', collect)
    .option('--remove <tag>', 'remove a tag (repeatable)', collect)
    .option('--clear', 'remove all tags')
    .option('--json', 'print the device as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  outpost devices tag gw-12                 show them\n  outpost devices tag gw-12 lab pi\n  outpost devices tag gw-12 --add north --remove pi',
    )
    .action(
      async (
        ref: string,
        set: string[],
        opts: { add?: string[]; remove?: string[]; clear?: boolean; json?: boolean },
      ) => {
        const api = await ctx.api();
        const current = await api.getDevice(ref);
        const change: TagChange = { set, ...opts };
        const changing = set.length > 0 || opts.add || opts.remove || opts.clear;
        const d = changing ? await api.updateDevice(current.id, { tags: nextTags(current.tags, change) }) : current;
        if (opts.json) return ctx.json(d);
        ctx.out(`${label(d)}: ${d.tags.length > 0 ? d.tags.join(', ') : '(no tags)'}`);
      },
    );

  devices
    .command('rename')
    .description('give a device a new name')
    .argument(...deviceArg)
    .argument('<name>', 'the new name')
    .option('--json', 'print the device as JSON')
    .addHelpText('after', '\nExample:\n  outpost devices rename d-k3x9q2 pump-house-1')
    .action(async (ref: string, name: string, opts: { json?: boolean }) => {
      const d = await (await ctx.api()).updateDevice(ref, { name });
      if (opts.json) return ctx.json(d);
      ctx.out(`renamed ${d.id} to ${d.name}`);
    });
}
