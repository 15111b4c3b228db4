/**
 * `system/info`: hostname, OS, kernel, architecture, uptime and addresses. Its
 * helpers also feed the device facts sent with status and enrollment.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import type { SystemInfo } from '@outpost/protocol';
import { AGENT_VERSION } from '../version.js';
import { action, type Capability } from './capability.js';

export interface OsRelease {
  id: string;
  name: string;
  version: string;
  prettyName: string;
}

/** Parses os-release(5): `KEY=value` lines, values optionally quoted with shell-style escapes. */
export function parseOsRelease(text: string): OsRelease {
  const values = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Z0-9_]+)=(.*?)\s*$/.exec(line);
    if (!m?.[1] || m[2] === undefined) continue;
    let value = m[2];
    const quote = value[0];
    if ((quote === '"' || quote === "'") && value.endsWith(quote) && value.length >= 2) {
      value = value.slice(1, -1);
      if (quote === '"') value = value.replace(/\\([\\$"`])/g, '$1');
    }
    values.set(m[1], value);
  }
  const name = values.get('NAME') ?? 'Linux';
  const version = values.get('VERSION') ?? values.get('VERSION_ID') ?? '';
  return {
    id: values.get('ID') ?? 'linux',
    name,
    version,
    prettyName: values.get('PRETTY_NAME') ?? (version ? `${name} ${version}` : name),
  };
}

/** /etc/os-release, falling back to /usr/lib/os-release, then to bare "Linux". */
export function readOsRelease(): OsRelease {
  for (const path of ['/etc/os-release', '/usr/lib/os-release']) {
    try {
      return parseOsRelease(readFileSync(path, 'utf8'));
    } catch {
      // Try the next location.
    }
  }
  return parseOsRelease('');
}

/** Seconds since boot, from /proc/uptime (os.uptime() elsewhere). */
export function systemUptime(): number {
  try {
    const first = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
    if (Number.isFinite(first) && first >= 0) return first;
  } catch {
    // Not Linux, or /proc not mounted.
  }
  return Math.max(0, os.uptime());
}

/** MAC and IP addresses of the external interfaces (loopback and internal ones excluded). */
export function networkAddresses(): { macs: string[]; ips: string[] } {
  const macs = new Set<string>();
  const ips = new Set<string>();
  for (const addrs of Object.values(os.networkInterfaces())) {
    for (const a of addrs ?? []) {
      if (a.internal) continue;
      if (a.mac && a.mac !== '00:00:00:00:00:00') macs.add(a.mac);
      ips.add(a.address);
    }
  }
  return { macs: [...macs], ips: [...ips] };
}

export function systemInfo(): SystemInfo {
  const { macs, ips } = networkAddresses();
  return {
    hostname: os.hostname(),
    os: readOsRelease(),
    kernel: os.release(),
    arch: os.arch(),
    uptime: systemUptime(),
    macs,
    ips,
    agentVersion: AGENT_VERSION,
    nodeVersion: process.version,
  };
}

export function createSystemCapability(): Capability {
  return {
    name: 'system',
    actions: {
      info: action('system/info', async () => systemInfo()),
      ping: action('system/ping', async () => ({ pong: true as const, time: Date.now() })),
    },
  };
}
