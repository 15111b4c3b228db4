/**
 * The shape of a schema case (run by src/schemas.test.ts with the same assertions
 * for every envelope and command schema), and fixtures several case files share.
 */
import type { TSchema } from '@sinclair/typebox';

export type Obj = Record<string, unknown>;

export interface SchemaCase {
  schema: TSchema;
  /** One example per object branch (one for a plain object), each carrying every optional field. */
  full: Obj[];
  /** More values that must pass. */
  valid?: unknown[];
  /** [label, value, fragment the E_BAD_ARGS message must contain ('' when only rejection is checked)]. */
  invalid?: [string, unknown, string][];
}

/** A metrics sample with every optional field (docs/metrics.md). */
export const metricsSample = {
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
export function metricsWithout(): Obj {
  const { disksReason: _d, temperatureReason: _t, ...rest } = metricsSample;
  return { ...rest, temperature: null, temperatureReason: 'no thermal zones in /sys/class/thermal' };
}

export function baseExecResult(): Obj {
  return { exitCode: 0, signal: null, stdout: '', stderr: '', truncated: false, timedOut: false, durationMs: 0 };
}
