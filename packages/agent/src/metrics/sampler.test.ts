/**
 * The sampler on this machine's real /proc and /sys (shares and rates after two
 * readings, sizes matching what Node.js reports), and on fixture trees for what
 * this machine lacks: it has no thermal zones, so zones present, unreadable or
 * absent are fixture directories laid out like sysfs; counter arithmetic is
 * checked exactly on a fixture procfs with a hand-driven clock.
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { check, Metrics } from '@outpost/protocol';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../../../test/tmp.js';
import { MetricsSampler, MIN_WINDOW_MS } from './sampler.js';
import { readTemperature } from './thermal.js';

function busy(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    // Spin: the window must contain real CPU work.
  }
}

describe('on this machine', () => {
  it('two readings give a valid sample with shares in range and one entry per core', async () => {
    const sampler = new MetricsSampler();
    sampler.prime();
    busy(MIN_WINDOW_MS + 200);
    const m = await sampler.sample();
    expect(check(Metrics, m), JSON.stringify(m).slice(0, 500)).toBe(true);
    expect(m.window).toBeGreaterThanOrEqual(0.6);
    expect(m.window).toBeLessThan(30);

    const cores = os.cpus().length;
    expect(m.cpu.cores).toHaveLength(cores);
    for (const c of m.cpu.cores) {
      expect(c).not.toBeNull();
      expect(c).toBeGreaterThanOrEqual(0);
      expect(c).toBeLessThanOrEqual(100);
    }
    // This process kept one core busy the whole window (or something else did while it waited).
    expect(m.cpu.usage).toBeGreaterThanOrEqual((100 / cores) * 0.7);
    expect(m.cpu.usage).toBeLessThanOrEqual(100);
    expect(m.cpu.user + m.cpu.system + m.cpu.iowait + m.cpu.steal).toBeLessThanOrEqual(100.1);

    expect(m.memory.total).toBe(os.totalmem());
    expect(m.memory.used + m.memory.available).toBe(m.memory.total);
    expect(m.memory.usedPercent).toBeGreaterThan(0);
    expect(m.memory.usedPercent).toBeLessThan(100);
    expect(m.swap.used + m.swap.free).toBe(m.swap.total);

    const root = m.disks.find((d) => d.mount === '/');
    expect(root, JSON.stringify(m.disks)).toBeDefined();
    expect(root?.total).toBeGreaterThan(0);
    expect(root?.usedPercent).toBeGreaterThan(0);
    expect(root?.usedPercent).toBeLessThanOrEqual(100);
    expect(m.disksReason).toBeUndefined();

    const [a1] = os.loadavg();
    expect(m.load.avg1).toBeCloseTo(a1 ?? -1, 0);
    expect(m.uptime).toBeCloseTo(os.uptime(), -1);
    const pids = readdirSync('/proc').filter((n) => /^\d+$/.test(n)).length;
    expect(Math.abs(m.processes.total - pids)).toBeLessThan(20);
    expect(m.processes.threads).toBeGreaterThanOrEqual(m.processes.total);
    expect(m.processes.running).toBeGreaterThanOrEqual(1);

    for (const n of m.network) {
      expect(n.interface).not.toBe('lo');
      expect(n.rxBytesPerSec).not.toBeNull();
      expect(n.rxBytesPerSec).toBeGreaterThanOrEqual(0);
    }
    for (const d of m.diskIo) {
      expect(d.writeBytesPerSec).not.toBeNull();
      expect(d.busyPercent).toBeLessThanOrEqual(100);
    }
  });

  it('reports the thermal zones this machine has, or null with the reason', async () => {
    const m = await new MetricsSampler().sample();
    const dir = '/sys/class/thermal';
    const zones = existsSync(dir) ? readdirSync(dir).filter((n) => /^thermal_zone\d+$/.test(n)) : [];
    if (zones.length === 0) {
      // This machine (docs say: /sys/class/thermal is empty).
      expect(m.temperature).toBeNull();
      expect(m.temperatureReason).toMatch(/thermal/);
    } else {
      expect(m.temperature?.zones.length ?? m.temperatureReason).toBeTruthy();
    }
  });

  it('without a baseline, the first sample still covers a real window', async () => {
    const sampler = new MetricsSampler();
    const started = performance.now();
    const m = await sampler.sample();
    expect(performance.now() - started).toBeGreaterThanOrEqual(MIN_WINDOW_MS - 5);
    expect(m.window).toBeGreaterThanOrEqual((MIN_WINDOW_MS - 5) / 1000);
    expect(m.cpu.cores.every((c) => c !== null)).toBe(true);
  });

  it('a stale baseline is read afresh instead of averaging over it', async () => {
    let t = 0;
    const sampler = new MetricsSampler({ monotonic: () => t });
    sampler.prime();
    t = 120_000;
    const m = await sampler.sample({ maxAgeMs: 30_000 });
    // Re-primed at 120 s; the clock did not move during the real wait, so the window is the minimum.
    expect(m.window).toBeLessThan(1);
  });

  it('an abort ends the wait', async () => {
    const ac = new AbortController();
    const pending = new MetricsSampler().sample({ signal: ac.signal });
    ac.abort(new Error('stopping'));
    await expect(pending).rejects.toThrow('stopping');
  });
});

/** A procfs fixture: the files the sampler reads, with counters the test sets. */
function procFixture(root: string, c: { cpu: number[]; disk: number[]; net: number[] }): void {
  mkdirSync(join(root, 'self'), { recursive: true });
  mkdirSync(join(root, 'net'), { recursive: true });
  mkdirSync(join(root, '1'), { recursive: true });
  mkdirSync(join(root, '42'), { recursive: true });
  const [user = 0, idle = 0] = c.cpu;
  writeFileSync(
    join(root, 'stat'),
    `cpu  ${user} 0 0 ${idle} 0 0 0 0 0 0\ncpu0 ${user} 0 0 ${idle} 0 0 0 0 0 0\nprocs_running 2\nprocs_blocked 0\n`,
  );
  writeFileSync(join(root, 'loadavg'), '0.50 0.25 0.10 2/77 1234\n');
  writeFileSync(
    join(root, 'meminfo'),
    'MemTotal: 1000 kB\nMemFree: 200 kB\nMemAvailable: 600 kB\nBuffers: 50 kB\nCached: 100 kB\nSReclaimable: 10 kB\nSwapTotal: 400 kB\nSwapFree: 300 kB\n',
  );
  writeFileSync(join(root, 'self/mounts'), '');
  writeFileSync(join(root, 'uptime'), '1234.56 100.00\n');
  const [sectors = 0, ioMs = 0] = c.disk;
  writeFileSync(join(root, 'diskstats'), ` 179 0 mmcblk0 10 0 ${sectors} 0 5 0 ${sectors} 0 0 ${ioMs} 0\n`);
  const [bytes = 0] = c.net;
  writeFileSync(
    join(root, 'net/dev'),
    `h1\nh2\n    lo: 1 1 0 0 0 0 0 0 1 1 0 0 0 0 0 0\n  eth0: ${bytes} 1 0 0 0 0 0 0 ${bytes * 2} 1 0 0 0 0 0 0\n`,
  );
}

describe('on fixture trees', () => {
  it('turns counter deltas into exact shares and rates over the window', async () => {
    const proc = tempDir('outpost-proc-');
    const sys = tempDir('outpost-sys-');
    mkdirSync(join(sys, 'block/mmcblk0'), { recursive: true });
    let t = 0;
    const sampler = new MetricsSampler({ procRoot: proc, sysRoot: sys, monotonic: () => t, now: () => 1_700_000 });
    procFixture(proc, { cpu: [100, 100], disk: [0, 0], net: [1000] });
    sampler.prime();
    t = 2000;
    procFixture(proc, { cpu: [175, 125], disk: [2048, 500], net: [3000] });
    const m = await sampler.sample();
    expect(check(Metrics, m)).toBe(true);
    expect(m).toMatchObject({ ts: 1_700_000, window: 2, uptime: 1234.56 });
    expect(m.cpu).toEqual({ usage: 75, user: 75, system: 0, iowait: 0, steal: 0, cores: [75] });
    expect(m.memory).toEqual({
      total: 1024000,
      available: 614400,
      used: 409600,
      free: 204800,
      buffers: 51200,
      cached: 112640,
      usedPercent: 40,
    });
    expect(m.swap).toEqual({ total: 409600, used: 102400, free: 307200, usedPercent: 25 });
    expect(m.diskIo).toEqual([
      {
        device: 'mmcblk0',
        reads: 10,
        writes: 5,
        readBytes: 2048 * 512,
        writeBytes: 2048 * 512,
        readBytesPerSec: 524288,
        writeBytesPerSec: 524288,
        readsPerSec: 0,
        writesPerSec: 0,
        busyPercent: 25,
      },
    ]);
    expect(m.network).toEqual([
      expect.objectContaining({ interface: 'eth0', rxBytes: 3000, rxBytesPerSec: 1000, txBytesPerSec: 2000 }),
    ]);
    expect(m.processes).toEqual({ total: 2, running: 2, blocked: 0, threads: 77 });
    expect(m.load).toEqual({ avg1: 0.5, avg5: 0.25, avg15: 0.1 });
    expect(m.disks).toEqual([]);
    expect(m.temperature).toBeNull();
  });

  it('a counter that went backwards (wrapped, reset) has no rate, not a negative one', async () => {
    const proc = tempDir('outpost-proc-');
    let t = 0;
    const sampler = new MetricsSampler({ procRoot: proc, sysRoot: tempDir(), monotonic: () => t });
    procFixture(proc, { cpu: [100, 100], disk: [4096, 10], net: [5000] });
    sampler.prime();
    t = 1000;
    procFixture(proc, { cpu: [150, 150], disk: [4096, 10], net: [10] });
    const m = await sampler.sample();
    expect(m.network[0]).toMatchObject({ rxBytesPerSec: null, txBytesPerSec: null });
    expect(m.cpu.usage).toBe(50);
  });

  it('thermal zones present: the hottest readable one, unreadable and bogus ones skipped', () => {
    const sys = tempDir('outpost-sys-');
    const zone = (n: number, type: string, temp?: string) => {
      const d = join(sys, 'class/thermal', `thermal_zone${n}`);
      mkdirSync(d, { recursive: true });
      writeFileSync(join(d, 'type'), `${type}\n`);
      if (temp !== undefined) writeFileSync(join(d, 'temp'), `${temp}\n`);
    };
    zone(10, 'gpu-thermal', '61250');
    zone(0, 'cpu-thermal', '48312');
    zone(1, 'battery'); // no temp file: the sensor is off
    zone(2, 'broken', '-274000');
    mkdirSync(join(sys, 'class/thermal/cooling_device0'));
    expect(readTemperature(sys)).toEqual({
      temperature: {
        celsius: 61.3,
        zones: [
          { zone: 'thermal_zone0', type: 'cpu-thermal', celsius: 48.3 },
          { zone: 'thermal_zone10', type: 'gpu-thermal', celsius: 61.3 },
        ],
      },
    });
  });

  it('thermal zones absent: null with the reason, for a missing and an empty directory', () => {
    const none = tempDir('outpost-sys-');
    expect(readTemperature(none)).toEqual({
      temperature: null,
      reason: '/sys/class/thermal does not exist (kernel without thermal support)',
    });
    mkdirSync(join(none, 'class/thermal/cooling_device0'), { recursive: true });
    expect(readTemperature(none)).toEqual({ temperature: null, reason: 'no thermal zones in /sys/class/thermal' });
    const d = join(none, 'class/thermal/thermal_zone0');
    mkdirSync(d);
    expect(readTemperature(none)).toEqual({
      temperature: null,
      reason: 'none of the 1 thermal zones in /sys/class/thermal gave a reading',
    });
  });

  it('a sample carries the fixture thermal zone, and no reason', async () => {
    const proc = tempDir('outpost-proc-');
    const sys = tempDir('outpost-sys-');
    mkdirSync(join(sys, 'class/thermal/thermal_zone0'), { recursive: true });
    writeFileSync(join(sys, 'class/thermal/thermal_zone0/temp'), '55000\n');
    writeFileSync(join(sys, 'class/thermal/thermal_zone0/type'), 'soc\n');
    procFixture(proc, { cpu: [1, 1], disk: [0, 0], net: [0] });
    let t = 0;
    const sampler = new MetricsSampler({ procRoot: proc, sysRoot: sys, monotonic: () => t });
    sampler.prime();
    t = 1000;
    const m = await sampler.sample();
    expect(m.temperature).toEqual({ celsius: 55, zones: [{ zone: 'thermal_zone0', type: 'soc', celsius: 55 }] });
    expect(m).not.toHaveProperty('temperatureReason');
  });

  it('no procfs at all: the sample fails with ENOENT (the capability turns it into E_UNSUPPORTED)', async () => {
    let t = 0;
    const sampler = new MetricsSampler({ procRoot: join(tempDir(), 'nothing'), monotonic: () => (t += 1000) });
    await expect(sampler.sample()).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
