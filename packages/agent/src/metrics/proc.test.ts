/**
 * The /proc parsers against this machine's real files (values checked against what
 * Node.js itself reports) and against fixed examples for the cases this machine
 * does not show (bind mounts, network filesystems, escaped mount points, partitions).
 */
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import {
  parseCpuStat,
  parseDiskstats,
  parseLoadavg,
  parseMeminfo,
  parseMounts,
  parseNetDev,
  realDisks,
  realMounts,
  totalJiffies,
  unescapeMountField,
} from './proc.js';

const real = (file: string) => readFileSync(`/proc/${file}`, 'utf8');

describe('on this machine', () => {
  it('/proc/stat: one entry per core Node.js sees, counting up since boot', () => {
    const stat = parseCpuStat(real('stat'));
    expect(stat.cores.size).toBe(os.cpus().length);
    expect([...stat.cores.keys()]).toEqual([...stat.cores.keys()].sort((a, b) => a - b));
    const total = totalJiffies(stat.total);
    expect(total).toBeGreaterThan(0);
    // The total line is the sum of the cores (give or take the ticks between reading lines).
    const sum = [...stat.cores.values()].reduce((n, c) => n + totalJiffies(c), 0);
    expect(Math.abs(sum - total) / total).toBeLessThan(0.01);
    expect(stat.running).toBeGreaterThanOrEqual(1); // this test is running
  });

  it('/proc/loadavg: the load averages Node.js reports', () => {
    const load = parseLoadavg(real('loadavg'));
    const [a1, a5, a15] = os.loadavg();
    // The kernel updates them every 5 s: allow for an update between the two reads.
    expect(load.avg1).toBeCloseTo(a1 ?? -1, 0);
    expect(load.avg5).toBeCloseTo(a5 ?? -1, 0);
    expect(load.avg15).toBeCloseTo(a15 ?? -1, 0);
    expect(load.threads).toBeGreaterThan(0);
  });

  it('/proc/meminfo: bytes, with the total Node.js reports', () => {
    const mem = parseMeminfo(real('meminfo'));
    expect(mem.get('MemTotal')).toBe(os.totalmem());
    const available = mem.get('MemAvailable') ?? 0;
    expect(available).toBeGreaterThan(0);
    expect(available).toBeLessThanOrEqual(os.totalmem());
    expect(mem.get('SwapFree') ?? 0).toBeLessThanOrEqual(mem.get('SwapTotal') ?? 0);
  });

  it('/proc/self/mounts: the root filesystem is a real mount, procfs and sysfs are not', () => {
    const mounts = parseMounts(real('self/mounts'));
    expect(mounts.some((m) => m.mount === '/proc' && m.fsType === 'proc')).toBe(true);
    const kept = realMounts(mounts);
    expect(kept.map((m) => m.mount)).toContain('/');
    expect(kept.some((m) => ['proc', 'sysfs', 'tmpfs', 'cgroup', 'cgroup2'].includes(m.fsType))).toBe(false);
    expect(new Set(kept.map((m) => m.source)).size).toBe(kept.length);
  });

  it('/proc/diskstats: whole disks only (as /sys/block lists them), no loop or RAM devices', () => {
    const stats = parseDiskstats(real('diskstats'));
    expect(stats.size).toBeGreaterThan(0);
    const whole = new Set(readdirSync('/sys/block'));
    const disks = realDisks(stats, whole);
    for (const [name, c] of disks) {
      expect(whole.has(name)).toBe(true);
      expect(name).not.toMatch(/^(loop|ram|zram)\d/);
      expect(c.reads + c.writes).toBeGreaterThan(0);
      expect(c.readBytes % 512).toBe(0);
    }
  });

  it('/proc/net/dev: every interface Node.js sees except loopback', () => {
    const net = parseNetDev(real('net/dev'));
    expect(net.has('lo')).toBe(false);
    const external = Object.entries(os.networkInterfaces())
      .filter(([, addrs]) => addrs?.some((a) => !a.internal))
      .map(([name]) => name.split(':')[0] as string);
    for (const name of external) expect(net.has(name), name).toBe(true);
    for (const c of net.values()) expect(c.rxBytes).toBeGreaterThanOrEqual(0);
  });
});

describe('fixed examples', () => {
  it('reads every CPU state and skips guest time (already inside user)', () => {
    const stat = parseCpuStat(
      [
        'cpu  100 5 50 800 10 2 3 30 40 0',
        'cpu0 60 5 30 400 5 1 2 15 40 0',
        'cpu2 40 0 20 400 5 1 1 15 0 0',
        'intr 1 2 3',
        'procs_running 3',
        'procs_blocked 1',
      ].join('\n'),
    );
    expect(stat.total).toEqual({
      user: 100,
      nice: 5,
      system: 50,
      idle: 800,
      iowait: 10,
      irq: 2,
      softirq: 3,
      steal: 30,
    });
    expect(totalJiffies(stat.total)).toBe(1000);
    // Core numbers are kept: cpu1 is offline here.
    expect([...stat.cores.keys()]).toEqual([0, 2]);
    expect(stat).toMatchObject({ running: 3, blocked: 1 });
  });

  it('keeps one mount per device at its shortest path, and only local filesystems', () => {
    const text = [
      '/dev/mmcblk0p2 / ext4 rw 0 0',
      '/dev/mmcblk0p2 /var/lib/docker/x ext4 rw 0 0',
      '/dev/mmcblk0p1 /boot/firmware vfat rw 0 0',
      'tmpfs /run tmpfs rw 0 0',
      'server:/export /mnt/nfs nfs4 rw 0 0',
      '/dev/loop3 /snap/core/1 squashfs ro 0 0',
      'ubi0:rootfs /data ubifs rw 0 0',
      '/dev/sda1 /media/usb\\040stick vfat rw 0 0',
      'sshfs#me@h: /mnt/ssh fuse.sshfs rw 0 0',
      'broken line',
    ].join('\n');
    expect(realMounts(parseMounts(text))).toEqual([
      { source: '/dev/mmcblk0p2', mount: '/', fsType: 'ext4' },
      { source: '/dev/mmcblk0p1', mount: '/boot/firmware', fsType: 'vfat' },
      { source: 'ubi0:rootfs', mount: '/data', fsType: 'ubifs' },
      { source: '/dev/sda1', mount: '/media/usb stick', fsType: 'vfat' },
    ]);
  });

  it('counts an overlay root (a container) but no other overlay', () => {
    const text = 'overlay / overlay rw 0 0\noverlay /var/lib/docker/overlay2/m/merged overlay rw 0 0\n';
    expect(realMounts(parseMounts(text)).map((m) => m.mount)).toEqual(['/']);
  });

  it('undoes octal escapes in mount fields', () => {
    expect(unescapeMountField('/a\\040b\\011c\\012d\\134e')).toBe('/a b\tc\nd\\e');
  });

  it('diskstats: bytes from 512-byte sectors; partitions, idle and virtual devices left out', () => {
    const text = [
      '   7       0 loop0 10 0 80 0 0 0 0 0 0 4 0 0 0 0 0',
      ' 179       0 mmcblk0 1000 20 40000 900 500 30 8000 700 0 1200 1600',
      ' 179       1 mmcblk0p1 10 0 400 9 0 0 0 0 0 10 9',
      '   8       0 sdb 0 0 0 0 0 0 0 0 0 0 0',
    ].join('\n');
    const stats = parseDiskstats(text);
    expect(stats.get('mmcblk0')).toEqual({
      reads: 1000,
      readBytes: 40000 * 512,
      writes: 500,
      writeBytes: 8000 * 512,
      ioMs: 1200,
    });
    const whole = new Set(['loop0', 'mmcblk0', 'sdb']);
    expect(realDisks(stats, whole).map(([n]) => n)).toEqual(['mmcblk0']);
    // Without /sys/block every used, non-virtual device counts.
    expect(realDisks(stats, null).map(([n]) => n)).toEqual(['mmcblk0', 'mmcblk0p1']);
  });

  it('net/dev: counters by name, also when a large count touches the colon', () => {
    const text = [
      'Inter-|   Receive                                                |  Transmit',
      ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed',
      '    lo: 100 1 0 0 0 0 0 0 100 1 0 0 0 0 0 0',
      'wlan0:12345678901 20 1 2 0 0 0 0 555 30 3 4 0 0 0 0',
    ].join('\n');
    expect([...parseNetDev(text)]).toEqual([
      [
        'wlan0',
        {
          rxBytes: 12345678901,
          rxPackets: 20,
          rxErrors: 1,
          rxDropped: 2,
          txBytes: 555,
          txPackets: 30,
          txErrors: 3,
          txDropped: 4,
        },
      ],
    ]);
  });

  it('meminfo: kB lines become bytes, lines without a unit stay counts', () => {
    const mem = parseMeminfo('MemTotal:        1000 kB\nHugePages_Total:       4\nbad line\n');
    expect(mem.get('MemTotal')).toBe(1024000);
    expect(mem.get('HugePages_Total')).toBe(4);
    expect(mem.size).toBe(2);
  });
});
