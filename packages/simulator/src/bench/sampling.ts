/**
 * Memory samples of a child process: resident memory from /proc/<pid>/status, and,
 * from a Node.js child that serves IPC requests (serveMemoryRequests), its V8 heap
 * after a full garbage collection. Medians over a few samples, in KiB.
 */
import type { ChildProcess } from 'node:child_process';
import { getHeapSpaceStatistics } from 'node:v8';
import { sleep } from '../pool.js';
import { median } from '../stats.js';
import { nextMessage, rssKiB } from './proc.js';

export interface MemorySample {
  rss: number;
  /** The V8 fields are NaN for a child that does not answer (not Node.js). */
  heapUsed: number;
  heapTotal: number;
  external: number;
  /** Size of V8's young generation: it grows under allocation pressure and stays grown. */
  newSpace: number;
  /** Whether the child could run a full GC first (started with --expose-gc). */
  gc: boolean;
}

interface MemoryMessage {
  type: 'memory';
  gc: boolean;
  newSpaceKiB: number;
  usage: NodeJS.MemoryUsage;
}

/** In the child: answers `{type:'memory'}` with its memory use after a full GC. */
export function serveMemoryRequests(): void {
  const collect = globalThis.gc;
  process.on('message', (m: { type?: string }) => {
    if (m?.type !== 'memory') return;
    // Two passes: the first may only schedule finalizers whose memory the second frees.
    collect?.();
    setImmediate(() => {
      collect?.();
      const newSpace = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
      const reply: MemoryMessage = {
        type: 'memory',
        gc: Boolean(collect),
        usage: process.memoryUsage(),
        newSpaceKiB: Math.round((newSpace?.space_size ?? 0) / 1024),
      };
      process.send?.(reply);
    });
  });
}

/** `count` samples `intervalMs` apart; the child answers IPC requests when `ipc` is true. */
export async function sampleMemory(
  child: ChildProcess,
  ipc: boolean,
  count: number,
  intervalMs: number,
): Promise<MemorySample> {
  const rows: MemorySample[] = [];
  for (let i = 0; i < count; i++) {
    if (i > 0) await sleep(intervalMs);
    let m: MemoryMessage | undefined;
    if (ipc) {
      child.send({ type: 'memory' });
      m = await nextMessage(
        child,
        (x): x is MemoryMessage => (x as { type?: string })?.type === 'memory',
        30_000,
        'a memory sample',
      );
    }
    const kib = (bytes: number | undefined) => (bytes === undefined ? Number.NaN : bytes / 1024);
    rows.push({
      rss: rssKiB(child.pid as number),
      heapUsed: kib(m?.usage.heapUsed),
      heapTotal: kib(m?.usage.heapTotal),
      external: kib(m?.usage.external),
      newSpace: m ? m.newSpaceKiB : Number.NaN,
      gc: m?.gc ?? false,
    });
  }
  const med = (k: Exclude<keyof MemorySample, 'gc'>) => median(rows.map((r) => r[k]));
  return {
    rss: med('rss'),
    heapUsed: med('heapUsed'),
    heapTotal: med('heapTotal'),
    external: med('external'),
    newSpace: med('newSpace'),
    gc: rows.every((r) => r.gc),
  };
}
