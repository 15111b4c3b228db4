/**
 * Processes over HTTP (docs/processes-services-power.md): the list
 * (`GET /devices/:device/processes`) and a signal to one
 * (`POST /devices/:device/processes/:pid/signal`). Answers are the device's
 * `processes/list` and `processes/signal` results.
 */
import { type Static, Type } from '@sinclair/typebox';
import {
  PROCESS_LIST_MAX_LIMIT,
  ProcessPid,
  ProcessSignal,
  ProcessSortKey,
  ProcessSortOrder,
} from '../capabilities/processes.js';

const strict = { additionalProperties: false } as const;

export const ProcessListQuery = Type.Object(
  {
    sort: Type.Optional(ProcessSortKey),
    order: Type.Optional(ProcessSortOrder),
    /** Case-insensitive substring of the name or command line. */
    filter: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    /** A user name or numeric uid. */
    user: Type.Optional(Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.][A-Za-z0-9_.$-]*$' })),
    /** Comma-separated pids, e.g. `1,42,4711`. */
    pid: Type.Optional(Type.String({ pattern: '^[0-9]{1,7}(,[0-9]{1,7}){0,999}$', maxLength: 8000 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: PROCESS_LIST_MAX_LIMIT })),
    /** CPU % over each process's lifetime instead of a fresh sample: answers at once. */
    fast: Type.Optional(Type.Boolean()),
    sampleMs: Type.Optional(Type.Integer({ minimum: 50, maximum: 5000 })),
  },
  strict,
);
export type ProcessListQuery = Static<typeof ProcessListQuery>;

/** `:device` and `:pid` in `/devices/:device/processes/:pid/signal`. */
export const ProcessSignalRef = Type.Object(
  { device: Type.String({ minLength: 1, maxLength: 128 }), pid: ProcessPid },
  strict,
);
export type ProcessSignalRef = Static<typeof ProcessSignalRef>;

export const ProcessSignalBody = Type.Object(
  {
    /** Default `TERM`. */
    signal: Type.Optional(ProcessSignal),
    /** For TERM and KILL: how long the device waits to see the process end (default 2000 ms). */
    waitMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000 })),
  },
  strict,
);
export type ProcessSignalBody = Static<typeof ProcessSignalBody>;
