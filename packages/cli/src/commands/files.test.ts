/** The file commands' parsing and rendering: remote paths, modes, sizes, `ls -l` lines and the progress line. */
import { InvalidArgumentError } from 'commander';
import { describe, expect, it } from 'vitest';
import { CliError } from '../errors.js';
import { formatBytes, progressLine } from '../progress.js';
import { isRemote, modeOption, parseRemote } from '../remote-path.js';
import { fetchArgs, modeString, renderLong, sizeOption } from './files.js';
import { transferId } from './files-copy.js';

describe('remote paths', () => {
  it('splits DEVICE:/path at the first :/ and refuses anything else as a usage error', () => {
    expect(parseRemote('gw-12:/var/lib/x')).toEqual({ device: 'gw-12', path: '/var/lib/x' });
    expect(parseRemote('lab:pi:/a:b')).toEqual({ device: 'lab:pi', path: '/a:b' });
    for (const bad of ['gw-12', 'gw-12:relative', ':/x', '/abs/path']) {
      expect(() => parseRemote(bad)).toThrow(CliError);
      try {
        parseRemote(bad);
      } catch (err) {
        expect((err as CliError).exitCode).toBe(2);
      }
    }
  });

  it('tells device paths from local ones', () => {
    expect(isRemote('gw:/tmp/x')).toBe(true);
    expect(isRemote('./gw:/tmp/x')).toBe(false);
    expect(isRemote('/home/me/file')).toBe(false);
    expect(isRemote('file.txt')).toBe(false);
  });
});

describe('options', () => {
  it('reads octal modes and sizes', () => {
    expect(modeOption('644')).toBe(0o644);
    expect(modeOption('0755')).toBe(0o755);
    expect(modeOption('4755')).toBe(0o4755);
    for (const bad of ['9', '888', 'rwx', '12345']) expect(() => modeOption(bad)).toThrow(InvalidArgumentError);
    expect(sizeOption('500000')).toBe(500_000);
    expect(sizeOption('200M')).toBe(200 * 1024 * 1024);
    expect(sizeOption('2GiB')).toBe(2 * 1024 ** 3);
    expect(() => sizeOption('lots')).toThrow(InvalidArgumentError);
  });

  it('builds fetch args and refuses a relative path or a malformed checksum', () => {
    expect(fetchArgs('https://h/x', '/tmp/x', { sha256: 'A'.repeat(64), timeout: 30, overwrite: false })).toEqual({
      url: 'https://h/x',
      path: '/tmp/x',
      sha256: 'a'.repeat(64),
      timeoutMs: 30_000,
      overwrite: false,
    });
    expect(() => fetchArgs('https://h/x', 'tmp/x', {})).toThrow(/absolute/);
    expect(() => fetchArgs('https://h/x', '/tmp/x', { sha256: 'abc' })).toThrow(/64 hex/);
  });
});

describe('rendering', () => {
  it('shows modes as ls does, with setuid, setgid and sticky bits', () => {
    expect(modeString('file', 0o644)).toBe('-rw-r--r--');
    expect(modeString('dir', 0o1777)).toBe('drwxrwxrwt');
    expect(modeString('file', 0o4755)).toBe('-rwsr-xr-x');
    expect(modeString('file', 0o2644)).toBe('-rw-r-Sr--');
    expect(modeString('symlink', 0o777)).toBe('lrwxrwxrwx');
  });

  it('renders ls -l lines with symlink targets and no header', () => {
    const out = renderLong([
      { name: 'a', type: 'file', size: 12, mode: 0o600, uid: 0, gid: 0, mtime: Date.UTC(2025, 0, 2, 3, 4, 5) },
      { name: 'l', type: 'symlink', size: 1, mode: 0o777, uid: 1000, gid: 1000, mtime: 0, target: 'a' },
    ]);
    expect(out.split('\n')[0]).toBe('-rw-------  0:0        12    2025-01-02T03:04:05Z  a');
    expect(out).toContain('l -> a');
    expect(out).not.toContain('MODE');
  });

  it('formats progress: bytes, percent, speed and ETA', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    const line = progressLine('up', 50 * 1024 * 1024, 100 * 1024 * 1024, 10);
    expect(line).toContain(' 50%');
    expect(line).toContain('50.0 MiB/100 MiB');
    expect(line).toContain('5.0 MiB/s');
    expect(line).toContain('ETA 10s');
    // Bytes that were already there (a resume) do not count towards the speed.
    expect(progressLine('up', 60, 100, 1, 50)).toContain('10 B/s');
  });

  it('derives one transfer id per file and destination', () => {
    const a = transferId('a'.repeat(64), 10, { device: 'd', path: '/x' });
    expect(a).toMatch(/^t[0-9a-f]{40}$/);
    expect(transferId('a'.repeat(64), 10, { device: 'd', path: '/x' })).toBe(a);
    expect(transferId('a'.repeat(64), 10, { device: 'd', path: '/y' })).not.toBe(a);
  });
});
