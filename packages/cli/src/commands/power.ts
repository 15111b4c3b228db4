/**
 * `outpost reboot`, `outpost shutdown` and `outpost power DEVICE [status|cancel]`:
 * schedule a reboot or power-off (asked for confirmation unless --yes), optionally
 * wait for the device to go down and come back, and see or call off a pending one.
 */
import {
  type api,
  POWER_DEFAULT_DELAY_SECONDS,
  POWER_MAX_DELAY_SECONDS,
  type PowerAction,
  type PowerCancelResult,
  type PowerScheduled,
  type PowerStatus,
} from '@outpost/protocol';
import { Argument, type Command, InvalidArgumentError, Option } from 'commander';
import type { ApiClient } from '../api.js';
import type { Device } from '../api-types.js';
import type { Context } from '../context.js';
import { formatDuration, parseDuration } from '../duration.js';
import { CliError } from '../errors.js';
import { durationOption } from '../parse.js';
import { confirm } from '../prompt.js';
import { renderFields } from '../table.js';

const enc = encodeURIComponent;

/** Seconds: a bare number (0 allowed) or a duration (`30s`, `5m`), at most an hour. */
export function delayOption(value: string): number {
  let seconds: number;
  if (/^\d+$/.test(value.trim())) seconds = Number(value.trim());
  else {
    try {
      seconds = parseDuration(value);
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message);
    }
  }
  if (seconds > POWER_MAX_DELAY_SECONDS) throw new InvalidArgumentError(`at most ${POWER_MAX_DELAY_SECONDS / 60}m`);
  return seconds;
}

const label = (d: Device) => (d.name && d.name !== d.id ? `${d.name} (${d.id})` : d.id);

export interface WaitResult {
  /** Seconds from the acknowledgement until the server saw the device offline (or reconnected). */
  downAfter: number;
  /** For a reboot: seconds until it was online again. */
  backAfter: number | null;
}

/**
 * Polls the device until it has gone down (offline, or online again since a newer
 * time) and, when `comeBack`, until it is online again. Times count from `started`.
 */
export async function waitForPowerCycle(
  api: ApiClient,
  before: Device,
  opts: {
    comeBack: boolean;
    timeoutMs: number;
    started: number;
    pollMs?: number;
    onPhase?: (text: string) => void;
    /** Asked while the device is still up: a message when the action failed on it (then waiting is pointless). */
    failure?: () => Promise<string | null>;
  },
): Promise<WaitResult> {
  const deadline = opts.started + opts.timeoutMs;
  const seconds = () => (Date.now() - opts.started) / 1000;
  const poll = opts.pollMs ?? 1000;
  let downAfter: number | null = null;
  for (;;) {
    const d = await api.getDevice(before.id);
    const reconnected = d.online && d.onlineSince !== null && d.onlineSince !== before.onlineSince;
    if (downAfter === null && (!d.online || reconnected)) {
      downAfter = seconds();
      if (!opts.comeBack) return { downAfter, backAfter: null };
      opts.onPhase?.(`${label(before)} went down after ${formatDuration(downAfter)}; waiting for it to come back`);
    }
    if (downAfter !== null && reconnected) return { downAfter, backAfter: seconds() };
    const failed = downAfter === null && d.online ? await opts.failure?.() : null;
    if (failed) throw new CliError(failed);
    if (Date.now() > deadline) {
      const what = downAfter === null ? 'go down' : 'come back online';
      throw new CliError(`${label(before)} did not ${what} within ${formatDuration(opts.timeoutMs / 1000)}`, {
        code: 'E_TIMEOUT',
      });
    }
    await new Promise((r) => setTimeout(r, poll));
  }
}

interface PowerOptions {
  delay: number;
  reason?: string;
  yes?: boolean;
  wait?: boolean;
  timeout: number;
  json?: boolean;
}

async function schedule(ctx: Context, act: PowerAction, ref: string, opts: PowerOptions): Promise<void> {
  const api = await ctx.api();
  const device = await api.getDevice(ref);
  const when = opts.delay === 0 ? 'now' : `in ${formatDuration(opts.delay)}`;
  const verb = act === 'reboot' ? 'Reboot' : 'Shut down';
  if (!opts.yes) {
    const warning = act === 'shutdown' ? ' It will not come back until someone powers it on.' : '';
    if (!(await confirm(ctx, `${verb} ${label(device)} ${when}?${warning}`, `refusing to ${act}`))) {
      ctx.err(`no ${act}`);
      ctx.exitCode = 1;
      return;
    }
  }
  const body: api.PowerBody = { delaySeconds: opts.delay };
  if (opts.reason !== undefined) body.reason = opts.reason;
  const ack = await api.call<PowerScheduled>('POST', `/devices/${enc(device.id)}/${act}`, { body });
  const started = Date.now();
  const progress = (text: string) => {
    if (ctx.io.stderr.isTTY === true && !opts.json) ctx.err(text);
  };
  if (!opts.json) ctx.out(`${label(device)} will ${act === 'reboot' ? 'reboot' : 'power off'} at ${ack.scheduledAt}`);
  if (!opts.wait) {
    if (opts.json) ctx.json(ack);
    return;
  }
  progress(`waiting for ${label(device)} to go down...`);
  const waited = await waitForPowerCycle(api, device, {
    comeBack: act === 'reboot',
    timeoutMs: opts.timeout * 1000,
    started,
    onPhase: progress,
    failure: async () => {
      const { last } = await api.call<PowerStatus>('GET', `/devices/${enc(device.id)}/power`);
      const ours = last && last.action === act && Date.parse(last.at) >= Date.parse(ack.scheduledAt) - 1000;
      return ours && !last.ok ? `the ${act} failed on ${label(device)}: ${last.error ?? 'no reason given'}` : null;
    },
  });
  if (opts.json) return ctx.json({ ...ack, ...waited });
  if (waited.backAfter === null) ctx.out(`${label(device)} is offline (after ${formatDuration(waited.downAfter)})`);
  else ctx.out(`${label(device)} is back online after ${formatDuration(waited.backAfter)}`);
}

function registerAction(program: Command, ctx: Context, act: PowerAction): void {
  const what = act === 'reboot' ? 'reboot a device' : 'power a device off';
  program
    .command(act)
    .description(`${what} after a delay (asks first unless --yes)`)
    .argument('<device>', 'device id or name')
    .addOption(
      new Option('--delay <duration>', 'wait this long on the device first: seconds or 30s/5m, 0 to 1h')
        .argParser(delayOption)
        .default(POWER_DEFAULT_DELAY_SECONDS, `${POWER_DEFAULT_DELAY_SECONDS}s`),
    )
    .option('--reason <text>', "why; written to the device's log and the audit log")
    .option('-y, --yes', 'do not ask for confirmation')
    .option(
      '--wait',
      act === 'reboot' ? 'wait until the device is back online and say how long it took' : 'wait until it is offline',
    )
    .addOption(
      new Option('--timeout <duration>', 'with --wait: give up after this long')
        .argParser(durationOption)
        .default(600, '10m'),
    )
    .option('--json', 'print the acknowledgement (and with --wait the timings) as JSON')
    .addHelpText(
      'after',
      `\nExamples:\n  outpost ${act} gw-12\n  outpost ${act} gw-12 --delay 0 --reason "kernel update" --yes${act === 'reboot' ? ' --wait' : ''}\n  outpost power gw-12 cancel      call off a pending one`,
    )
    .action((ref: string, opts: PowerOptions) => schedule(ctx, act, ref, opts));
}

export function registerPower(program: Command, ctx: Context): void {
  registerAction(program, ctx, 'reboot');
  registerAction(program, ctx, 'shutdown');
  program
    .command('power')
    .description('see or call off a pending reboot or shutdown')
    .argument('<device>', 'device id or name')
    .addArgument(new Argument('[action]', 'status or cancel').choices(['status', 'cancel']).default('status'))
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExamples:\n  outpost power gw-12\n  outpost power gw-12 cancel')
    .action(async (ref: string, verb: 'status' | 'cancel', opts: { json?: boolean }) => {
      const api = await ctx.api();
      if (verb === 'cancel') {
        const r = await api.call<PowerCancelResult>('POST', `/devices/${enc(ref)}/power/cancel`, { body: {} });
        if (opts.json) return ctx.json(r);
        if (!r.cancelled) return ctx.out(`nothing was pending on ${ref}`);
        return ctx.out(`cancelled the ${r.cancelled.action} of ${ref} that was due at ${r.cancelled.scheduledAt}`);
      }
      const s = await api.call<PowerStatus>('GET', `/devices/${enc(ref)}/power`);
      if (opts.json) return ctx.json(s);
      ctx.out(
        renderFields([
          ['pending', s.pending ? `${s.pending.action} at ${s.pending.scheduledAt}` : 'nothing'],
          ['reason', s.pending?.reason ?? null],
          [
            'last',
            s.last ? `${s.last.action} at ${s.last.at}: ${s.last.ok ? 'ran' : `failed: ${s.last.error}`}` : null,
          ],
        ]),
      );
    });
}
