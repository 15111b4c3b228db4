/**
 * `npm run bench`: the command round trip through the API against raw MQTT, and
 * the server's memory per connected device, measured in one run and printed as
 * one table with the machine's notes (docs/benchmarks.md explains the method).
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { Summary } from '../stats.js';
import { type LayerResult, runBreakdown } from './breakdown.js';
import { machine, machineLines } from './machine.js';
import { type MemoryResult, runMemory } from './memory.js';
import { Resources } from './proc.js';
import { type RoundTripResult, runRoundTrip } from './roundtrip.js';
import { type Row, renderMarkdown, renderText } from './table.js';

const USAGE = `Usage: npm run bench -- [options]

  --iterations N   measured round trips of each kind (default 500)
  --warmup N       unmeasured round trips of each kind first (default 50)
  --devices N      simulated devices for the memory benchmark (default 2000)
  --only NAME      roundtrip, memory, or breakdown (where a device's memory goes, layer
                   by layer; not part of the default run)
  --markdown       also print the table as Markdown
  --json FILE      also write every number as JSON
`;

const GOAL_LATENCY_RATIO = 1.5;
const GOAL_KIB_PER_DEVICE = 20;
/** Linux delays an ACK by up to 40 ms: a loopback round trip this slow is waiting on one. */
const STALL_MS = 30;
/** The whole run, whatever happens, ends within this. */
const WATCHDOG_MS = 15 * 60_000;

function intOption(value: string | undefined, fallback: number, min: number, max: number, name: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be an integer from ${min} to ${max}`);
  return n;
}

const ms = (v: number) => `${v.toFixed(2)} ms`;
const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
const kib = (v: number) => `${v.toFixed(1)} KiB`;
const mib = (v: number) => `${(v / 1024).toFixed(1)} MiB`;

function latencyRows(r: RoundTripResult): Row[] {
  const row = (measure: string, k: keyof Summary, against: Summary, goal?: number): Row => {
    const x = r.api[k] / against[k];
    return {
      measure,
      value: ms(r.api[k]),
      baseline: ms(against[k]),
      ratio: ratio(r.api[k], against[k]),
      goal: goal ? `≤ ${goal}×` : '',
      met: goal ? (x <= goal ? 'yes' : 'NO') : '',
    };
  };
  return [
    row('round trip p50, API vs raw MQTT', 'p50', r.raw, GOAL_LATENCY_RATIO),
    row('round trip p99, API vs raw MQTT', 'p99', r.raw),
    row('round trip mean, API vs raw MQTT', 'mean', r.raw),
    row('round trip p50, API vs raw MQTT to an agent', 'p50', r.rawAgent),
    row('round trip p99, API vs raw MQTT to an agent', 'p99', r.rawAgent),
  ];
}

function memoryRows(m: MemoryResult): Row[] {
  const n = m.devices;
  const halfN = Math.floor(n / 2);
  const rss = (m.connected.rss - m.idle.rss) / n;
  const heap = (m.connected.heapUsed - m.idle.heapUsed) / n;
  const outside = (m.connected.rss - m.connected.heapTotal - (m.idle.rss - m.idle.heapTotal)) / n;
  const marginal = (m.connected.rss - m.half.rss) / (n - halfN);
  const info = (measure: string, value: string, baseline: string): Row => ({
    measure,
    value,
    baseline,
    ratio: '',
    goal: '',
    met: '',
  });
  return [
    {
      measure: `server RSS per connected device (0 → ${n})`,
      value: kib(rss),
      baseline: `${mib(m.idle.rss)} idle → ${mib(m.connected.rss)}`,
      ratio: '',
      goal: `≤ ${GOAL_KIB_PER_DEVICE} KiB`,
      met: rss <= GOAL_KIB_PER_DEVICE ? 'yes' : 'NO',
    },
    info('  of which V8 heap used', kib(heap), `${mib(m.idle.heapUsed)} idle → ${mib(m.connected.heapUsed)}`),
    info('  of which outside the V8 heap', kib(outside), 'RSS − V8 heap size'),
    info(
      `server RSS per device, marginal (${halfN} → ${n})`,
      kib(marginal),
      `${mib(m.half.rss)} → ${mib(m.connected.rss)}`,
    ),
  ];
}

function renderLayers(layers: readonly LayerResult[]): string {
  const width = Math.max(...layers.map((l) => l.name.length));
  const heap = (v: number) => (Number.isNaN(v) ? '' : `, V8 heap ${kib(v)}`);
  return [
    `memory per connection, layer by layer (${layers[0]?.connections ?? 0} connections; slope over the second half):`,
    ...layers.map(
      (l) =>
        `  ${l.name.padEnd(width)}  RSS ${kib(l.marginalRss).padStart(9)}${heap(l.marginalHeap)}  (average ${kib(l.averageRss)})`,
    ),
  ].join('\n');
}

function details(rt: RoundTripResult | undefined, mem: MemoryResult | undefined): string[] {
  const lines: string[] = [];
  const s = (name: string, x: Summary) =>
    `  ${name.padEnd(28)} n=${x.n}  min ${ms(x.min)}  p50 ${ms(x.p50)}  p90 ${ms(x.p90)}  p99 ${ms(x.p99)}  max ${ms(x.max)}  mean ${ms(x.mean)}`;
  if (rt) {
    lines.push(`round trips (interleaved, ${rt.seconds.toFixed(1)} s, ${rt.failures} failed):`);
    lines.push(s('API → agent process', rt.api));
    lines.push(s('raw MQTT → responder process', rt.raw));
    lines.push(s('raw MQTT → agent process', rt.rawAgent));
    if (rt.raw.p50 >= STALL_MS) {
      lines.push(
        `  note: a raw MQTT round trip on loopback should take a few ms; ${ms(rt.raw.p50)} means TCP stalls`,
        '  (Nagle + delayed ACK on sockets without TCP_NODELAY), not work: see docs/benchmarks.md',
      );
    }
  }
  if (mem) {
    const f = (x: MemoryResult['idle']) =>
      `RSS ${mib(x.rss)}, V8 heap used ${mib(x.heapUsed)} of ${mib(x.heapTotal)} (young generation ${mib(x.newSpace)}), external ${mib(x.external)}`;
    lines.push(`server process memory (medians after a full GC${mem.gc ? '' : ' — gc() WAS NOT AVAILABLE'}):`);
    lines.push(`  ${'idle:'.padEnd(20)} ${f(mem.idle)}`);
    lines.push(`  ${`${mem.devices} enrolled:`.padEnd(20)} ${f(mem.enrolled)}`);
    lines.push(`  ${`${Math.floor(mem.devices / 2)} connected:`.padEnd(20)} ${f(mem.half)}`);
    lines.push(`  ${`${mem.devices} connected:`.padEnd(20)} ${f(mem.connected)}`);
    lines.push(
      `  enrolling took ${mem.enrollSeconds.toFixed(1)} s, connecting until all were online ${mem.connectSeconds.toFixed(1)} s`,
    );
  }
  return lines;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      iterations: { type: 'string' },
      warmup: { type: 'string' },
      devices: { type: 'string' },
      only: { type: 'string' },
      markdown: { type: 'boolean' },
      json: { type: 'string' },
      help: { type: 'boolean' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const iterations = intOption(values.iterations, 500, 1, 100_000, 'iterations');
  const warmup = intOption(values.warmup, 50, 0, 10_000, 'warmup');
  const devices = intOption(values.devices, 2000, 1, 20_000, 'devices');
  const only = values.only;
  if (only !== undefined && only !== 'roundtrip' && only !== 'memory' && only !== 'breakdown') {
    throw new Error('--only must be roundtrip, memory or breakdown');
  }
  const progress = (msg: string) => process.stderr.write(`bench: ${msg}\n`);
  const host = machine();

  let current: Resources | undefined;
  const abort = (why: string, code: number) => {
    if (aborting) return;
    aborting = true;
    progress(`${why}; stopping what the benchmark started`);
    const done = () => process.exit(code);
    (current?.cleanup() ?? Promise.resolve()).then(done, done);
    setTimeout(done, 15_000).unref();
  };
  process.once('SIGINT', () => abort('interrupted', 130));
  process.once('SIGTERM', () => abort('terminated', 143));
  setTimeout(() => abort(`still running after ${WATCHDOG_MS / 60_000} minutes`, 1), WATCHDOG_MS).unref();

  const scoped = async <T>(run: (r: Resources) => Promise<T>): Promise<T> => {
    current = new Resources();
    try {
      return await run(current);
    } finally {
      await current.cleanup();
      current = undefined;
    }
  };

  const rt =
    only !== undefined && only !== 'roundtrip'
      ? undefined
      : await scoped((resources) => runRoundTrip({ iterations, warmup, maxSeconds: 180, resources, progress }));
  const mem =
    only !== undefined && only !== 'memory'
      ? undefined
      : await scoped((resources) => runMemory({ devices, resources, progress, maxSeconds: 180 }));

  const layers =
    only === 'breakdown'
      ? await scoped((resources) => runBreakdown({ connections: devices, resources, progress }))
      : undefined;

  const rows = [...(rt ? latencyRows(rt) : []), ...(mem ? memoryRows(mem) : [])];
  const out = [
    '',
    ...(rows.length > 0 ? [renderText(rows), ''] : []),
    ...(layers ? [renderLayers(layers), ''] : []),
    ...details(rt, mem),
    '',
    'machine:',
    ...machineLines(host).map((l) => `  ${l}`),
    '',
  ];
  if (values.markdown && rows.length > 0) out.push(renderMarkdown(rows), '');
  process.stdout.write(out.join('\n'));
  if (values.json)
    writeFileSync(
      values.json,
      `${JSON.stringify({ machine: host, roundTrip: rt, memory: mem, breakdown: layers }, null, 2)}\n`,
    );
  return 0;
}

/** Set once a signal or the watchdog stops the run: the errors that follow are its echo. */
let aborting = false;

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (aborting) return; // abort() exits once its cleanup is done
    process.stderr.write(`bench: failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
