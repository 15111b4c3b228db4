/**
 * A fleet of lightweight simulated devices (device.ts): enrolled with one token
 * and connected with bounded concurrency, so thousands can join one server
 * without a thundering herd of TLS handshakes.
 */
import { simFacts } from './backends.js';
import { type DeviceCredentials, enrollDevice, type LinkTarget, SimDevice, type SimDeviceOptions } from './device.js';
import { mapLimit } from './pool.js';

export interface EnrollFleetOptions extends LinkTarget {
  /** An enrollment token with at least `count` uses left (auto-accept, or accept them afterwards). */
  token: string;
  count: number;
  /** Enrollments in flight at once (default 16). */
  concurrency?: number;
  /** Numbers the devices' simulated facts from here (default 0). */
  firstIndex?: number;
  /** Bounds each enrollment (default 30 s). */
  timeoutMs?: number;
}

/** Enrolls `count` devices; rejects on the first refusal or timeout. */
export async function enrollFleet(options: EnrollFleetOptions): Promise<DeviceCredentials[]> {
  const first = options.firstIndex ?? 0;
  const indexes = Array.from({ length: options.count }, (_, i) => first + i);
  return mapLimit(indexes, options.concurrency ?? 16, async (index) => {
    const { deviceId, secret } = await enrollDevice(options, options.token, simFacts(index), options.timeoutMs);
    return { deviceId, secret };
  });
}

export interface ConnectFleetOptions
  extends LinkTarget,
    Pick<SimDeviceOptions, 'keepalive' | 'heartbeatSeconds' | 'connectTimeoutMs'> {
  credentials: readonly DeviceCredentials[];
  /** Connections being set up at once (default 32). */
  concurrency?: number;
  firstIndex?: number;
}

export interface Fleet {
  readonly devices: readonly SimDevice[];
  /** Commands answered by the whole fleet so far. */
  answered(): number;
  /** Stops every device (see SimDevice.stop); idempotent. */
  stop(graceful?: boolean): Promise<void>;
}

/** Connects one simulated device per credential; if any fails, the ones already up are stopped. */
export async function connectFleet(options: ConnectFleetOptions): Promise<Fleet> {
  const { credentials, concurrency = 32, firstIndex = 0, ...rest } = options;
  const started: SimDevice[] = [];
  try {
    await mapLimit(credentials, concurrency, async (c, i) => {
      started.push(await SimDevice.start({ ...rest, credentials: c, index: firstIndex + i }));
    });
  } catch (err) {
    await Promise.all(started.map((d) => d.stop(false)));
    throw err;
  }
  const byId = new Map(started.map((d) => [d.deviceId, d]));
  const devices = credentials.map((c) => byId.get(c.deviceId) as SimDevice);
  return {
    devices,
    answered: () => devices.reduce((n, d) => n + d.answered, 0),
    stop: async (graceful = true) => {
      await mapLimit(devices, concurrency, (d) => d.stop(graceful));
    },
  };
}

/** Enrolls and connects `count` lightweight devices. */
export async function startFleet(
  options: EnrollFleetOptions & Omit<ConnectFleetOptions, 'credentials' | 'concurrency'>,
): Promise<Fleet> {
  const credentials = await enrollFleet(options);
  return connectFleet({ ...options, credentials });
}
