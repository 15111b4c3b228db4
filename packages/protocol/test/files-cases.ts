import { commands } from '../src/commands.js';
import type { SchemaCase } from './schema-case.js';

const sha = 'a'.repeat(64);
const entry = { name: 'fw.bin', type: 'file', size: 1024, mode: 0o644, uid: 0, gid: 0, mtime: 1_700_000_000_000 };
const link = { ...entry, name: 'current', type: 'symlink', size: 6, mode: 0o777, target: 'fw.bin' };

export const filesCases: Record<string, { args: SchemaCase; result: SchemaCase }> = {
  'files/list': {
    args: {
      schema: commands['files/list'].args,
      full: [{ path: '/var/lib/outpost/files', offset: 1000, limit: 500 }],
      valid: [{ path: '/' }],
      invalid: [
        ['relative path', { path: 'tmp' }, '/path'],
        ['empty path', { path: '' }, '/path'],
        ['limit over the cap', { path: '/tmp', limit: 2001 }, '/limit'],
        ['negative offset', { path: '/tmp', offset: -1 }, '/offset'],
      ],
    },
    result: {
      schema: commands['files/list'].result,
      full: [{ path: '/var/lib/outpost/files', type: 'dir', entries: [entry, link], total: 2, next: null }],
      valid: [{ path: '/tmp', type: 'dir', entries: [], total: 3000, next: 1000 }],
      invalid: [
        ['unknown file type', { path: '/x', type: 'door', entries: [], total: 0, next: null }, '/type'],
        [
          'entry with an unknown field',
          { path: '/x', type: 'dir', entries: [{ ...entry, x: 1 }], total: 1, next: null },
          '',
        ],
      ],
    },
  },
  'files/stat': {
    args: {
      schema: commands['files/stat'].args,
      full: [{ path: '/tmp/x' }],
      invalid: [['relative path', { path: 'x' }, '/path']],
    },
    result: {
      schema: commands['files/stat'].result,
      full: [{ path: '/tmp/current', entry: link }],
      invalid: [['mode beyond 07777', { path: '/x', entry: { ...entry, mode: 0o10000 } }, '/entry/mode']],
    },
  },
  'files/mkdir': {
    args: {
      schema: commands['files/mkdir'].args,
      full: [{ path: '/tmp/a/b', recursive: true, mode: 0o750 }],
      invalid: [['mode beyond 07777', { path: '/tmp/a', mode: 0o10000 }, '/mode']],
    },
    result: { schema: commands['files/mkdir'].result, full: [{ path: '/tmp/a/b', created: true }] },
  },
  'files/delete': {
    args: { schema: commands['files/delete'].args, full: [{ path: '/tmp/a', recursive: true }] },
    result: { schema: commands['files/delete'].result, full: [{ path: '/tmp/a', type: 'dir' }] },
  },
  'files/move': {
    args: {
      schema: commands['files/move'].args,
      full: [{ from: '/tmp/a', to: '/tmp/b', overwrite: true }],
      invalid: [['relative target', { from: '/tmp/a', to: 'b' }, '/to']],
    },
    result: { schema: commands['files/move'].result, full: [{ from: '/tmp/a', to: '/tmp/b', type: 'file' }] },
  },
  'files/fetch': {
    args: {
      schema: commands['files/fetch'].args,
      full: [
        {
          url: 'https://downloads.example.com/fw.bin',
          path: '/var/lib/outpost/files/fw.bin',
          sha256: sha,
          maxBytes: 1_000_000,
          timeoutMs: 60_000,
          maxRedirects: 3,
          mode: 0o600,
          owner: 'outpost',
          group: '1000',
          overwrite: false,
        },
      ],
      valid: [{ url: 'HTTP://host/x', path: '/tmp/x' }],
      invalid: [
        ['ftp URL', { url: 'ftp://host/x', path: '/tmp/x' }, '/url'],
        ['upper-case checksum', { url: 'https://h/x', path: '/tmp/x', sha256: 'A'.repeat(64) }, '/sha256'],
        ['short checksum', { url: 'https://h/x', path: '/tmp/x', sha256: 'abc' }, '/sha256'],
        ['owner with a slash', { url: 'https://h/x', path: '/tmp/x', owner: 'a/b' }, '/owner'],
        ['timeout under a second', { url: 'https://h/x', path: '/tmp/x', timeoutMs: 10 }, '/timeoutMs'],
      ],
    },
    result: {
      schema: commands['files/fetch'].result,
      full: [
        {
          path: '/tmp/x',
          size: 1024,
          sha256: sha,
          finalUrl: 'https://cdn.example.com/fw.bin',
          redirects: 1,
          durationMs: 120,
        },
      ],
    },
  },
  'files/upload': {
    args: {
      schema: commands['files/upload'].args,
      full: [
        {
          sid: 's-upload1',
          path: '/tmp/fw.bin',
          size: 1_000_000,
          sha256: sha,
          transfer: 't0123456789abcdef',
          offset: 524_288,
          mode: 0o644,
          owner: 'root',
          group: 'root',
          overwrite: true,
        },
      ],
      invalid: [
        ['a transfer id too short', { sid: 's1', path: '/x', size: 1, sha256: sha, transfer: 'abc' }, '/transfer'],
        [
          'a transfer id with a dot',
          { sid: 's1', path: '/x', size: 1, sha256: sha, transfer: '../../etc' },
          '/transfer',
        ],
        ['a sid with a slash', { sid: 's/1', path: '/x', size: 1, sha256: sha, transfer: 'transfer-1' }, '/sid'],
        ['over 64 GiB', { sid: 's1', path: '/x', size: 2 ** 37, sha256: sha, transfer: 'transfer-1' }, '/size'],
      ],
    },
    result: {
      schema: commands['files/upload'].result,
      full: [{ path: '/tmp/fw.bin', size: 1_000_000, sha256: sha, resumedFrom: 524_288, durationMs: 900 }],
    },
  },
  'files/upload-status': {
    args: { schema: commands['files/upload-status'].args, full: [{ path: '/tmp/fw.bin', transfer: 'transfer-1' }] },
    result: {
      schema: commands['files/upload-status'].result,
      full: [{ path: '/tmp/fw.bin', transfer: 'transfer-1', size: 524_288, exists: true }],
    },
  },
  'files/download': {
    args: {
      schema: commands['files/download'].args,
      full: [{ sid: 's-down1', path: '/var/log/syslog', offset: 4096 }],
      invalid: [['negative offset', { sid: 's1', path: '/x', offset: -1 }, '/offset']],
    },
    result: {
      schema: commands['files/download'].result,
      full: [{ path: '/var/log/syslog', size: 10_000, sha256: sha, sent: 5904, durationMs: 3 }],
    },
  },
};
