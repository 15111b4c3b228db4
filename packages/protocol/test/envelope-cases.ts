/**
 * Schema cases for the envelope (docs/protocol.md §Envelope): every message the
 * device and server exchange outside the command catalogue.
 */
import * as envelope from '../src/envelope.js';
import { ErrorCodes } from '../src/errors.js';
import { metricsSample, metricsWithout, type SchemaCase } from './schema-case.js';

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

export const envelopeCases: Record<string, SchemaCase> = {
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
