/**
 * `outpost stats` through main() against the stub API: which routes each mode
 * calls, what it prints for online and offline devices, `--watch` frames when
 * stdout is not a terminal, and history as a table with sparklines.
 */
import type { Metrics } from '@outpost/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../../test/run-cli.js';
import { apiError, device, type Handler, json, type StubApi, stubApi } from '../../test/stub-api.js';
import type { Device, MetricSeries } from '../api-types.js';
import { bar, formatBytes, sparkline } from '../metrics-view.js';
import { metricsLine } from './devices.js';

let api: StubApi | undefined;
afterEach(async () => {
  await api?.close();
  api = undefined;
});

async function outpost(handler: Handler, ...args: string[]) {
  api = await stubApi(handler);
  return runCli(api.url, args);
}
const paths = () => api?.requests.map((r) => r.path) ?? [];

const sample: Metrics = {
  ts: Date.parse('2025-01-01T10:00:00Z'),
  window: 2,
  uptime: 3 * 86_400 + 4 * 3600,
  cpu: { usage: 37.5, user: 30, system: 5.5, iowait: 2, steal: 0, cores: [50, 25] },
  load: { avg1: 0.42, avg5: 0.3, avg15: 0.2 },
  memory: {
    total: 4 * 1024 ** 3,
    available: 3 * 1024 ** 3,
    used: 1024 ** 3,
    free: 2 * 1024 ** 3,
    buffers: 1024 ** 2,
    cached: 400 * 1024 ** 2,
    usedPercent: 25,
  },
  swap: { total: 0, used: 0, free: 0, usedPercent: 0 },
  disks: [
    {
      mount: '/',
      device: '/dev/mmcblk0p2',
      fsType: 'ext4',
      total: 32 * 1024 ** 3,
      used: 8 * 1024 ** 3,
      available: 22 * 1024 ** 3,
      usedPercent: 26.67,
      inodesTotal: 100,
      inodesUsedPercent: 7,
    },
  ],
  diskIo: [
    {
      device: 'mmcblk0',
      readBytes: 1,
      writeBytes: 2,
      reads: 1,
      writes: 2,
      readBytesPerSec: 0,
      writeBytesPerSec: 2048,
      readsPerSec: 0,
      writesPerSec: 0.5,
      busyPercent: 1,
    },
  ],
  network: [
    {
      interface: 'wlan0',
      rxBytes: 5 * 1024 ** 2,
      txBytes: 1024,
      rxPackets: 1,
      txPackets: 1,
      rxErrors: 0,
      txErrors: 1,
      rxDropped: 2,
      txDropped: 0,
      rxBytesPerSec: 1536,
      txBytesPerSec: null,
    },
  ],
  temperature: null,
  temperatureReason: 'no thermal zones in /sys/class/thermal',
  processes: { total: 120, running: 2, blocked: 0, threads: 250 },
};

const online: Handler = (req, res) => {
  if (req.path === '/devices/gw-1' || req.path === '/devices/d-1') return json(res, 200, device());
  if (req.path === '/devices/d-1/metrics/live') return json(res, 200, sample);
};

describe('stats', () => {
  it('shows a fresh sample of an online device', async () => {
    const r = await outpost(online, 'stats', 'gw-1');
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(paths()).toEqual(['/devices/gw-1', '/devices/d-1/metrics/live']);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('gw-1 (d-1)  up 3d4h  sampled 2025-01-01 10:00:00Z over 2.0 s');
    expect(r.stdout).toContain(`CPU      37.5%  ${bar(37.5)}  user 30.0%  system 5.5%  iowait 2.0%  steal 0.0%`);
    expect(r.stdout).toContain(`cpu0   50.0%  ${bar(50, 10)}   cpu1   25.0%  ${bar(25, 10)}`);
    expect(r.stdout).toContain('Memory   25.0%');
    expect(r.stdout).toContain('1.0 GiB of 4.0 GiB, available 3.0 GiB');
    expect(r.stdout).toContain('Swap    none');
    expect(r.stdout).toContain('Temp    n/a: no thermal zones in /sys/class/thermal');
    expect(r.stdout).toMatch(/^\/\s+26\.7%\s+\S+\s+32\.0 GiB\s+22\.0 GiB\s+ext4\s+\/dev\/mmcblk0p2$/m);
    expect(r.stdout).toMatch(/^mmcblk0\s+0 B\/s\s+2\.0 KiB\/s\s+0\.0\/s\s+0\.5\/s\s+1\.0%$/m);
    expect(r.stdout).toMatch(/^wlan0\s+1\.5 KiB\/s\s+-\s+5\.0 MiB\s+1\.0 KiB\s+0\/1\s+2\/0$/m);
    expect(r.stdout).toContain('Tasks   120 processes, 2 running, 0 blocked, 250 threads');
    expect(r.stdout.split('\n').every((l) => l === l.trimEnd())).toBe(true);
  });

  it('--json prints the reading: device, live, and the sample as the device sent it', async () => {
    const r = await outpost(online, 'stats', 'gw-1', '--json');
    expect(JSON.parse(r.stdout)).toEqual({ device: 'd-1', name: 'gw-1', live: true, receivedAt: null, sample });
  });

  it('an offline device shows its last stored sample, and says so', async () => {
    const r = await outpost(
      (req, res) => {
        if (req.path === '/devices/gw-1') return json(res, 200, device({ online: false }));
        if (req.path === '/devices/d-1/metrics/latest')
          return json(res, 200, { device: 'd-1', receivedAt: '2025-01-01T09:00:00.000Z', sample });
      },
      ...['stats', 'gw-1'],
    );
    expect(r.code).toBe(0);
    expect(paths()).toEqual(['/devices/gw-1', '/devices/d-1/metrics/latest']);
    expect(r.stderr).toBe('device gw-1 (d-1) is offline: showing the last sample it sent\n');
    expect(r.stdout.split('\n')[0]).toBe(
      'gw-1 (d-1)  up 3d4h  last sample, received 2025-01-01 09:00:00Z (device offline)',
    );
  });

  it('a device that went offline under the live call falls back to the stored sample', async () => {
    const r = await outpost(
      (req, res) => {
        if (req.path === '/devices/gw-1') return json(res, 200, device());
        if (req.path === '/devices/d-1/metrics/live') return apiError(res, 503, 'E_OFFLINE', 'device d-1 is offline');
        if (req.path === '/devices/d-1/metrics/latest')
          return json(res, 200, { device: 'd-1', receivedAt: '2025-01-01T09:00:00.000Z', sample });
      },
      ...['stats', 'gw-1', '--json'],
    );
    expect(JSON.parse(r.stdout)).toMatchObject({ live: false, receivedAt: '2025-01-01T09:00:00.000Z' });
  });

  it('an offline device without any sample is one clear error', async () => {
    const r = await outpost(
      (req, res) => {
        if (req.path === '/devices/gw-1') return json(res, 200, device({ online: false }));
        return apiError(res, 404, 'E_NOT_FOUND', 'device d-1 has sent no metrics yet');
      },
      ...['stats', 'gw-1'],
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('error: device gw-1 (d-1) is offline and has sent no metrics yet (E_OFFLINE)\n');
  });

  it('--watch off a terminal prints successive samples; --count ends it', async () => {
    const r = await outpost(online, ...['stats', 'gw-1', '--watch', '--interval', '1', '--count', '2']);
    expect(r.code).toBe(0);
    expect(paths().filter((p) => p.endsWith('/live'))).toHaveLength(2);
    expect(r.stdout.match(/^gw-1 \(d-1\) {2}up/gm)).toHaveLength(2);
    expect(r.stdout).not.toContain('\x1b[');
  });

  it('--watch --json prints one reading per line', async () => {
    const r = await outpost(online, ...['stats', 'gw-1', '--watch', '--json', '--interval', '1', '--count', '2']);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    for (const l of lines) expect(JSON.parse(l)).toMatchObject({ device: 'd-1', live: true });
  });

  it('--history asks for the range up to now in ~60 steps and prints a table with sparklines', async () => {
    const before = Date.now();
    const t0 = Math.floor((before - 86_400_000) / 1_440_000) * 1_440_000;
    const r = await outpost(
      (req, res) => {
        if (req.path === '/devices/gw-1') return json(res, 200, device());
        if (req.path === '/devices/d-1/metrics')
          return json(res, 200, {
            device: 'd-1',
            from: req.query.get('from'),
            to: req.query.get('to'),
            step: 1440,
            resolution: '1m',
            series: [
              {
                name: 'cpu',
                unit: '%',
                points: [
                  [t0, 10, 5, 20],
                  [t0 + 2 * 1_440_000, 90, 80, 100],
                ],
              },
              { name: 'net:eth0:rx', unit: 'B/s', points: [[t0, 2048, 1024, 4096]] },
              { name: 'temperature', unit: '°C', points: [] },
            ],
          });
      },
      ...['stats', 'gw-1', '--history', '24h', '--series', 'cpu,net:*'],
    );
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const q = api?.requests.at(-1)?.query;
    expect(q?.get('step')).toBe('1440');
    expect(q?.get('series')).toBe('cpu,net:*');
    expect(Date.parse(q?.get('to') ?? '') - Date.parse(q?.get('from') ?? '')).toBe(86_400_000);
    expect(Date.parse(q?.get('to') ?? '')).toBeGreaterThanOrEqual(before);
    expect(r.stdout).toMatch(/every 24m \(1m rollups\)/);
    expect(r.stdout).toMatch(/^SERIES\s+LAST\s+MIN\s+AVG\s+MAX\s+HISTORY$/m);
    expect(r.stdout).toMatch(/^cpu\s+90\.0%\s+5\.0%\s+50\.0%\s+100\.0%\s+▂ ▇$/m);
    expect(r.stdout).toMatch(/^net:eth0:rx\s+2\.0 KiB\/s\s+1\.0 KiB\/s\s+2\.0 KiB\/s\s+4\.0 KiB\/s\s+█$/m);
    // A series without points in the range is left out of the table.
    expect(r.stdout).not.toContain('temperature');
  });

  it('refuses --history with --watch, and --series without --history', async () => {
    const a = await outpost(online, 'stats', 'gw-1', '--history', '1h', '--watch');
    expect(a).toMatchObject({ code: 1, stderr: 'error: --history and --watch do not go together\n' });
    const b = await outpost(online, 'stats', 'gw-1', '--series', 'cpu');
    expect(b).toMatchObject({ code: 1, stderr: 'error: --series needs --history\n' });
    const c = await outpost(online, 'stats', 'gw-1', '--interval', 'soon', '--watch');
    expect(c.code).toBe(2);
  });
});

describe('devices show', () => {
  it("carries the last sample's headline, or nothing before the first", () => {
    const now = Date.parse('2025-01-01T10:00:30Z');
    const d = device({
      metrics: { cpu: 12, mem: 40.5, disk: 22.14, temperature: null, load1: 0.42, sampledAt: '2025-01-01T10:00:00Z' },
    }) as unknown as Device;
    expect(metricsLine(d, now)).toBe('cpu 12.0%, mem 40.5%, disk 22.1%, load 0.42 (30s ago; more: outpost stats d-1)');
    expect(metricsLine({ ...d, metrics: null }, now)).toBeNull();
  });
});

describe('metrics view helpers', () => {
  it('bars, bytes and sparklines', () => {
    expect(bar(50, 4)).toBe('██░░');
    expect(bar(150, 4)).toBe('████');
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    const s: MetricSeries = {
      name: 'load1',
      unit: '',
      points: [
        [0, 1, 1, 1],
        [2000, 4, 4, 4],
      ],
    };
    // Scaled 0..max for non-percentages; the missing middle step is a gap.
    expect(sparkline(s, 0, 3000, 1)).toBe('▃ █');
  });
});
