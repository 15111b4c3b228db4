/**
 * Device metrics (docs/metrics.md): the sample an agent takes from /proc and /sys on
 * every heartbeat (sent as `Telemetry.metrics`) and on demand (`metrics/sample`).
 * Sizes are bytes, rates bytes (or operations) per second, shares percent (0-100),
 * temperatures degrees Celsius; counters count since boot. A rate is null when there
 * is no earlier reading of the same counter to compare with (a disk just plugged in,
 * a counter that wrapped).
 */
import { type Static, Type } from '@sinclair/typebox';

const strict = { additionalProperties: false } as const;

const Percent = Type.Number({ minimum: 0, maximum: 100 });
const NullablePercent = Type.Union([Percent, Type.Null()]);
/** A size or a counter since boot. */
const Count = Type.Integer({ minimum: 0 });
const Rate = Type.Union([Type.Number({ minimum: 0 }), Type.Null()]);
const Celsius = Type.Number({ minimum: -273.15, maximum: 1000 });
/** A kernel name (block device, network interface): no whitespace, `/` or `:` (series names use `:`). */
const KernelName = Type.String({ minLength: 1, maxLength: 64, pattern: '^[^\\s/:]+$' });
const Reason = Type.String({ minLength: 1, maxLength: 256 });

export const CpuMetrics = Type.Object(
  {
    /** Busy share of all cores over the window: everything but idle and iowait. */
    usage: Percent,
    user: Percent,
    system: Percent,
    iowait: Percent,
    /** Time a hypervisor gave to others while this machine wanted to run. */
    steal: Percent,
    /** Busy share of each online core (`cpu0`, `cpu1`, … in order); null for a core with no earlier reading. */
    cores: Type.Array(NullablePercent, { maxItems: 1024 }),
  },
  strict,
);
export type CpuMetrics = Static<typeof CpuMetrics>;

/** Load averages over 1, 5 and 15 minutes (runnable plus uninterruptible tasks). */
export const LoadMetrics = Type.Object(
  {
    avg1: Type.Number({ minimum: 0 }),
    avg5: Type.Number({ minimum: 0 }),
    avg15: Type.Number({ minimum: 0 }),
  },
  strict,
);
export type LoadMetrics = Static<typeof LoadMetrics>;

/** /proc/meminfo in bytes; `used` is `total - available`, what applications hold. */
export const MemoryMetrics = Type.Object(
  {
    total: Count,
    available: Count,
    used: Count,
    free: Count,
    buffers: Count,
    /** Page cache plus reclaimable slab, as `free(1)` counts it. */
    cached: Count,
    usedPercent: Percent,
  },
  strict,
);
export type MemoryMetrics = Static<typeof MemoryMetrics>;

export const SwapMetrics = Type.Object({ total: Count, used: Count, free: Count, usedPercent: Percent }, strict);
export type SwapMetrics = Static<typeof SwapMetrics>;

/** One mounted local filesystem; `usedPercent` as df(1) computes it: used / (used + available). */
export const DiskUsage = Type.Object(
  {
    mount: Type.String({ minLength: 1, maxLength: 1024 }),
    device: Type.String({ minLength: 1, maxLength: 1024 }),
    fsType: Type.String({ minLength: 1, maxLength: 64 }),
    total: Count,
    used: Count,
    available: Count,
    usedPercent: Percent,
    inodesTotal: Count,
    /** Null on filesystems without a fixed inode table (btrfs, some FUSE). */
    inodesUsedPercent: NullablePercent,
  },
  strict,
);
export type DiskUsage = Static<typeof DiskUsage>;

/** One block device (whole disk) from /proc/diskstats. */
export const DiskIo = Type.Object(
  {
    device: KernelName,
    readBytes: Count,
    writeBytes: Count,
    reads: Count,
    writes: Count,
    readBytesPerSec: Rate,
    writeBytesPerSec: Rate,
    readsPerSec: Rate,
    writesPerSec: Rate,
    /** Share of the window the device had I/O in flight. */
    busyPercent: NullablePercent,
  },
  strict,
);
export type DiskIo = Static<typeof DiskIo>;

/** One network interface from /proc/net/dev (loopback excluded). */
export const NetworkInterfaceMetrics = Type.Object(
  {
    interface: KernelName,
    rxBytes: Count,
    txBytes: Count,
    rxPackets: Count,
    txPackets: Count,
    rxErrors: Count,
    txErrors: Count,
    rxDropped: Count,
    txDropped: Count,
    rxBytesPerSec: Rate,
    txBytesPerSec: Rate,
  },
  strict,
);
export type NetworkInterfaceMetrics = Static<typeof NetworkInterfaceMetrics>;

export const ThermalZone = Type.Object(
  {
    /** The directory name under /sys/class/thermal, e.g. `thermal_zone0`. */
    zone: Type.String({ minLength: 1, maxLength: 64 }),
    /** What the kernel calls the sensor, e.g. `cpu-thermal`, `x86_pkg_temp`. */
    type: Type.String({ maxLength: 64 }),
    celsius: Celsius,
  },
  strict,
);
export type ThermalZone = Static<typeof ThermalZone>;

export const TemperatureMetrics = Type.Object(
  {
    /** The hottest zone. */
    celsius: Celsius,
    zones: Type.Array(ThermalZone, { minItems: 1, maxItems: 64 }),
  },
  strict,
);
export type TemperatureMetrics = Static<typeof TemperatureMetrics>;

export const ProcessMetrics = Type.Object(
  {
    /** Processes (not threads) that exist. */
    total: Count,
    /** Tasks running or runnable right now. */
    running: Count,
    /** Tasks blocked on I/O. */
    blocked: Count,
    /** Kernel scheduling entities (threads included). */
    threads: Count,
  },
  strict,
);
export type ProcessMetrics = Static<typeof ProcessMetrics>;

export const Metrics = Type.Object(
  {
    /** Unix epoch milliseconds of the reading, on the device's clock. */
    ts: Type.Integer({ minimum: 0 }),
    /** Seconds between the earlier reading and this one: the window of every share and rate. */
    window: Type.Number({ exclusiveMinimum: 0, maximum: 86_400 }),
    /** Seconds since boot. */
    uptime: Type.Number({ minimum: 0 }),
    cpu: CpuMetrics,
    load: LoadMetrics,
    memory: MemoryMetrics,
    swap: SwapMetrics,
    disks: Type.Array(DiskUsage, { maxItems: 64 }),
    /** Why `disks` is empty when it could not be measured (e.g. Node.js before 18.15 has no statfs). */
    disksReason: Type.Optional(Reason),
    diskIo: Type.Array(DiskIo, { maxItems: 64 }),
    network: Type.Array(NetworkInterfaceMetrics, { maxItems: 64 }),
    /** Null when the device has no readable thermal sensor; `temperatureReason` says why. */
    temperature: Type.Union([TemperatureMetrics, Type.Null()]),
    temperatureReason: Type.Optional(Reason),
    processes: ProcessMetrics,
  },
  strict,
);
export type Metrics = Static<typeof Metrics>;

/** `metrics/sample`: a fresh sample now (the heartbeat's own samples go out as telemetry). */
export const MetricsSampleArgs = Type.Object({}, strict);
export type MetricsSampleArgs = Static<typeof MetricsSampleArgs>;
