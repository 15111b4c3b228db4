/**
 * `processes/list` and `processes/signal`: the device's processes as read from
 * /proc (docs/protocol.md §Processes), and sending one of a fixed set of signals
 * to one of them.
 */
import { type Static, Type } from '@sinclair/typebox';

const strict = { additionalProperties: false } as const;

/** Linux's PID_MAX_LIMIT (2^22): no pid is ever larger. */
export const MAX_PID = 4_194_304;
/** Characters of a command line kept in a listing (the rest is cut and flagged). */
export const PROCESS_CMDLINE_MAX = 512;
export const PROCESS_LIST_DEFAULT_LIMIT = 100;
export const PROCESS_LIST_MAX_LIMIT = 1000;
/** How long the agent samples CPU time between its two readings, unless `fast`. */
export const PROCESS_SAMPLE_DEFAULT_MS = 300;

export const PROCESS_SORT_KEYS = ['cpu', 'mem', 'pid', 'name', 'start'] as const;
export type ProcessSortKey = (typeof PROCESS_SORT_KEYS)[number];
export const ProcessSortKey = Type.Union(PROCESS_SORT_KEYS.map((k) => Type.Literal(k)));

export const ProcessSortOrder = Type.Union([Type.Literal('asc'), Type.Literal('desc')]);
export type ProcessSortOrder = Static<typeof ProcessSortOrder>;

/** The signals an operator may send; anything else (SIGSEGV, real-time signals...) is refused. */
export const PROCESS_SIGNALS = ['TERM', 'KILL', 'INT', 'HUP', 'STOP', 'CONT', 'USR1', 'USR2', 'QUIT'] as const;
export type ProcessSignal = (typeof PROCESS_SIGNALS)[number];
export const ProcessSignal = Type.Union(PROCESS_SIGNALS.map((s) => Type.Literal(s)));

export const ProcessPid = Type.Integer({ minimum: 0, maximum: MAX_PID });

export const ProcessListArgs = Type.Object(
  {
    /** Default `cpu`. */
    sort: Type.Optional(ProcessSortKey),
    /** Default `desc` for cpu, mem and start (busiest, biggest, newest first), `asc` for pid and name. */
    order: Type.Optional(ProcessSortOrder),
    /** Case-insensitive substring of the process name or its command line. */
    filter: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    /** Only processes of this user: a name or a numeric uid. */
    user: Type.Optional(Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.][A-Za-z0-9_.$-]*$' })),
    /** Only these pids. */
    pids: Type.Optional(Type.Array(ProcessPid, { minItems: 1, maxItems: 1000 })),
    /** Default 100. */
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: PROCESS_LIST_MAX_LIMIT })),
    /** Skip the sampling interval: CPU % is averaged over each process's lifetime instead. */
    fast: Type.Optional(Type.Boolean()),
    /** Sampling interval for CPU % in ms (default 300); ignored with `fast`. */
    sampleMs: Type.Optional(Type.Integer({ minimum: 50, maximum: 5000 })),
  },
  strict,
);
export type ProcessListArgs = Static<typeof ProcessListArgs>;

export const ProcessInfo = Type.Object(
  {
    pid: Type.Integer({ minimum: 1 }),
    ppid: Type.Integer({ minimum: 0 }),
    /** The user name, or the numeric uid when /etc/passwd does not name it. */
    user: Type.String(),
    uid: Type.Integer({ minimum: 0 }),
    /** The kernel's one-letter state: R running, S sleeping, D disk wait, Z zombie, T stopped, I idle... */
    state: Type.String({ minLength: 1, maxLength: 1 }),
    /** The kernel's name for it (`comm`, at most 15 characters). */
    name: Type.String(),
    /** Percent of one CPU over the sample (or the process's lifetime with `fast`); may exceed 100. */
    cpu: Type.Number({ minimum: 0 }),
    rssBytes: Type.Integer({ minimum: 0 }),
    /** RSS as a percent of the device's total memory. */
    mem: Type.Number({ minimum: 0 }),
    threads: Type.Integer({ minimum: 0 }),
    nice: Type.Integer(),
    startedAt: Type.String({ maxLength: 40 }),
    /** Arguments joined by spaces, cut at 512 characters; `[name]` for kernel threads. */
    cmdline: Type.String({ maxLength: PROCESS_CMDLINE_MAX + 1 }),
  },
  strict,
);
export type ProcessInfo = Static<typeof ProcessInfo>;

export const ProcessList = Type.Object(
  {
    /** When the second reading was taken (device clock, ISO 8601). */
    at: Type.String({ maxLength: 40 }),
    /** Length of the CPU sample in ms; 0 with `fast` (lifetime averages). */
    sampleMs: Type.Integer({ minimum: 0 }),
    cpuCount: Type.Integer({ minimum: 1 }),
    memTotalBytes: Type.Integer({ minimum: 0 }),
    /** Processes that matched the filters, before `limit`. */
    total: Type.Integer({ minimum: 0 }),
    /** Fewer processes than `min(total, limit)` are listed: the answer had to fit one message. */
    truncated: Type.Boolean(),
    processes: Type.Array(ProcessInfo),
  },
  strict,
);
export type ProcessList = Static<typeof ProcessList>;

export const ProcessSignalArgs = Type.Object(
  {
    pid: ProcessPid,
    /** Default `TERM`. */
    signal: Type.Optional(ProcessSignal),
    /** For TERM and KILL: how long to wait for the process to end (default 2000 ms, 0 = do not wait). */
    waitMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000 })),
  },
  strict,
);
export type ProcessSignalArgs = Static<typeof ProcessSignalArgs>;

export const ProcessSignalResult = Type.Object(
  {
    pid: Type.Integer({ minimum: 1 }),
    signal: ProcessSignal,
    /** The process as it was just before the signal. */
    name: Type.String(),
    cmdline: Type.String(),
    user: Type.String(),
    /** For TERM and KILL with a wait: whether it ended within it; null when not checked. */
    gone: Type.Union([Type.Boolean(), Type.Null()]),
  },
  strict,
);
export type ProcessSignalResult = Static<typeof ProcessSignalResult>;
