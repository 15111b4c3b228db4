/**
 * `npm run bench`: the command round trip through the API against raw MQTT, the
 * server's memory per connected device, an idle agent's memory and CPU, file
 * transfer, port-forward and terminal throughput and the keystroke echo, each
 * against its raw-MQTT baseline, measured in one run and printed as one table
 * with the machine's notes (docs/benchmarks.md explains the method).
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { Summary } from '../stats.js';
import { type AgentIdleResult, runAgentIdle } from './agent-idle.js';
import { type LayerResult, runBreakdown } from './breakdown.js';
import { type FilesBenchResult, filesDetails, filesRows, runFiles } from './files.js';
import { type ForwardBenchResult, forwardDetails, forwardRows, runForward } from './forward.js';
import { machine, machineLines } from './machine.js';
import { type MemoryResult, runMemory } from './memory.js';
import { Resources } from './proc.js';
import { type RoundTripResult, runRoundTrip } from './roundtrip.js';
import { infoRow, type Row, ratioText, renderMarkdown, renderText } from './table.js';
import { runTerminal, type TerminalBenchResult, terminalDetails, terminalRows } from './terminal.js';

const USAGE = `Usage: npm run bench -- [options]

  --iterations N   measured round trips of each kind (default 500)
  --warmup N       unmeasured round trips of each kind first (default 50)
  --devices N      simulated devices for the memory benchmark (default 2000)
  --idle-seconds N how long the idle agent is measured (default 60)
  --agent-node-flags=F
                   node/V8 flags for the idle agent and its bare Node.js baseline, space-separated
                   in one argument (e.g. --agent-node-flags=--lite-mode; default none, as shipped)
  --only NAME      one part: roundtrip, memory, agent (an idle agent's RSS and CPU), files,
                   forward, terminal, or breakdown (where a device's memory goes, layer by
                   layer; not part of the default run)
  --file-mib N     size of the file moved by the files benchmark, MiB (default 128)
  --file-reps N    measured transfers of each kind in the files benchmark (default 3)
  --forward-mib N  bytes moved by each port-forward transfer, MiB (default 64)
  --forward-reps N measured transfers of each kind in the forward benchmark (default 3)
  --terminal-mib N bytes of each terminal throughput transfer, MiB (default 64)
  --terminal-reps N measured transfers of each kind in the terminal benchmark (default 3)
  --markdown       also print the table as Markdown
  --json FILE      also write every number as JSON
`;

const GOAL_LATENCY_RATIO = 1.5;
const GOAL_KIB_PER_DEVICE = 20;
/** An idle agent with every capability loaded: 40 MB (decimal) resident, 0.2 % of one CPU. */
const GOAL_AGENT_RSS_BYTES = 40_000_000;
const GOAL_AGENT_CPU_PERCENT = 0.2;
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
const kib = (v: number) => `${v.toFixed(1)} KiB`;
const mib = (v: number) => `${(v / 1024).toFixed(1)} MiB`;

function latencyRows(r: RoundTripResult): Row[] {
  const row = (measure: string, k: keyof Summary, against: Summary, goal?: number): Row => {
    const x = r.api[k] / against[k];
    return {
      measure,
      value: ms(r.api[k]),
      baseline: ms(against[k]),
      ratio: ratioText(x, goal),
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

function memoryRows(m: MemoryResult, tlsFloor: LayerResult | undefined): Row[] {
  const n = m.devices;
  const halfN = Math.floor(n / 2);
  const rss = (m.connected.rss - m.idle.rss) / n;
  const heap = (m.connected.heapUsed - m.idle.heapUsed) / n;
  const outside = (m.connected.rss - m.connected.heapTotal - (m.idle.rss - m.idle.heapTotal)) / n;
  const marginal = (m.connected.rss - m.half.rss) / (n - halfN);
  return [
    {
      measure: `server RSS per connected device (0 → ${n})`,
      value: kib(rss),
      baseline: `${mib(m.idle.rss)} idle → ${mib(m.connected.rss)}`,
      ratio: '',
      goal: `≤ ${GOAL_KIB_PER_DEVICE} KiB`,
      met: rss <= GOAL_KIB_PER_DEVICE ? 'yes' : 'NO',
    },
    infoRow('  of which V8 heap used', kib(heap), `${mib(m.idle.heapUsed)} idle → ${mib(m.connected.heapUsed)}`),
    infoRow('  of which outside the V8 heap', kib(outside), 'RSS − V8 heap size'),
    infoRow(
      `server RSS per device, marginal (${halfN} → ${n})`,
      kib(marginal),
      `${mib(m.half.rss)} → ${mib(m.connected.rss)}`,
    ),
    ...(tlsFloor
      ? [
          infoRow(
            '  floor: idle TLS connection, Node.js TLS alone',
            kib(tlsFloor.marginalRss),
            `marginal, ${tlsFloor.connections} connections, no MQTT (breakdown.ts)`,
          ),
        ]
      : []),
  ];
}

function agentRows(a: AgentIdleResult): Row[] {
  const mb = (k: number) => `${((k * 1024) / 1e6).toFixed(1)} MB`;
  const window = `${a.seconds.toFixed(0)} s idle, heartbeat ${a.heartbeatSeconds} s`;
  return [
    {
      measure: 'agent idle RSS, all capabilities loaded (median)',
      value: mb(a.rss.median),
      baseline: `min ${mb(a.rss.min)}, max ${mb(a.rss.max)}, ${window}`,
      ratio: '',
      goal: '≤ 40 MB',
      met: a.rss.max * 1024 <= GOAL_AGENT_RSS_BYTES ? 'yes' : 'NO',
    },
    infoRow('  of which anonymous (V8 heap, stacks, malloc)', mb(a.rssAnon), 'RssAnon'),
    infoRow('  of which file-backed (node binary, libraries)', mb(a.rssFile), 'RssFile'),
    infoRow('  private to the agent (USS)', mb(a.uss), 'Private_Clean + Private_Dirty'),
    infoRow('  proportional share (PSS)', mb(a.pss), 'shared pages split among the processes mapping them'),
    infoRow(
      'bare Node.js idle RSS, same run and flags',
      mb(a.bare.rss),
      `USS ${mb(a.bare.uss)}, PSS ${mb(a.bare.pss)}, anonymous ${mb(a.bare.rssAnon)}, file-backed ${mb(a.bare.rssFile)}`,
    ),
    infoRow(
      'agent over bare Node.js: RSS',
      `+${mb(a.rss.median - a.bare.rss)}`,
      `USS +${mb(a.uss - a.bare.uss)} (the agent's own code and data), file-backed +${mb(a.rssFile - a.bare.rssFile)}`,
    ),
    {
      measure: 'agent idle CPU, all capabilities loaded',
      value: `${a.cpuPercent.toFixed(3)} %`,
      baseline: `${a.cpuSeconds.toFixed(2)} s CPU in ${window}`,
      ratio: '',
      goal: `≤ ${GOAL_AGENT_CPU_PERCENT} %`,
      met: a.cpuPercent <= GOAL_AGENT_CPU_PERCENT ? 'yes' : 'NO',
    },
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

function details(
  rt: RoundTripResult | undefined,
  mem: MemoryResult | undefined,
  idle: AgentIdleResult | undefined,
): string[] {
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
  if (idle) {
    lines.push(
      `idle agent: ${idle.samples} memory samples, ${idle.heartbeatsSeen} heartbeats seen by the server, CPU from utime+stime at ${idle.clockTicksPerSecond} ticks/s`,
      `  node ${idle.nodeVersion}${idle.nodeFlags.length > 0 ? ` ${idle.nodeFlags.join(' ')}` : ' (no flags)'}, for the agent and the bare Node.js baseline`,
      `  capabilities in the catalogue (all registered by the bundle): ${idle.capabilities.join(', ')}`,
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
      'idle-seconds': { type: 'string' },
      'agent-node-flags': { type: 'string' },
      'file-mib': { type: 'string' },
      'file-reps': { type: 'string' },
      'forward-mib': { type: 'string' },
      'forward-reps': { type: 'string' },
      'terminal-mib': { type: 'string' },
      'terminal-reps': { type: 'string' },
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
  const idleSeconds = intOption(values['idle-seconds'], 60, 5, 3600, 'idle-seconds');
  const agentNodeFlags = (values['agent-node-flags'] ?? '').split(/\s+/).filter((f) => f !== '');
  if (agentNodeFlags.some((f) => !f.startsWith('--'))) throw new Error('--agent-node-flags takes only --flags');
  const only = values.only;
  if (
    only !== undefined &&
    !['roundtrip', 'memory', 'agent', 'breakdown', 'files', 'forward', 'terminal'].includes(only)
  ) {
    throw new Error('--only must be roundtrip, memory, agent, breakdown, files, forward or terminal');
  }
  const fileMib = intOption(values['file-mib'], 128, 1, 64 * 1024, 'file-mib');
  const fileReps = intOption(values['file-reps'], 3, 1, 100, 'file-reps');
  const forwardMib = intOption(values['forward-mib'], 64, 1, 4096, 'forward-mib');
  const forwardReps = intOption(values['forward-reps'], 3, 1, 100, 'forward-reps');
  const terminalMib = intOption(values['terminal-mib'], 64, 1, 4096, 'terminal-mib');
  const terminalReps = intOption(values['terminal-reps'], 3, 1, 100, 'terminal-reps');
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
  // What TLS alone costs per connection in Node.js, in the same run: no server can go below it.
  const tlsFloor = mem
    ? (
        await scoped((resources) =>
          runBreakdown({ connections: devices, resources, progress, layers: ['tls'], mosquitto: false }),
        )
      )[0]
    : undefined;

  const idle =
    only !== undefined && only !== 'agent'
      ? undefined
      : await scoped((resources) =>
          runAgentIdle({ seconds: idleSeconds, settleSeconds: 10, nodeFlags: agentNodeFlags, resources, progress }),
        );

  const files: FilesBenchResult | undefined =
    only === undefined || only === 'files'
      ? await scoped((resources) => runFiles({ mib: fileMib, repetitions: fileReps, resources, progress }))
      : undefined;

  const forward: ForwardBenchResult | undefined =
    only === undefined || only === 'forward'
      ? await scoped((resources) =>
          runForward({ mib: forwardMib, repetitions: forwardReps, parallel: 8, resources, progress }),
        )
      : undefined;

  const terminal: TerminalBenchResult | undefined =
    only === undefined || only === 'terminal'
      ? await scoped((resources) =>
          runTerminal({ iterations, warmup, mib: terminalMib, repetitions: terminalReps, resources, progress }),
        )
      : undefined;

  const layers =
    only === 'breakdown'
      ? await scoped((resources) => runBreakdown({ connections: devices, resources, progress }))
      : undefined;

  const rows = [
    ...(rt ? latencyRows(rt) : []),
    ...(mem ? memoryRows(mem, tlsFloor) : []),
    ...(idle ? agentRows(idle) : []),
    ...(files ? filesRows(files) : []),
    ...(forward ? forwardRows(forward) : []),
    ...(terminal ? terminalRows(terminal) : []),
  ];
  const out = [
    '',
    ...(rows.length > 0 ? [renderText(rows), ''] : []),
    ...(layers ? [renderLayers(layers), ''] : []),
    ...details(rt, mem, idle),
    ...(files ? filesDetails(files) : []),
    ...(forward ? forwardDetails(forward) : []),
    ...(terminal ? terminalDetails(terminal) : []),
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
      `${JSON.stringify({ machine: host, roundTrip: rt, memory: mem, agentIdle: idle, files, forward, terminal, breakdown: layers }, null, 2)}\n`,
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
