/**
 * Every envelope and command schema: valid examples pass; wrong types, unknown fields
 * and missing fields are refused with E_BAD_ARGS naming the field (docs/protocol.md §Errors).
 */
import { Kind, type TSchema } from '@sinclair/typebox';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { appsLogsCases } from '../test/apps-logs-cases.js';
import { deviceControlCases } from '../test/device-control-cases.js';
import { filesCases } from '../test/files-cases.js';
import { ExecArgs } from './capabilities/exec.js';
import { commandSpec, commands } from './commands.js';
import * as envelope from './envelope.js';
import { ErrorCodes, OutpostError } from './errors.js';
import { check, parse, parseJson } from './validate.js';

type Obj = Record<string, unknown>;

interface SchemaCase {
  schema: TSchema;
  /** One example per object branch (one for a plain object), each carrying every optional field. */
  full: Obj[];
  /** More values that must pass. */
  valid?: unknown[];
  /** [label, value, fragment the E_BAD_ARGS message must contain ('' when only rejection is checked)]. */
  invalid?: [string, unknown, string][];
}

const facts = {
  hostname: 'pi-kitchen',
  os: 'Debian GNU/Linux 12 (bookworm)',
  kernel: '6.1.0-rpi7-rpi-v8',
  arch: 'arm64',
  macs: ['dc:a6:32:01:02:03'],
  ips: ['192.168.1.10', 'fe80::1'],
  agentVersion: '0.1.0',
};
const errorBody = { code: 'E_TIMEOUT', message: 'timed out', details: { afterMs: 60_000 } };
const secret = `ops_${'A'.repeat(43)}`;
const publicKey = '-----BEGIN PUBLIC KEY-----\nMIIBIjAN...\n-----END PUBLIC KEY-----\n';
const certificate = '-----BEGIN CERTIFICATE-----\nMIIC...\n-----END CERTIFICATE-----\n';

/** A metrics sample with every optional field (docs/metrics.md). */
const metricsSample = {
  ts: 1_700_000_000_000,
  window: 15.01,
  uptime: 86_400.5,
  cpu: { usage: 37.5, user: 30, system: 5.5, iowait: 2, steal: 0, cores: [50, 25, null, 0] },
  load: { avg1: 0.42, avg5: 0.3, avg15: 0.2 },
  memory: {
    total: 4_000_000_000,
    available: 3_000_000_000,
    used: 1_000_000_000,
    free: 2_500_000_000,
    buffers: 100_000_000,
    cached: 400_000_000,
    usedPercent: 25,
  },
  swap: { total: 0, used: 0, free: 0, usedPercent: 0 },
  disks: [
    {
      mount: '/',
      device: '/dev/mmcblk0p2',
      fsType: 'ext4',
      total: 32_000_000_000,
      used: 8_000_000_000,
      available: 22_000_000_000,
      usedPercent: 26.67,
      inodesTotal: 1_900_000,
      inodesUsedPercent: 7.5,
    },
  ],
  disksReason: 'disk usage needs Node.js 18.15 or later',
  diskIo: [
    {
      device: 'mmcblk0',
      readBytes: 1024,
      writeBytes: 2048,
      reads: 2,
      writes: 4,
      readBytesPerSec: 0,
      writeBytesPerSec: 136.5,
      readsPerSec: 0,
      writesPerSec: null,
      busyPercent: null,
    },
  ],
  network: [
    {
      interface: 'wlan0',
      rxBytes: 10,
      txBytes: 20,
      rxPackets: 1,
      txPackets: 2,
      rxErrors: 0,
      txErrors: 0,
      rxDropped: 0,
      txDropped: 0,
      rxBytesPerSec: 1.5,
      txBytesPerSec: null,
    },
  ],
  temperature: { celsius: 48.3, zones: [{ zone: 'thermal_zone0', type: 'cpu-thermal', celsius: 48.3 }] },
  temperatureReason: 'x',
  processes: { total: 120, running: 2, blocked: 0, threads: 250 },
};
/** The sample without its optional fields, and with no temperature: what this test machine sends. */
function metricsWithout(): Obj {
  const { disksReason: _d, temperatureReason: _t, ...rest } = metricsSample;
  return { ...rest, temperature: null, temperatureReason: 'no thermal zones in /sys/class/thermal' };
}

const envelopeCases: Record<string, SchemaCase> = {
  CommandRequest: {
    schema: envelope.CommandRequest,
    full: [{ id: 'c-1', args: { argv: ['uptime'] }, ttl: 3600, ts: 1_700_000_000_000 }],
    valid: [
      { id: 'c-1', args: {}, ts: 0 },
      { id: 'c-1', args: null, ts: 0 },
      { id: 'c-1', args: {}, ttl: 1, ts: 0 },
      { id: 'c-1', args: {}, ttl: 7 * 24 * 3600, ts: 0 },
    ],
    invalid: [
      ['ttl 0', { id: 'c-1', args: {}, ttl: 0, ts: 0 }, '/ttl'],
      ['ttl over a week', { id: 'c-1', args: {}, ttl: 7 * 24 * 3600 + 1, ts: 0 }, '/ttl'],
      ['fractional ttl', { id: 'c-1', args: {}, ttl: 1.5, ts: 0 }, '/ttl'],
      ['negative ts', { id: 'c-1', args: {}, ts: -1 }, '/ts'],
      ['fractional ts', { id: 'c-1', args: {}, ts: 1.5 }, '/ts'],
      ['id with slash', { id: 'a/b', args: {}, ts: 0 }, '/id'],
      ['id with wildcard', { id: '#', args: {}, ts: 0 }, '/id'],
      ['empty id', { id: '', args: {}, ts: 0 }, '/id'],
      ['65-char id', { id: 'a'.repeat(65), args: {}, ts: 0 }, '/id'],
    ],
  },
  ErrorBodySchema: {
    schema: envelope.ErrorBodySchema,
    full: [errorBody],
    valid: [...ErrorCodes.map((code) => ({ code, message: 'x' })), { code: 'E_BUSY', message: '', details: null }],
    invalid: [
      ['unknown code', { code: 'E_NOPE', message: 'x' }, '/code'],
      ['lowercase code', { code: 'e_busy', message: 'x' }, '/code'],
      ['message over 4096 chars', { code: 'E_BUSY', message: 'x'.repeat(4097) }, '/message'],
    ],
  },
  CommandResponse: {
    schema: envelope.CommandResponse,
    full: [
      { id: 'c-1', ok: true, data: { exitCode: 0 } },
      { id: 'c-1', ok: false, error: errorBody },
    ],
    valid: [
      { id: 'c-1', ok: true, data: null },
      { id: 'c-1', ok: false, error: { code: 'E_INTERNAL', message: 'internal error' } },
    ],
    invalid: [
      ['ok:true with error', { id: 'c-1', ok: true, error: errorBody }, ''],
      ['ok:false with data', { id: 'c-1', ok: false, data: {} }, ''],
      ['both data and error', { id: 'c-1', ok: true, data: {}, error: errorBody }, ''],
      ['unknown error code', { id: 'c-1', ok: false, error: { code: 'E_NOPE', message: 'x' } }, ''],
      ['error with extra field', { id: 'c-1', ok: false, error: { ...errorBody, stack: 'at x' } }, ''],
      ['bad id', { id: '../x', ok: true, data: {} }, ''],
    ],
  },
  OutputChunk: {
    schema: envelope.OutputChunk,
    full: [{ id: 'c-1', seq: 0, stream: 'stdout', data: 'aGVsbG8K' }],
    valid: [{ id: 'c-1', seq: 41, stream: 'stderr', data: '' }],
    invalid: [
      ['stream stdin', { id: 'c-1', seq: 0, stream: 'stdin', data: '' }, '/stream'],
      ['negative seq', { id: 'c-1', seq: -1, stream: 'stdout', data: '' }, '/seq'],
      ['fractional seq', { id: 'c-1', seq: 0.5, stream: 'stdout', data: '' }, '/seq'],
    ],
  },
  DeviceFacts: {
    schema: envelope.DeviceFacts,
    full: [facts],
    valid: [{ ...facts, macs: [], ips: [] }],
    invalid: [
      ['hostname over 255', { ...facts, hostname: 'h'.repeat(256) }, '/hostname'],
      ['arch over 64', { ...facts, arch: 'a'.repeat(65) }, '/arch'],
      ['non-string mac', { ...facts, macs: [1] }, '/macs/0'],
      ['65 macs', { ...facts, macs: Array(65).fill('m') }, '/macs'],
      ['129 ips', { ...facts, ips: Array(129).fill('i') }, '/ips'],
    ],
  },
  DeviceStatus: {
    schema: envelope.DeviceStatus,
    full: [{ online: true, since: 1_700_000_000_000, agentVersion: '0.1.0', protocol: 1, heartbeat: 15, facts }],
    // The last will is the minimal form.
    valid: [{ online: false, since: 0 }],
    invalid: [
      ['heartbeat 0', { online: true, since: 0, heartbeat: 0 }, '/heartbeat'],
      ['heartbeat over an hour', { online: true, since: 0, heartbeat: 3601 }, '/heartbeat'],
      ['protocol 0', { online: true, since: 0, protocol: 0 }, '/protocol'],
      ['online as string', { online: 'true', since: 0 }, '/online'],
      [
        'facts with unknown field',
        { online: true, since: 0, facts: { ...facts, secret: 'x' } },
        "unknown field 'secret'",
      ],
      ['facts missing a field', { online: true, since: 0, facts: { ...facts, os: undefined } }, "missing field 'os'"],
    ],
  },
  Telemetry: {
    schema: envelope.Telemetry,
    full: [{ ts: 1, uptime: 12.5, metrics: metricsSample }],
    valid: [
      { ts: 0, uptime: 0 },
      { ts: 0, uptime: 0, metrics: metricsWithout() },
    ],
    invalid: [
      ['negative uptime', { ts: 0, uptime: -1 }, '/uptime'],
      ['metrics not an object', { ts: 0, uptime: 0, metrics: [1] }, '/metrics'],
      // Free-form metrics are gone: a sample is the strict Metrics schema (docs/metrics.md).
      ['metrics of the old free form', { ts: 0, uptime: 0, metrics: { cpu: 0.25 } }, '/metrics'],
      [
        'cpu over 100 %',
        { ts: 0, uptime: 0, metrics: { ...metricsSample, cpu: { ...metricsSample.cpu, usage: 101 } } },
        '/metrics/cpu/usage',
      ],
      [
        'unknown field in a disk',
        { ts: 0, uptime: 0, metrics: { ...metricsSample, disks: [{ ...metricsSample.disks[0], x: 1 }] } },
        "unknown field 'x'",
      ],
    ],
  },
  DeviceEvent: {
    schema: envelope.DeviceEvent,
    full: [{ ts: 1, level: 'warn', source: 'agent', message: 'disk almost full' }],
    valid: ['debug', 'info', 'error'].map((level) => ({ ts: 1, level, source: 's', message: '' })),
    invalid: [
      ['unknown level', { ts: 1, level: 'fatal', source: 's', message: '' }, '/level'],
      ['message over 8192', { ts: 1, level: 'info', source: 's', message: 'm'.repeat(8193) }, '/message'],
      ['source over 128', { ts: 1, level: 'info', source: 's'.repeat(129), message: '' }, '/source'],
    ],
  },
  EnrollRequest: {
    schema: envelope.EnrollRequest,
    full: [{ nonce: 'Abcdefghijklmnop_-12', token: 'ope_abc', facts, publicKey }],
    // Without a public key the device asks for a secret (and every agent before certificates).
    valid: [{ nonce: 'abc', token: 'ope_abc', facts }],
    invalid: [
      ['nonce with slash', { nonce: 'a/b', token: 'ope_abc', facts }, '/nonce'],
      ['nonce with wildcard', { nonce: '+', token: 'ope_abc', facts }, '/nonce'],
      ['empty token', { nonce: 'abc', token: '', facts }, '/token'],
      ['empty public key', { nonce: 'abc', token: 'ope_abc', facts, publicKey: '' }, '/publicKey'],
      [
        'public key over 4096 chars',
        { nonce: 'abc', token: 'ope_abc', facts, publicKey: 'k'.repeat(4097) },
        '/publicKey',
      ],
    ],
  },
  EnrollResponse: {
    schema: envelope.EnrollResponse,
    full: [
      // The schema allows both; the server sends exactly one (the agent checks which it asked for).
      { ok: true, deviceId: 'd-abcdefghijklmnopqrst', secret, certificate, status: 'accepted' },
      { ok: false, error: { code: 'E_DENIED', message: 'token revoked' } },
    ],
    valid: [
      { ok: true, deviceId: 'd-x', secret, status: 'pending' },
      { ok: true, deviceId: 'd-x', certificate, status: 'accepted' },
      { ok: true, deviceId: 'd-x', certificate: 'c'.repeat(16384), status: 'pending' },
    ],
    invalid: [
      ['empty certificate', { ok: true, deviceId: 'd-x', certificate: '', status: 'accepted' }, ''],
      [
        'certificate over 16384 chars',
        { ok: true, deviceId: 'd-x', certificate: 'c'.repeat(16385), status: 'accepted' },
        '',
      ],
      ['ok:false with a certificate', { ok: false, certificate, error: { code: 'E_DENIED', message: 'x' } }, ''],
      ['status rejected', { ok: true, deviceId: 'd-x', secret, status: 'rejected' }, ''],
      ['secret too short', { ok: true, deviceId: 'd-x', secret: 's'.repeat(31), status: 'accepted' }, ''],
      ['secret too long', { ok: true, deviceId: 'd-x', secret: 's'.repeat(257), status: 'accepted' }, ''],
      ['bad device id', { ok: true, deviceId: 'd/x', secret, status: 'accepted' }, ''],
      ['ok:false with a secret', { ok: false, secret, error: { code: 'E_DENIED', message: 'x' } }, ''],
    ],
  },
};

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

const commandCases: Record<string, { args: SchemaCase; result: SchemaCase }> = {
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

function baseExecResult(): Obj {
  return { exitCode: 0, signal: null, stdout: '', stderr: '', truncated: false, timedOut: false, durationMs: 0 };
}

function rejection(schema: TSchema, value: unknown, what?: string): OutpostError {
  expect(check(schema, value)).toBe(false);
  try {
    parse(schema, value, what);
  } catch (err) {
    expect(err).toBeInstanceOf(OutpostError);
    expect((err as OutpostError).code).toBe('E_BAD_ARGS');
    return err as OutpostError;
  }
  throw new Error(`parse accepted ${JSON.stringify(value)}`);
}

const isUnknown = (s: unknown): boolean => (s as Record<symbol, unknown>)[Kind] === 'Unknown';
const wrongTypeFor = (v: unknown): unknown => (typeof v === 'string' ? 42 : 'wrong');

function branches(schema: TSchema): Obj[] {
  return 'anyOf' in schema ? (schema.anyOf as Obj[]) : [schema as Obj];
}

/** The same assertions for every schema; union messages are checked separately below. */
function schemaSuite(name: string, c: SchemaCase): void {
  const union = 'anyOf' in c.schema;
  const bs = branches(c.schema);

  describe(name, () => {
    it('has one full example per branch', () => {
      expect(c.full).toHaveLength(bs.length);
    });

    it.each([...c.full, ...(c.valid ?? [])].map((v) => [JSON.stringify(v).slice(0, 80), v]))(
      'accepts %s',
      (_l, value) => {
        expect(check(c.schema, value)).toBe(true);
        expect(parse(c.schema, value)).toBe(value);
        expect(parseJson(c.schema, JSON.stringify(value))).toEqual(value);
        expect(parseJson(c.schema, Buffer.from(JSON.stringify(value)))).toEqual(value);
      },
    );

    it.each([null, [], 'x', 42, true])('rejects the non-object %j', (value) => {
      rejection(c.schema, value);
    });

    c.full.forEach((example, i) => {
      const branch = bs[i] as Obj;
      const label = union ? ` (branch ${i})` : '';
      const required = (branch.required as string[] | undefined) ?? [];
      const properties = (branch.properties as Record<string, unknown> | undefined) ?? {};

      it(`the full example${label} carries every property`, () => {
        expect(Object.keys(example).sort()).toEqual(Object.keys(properties).sort());
      });

      it(`rejects an unknown field${label}`, () => {
        const err = rejection(c.schema, { ...example, extra: 1 });
        if (!union) expect(err.message).toContain("unknown field 'extra'");
      });

      it.each(required)(`rejects a missing required field %s${label}`, (field) => {
        const value = { ...example };
        delete value[field];
        const err = rejection(c.schema, value);
        if (!union) expect(err.message).toContain(`missing field '${field}'`);
      });

      it.each(Object.keys(properties).filter((k) => !isUnknown(properties[k])))(
        `rejects a wrong type for %s${label}`,
        (field) => {
          const err = rejection(c.schema, { ...example, [field]: wrongTypeFor(example[field]) });
          if (!union) expect(err.message).toContain(`/${field}`);
        },
      );
    });

    it.each(c.invalid ?? [])('rejects %s', (_label, value, fragment) => {
      const err = rejection(c.schema, value);
      expect(err.message).toContain(fragment);
    });
  });
}

describe('envelope schemas', () => {
  it('every schema exported by envelope.ts has cases here', () => {
    const exported = Object.entries(envelope)
      .filter(([, v]) => typeof v === 'object' && v !== null && Kind in v)
      .map(([k]) => k);
    expect(exported.sort()).toEqual(Object.keys(envelopeCases).sort());
  });

  it('ENROLL_USERNAME is the documented user', () => {
    expect(envelope.ENROLL_USERNAME).toBe('enroll');
  });

  for (const [name, c] of Object.entries(envelopeCases)) schemaSuite(name, c);
});

describe('command schemas', () => {
  it('every command in the catalogue has cases here', () => {
    expect(Object.keys(commands).sort()).toEqual(Object.keys(commandCases).sort());
  });

  for (const [name, c] of Object.entries(commandCases)) {
    schemaSuite(`${name} args`, c.args);
    schemaSuite(`${name} result`, c.result);
  }

  it('exec args are the exported ExecArgs', () => {
    expect(commands['exec/run'].args).toBe(ExecArgs);
    expect(commands['exec/run'].streams).toBe(true);
    expect(commands['system/info'].streams).toBe(false);
  });

  it('commandSpec finds catalogue entries and nothing inherited', () => {
    expect(commandSpec('exec', 'run')).toBe(commands['exec/run']);
    expect(commandSpec('system', 'info')).toBe(commands['system/info']);
    for (const [cap, action] of [
      ['exec', 'nope'],
      ['nope', 'run'],
      ['__proto__', ''],
      ['constructor', ''],
      ['toString', ''],
      ['hasOwnProperty', ''],
      ['exec/run', ''],
      ['', 'exec/run'],
    ]) {
      expect(commandSpec(cap as string, action as string), `${cap}/${action}`).toBeUndefined();
    }
  });
});

/**
 * A union's message should name the field that is actually wrong. Today `describe()` in
 * validate.ts reports the first error of the first branch, so a user who sends a script
 * without `shell: true` reads "missing field 'argv'".
 */
describe('union errors name the offending field', () => {
  it.each([
    ['exec script without shell', ExecArgs, { script: 'ls' }, 'shell'],
    ['exec script with timeoutMs 0', ExecArgs, { script: 'ls', shell: true, timeoutMs: 0 }, '/timeoutMs'],
    [
      'response with an unknown error code',
      envelope.CommandResponse,
      { id: 'c-1', ok: false, error: { code: 'E_NOPE', message: 'x' } },
      '/error/code',
    ],
    ['enroll failure without error', envelope.EnrollResponse, { ok: false }, "missing field 'error'"],
  ] as [string, TSchema, unknown, string][])('%s', (_label, schema, value, fragment) => {
    expect(rejection(schema, value).message).toContain(fragment);
  });
});

describe('parse and parseJson', () => {
  it('name what was being parsed', () => {
    expect(rejection(envelope.DeviceStatus, { online: 1, since: 0 }, 'status').message).toBe(
      'invalid status: /online: must be boolean',
    );
    expect(rejection(envelope.DeviceStatus, {}).message).toBe("invalid value: (root): missing field 'online'");
  });

  it.each(['{', '', 'undefined', "{'a':1}", '{"online":true,}', '\u0000'])('malformed JSON %j is E_BAD_ARGS', (p) => {
    for (const payload of [p, Buffer.from(p)]) {
      let thrown: unknown;
      try {
        parseJson(envelope.DeviceStatus, payload);
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(OutpostError);
      expect((thrown as OutpostError).code).toBe('E_BAD_ARGS');
      expect((thrown as OutpostError).message).toBe('invalid message: malformed JSON');
    }
    expect(() => parseJson(envelope.DeviceStatus, p, 'status')).toThrow('invalid status: malformed JSON');
  });

  it('non-UTF-8 bytes are malformed JSON, not a crash', () => {
    expect(() => parseJson(envelope.DeviceStatus, Buffer.from([0xff, 0xfe, 0x7b]))).toThrow('malformed JSON');
  });

  it('well-formed JSON of the wrong shape names the field', () => {
    expect(() => parseJson(envelope.Telemetry, '{"ts":1}', 'telemetry')).toThrow(
      "invalid telemetry: (root): missing field 'uptime'",
    );
    expect(() => parseJson(envelope.Telemetry, 'null')).toThrow(OutpostError);
    expect(() => parseJson(envelope.Telemetry, '[]')).toThrow(OutpostError);
  });

  it('messages never echo the rejected value (it may be a secret)', () => {
    const leaked = 'hunter2-TOPSECRET';
    const msgs = [
      rejection(envelope.EnrollResponse, { ok: true, deviceId: 'd-x', secret: leaked, status: 'accepted' }),
      rejection(envelope.CommandRequest, { id: `${leaked}/x`, args: {}, ts: 0 }),
      rejection(envelope.ErrorBodySchema, { code: leaked, message: '' }),
      rejection(ExecArgs, { argv: [leaked], env: { A: 1 } }),
    ].map((e) => e.message);
    for (const m of msgs) expect(m).not.toContain('TOPSECRET');
  });

  it('does not coerce types or fill defaults', () => {
    const value = { argv: ['x'], timeoutMs: 5 };
    expect(check(ExecArgs, { argv: ['x'], timeoutMs: '5' })).toBe(false);
    expect(parse(ExecArgs, value)).toEqual({ argv: ['x'], timeoutMs: 5 });
  });
});

/** Walks a JSON Schema and returns every object-typed node with its path. */
function objectNodes(node: unknown, path = '#'): [string, Obj][] {
  if (typeof node !== 'object' || node === null) return [];
  if (Array.isArray(node)) return node.flatMap((n, i) => objectNodes(n, `${path}/${i}`));
  const s = node as Obj;
  const out: [string, Obj][] = s.type === 'object' ? [[path, s]] : [];
  for (const key of ['properties', 'patternProperties']) {
    const map = s[key] as Obj | undefined;
    if (map) for (const [k, v] of Object.entries(map)) out.push(...objectNodes(v, `${path}/${key}/${k}`));
  }
  for (const key of ['items', 'anyOf', 'oneOf', 'allOf', 'additionalProperties', 'not']) {
    if (s[key] !== undefined) out.push(...objectNodes(s[key], `${path}/${key}`));
  }
  return out;
}

/** A map with one catch-all key pattern is open by design (telemetry metrics). */
const isFreeFormMap = (s: Obj): boolean =>
  s.patternProperties !== undefined && Object.keys(s.patternProperties as Obj).join() === '^(.*)$';

describe('schemas as JSON Schema (for agents in other languages)', () => {
  const all: [string, SchemaCase][] = [
    ...Object.entries(envelopeCases).map(([n, c]) => [`envelope.${n}`, c] as [string, SchemaCase]),
    ...Object.entries(commandCases).flatMap(([n, c]): [string, SchemaCase][] => [
      [`${n} args`, c.args],
      [`${n} result`, c.result],
    ]),
  ];

  it.each(Object.entries(commands))('%s: args and result serialize and close every object', (_name, spec) => {
    for (const schema of [spec.args, spec.result]) {
      const json = JSON.parse(JSON.stringify(schema)) as unknown;
      const nodes = objectNodes(json);
      expect(nodes.length).toBeGreaterThan(0);
      for (const [path, node] of nodes) expect(node.additionalProperties, path).toBe(false);
    }
  });

  it.each(Object.keys(envelopeCases))('envelope.%s closes every object except free-form maps', (name) => {
    const json = JSON.parse(JSON.stringify(envelopeCases[name]?.schema)) as unknown;
    for (const [path, node] of objectNodes(json)) {
      if (!isFreeFormMap(node)) expect(node.additionalProperties, path).toBe(false);
    }
  });

  it.each(all)('%s: the serialized schema judges every example like the TypeBox one', (_name, c) => {
    const ajv = new Ajv({ strict: false });
    const validate = ajv.compile(JSON.parse(JSON.stringify(c.schema)) as object);
    for (const v of [...c.full, ...(c.valid ?? [])]) expect(validate(v), JSON.stringify(v)).toBe(true);
    for (const [label, v] of c.invalid ?? []) expect(validate(v), label).toBe(false);
    for (const v of c.full) expect(validate({ ...v, extra: 1 })).toBe(false);
  });
});
