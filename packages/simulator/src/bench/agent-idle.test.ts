/**
 * The idle-agent bench reads a process's memory and CPU time from /proc: these
 * parsers run on this test process's own files (Linux only), so a format the bench
 * cannot read fails here rather than in the middle of a benchmark run.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { cpuTicks, proportionalKiB, residentKiB } from './agent-idle.js';

const linux = process.platform === 'linux';

describe.runIf(linux)('agent idle bench: /proc readers', () => {
  it('reads RSS and its anonymous and file-backed parts from /proc/<pid>/status', () => {
    const r = residentKiB(readFileSync('/proc/self/status', 'utf8'));
    expect(r.rss).toBeGreaterThan(1024);
    expect(r.anon).toBeGreaterThan(0);
    expect(r.file).toBeGreaterThan(0);
    // RssShmem is the third part; the two we report never exceed the whole.
    expect(r.anon + r.file).toBeLessThanOrEqual(r.rss);
  });

  it('reads PSS and private memory (USS) from /proc/<pid>/smaps_rollup', () => {
    const status = residentKiB(readFileSync('/proc/self/status', 'utf8'));
    const p = proportionalKiB(readFileSync('/proc/self/smaps_rollup', 'utf8'));
    expect(p.uss).toBeGreaterThan(0);
    // Private pages count fully in PSS, shared ones in part: USS <= PSS <= RSS (read a moment apart, so with slack).
    expect(p.uss).toBeLessThanOrEqual(p.pss);
    expect(p.pss).toBeLessThanOrEqual(status.rss * 1.5);
  });

  it('names the field it could not find', () => {
    expect(() => proportionalKiB('Rss: 10 kB\nPss: 5 kB\n')).toThrow(/no Private_Clean in \/proc\/<pid>\/smaps_rollup/);
    expect(() => residentKiB('VmRSS: 10 kB\n')).toThrow(/no RssAnon in \/proc\/<pid>\/status/);
  });

  it('counts user + system CPU ticks even when the command name holds spaces and parentheses', () => {
    expect(cpuTicks(readFileSync('/proc/self/stat', 'utf8'))).toBeGreaterThan(0);
    const fields = ['S', '1', '1', '1', '0', '-1', '4194560', '0', '0', '0', '0', '17', '4'];
    expect(cpuTicks(`42 (a (b) c) ${fields.join(' ')} 20 0 1`)).toBe(21);
  });
});
