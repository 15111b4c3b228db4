import { commands } from '../src/commands.js';
import type { SchemaCase } from './schema-case.js';

const line = { ts: 1_700_000_000_000, stream: 'stderr', level: 'warn', text: 'disk almost full' };
const filters = { grep: 'error', level: 'info', since: 1_700_000_000_000 };
const appStatus = {
  name: 'sensor',
  state: 'running',
  pid: 4711,
  restarts: 1,
  lastExit: { code: null, signal: 'SIGKILL', at: 1_700_000_000_000 },
  // Cleared by a start that succeeds; a string here so its wrong-type case means something.
  lastError: 'interpreter python3 is not installed on this device',
  startedAt: 1_700_000_001_000,
  uptime: 12.5,
  nextStartAt: null,
  autostart: true,
  restart: 'always',
  kind: 'script',
  interpreter: 'python3',
  command: ['/usr/bin/python3', '/var/lib/outpost/apps/sensor/files/app.py', '--port', '8080'],
  cwd: '/var/lib/outpost/apps/sensor/files',
  env: ['PORT'],
  installedAt: 1_699_999_999_000,
};
const installCommon = {
  name: 'sensor',
  args: ['--port', '8080'],
  env: { PORT: '8080' },
  cwd: '/srv/sensor',
  autostart: true,
  restart: 'on-failure',
  replace: false,
};

const badSources: [string, unknown, string][] = [
  ['an unknown kind', { source: 'shell:ls' }, '/source'],
  ['a unit starting with a dash', { source: 'unit:-x' }, '/source'],
  ['a unit with a space', { source: 'unit:a b' }, '/source'],
  ['a relative file', { source: 'file:var/log/syslog' }, '/source'],
  ['an app name with metacharacters', { source: 'app:x;id' }, '/source'],
  ['an empty source', { source: '' }, '/source'],
];

const named = (name: keyof typeof commands, result: SchemaCase): { args: SchemaCase; result: SchemaCase } => ({
  args: {
    schema: commands[name].args,
    full: [{ name: 'sensor' }],
    valid: [{ name: 'a' }, { name: '0-x_y' }, { name: 'x'.repeat(64) }],
    invalid: [
      ['shell metacharacters', { name: 'x;rm -rf /' }, '/name'],
      ['command substitution', { name: '$(id)' }, '/name'],
      ['a path', { name: '../etc' }, '/name'],
      ['upper case', { name: 'Sensor' }, '/name'],
      ['a leading dash', { name: '-x' }, '/name'],
      ['65 characters', { name: 'x'.repeat(65) }, '/name'],
    ],
  },
  result,
});
const statusResult: SchemaCase = {
  schema: commands['apps/status'].result,
  full: [appStatus],
  valid: [
    {
      name: 'web',
      state: 'crashed',
      pid: null,
      restarts: 5,
      lastExit: { code: 1, signal: null, at: 1 },
      lastError: null,
      startedAt: null,
      uptime: null,
      nextStartAt: 1_700_000_060_000,
      autostart: false,
      restart: 'never',
      kind: 'bundle',
      command: ['./run.sh'],
      cwd: '/var/lib/outpost/apps/web/files',
      env: [],
      installedAt: 1,
    },
  ],
  invalid: [
    ['an unknown state', { ...appStatus, state: 'zombie' }, '/state'],
    ['pid 0', { ...appStatus, pid: 0 }, '/pid'],
    ['negative restarts', { ...appStatus, restarts: -1 }, '/restarts'],
  ],
};

export const appsLogsCases: Record<string, { args: SchemaCase; result: SchemaCase }> = {
  'command/cancel': {
    args: {
      schema: commands['command/cancel'].args,
      full: [{ id: 'c-k3x9q2' }],
      invalid: [
        ['an id with a slash', { id: 'c/1' }, '/id'],
        ['a wildcard id', { id: '#' }, '/id'],
      ],
    },
    result: { schema: commands['command/cancel'].result, full: [{ cancelled: true }] },
  },
  'logs/read': {
    args: {
      schema: commands['logs/read'].args,
      full: [{ source: 'agent', lines: 50, ...filters }],
      valid: [
        { source: 'app:sensor' },
        { source: 'unit:getty@tty1.service' },
        { source: 'unit:systemd-journald' },
        { source: 'file:/var/log/syslog' },
        { source: 'file:/var/log/with space.log', lines: 10_000 },
      ],
      invalid: [
        ...badSources,
        ['0 lines', { source: 'agent', lines: 0 }, '/lines'],
        ['10001 lines', { source: 'agent', lines: 10_001 }, '/lines'],
        ['an empty grep', { source: 'agent', grep: '' }, '/grep'],
        ['an unknown level', { source: 'agent', level: 'trace' }, '/level'],
      ],
    },
    result: {
      schema: commands['logs/read'].result,
      full: [{ source: 'agent', lines: [line], truncated: false }],
      valid: [{ source: 'file:/var/log/x', lines: [{ text: 'no time' }], truncated: true }],
      invalid: [['a line without text', { source: 'agent', lines: [{ ts: 1 }], truncated: false }, '/lines/0']],
    },
  },
  'logs/follow': {
    args: {
      schema: commands['logs/follow'].args,
      full: [{ source: 'unit:ssh.service', lines: 0, maxSeconds: 600, ...filters }],
      valid: [{ source: 'agent' }, { source: 'app:x', maxSeconds: 86_400 }],
      invalid: [
        ...badSources,
        ['a day and a second', { source: 'agent', maxSeconds: 86_401 }, '/maxSeconds'],
        ['1001 lines of history', { source: 'agent', lines: 1001 }, '/lines'],
      ],
    },
    result: {
      schema: commands['logs/follow'].result,
      full: [{ source: 'agent', lines: 42, reason: 'cancelled' }],
      invalid: [['an unknown reason', { source: 'agent', lines: 0, reason: 'bored' }, '/reason']],
    },
  },
  'apps/install': {
    args: {
      schema: commands['apps/install'].args,
      full: [
        { ...installCommon, script: 'import time\nwhile True: time.sleep(1)\n', interpreter: 'python3' },
        { ...installCommon, bundle: '/data/uploads/sensor.tgz', entry: ['./run.sh', '--quiet'] },
      ],
      valid: [
        { name: 'blink', script: 'echo on', interpreter: 'sh' },
        { name: 'web', bundle: '/data/web.tar', entry: ['node', 'server.js'] },
      ],
      invalid: [
        ['a name with metacharacters', { name: 'x;id', script: 'true', interpreter: 'sh' }, '/name'],
        ['an unknown interpreter', { name: 'x', script: 'true', interpreter: 'zsh' }, '/interpreter'],
        ['an empty script', { name: 'x', script: '', interpreter: 'sh' }, '/script'],
        ['a relative bundle', { name: 'x', bundle: 'web.tgz', entry: ['./run'] }, '/bundle'],
        ['an empty entry', { name: 'x', bundle: '/web.tgz', entry: [] }, '/entry'],
        ['script and bundle together', { name: 'x', script: 'true', interpreter: 'sh', bundle: '/a.tgz' }, 'bundle'],
        ['a relative cwd', { name: 'x', script: 'true', interpreter: 'sh', cwd: 'tmp' }, '/cwd'],
        ['a bad env name', { name: 'x', script: 'true', interpreter: 'sh', env: { 'A-B': '1' } }, '/env'],
        [
          'an unknown restart policy',
          { name: 'x', script: 'true', interpreter: 'sh', restart: 'sometimes' },
          '/restart',
        ],
      ],
    },
    result: statusResult,
  },
  'apps/uninstall': named('apps/uninstall', {
    schema: commands['apps/uninstall'].result,
    full: [{ name: 'sensor', removed: true }],
    invalid: [['removed false', { name: 'sensor', removed: false }, '/removed']],
  }),
  'apps/start': named('apps/start', { ...statusResult, schema: commands['apps/start'].result }),
  'apps/stop': named('apps/stop', { ...statusResult, schema: commands['apps/stop'].result }),
  'apps/restart': named('apps/restart', { ...statusResult, schema: commands['apps/restart'].result }),
  'apps/status': named('apps/status', statusResult),
  'apps/list': {
    args: {
      schema: commands['apps/list'].args,
      full: [{}],
      invalid: [['any field', { all: true }, "unknown field 'all'"]],
    },
    result: {
      schema: commands['apps/list'].result,
      full: [{ apps: [appStatus] }],
      valid: [{ apps: [] }],
      invalid: [['an app missing its state', { apps: [{ ...appStatus, state: undefined }] }, '/apps/0']],
    },
  },
};
