/**
 * `services/*` (docs/protocol.md §Services): systemd units, behind one backend
 * interface. The systemd backend runs `systemctl` with an argv array (the unit
 * always after `--`, already checked against the protocol's strict pattern); it
 * is chosen only when the device runs systemd (`/run/systemd/system` exists).
 * Otherwise the "none" backend answers E_UNSUPPORTED and says what PID 1 is.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import {
  isUnitName,
  OutpostError,
  type ServiceAction,
  type ServiceList,
  type ServiceListArgs,
  type ServiceStatus,
  type ServiceUnit,
} from '@outpost/protocol';
import type { Logger } from '../log.js';
import { action, type Capability, type CommandContext } from './capability.js';
import { ProcFs } from './procfs.js';

export interface ServiceBackend {
  readonly kind: 'systemd' | 'none';
  list(args: ServiceListArgs): Promise<ServiceList>;
  status(unit: string): Promise<ServiceStatus>;
  /** Runs the action; resolves once systemctl has finished it (the job ran, or the links changed). */
  act(unit: string, action: ServiceAction, log: Logger): Promise<void>;
}

export interface ServicesOptions {
  /** The systemctl program (default: `systemctl` on PATH). */
  systemctl?: string;
  /** The directory whose existence says systemd is PID 1 (sd_booted(3)); default `/run/systemd/system`. */
  systemdMarker?: string;
  procRoot?: string;
  /** How long one systemctl call may take (default 60 s). */
  timeoutMs?: number;
}

const SHOW_PROPERTIES = [
  'Id',
  'Description',
  'LoadState',
  'ActiveState',
  'SubState',
  'UnitFileState',
  'MainPID',
  'ActiveEnterTimestampMonotonic',
  'Result',
  'NRestarts',
  'MemoryCurrent',
  'FragmentPath',
];

/** systemd's "no value" for 64-bit counters such as MemoryCurrent. */
const UINT64_MAX = '18446744073709551615';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** The environment for systemctl: no agent settings, no pager, no colours, messages in English. */
function systemctlEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('OUTPOST_AGENT_')) env[k] = v;
  return { ...env, LC_ALL: 'C', SYSTEMD_PAGER: '', SYSTEMD_COLORS: '0', SYSTEMD_URLIFY: '0' };
}

/** Parses `systemctl show` output: one `Key=Value` a line. */
export function parseShow(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) out.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return out;
}

/** Parses `list-units --plain --no-legend` lines: UNIT LOAD ACTIVE SUB DESCRIPTION... */
export function parseUnitLines(text: string): Omit<ServiceUnit, 'enabled'>[] {
  const out: Omit<ServiceUnit, 'enabled'>[] = [];
  for (const line of text.split('\n')) {
    // \u25CF: the marker systemd puts before failed units, escaped so the bundle stays one-byte text (build.mjs).
    const m = /^\s*(?:\u25CF\s*)?(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s*(.*)$/.exec(line);
    if (!m?.[1] || !m[2] || !m[3] || !m[4]) continue;
    out.push({ unit: m[1], load: m[2], active: m[3], sub: m[4], description: (m[5] ?? '').trim() });
  }
  return out;
}

/** Parses `list-unit-files --plain --no-legend` lines: UNIT STATE [PRESET]. */
export function parseUnitFileLines(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^\s*(\S+)\s+(\S+)/.exec(line);
    if (m?.[1] && m[2]) out.set(m[1], m[2]);
  }
  return out;
}

/** A JSON array of objects from `--output=json`, or undefined when systemctl printed something else. */
function jsonRows(text: string): Record<string, unknown>[] | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return Array.isArray(value) && value.every((r) => typeof r === 'object' && r !== null)
      ? (value as Record<string, unknown>[])
      : undefined;
  } catch {
    return undefined;
  }
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const firstLine = (s: string): string =>
  (s.split('\n').find((l) => l.trim() !== '') ?? '').trim().slice(0, 300) || 'no message';

export class SystemdBackend implements ServiceBackend {
  readonly kind = 'systemd';
  private readonly procfs: ProcFs;

  constructor(
    private readonly systemctl: string,
    private readonly timeoutMs: number,
    procRoot?: string,
  ) {
    this.procfs = new ProcFs(procRoot);
  }

  private run(argv: string[]): Promise<Run> {
    return new Promise((resolve, reject) => {
      execFile(
        this.systemctl,
        argv,
        { env: systemctlEnv(), timeout: this.timeoutMs, maxBuffer: 16 * 1024 * 1024, killSignal: 'SIGKILL' },
        (err, stdout, stderr) => {
          const e = err as (NodeJS.ErrnoException & { killed?: boolean; code?: unknown }) | null;
          if (e && typeof e.code === 'string') {
            if (e.code === 'ENOENT') {
              return reject(new OutpostError('E_UNSUPPORTED', `systemctl not found (${this.systemctl})`));
            }
            return reject(new OutpostError('E_INTERNAL', `could not run systemctl: ${e.code}`));
          }
          const code = e ? (typeof e.code === 'number' ? e.code : null) : 0;
          resolve({ code, stdout: String(stdout), stderr: String(stderr), timedOut: e?.killed === true });
        },
      );
    });
  }

  /** Turns a failed systemctl run into the error the caller sees. */
  private failure(r: Run, what: string, unit?: string): OutpostError {
    if (r.timedOut) {
      return new OutpostError(
        'E_TIMEOUT',
        `${what} did not finish in ${this.timeoutMs / 1000} s; it may still be running`,
      );
    }
    const msg = firstLine(r.stderr || r.stdout);
    // Exit codes from systemctl's translate_bus_error_to_exit_status(): 5 no such unit, 4 no permission.
    if (unit && (r.code === 5 || /not found|not loaded|does not exist|No such file/i.test(msg))) {
      return new OutpostError('E_NOT_FOUND', `unit ${unit} not found`);
    }
    if (r.code === 4 || /access denied|authentication required|permission denied|not permitted/i.test(msg)) {
      return new OutpostError('E_DENIED', `${what}: ${msg}`);
    }
    return new OutpostError('E_INTERNAL', `${what} failed (exit ${r.code ?? '?'}): ${msg}`);
  }

  async list(args: ServiceListArgs): Promise<ServiceList> {
    const type = `--type=${args.type ?? 'service'}`;
    let units: Omit<ServiceUnit, 'enabled'>[];
    const json = await this.run(['list-units', '--all', '--no-pager', type, '--output=json']);
    const rows = json.code === 0 ? jsonRows(json.stdout) : undefined;
    if (rows) {
      units = rows.map((r) => ({
        unit: str(r.unit),
        load: str(r.load),
        active: str(r.active),
        sub: str(r.sub),
        description: str(r.description),
      }));
    } else {
      // systemd before v246 has no JSON output for lists.
      const plain = await this.run(['list-units', '--all', '--no-pager', '--plain', '--no-legend', '--full', type]);
      if (plain.code !== 0) throw this.failure(plain, 'systemctl list-units');
      units = parseUnitLines(plain.stdout);
    }
    const files = await this.unitFiles(type);
    const listed = new Set(units.map((u) => u.unit));
    const all: ServiceUnit[] = units.map((u) => ({ ...u, enabled: files.get(u.unit) ?? null }));
    // Installed units that are not loaded (disabled, never started) are listed too; templates (`x@.service`) are not.
    for (const [unit, state] of files) {
      if (!listed.has(unit) && !unit.includes('@.') && isUnitName(unit)) {
        all.push({ unit, load: 'not-loaded', active: 'inactive', sub: 'dead', description: '', enabled: state });
      }
    }
    const units2 = all
      .filter((u) => u.unit !== '' && (!args.state || u.active === args.state || u.sub === args.state))
      .sort((a, b) => (a.unit < b.unit ? -1 : a.unit > b.unit ? 1 : 0));
    return { backend: 'systemd', units: units2 };
  }

  private async unitFiles(type: string): Promise<Map<string, string>> {
    const json = await this.run(['list-unit-files', '--no-pager', type, '--output=json']);
    const rows = json.code === 0 ? jsonRows(json.stdout) : undefined;
    if (rows) return new Map(rows.map((r) => [str(r.unit_file), str(r.state)]));
    const plain = await this.run(['list-unit-files', '--no-pager', '--plain', '--no-legend', '--full', type]);
    if (plain.code !== 0) throw this.failure(plain, 'systemctl list-unit-files');
    return parseUnitFileLines(plain.stdout);
  }

  async status(unit: string): Promise<ServiceStatus> {
    const r = await this.run(['show', '--no-pager', `--property=${SHOW_PROPERTIES.join(',')}`, '--', unit]);
    if (r.code !== 0) throw this.failure(r, `systemctl show ${unit}`, unit);
    const p = parseShow(r.stdout);
    const load = p.get('LoadState') ?? '';
    if (load === 'not-found' || load === '') throw new OutpostError('E_NOT_FOUND', `unit ${unit} not found`);
    const int = (key: string): number | null => {
      const v = p.get(key);
      if (v === undefined || v === '' || v === UINT64_MAX || !/^\d+$/.test(v)) return null;
      return Number(v);
    };
    const text = (key: string): string | null => {
      const v = p.get(key);
      return v === undefined || v === '' ? null : v;
    };
    const mainPid = int('MainPID');
    const enteredMono = int('ActiveEnterTimestampMonotonic');
    // Monotonic microseconds since boot, placed on the wall clock by the kernel's boot time.
    const activeSince = enteredMono ? new Date(((await this.procfs.bootTime()) + enteredMono / 1e6) * 1000) : null;
    return {
      unit: text('Id') ?? unit,
      description: p.get('Description') ?? '',
      load,
      active: p.get('ActiveState') ?? '',
      sub: p.get('SubState') ?? '',
      enabled: text('UnitFileState'),
      mainPid: mainPid && mainPid > 0 ? mainPid : null,
      activeSince: activeSince ? activeSince.toISOString() : null,
      result: text('Result'),
      restarts: int('NRestarts'),
      memoryBytes: int('MemoryCurrent'),
      path: text('FragmentPath'),
    };
  }

  async act(unit: string, act: ServiceAction, log: Logger): Promise<void> {
    const r = await this.run([act, '--no-ask-password', '--no-pager', '--', unit]);
    if (r.code !== 0) throw this.failure(r, `systemctl ${act} ${unit}`, unit);
    log.info('service action done', { unit, action: act });
  }
}

/** Answers E_UNSUPPORTED for everything, naming what PID 1 is instead. */
export class NoServiceBackend implements ServiceBackend {
  readonly kind = 'none';
  constructor(private readonly procRoot = '/proc') {}

  private unsupported(): never {
    let init = 'unknown';
    try {
      init = readFileSync(`${this.procRoot}/1/comm`, 'utf8').trim() || init;
    } catch {
      // /proc/1 may be hidden (hidepid): say so generically.
    }
    throw new OutpostError(
      'E_UNSUPPORTED',
      `this device does not run systemd (PID 1 is ${init}): services cannot be managed here`,
    );
  }
  async list(): Promise<ServiceList> {
    return this.unsupported();
  }
  async status(): Promise<ServiceStatus> {
    return this.unsupported();
  }
  async act(): Promise<void> {
    this.unsupported();
  }
}

/** The backend for this device right now: systemd only when it is PID 1. */
export function serviceBackend(options: ServicesOptions = {}): ServiceBackend {
  if (existsSync(options.systemdMarker ?? '/run/systemd/system')) {
    return new SystemdBackend(options.systemctl ?? 'systemctl', options.timeoutMs ?? 60_000, options.procRoot);
  }
  return new NoServiceBackend(options.procRoot);
}

export function createServicesCapability(options: ServicesOptions = {}): Capability {
  const unitAction = (act: ServiceAction) => async (args: { unit: string }, ctx: CommandContext) => {
    // The router checked the unit against the protocol's pattern; checked again because it reaches argv.
    if (!isUnitName(args.unit)) throw new OutpostError('E_BAD_ARGS', `invalid unit name`);
    const backend = serviceBackend(options);
    await backend.act(args.unit, act, ctx.log);
    return { unit: args.unit, action: act, status: await backend.status(args.unit) };
  };
  return {
    name: 'services',
    actions: {
      list: action('services/list', async (args) => serviceBackend(options).list(args)),
      status: action('services/status', async (args) => {
        if (!isUnitName(args.unit)) throw new OutpostError('E_BAD_ARGS', 'invalid unit name');
        return serviceBackend(options).status(args.unit);
      }),
      start: action('services/start', unitAction('start')),
      stop: action('services/stop', unitAction('stop')),
      restart: action('services/restart', unitAction('restart')),
      enable: action('services/enable', unitAction('enable')),
      disable: action('services/disable', unitAction('disable')),
    },
  };
}
