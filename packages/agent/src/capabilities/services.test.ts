/**
 * `services/*`. This machine's PID 1 is not systemd, so the "none" backend is tested
 * for real. The systemd backend cannot run here: it is pointed (its two injected
 * edges: the `systemctl` path and the `/run/systemd/system` marker) at a FAKE
 * systemctl, a shell script this test writes, which records its argv and prints
 * canned output shaped like systemd 252's. What is tested is our side: the exact
 * argv, the parsing, and how answers and failures map to results and codes.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { commands, isUnitName, type OutpostError, parse } from '@outpost/protocol';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { failure, runAction } from '../../test/actions.js';
import { agentConfig } from '../config.js';
import { silentLogger } from '../log.js';
import type { CommandContext } from './capability.js';
import { createServicesCapability, parseUnitLines, type ServicesOptions } from './services.js';

const dir = mkdtempSync(join(tmpdir(), 'outpost-services-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const marker = join(dir, 'run-systemd-system');
mkdirSync(marker);
const argvLog = join(dir, 'argv.log');
beforeEach(() => rmSync(argvLog, { force: true }));

const ctx: CommandContext = {
  commandId: 'c1',
  emit: () => {},
  signal: new AbortController().signal,
  log: silentLogger,
  config: agentConfig({ stateDir: dir }),
};

/** The fake: logs argv (one line per call, args joined by a tab) and answers per sub-command. */
function fakeSystemctl(name: string, { json = true } = {}): string {
  const path = join(dir, name);
  const listUnits = json
    ? `echo '[{"unit":"nginx.service","load":"loaded","active":"active","sub":"running","description":"A high performance web server"},{"unit":"bad.service","load":"loaded","active":"failed","sub":"failed","description":"Broken; really"}]'`
    : `case "$*" in *--output=json*) echo "Unknown output 'json'." >&2; exit 1;; esac
printf '%s\\n' 'nginx.service loaded active running A high performance web server' 'bad.service   loaded failed failed  Broken; really'`;
  const listFiles = json
    ? `echo '[{"unit_file":"nginx.service","state":"enabled","preset":"enabled"},{"unit_file":"bad.service","state":"disabled","preset":"enabled"},{"unit_file":"idle.service","state":"disabled","preset":"enabled"},{"unit_file":"getty@.service","state":"enabled","preset":"enabled"}]'`
    : `case "$*" in *--output=json*) echo "Unknown output 'json'." >&2; exit 1;; esac
printf '%s\\n' 'nginx.service enabled enabled' 'bad.service disabled enabled' 'idle.service disabled enabled' 'getty@.service enabled enabled'`;
  writeFileSync(
    path,
    `#!/bin/sh
(IFS='	'; printf '%s\\n' "$*") >> '${argvLog}'
sub="$1"
unit=""; for a in "$@"; do unit="$a"; done
case "$sub" in
  list-units) ${listUnits} ;;
  list-unit-files) ${listFiles} ;;
  show)
    case "$unit" in
      nginx.service) printf '%s\\n' Id=nginx.service 'Description=A high performance web server' LoadState=loaded ActiveState=active SubState=running UnitFileState=enabled MainPID=4242 ActiveEnterTimestampMonotonic=5000000 Result=success NRestarts=2 MemoryCurrent=7340032 FragmentPath=/lib/systemd/system/nginx.service ;;
      idle.service) printf '%s\\n' Id=idle.service Description=Idle LoadState=loaded ActiveState=inactive SubState=dead UnitFileState=disabled MainPID=0 ActiveEnterTimestampMonotonic=0 Result=success NRestarts=0 MemoryCurrent=18446744073709551615 FragmentPath= ;;
      *) printf '%s\\n' "Id=$unit" Description= LoadState=not-found ActiveState=inactive SubState=dead UnitFileState= MainPID=0 ;;
    esac ;;
  start|stop|restart|enable|disable)
    case "$unit" in
      nginx.service|idle.service) exit 0 ;;
      bad.service) echo "Job for bad.service failed because the control process exited with error code." >&2; exit 1 ;;
      locked.service) echo "Failed to start locked.service: Access denied" >&2; exit 4 ;;
      *) echo "Failed to $sub $unit: Unit $unit not found." >&2; exit 5 ;;
    esac ;;
  *) echo "unknown command $sub" >&2; exit 1 ;;
esac
`,
  );
  chmodSync(path, 0o755);
  return path;
}

const systemd: ServicesOptions = { systemctl: fakeSystemctl('systemctl'), systemdMarker: marker };
const oldSystemd: ServicesOptions = {
  systemctl: fakeSystemctl('systemctl-old', { json: false }),
  systemdMarker: marker,
};

const calls = (): string[][] =>
  existsSync(argvLog)
    ? readFileSync(argvLog, 'utf8')
        .trimEnd()
        .split('\n')
        .map((l) => l.split('\t'))
    : [];

type Name = 'list' | 'status' | 'start' | 'stop' | 'restart' | 'enable' | 'disable';
async function run(name: Name, args: unknown, options: ServicesOptions): Promise<any> {
  return runAction(createServicesCapability(options), `services/${name}`, args, ctx);
}

describe('without systemd (this machine, for real)', () => {
  it('answers E_UNSUPPORTED naming what PID 1 is, for every action', async () => {
    const init = readFileSync('/proc/1/comm', 'utf8').trim();
    const none = { systemctl: systemd.systemctl, systemdMarker: join(dir, 'no-such-marker') };
    for (const [name, args] of [
      ['list', {}],
      ['status', { unit: 'nginx.service' }],
      ['start', { unit: 'nginx.service' }],
      ['disable', { unit: 'nginx.service' }],
    ] as const) {
      const err = await failure(run(name, args, none));
      expect(err.code).toBe('E_UNSUPPORTED');
      expect(err.message).toBe(`this device does not run systemd (PID 1 is ${init}): services cannot be managed here`);
    }
    expect(calls()).toEqual([]);
  });
});

describe('systemd backend (fake systemctl)', () => {
  it('lists units with their enablement, from JSON output, including installed units that are not loaded', async () => {
    const list = await run('list', {}, systemd);
    expect(list.backend).toBe('systemd');
    expect(list.units).toEqual([
      {
        unit: 'bad.service',
        load: 'loaded',
        active: 'failed',
        sub: 'failed',
        description: 'Broken; really',
        enabled: 'disabled',
      },
      {
        unit: 'idle.service',
        load: 'not-loaded',
        active: 'inactive',
        sub: 'dead',
        description: '',
        enabled: 'disabled',
      },
      {
        unit: 'nginx.service',
        load: 'loaded',
        active: 'active',
        sub: 'running',
        description: 'A high performance web server',
        enabled: 'enabled',
      },
    ]);
    expect(calls()).toEqual([
      ['list-units', '--all', '--no-pager', '--type=service', '--output=json'],
      ['list-unit-files', '--no-pager', '--type=service', '--output=json'],
    ]);
  });

  it('falls back to --plain --no-legend output on a systemd without JSON lists', async () => {
    const list = await run('list', { type: 'service', state: 'failed' }, oldSystemd);
    expect(list.units).toEqual([
      {
        unit: 'bad.service',
        load: 'loaded',
        active: 'failed',
        sub: 'failed',
        description: 'Broken; really',
        enabled: 'disabled',
      },
    ]);
    expect(calls()).toContainEqual([
      'list-units',
      '--all',
      '--no-pager',
      '--plain',
      '--no-legend',
      '--full',
      '--type=service',
    ]);
    expect(calls()).toContainEqual([
      'list-unit-files',
      '--no-pager',
      '--plain',
      '--no-legend',
      '--full',
      '--type=service',
    ]);
  });

  it('parses plain lines, with the ● marker systemd puts before failed units', () => {
    expect(
      parseUnitLines('● bad.service loaded failed failed Broken thing\n\nx.socket loaded active listening\n'),
    ).toEqual([
      { unit: 'bad.service', load: 'loaded', active: 'failed', sub: 'failed', description: 'Broken thing' },
      { unit: 'x.socket', load: 'loaded', active: 'active', sub: 'listening', description: '' },
    ]);
  });

  it("reads one unit's status with `systemctl show --property=… -- UNIT`", async () => {
    const s = await run('status', { unit: 'nginx.service' }, systemd);
    expect(s).toMatchObject({
      unit: 'nginx.service',
      active: 'active',
      sub: 'running',
      enabled: 'enabled',
      mainPid: 4242,
      restarts: 2,
      memoryBytes: 7_340_032,
      result: 'success',
      path: '/lib/systemd/system/nginx.service',
    });
    // 5 s after boot, on the wall clock.
    const btime = Number(/^btime (\d+)/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1]);
    expect(Date.parse(s.activeSince)).toBe((btime + 5) * 1000);
    const [argv] = calls();
    expect(argv?.slice(0, 2)).toEqual(['show', '--no-pager']);
    expect(argv?.[2]).toMatch(/^--property=Id,Description,LoadState,ActiveState,SubState,UnitFileState,MainPID,/);
    expect(argv?.slice(3)).toEqual(['--', 'nginx.service']);

    const idle = await run('status', { unit: 'idle.service' }, systemd);
    expect(idle).toMatchObject({
      mainPid: null,
      activeSince: null,
      memoryBytes: null,
      path: null,
      enabled: 'disabled',
    });
  });

  it('answers E_NOT_FOUND for a unit systemd does not know', async () => {
    const err = await failure(run('status', { unit: 'nope.service' }, systemd));
    expect(err).toMatchObject({ code: 'E_NOT_FOUND', message: 'unit nope.service not found' });
    expect((await failure(run('start', { unit: 'nope.service' }, systemd))).code).toBe('E_NOT_FOUND');
  });

  it.each(['start', 'stop', 'restart', 'enable', 'disable'] as const)(
    '%s runs `systemctl ACTION --no-ask-password --no-pager -- UNIT` and answers the status after it',
    async (act) => {
      const r = await run(act, { unit: 'nginx.service' }, systemd);
      expect(r).toMatchObject({
        unit: 'nginx.service',
        action: act,
        status: { unit: 'nginx.service', active: 'active' },
      });
      expect(calls()[0]).toEqual([act, '--no-ask-password', '--no-pager', '--', 'nginx.service']);
      expect(calls()[1]?.[0]).toBe('show');
    },
  );

  it("passes on systemctl's reason when a unit fails to start, and E_DENIED when it may not", async () => {
    const failed = await failure(run('start', { unit: 'bad.service' }, systemd));
    expect(failed.code).toBe('E_INTERNAL');
    expect(failed.message).toBe(
      'systemctl start bad.service failed (exit 1): Job for bad.service failed because the control process exited with error code.',
    );
    const denied = await failure(run('start', { unit: 'locked.service' }, systemd));
    expect(denied).toMatchObject({ code: 'E_DENIED' });
    expect(denied.message).toContain('Access denied');
  });

  it('answers E_UNSUPPORTED when systemd runs but systemctl is missing', async () => {
    const err = await failure(run('list', {}, { systemctl: join(dir, 'no-systemctl'), systemdMarker: marker }));
    expect(err.message).toContain('systemctl not found');
    expect(err.code).toBe('E_UNSUPPORTED');
  });
});

describe('unit names', () => {
  const hostile = [
    'foo;rm -rf /',
    'foo;rm -rf /.service',
    '$(id)',
    '$(id).service',
    '`id`.service',
    '-H host',
    '-H.service',
    '--user.service',
    '../x',
    '../x.service',
    'a..b.service',
    'a/b.service',
    'foo bar.service',
    'foo\nbar.service',
    "foo'.service",
    'foo|x.service',
    'foo&.service',
    'foo>x.service',
    'foo',
    '.service',
    '',
    `${'a'.repeat(250)}.service`,
  ];

  it.each(hostile)('refuses %j with E_BAD_ARGS before anything runs', async (unit) => {
    for (const act of ['status', 'start', 'stop', 'restart', 'enable', 'disable'] as const) {
      let err: unknown;
      try {
        parse(commands[`services/${act}`].args, { unit }, 'args');
      } catch (e) {
        err = e;
      }
      expect((err as OutpostError)?.code).toBe('E_BAD_ARGS');
      // A handler reached without the router's check refuses it too, and runs nothing.
      const handler = createServicesCapability(systemd).actions[act]!;
      expect((await failure(handler({ unit }, ctx))).code).toBe('E_BAD_ARGS');
    }
    expect(calls()).toEqual([]);
  });

  it.each(['nginx.service', 'getty@tty1.service', 'sys-kernel-debug.mount', 'dbus.socket', 'a:b_c-d.timer', 'x.path'])(
    'accepts %j',
    (unit) => {
      expect(isUnitName(unit)).toBe(true);
    },
  );
});
