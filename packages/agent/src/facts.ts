/** The device facts sent with enrollment and status (protocol `DeviceFacts`), from the system capability's helpers. */
import os from 'node:os';
import type { DeviceFacts } from '@outpost/protocol';
import { networkAddresses, readOsRelease } from './capabilities/system.js';
import { AGENT_VERSION } from './version.js';

const clip = (s: string, max: number): string => (s.length > max ? s.slice(0, max) : s);

/** Collects facts, clipped to the schema's limits so an odd host never makes its own status invalid. */
export function collectFacts(): DeviceFacts {
  const { macs, ips } = networkAddresses();
  return {
    hostname: clip(os.hostname(), 255),
    os: clip(readOsRelease().prettyName, 255),
    kernel: clip(os.release(), 255),
    arch: clip(os.arch(), 64),
    macs: macs.slice(0, 64).map((m) => clip(m, 64)),
    ips: ips.slice(0, 128).map((ip) => clip(ip, 64)),
    agentVersion: AGENT_VERSION,
  };
}
