import { commands } from '../src/commands.js';
import type { Obj, SchemaCase } from './schema-case.js';

const processInfo = {
  pid: 4711,
  ppid: 1,
  user: 'www-data',
  uid: 33,
  state: 'S',
  name: 'nginx',
  cpu: 1.5,
  rssBytes: 12_582_912,
  mem: 0.3,
  threads: 4,
  nice: 0,
  startedAt: '2025-01-01T10:00:00.000Z',
  cmdline: 'nginx: worker process',
};
const unitStatus = {
  unit: 'nginx.service',
  description: 'A high performance web server',
  load: 'loaded',
  active: 'active',
  sub: 'running',
  enabled: 'enabled',
  mainPid: 4711,
  activeSince: '2025-01-01T10:00:00.000Z',
  result: 'success',
  restarts: 0,
  memoryBytes: 7_340_032,
  path: '/lib/systemd/system/nginx.service',
};
const scheduled = { action: 'reboot', scheduledAt: '2025-01-01T10:00:05.000Z', reason: 'kernel update' };

const unitArgs = (name: keyof typeof commands): { args: SchemaCase; result: SchemaCase } => ({
  args: {
    schema: commands[name].args,
    full: [{ unit: 'nginx.service' }],
    valid: [{ unit: 'getty@tty1.service' }, { unit: 'sys-kernel-debug.mount' }, { unit: 'a:b_c-d.timer' }],
    invalid: [
      ['shell metacharacters', { unit: 'foo;rm -rf /' }, '/unit'],
      ['command substitution', { unit: '$(id).service' }, '/unit'],
      ['a leading dash (an option)', { unit: '-H.service' }, '/unit'],
      ['a path', { unit: '../x.service' }, '/unit'],
      ['a slash', { unit: 'a/b.service' }, '/unit'],
      ['a space', { unit: 'a b.service' }, '/unit'],
      ['no unit type', { unit: 'nginx' }, '/unit'],
      ['an unknown unit type', { unit: 'x.device' }, '/unit'],
    ],
  },
  result: {
    schema: commands[name].result,
    full: [{ unit: 'nginx.service', action: name.split('/')[1], status: unitStatus }],
    invalid: [['an unknown action', { unit: 'x.service', action: 'reload', status: unitStatus }, '/action']],
  },
});

export const deviceControlCases: Record<string, { args: SchemaCase; result: SchemaCase }> = {
  'processes/list': {
    args: {
      schema: commands['processes/list'].args,
      full: [
        {
          sort: 'mem',
          order: 'asc',
          filter: 'nginx',
          user: 'www-data',
          pids: [1, 4711],
          limit: 10,
          fast: true,
          sampleMs: 300,
        },
      ],
      valid: [{}, { user: '1000' }, { limit: 1000 }, { sampleMs: 50 }, { sampleMs: 5000 }],
      invalid: [
        ['an unknown sort key', { sort: 'rss' }, '/sort'],
        ['an unknown order', { order: 'up' }, '/order'],
        ['limit 0', { limit: 0 }, '/limit'],
        ['limit over 1000', { limit: 1001 }, '/limit'],
        ['an empty filter', { filter: '' }, '/filter'],
        ['a user with shell characters', { user: '$(id)' }, '/user'],
        ['a negative pid', { pids: [-1] }, '/pids/0'],
        ['an empty pid list', { pids: [] }, '/pids'],
        ['a sample under 50 ms', { sampleMs: 10 }, '/sampleMs'],
      ],
    },
    result: {
      schema: commands['processes/list'].result,
      full: [
        {
          at: '2025-01-01T10:00:00.300Z',
          sampleMs: 300,
          cpuCount: 4,
          memTotalBytes: 4_000_000_000,
          total: 1,
          truncated: false,
          processes: [processInfo],
        },
      ],
      invalid: [
        ['a negative CPU %', { ...baseList(), processes: [{ ...processInfo, cpu: -1 }] }, '/processes/0/cpu'],
        ['a two-letter state', { ...baseList(), processes: [{ ...processInfo, state: 'Ss' }] }, '/processes/0/state'],
        ['pid 0', { ...baseList(), processes: [{ ...processInfo, pid: 0 }] }, '/processes/0/pid'],
        ['no CPU', { ...baseList(), cpuCount: 0 }, '/cpuCount'],
      ],
    },
  },
  'processes/signal': {
    args: {
      schema: commands['processes/signal'].args,
      full: [{ pid: 4711, signal: 'KILL', waitMs: 500 }],
      valid: [{ pid: 1 }, { pid: 0 }, { pid: 4_194_304, signal: 'CONT' }, { pid: 2, waitMs: 0 }],
      invalid: [
        ['an unknown signal', { pid: 2, signal: 'SEGV' }, '/signal'],
        ['a SIG-prefixed name', { pid: 2, signal: 'SIGTERM' }, '/signal'],
        ['a signal number', { pid: 2, signal: 9 }, '/signal'],
        ['a negative pid (a process group)', { pid: -2 }, '/pid'],
        ['a pid over PID_MAX_LIMIT', { pid: 4_194_305 }, '/pid'],
        ['a fractional pid', { pid: 1.5 }, '/pid'],
        ['a wait over 10 s', { pid: 2, waitMs: 10_001 }, '/waitMs'],
      ],
    },
    result: {
      schema: commands['processes/signal'].result,
      full: [{ pid: 4711, signal: 'TERM', name: 'sleep', cmdline: 'sleep 100', user: 'root', gone: true }],
      valid: [{ pid: 4711, signal: 'STOP', name: 'x', cmdline: 'x', user: '1000', gone: null }],
    },
  },
  'services/list': {
    args: {
      schema: commands['services/list'].args,
      full: [{ type: 'timer', state: 'failed' }],
      valid: [{}, { state: 'auto-restart' }],
      invalid: [
        ['an unknown unit type', { type: 'device' }, '/type'],
        ['a state with capitals', { state: 'FAILED' }, '/state'],
        ['a state with shell characters', { state: 'a;b' }, '/state'],
      ],
    },
    result: {
      schema: commands['services/list'].result,
      full: [
        {
          backend: 'systemd',
          units: [
            { unit: 'a.service', description: 'A', load: 'loaded', active: 'active', sub: 'running', enabled: null },
          ],
        },
      ],
      invalid: [['another backend', { backend: 'openrc', units: [] }, '/backend']],
    },
  },
  'services/status': {
    args: unitArgs('services/status').args,
    result: {
      schema: commands['services/status'].result,
      full: [unitStatus],
      valid: [{ ...unitStatus, mainPid: null, activeSince: null, memoryBytes: null, restarts: null, path: null }],
      invalid: [['main pid 0', { ...unitStatus, mainPid: 0 }, '/mainPid']],
    },
  },
  'services/start': unitArgs('services/start'),
  'services/stop': unitArgs('services/stop'),
  'services/restart': unitArgs('services/restart'),
  'services/enable': unitArgs('services/enable'),
  'services/disable': unitArgs('services/disable'),
  'power/reboot': {
    args: {
      schema: commands['power/reboot'].args,
      full: [{ delaySeconds: 5, reason: 'kernel update' }],
      valid: [{}, { delaySeconds: 0 }, { delaySeconds: 3600 }, { reason: 'x'.repeat(200) }],
      invalid: [
        ['a delay over an hour', { delaySeconds: 3601 }, '/delaySeconds'],
        ['a negative delay', { delaySeconds: -1 }, '/delaySeconds'],
        ['a fractional delay', { delaySeconds: 1.5 }, '/delaySeconds'],
        ['an empty reason', { reason: '' }, '/reason'],
        ['a reason over 200 characters', { reason: 'x'.repeat(201) }, '/reason'],
      ],
    },
    result: {
      schema: commands['power/reboot'].result,
      full: [scheduled],
      valid: [{ ...scheduled, reason: null }],
      invalid: [['an unknown action', { ...scheduled, action: 'halt' }, '/action']],
    },
  },
  'power/shutdown': {
    args: { schema: commands['power/shutdown'].args, full: [{ delaySeconds: 0, reason: 'moving the rack' }] },
    result: { schema: commands['power/shutdown'].result, full: [{ ...scheduled, action: 'shutdown' }] },
  },
  'power/cancel': {
    args: { schema: commands['power/cancel'].args, full: [{}] },
    result: { schema: commands['power/cancel'].result, full: [{ cancelled: scheduled }], valid: [{ cancelled: null }] },
  },
  'power/status': {
    args: { schema: commands['power/status'].args, full: [{}] },
    result: {
      schema: commands['power/status'].result,
      full: [
        {
          pending: scheduled,
          last: { action: 'shutdown', at: '2025-01-01T09:00:00.000Z', ok: false, error: 'exit 1' },
        },
      ],
      valid: [{ pending: null, last: null }],
      invalid: [
        ['a last action without ok', { pending: null, last: { action: 'reboot', at: 'x', error: null } }, "'ok'"],
      ],
    },
  },
};

function baseList(): Obj {
  return { at: 'x', sampleMs: 0, cpuCount: 1, memTotalBytes: 0, total: 0, truncated: false, processes: [] };
}
