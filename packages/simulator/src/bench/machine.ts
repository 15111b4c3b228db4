/** What the benchmark ran on, for the notes beside its numbers. */
import { readFileSync } from 'node:fs';
import os from 'node:os';

export interface Machine {
  cpu: string;
  cpus: number;
  memoryMiB: number;
  node: string;
  openssl: string;
  kernel: string;
  loadAverage: string;
  date: string;
}

function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m?.[1]) return m[1].trim();
  } catch {
    // Not Linux: fall back to what Node knows.
  }
  return os.cpus()[0]?.model ?? 'unknown';
}

export function machine(): Machine {
  return {
    cpu: cpuModel(),
    cpus: os.availableParallelism(),
    memoryMiB: Math.round(os.totalmem() / 1024 / 1024),
    node: process.version,
    openssl: process.versions.openssl ?? 'unknown',
    kernel: `${os.type()} ${os.release()} ${os.arch()}`,
    loadAverage: os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' '),
    date: new Date().toISOString(),
  };
}

export function machineLines(m: Machine): string[] {
  return [
    `CPU: ${m.cpu}, ${m.cpus} cores available (nproc)`,
    `memory: ${m.memoryMiB} MiB`,
    `Node.js ${m.node}, OpenSSL ${m.openssl}, ${m.kernel}`,
    `load average at start: ${m.loadAverage}`,
    `run at ${m.date}`,
  ];
}
