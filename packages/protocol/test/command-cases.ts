/**
 * Schema cases for every command in the catalogue: exec, system, metrics,
 * terminal and forward here, the other capabilities from their own case files.
 */
import { commands } from '../src/commands.js';
import { appsLogsCases } from './apps-logs-cases.js';
import { deviceControlCases } from './device-control-cases.js';
import { filesCases } from './files-cases.js';
import { baseExecResult, metricsSample, metricsWithout, type SchemaCase } from './schema-case.js';

const execCommon = { cwd: '/tmp', env: { PATH: '/usr/bin', _X: '1', a1: '' }, stdin: 'in', timeoutMs: 1000 };
const systemInfo = {
  hostname: 'pi',
  os: { id: 'debian', name: 'Debian GNU/Linux', version: '12', prettyName: 'Debian GNU/Linux 12 (bookworm)' },
  kernel: '6.1.0',
  arch: 'arm64',
  uptime: 123.4,
  macs: ['dc:a6:32:01:02:03'],
  ips: ['192.168.1.10'],
  agentVersion: '0.1.0',
  nodeVersion: 'v20.11.0',
};

export const commandCases: Record<string, { args: SchemaCase; result: SchemaCase }> = {
  // processes/*, services/*, power/*: packages/protocol/test/device-control-cases.ts.
  ...deviceControlCases,
  // logs/*, apps/*, command/cancel: packages/protocol/test/apps-logs-cases.ts.
  ...appsLogsCases,
  // files/*: packages/protocol/test/files-cases.ts.
  ...filesCases,
  'exec/run': {
    args: {
      schema: commands['exec/run'].args,
      full: [
        { argv: ['ls', '-l', '/'], ...execCommon, maxOutputBytes: 0 },
        { script: 'echo hi | wc -c', shell: true, ...execCommon, maxOutputBytes: 1024 },
        {
          script: 'import sys\nprint(sys.argv)',
          interpreter: 'python3',
          args: ['a', ''],
          ...execCommon,
          maxOutputBytes: 1,
        },
      ],
      valid: [
        { argv: ['true'] },
        { argv: [''] },
        { script: 'x', shell: true },
        { script: 'x', interpreter: 'sh' },
        { script: 'x', interpreter: 'bash', args: [] },
        { script: 'x', interpreter: 'node', args: Array(1024).fill('a') },
        { argv: ['x'], timeoutMs: 1 },
        { argv: ['x'], timeoutMs: 24 * 3600 * 1000 },
        { argv: ['x'], env: {} },
        { argv: Array(1024).fill('a') },
      ],
      invalid: [
        ['empty argv', { argv: [] }, '/argv'],
        ['argv as a string', { argv: 'ls -l' }, '/argv'],
        ['argv with a number', { argv: ['ls', 1] }, '/argv/1'],
        ['argv null', { argv: null }, '/argv'],
        ['1025 argv items', { argv: Array(1025).fill('a') }, '/argv'],
        ['script without shell', { script: 'ls' }, ''],
        ['script with shell:false', { script: 'ls', shell: false }, ''],
        ['script with shell:"true"', { script: 'ls', shell: 'true' }, ''],
        ['shell without script', { shell: true }, ''],
        ['argv with shell', { argv: ['ls'], shell: true }, ''],
        ['both argv and script', { argv: ['ls'], script: 'ls', shell: true }, ''],
        ['empty script', { script: '', shell: true }, ''],
        ['unknown interpreter', { script: 'x', interpreter: 'perl' }, ''],
        ['interpreter with shell', { script: 'x', interpreter: 'sh', shell: true }, ''],
        ['interpreter with argv', { argv: ['x'], interpreter: 'sh' }, ''],
        ['args without interpreter', { script: 'x', shell: true, args: ['a'] }, ''],
        ['args with argv', { argv: ['x'], args: ['a'] }, ''],
        ['1025 script args', { script: 'x', interpreter: 'sh', args: Array(1025).fill('a') }, ''],
        ['script over 256 Ki characters', { script: 'x'.repeat(256 * 1024 + 1), interpreter: 'sh' }, ''],
        ['env key with =', { argv: ['x'], env: { 'A=B': 'x' } }, "unknown field 'A=B'"],
        ['env key with leading digit', { argv: ['x'], env: { '1X': 'x' } }, "unknown field '1X'"],
        ['env key with dash', { argv: ['x'], env: { 'A-B': 'x' } }, "unknown field 'A-B'"],
        ['empty env key', { argv: ['x'], env: { '': 'x' } }, "unknown field ''"],
        ['env value not a string', { argv: ['x'], env: { A: 1 } }, '/env/A'],
        ['env as array', { argv: ['x'], env: ['A=B'] }, '/env'],
        ['timeoutMs 0', { argv: ['x'], timeoutMs: 0 }, '/timeoutMs'],
        ['negative timeoutMs', { argv: ['x'], timeoutMs: -5 }, '/timeoutMs'],
        ['fractional timeoutMs', { argv: ['x'], timeoutMs: 1.5 }, '/timeoutMs'],
        ['timeoutMs as string', { argv: ['x'], timeoutMs: '1000' }, '/timeoutMs'],
        ['timeoutMs over a day', { argv: ['x'], timeoutMs: 24 * 3600 * 1000 + 1 }, '/timeoutMs'],
        ['negative maxOutputBytes', { argv: ['x'], maxOutputBytes: -1 }, '/maxOutputBytes'],
        ['empty cwd', { argv: ['x'], cwd: '' }, '/cwd'],
      ],
    },
    result: {
      schema: commands['exec/run'].result,
      full: [
        {
          exitCode: 0,
          signal: 'SIGTERM',
          stdout: 'hi\n',
          stderr: '',
          truncated: false,
          timedOut: false,
          durationMs: 5,
        },
      ],
      valid: [
        { exitCode: null, signal: 'SIGKILL', stdout: '', stderr: '', truncated: true, timedOut: true, durationMs: 0 },
        {
          exitCode: 127,
          signal: null,
          stdout: '',
          stderr: 'not found',
          truncated: false,
          timedOut: false,
          durationMs: 1,
        },
      ],
      invalid: [
        ['fractional exit code', { ...baseExecResult(), exitCode: 1.5 }, '/exitCode'],
        ['negative duration', { ...baseExecResult(), durationMs: -1 }, '/durationMs'],
      ],
    },
  },
  'forward/open': {
    args: {
      schema: commands['forward/open'].args,
      full: [{ sid: 's-fwd1', host: 'localhost', port: 8080 }],
      valid: [
        { sid: 's1', host: '127.0.0.1', port: 1 },
        { sid: 's1', host: '::1', port: 65535 },
        { sid: 's1', host: 'fd00::10', port: 22 },
        { sid: 's1', host: 'db_1.lan', port: 5432 },
      ],
      invalid: [
        ['port 0', { sid: 's1', host: 'localhost', port: 0 }, '/port'],
        ['port 65536', { sid: 's1', host: 'localhost', port: 65536 }, '/port'],
        ['bracketed IPv6', { sid: 's1', host: '[::1]', port: 22 }, '/host'],
        ['empty host', { sid: 's1', host: '', port: 22 }, '/host'],
        ['host with a slash', { sid: 's1', host: 'a/b', port: 22 }, '/host'],
        ['host with a space', { sid: 's1', host: 'a b', port: 22 }, '/host'],
        ['host with a port', { sid: 's1', host: 'localhost:22', port: 22 }, '/host'],
        ['sid with a slash', { sid: 's/1', host: 'localhost', port: 22 }, '/sid'],
        ['sid wildcard', { sid: '+', host: 'localhost', port: 22 }, '/sid'],
      ],
    },
    result: {
      schema: commands['forward/open'].result,
      full: [{ reason: 'closed', address: '127.0.0.1', bytesToTarget: 10, bytesFromTarget: 20_000_000, durationMs: 5 }],
      valid: ['target-error', 'client-closed', 'link-lost', 'stopped'].map((reason) => ({
        reason,
        address: '::1',
        bytesToTarget: 0,
        bytesFromTarget: 0,
        durationMs: 0,
      })),
      invalid: [
        [
          'negative bytes',
          { reason: 'closed', address: '::1', bytesToTarget: -1, bytesFromTarget: 0, durationMs: 0 },
          '/bytesToTarget',
        ],
        [
          'unknown reason',
          { reason: 'idle', address: '::1', bytesToTarget: 0, bytesFromTarget: 0, durationMs: 0 },
          '/reason',
        ],
      ],
    },
  },
  'metrics/sample': {
    args: {
      schema: commands['metrics/sample'].args,
      full: [{}],
      invalid: [['any field', { series: 'cpu' }, "unknown field 'series'"]],
    },
    result: {
      schema: commands['metrics/sample'].result,
      full: [metricsSample],
      valid: [metricsWithout(), { ...metricsSample, disks: [], diskIo: [], network: [] }],
      invalid: [
        ['zero window', { ...metricsSample, window: 0 }, '/window'],
        ['negative load', { ...metricsSample, load: { avg1: -1, avg5: 0, avg15: 0 } }, '/load/avg1'],
        ['memory as a float', { ...metricsSample, memory: { ...metricsSample.memory, total: 1.5 } }, '/memory/total'],
        ['core share over 100', { ...metricsSample, cpu: { ...metricsSample.cpu, cores: [101] } }, '/cpu/cores/0'],
        [
          'interface name with a slash',
          { ...metricsSample, network: [{ ...metricsSample.network[0], interface: 'a/b' }] },
          '/network/0/interface',
        ],
        [
          'disk name with a colon (series names use colons)',
          { ...metricsSample, diskIo: [{ ...metricsSample.diskIo[0], device: 'a:b' }] },
          '/diskIo/0/device',
        ],
        ['temperature without zones', { ...metricsSample, temperature: { celsius: 40, zones: [] } }, ''],
        ['65 disks', { ...metricsSample, disks: Array(65).fill(metricsSample.disks[0]) }, '/disks'],
      ],
    },
  },
  'system/info': {
    args: {
      schema: commands['system/info'].args,
      full: [{}],
      invalid: [['any field', { verbose: true }, "unknown field 'verbose'"]],
    },
    result: {
      schema: commands['system/info'].result,
      full: [systemInfo],
      invalid: [
        [
          'os with unknown field',
          { ...systemInfo, os: { ...systemInfo.os, codename: 'x' } },
          "unknown field 'codename'",
        ],
        [
          'os missing a field',
          { ...systemInfo, os: { id: 'x', name: 'x', version: 'x' } },
          "missing field 'prettyName'",
        ],
        ['negative uptime', { ...systemInfo, uptime: -1 }, '/uptime'],
        ['mac not a string', { ...systemInfo, macs: [1] }, '/macs/0'],
      ],
    },
  },
  'system/ping': {
    args: {
      schema: commands['system/ping'].args,
      full: [{}],
      invalid: [['any field', { x: 1 }, "unknown field 'x'"]],
    },
    result: {
      schema: commands['system/ping'].result,
      full: [{ pong: true, time: 1700000000000 }],
      invalid: [
        ['pong false', { pong: false, time: 1 }, '/pong'],
        ['negative time', { pong: true, time: -1 }, '/time'],
      ],
    },
  },
  'terminal/open': {
    args: {
      schema: commands['terminal/open'].args,
      full: [{ sid: 's-term1', cols: 80, rows: 24, term: 'xterm-256color', command: ['top', '-b'] }],
      valid: [
        { sid: 's1', cols: 1, rows: 1 },
        { sid: 's1', cols: 1000, rows: 1000, term: 'vt100' },
        { sid: 's1', cols: 80, rows: 24, command: ['sh', '-c', 'echo "$HOME"; exit 3'] },
      ],
      invalid: [
        ['no sid', { cols: 80, rows: 24 }, "missing field 'sid'"],
        ['sid wildcard', { sid: '#', cols: 80, rows: 24 }, '/sid'],
        ['zero columns', { sid: 's1', cols: 0, rows: 24 }, '/cols'],
        ['too many rows', { sid: 's1', cols: 80, rows: 1001 }, '/rows'],
        ['term with a space', { sid: 's1', cols: 80, rows: 24, term: 'xterm 256' }, '/term'],
        ['term with a slash', { sid: 's1', cols: 80, rows: 24, term: '../x' }, '/term'],
        ['empty command', { sid: 's1', cols: 80, rows: 24, command: [] }, '/command'],
        ['empty program', { sid: 's1', cols: 80, rows: 24, command: [''] }, '/command/0'],
        ['command as a string', { sid: 's1', cols: 80, rows: 24, command: 'ls -l' }, '/command'],
        ['unknown field', { sid: 's1', cols: 80, rows: 24, env: {} }, "unknown field 'env'"],
      ],
    },
    result: {
      schema: commands['terminal/open'].result,
      // A string signal and a null exit code: the generic wrong-type checks then cover both unions.
      full: [{ exitCode: null, signal: 'SIGHUP', reason: 'closed', durationMs: 5 }],
      valid: [
        { exitCode: 0, signal: null, reason: 'exit', durationMs: 1200 },
        ...['idle', 'link-lost', 'stopped'].map((reason) => ({
          exitCode: null,
          signal: 'SIGHUP',
          reason,
          durationMs: 0,
        })),
      ],
      invalid: [
        ['exit code above 255', { exitCode: 256, signal: null, reason: 'exit', durationMs: 1 }, '/exitCode'],
        ['unknown reason', { exitCode: 0, signal: null, reason: 'crashed', durationMs: 1 }, '/reason'],
        ['negative duration', { exitCode: 0, signal: null, reason: 'exit', durationMs: -1 }, '/durationMs'],
      ],
    },
  },
};
