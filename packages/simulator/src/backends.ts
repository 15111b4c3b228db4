/**
 * Simulated OS backends: the facts, system information and program runs of a
 * virtual device. Nothing here touches the host; every answer is made up, but
 * shaped and sized like a small ARM gateway's, and valid against the protocol.
 */

import { AGENT_VERSION } from '@outpost/agent';
import type { DeviceFacts, ExecArgs, ExecResult, SystemInfo } from '@outpost/protocol';

/** What a simulated device reports as its agent version, so it is never mistaken for a real one. */
export const SIM_AGENT_VERSION = `${AGENT_VERSION}-sim`;

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

/** Facts of virtual device number `index`: a hostname, one MAC and one private IPv4 derived from it. */
export function simFacts(index: number): DeviceFacts {
  const b1 = (index >> 8) & 0xff;
  const b0 = index & 0xff;
  const hex = (n: number) => n.toString(16).padStart(2, '0');
  return {
    hostname: `sim-${pad(index, 5)}`,
    os: 'Debian GNU/Linux 12 (bookworm)',
    kernel: '6.1.0-sim-arm64',
    arch: 'arm64',
    macs: [`02:00:5e:00:${hex(b1)}:${hex(b0)}`],
    ips: [`10.${(index >> 16) & 0xff}.${b1}.${b0}`],
    agentVersion: SIM_AGENT_VERSION,
  };
}

export function simSystemInfo(index: number, startedAt: number): SystemInfo {
  const facts = simFacts(index);
  return {
    hostname: facts.hostname,
    os: { id: 'debian', name: 'Debian GNU/Linux', version: '12 (bookworm)', prettyName: facts.os },
    kernel: facts.kernel,
    arch: facts.arch,
    uptime: (Date.now() - startedAt) / 1000,
    macs: facts.macs,
    ips: facts.ips,
    agentVersion: SIM_AGENT_VERSION,
    nodeVersion: process.version,
  };
}

/**
 * Runs a program on the simulated device: `echo`, `true`, `false`, `hostname`,
 * `uname` and `sleep` (capped at 5 s) behave like their coreutils namesakes;
 * anything else exits 127 like a missing program. Scripts are not interpreted.
 */
export async function simulateExec(args: ExecArgs, hostname: string, signal?: AbortSignal): Promise<ExecResult> {
  const started = Date.now();
  const done = (exitCode: number, stdout = '', stderr = ''): ExecResult => ({
    exitCode,
    signal: null,
    stdout,
    stderr,
    truncated: false,
    timedOut: false,
    durationMs: Date.now() - started,
  });
  if (!('argv' in args)) return done(127, '', 'sim: shell scripts are not simulated\n');
  const [program, ...rest] = args.argv;
  switch (program) {
    case 'echo':
      return done(0, `${rest.join(' ')}\n`);
    case 'true':
      return done(0);
    case 'false':
      return done(1);
    case 'hostname':
      return done(0, `${hostname}\n`);
    case 'uname':
      return done(0, rest.includes('-a') ? `Linux ${hostname} 6.1.0-sim-arm64 aarch64 GNU/Linux\n` : 'Linux\n');
    case 'sleep': {
      const ms = Math.min(5000, Math.max(0, Number(rest[0] ?? 0) * 1000) || 0);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, ms);
        signal?.addEventListener('abort', () => {
          clearTimeout(timer);
          resolve();
        });
      });
      return done(signal?.aborted ? 143 : 0);
    }
    default:
      return done(127, '', `sim: ${String(program).slice(0, 64)}: command not found\n`);
  }
}
