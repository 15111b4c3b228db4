/**
 * The filters of `logs/read` and `logs/follow`, shared by every source: a plain
 * substring (never compiled as a pattern), a minimum level and a start time.
 */
import { type LogLine, type LogLineLevel, OutpostError } from '@outpost/protocol';

export interface LineFilter {
  grep?: string;
  level?: LogLineLevel;
  since?: number;
}

const rank: Record<LogLineLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type SourceKind = 'agent' | 'app' | 'unit' | 'file';

/** Refuses filters a source cannot honour, rather than silently ignoring them. */
export function checkFilter(kind: SourceKind, filter: LineFilter): void {
  if (filter.level !== undefined && kind !== 'agent' && kind !== 'unit') {
    throw new OutpostError(
      'E_BAD_ARGS',
      'level applies only to the agent and unit: sources (app and file lines have none)',
    );
  }
  if (filter.since !== undefined && kind === 'file') {
    throw new OutpostError('E_BAD_ARGS', 'since does not apply to file: sources (file lines carry no time)');
  }
}

/** Whether a line passes: lines without a level or time pass the level and since filters. */
export function matches(line: Pick<LogLine, 'text' | 'level' | 'ts'>, filter: LineFilter): boolean {
  if (filter.since !== undefined && line.ts !== undefined && line.ts < filter.since) return false;
  if (filter.level !== undefined && line.level !== undefined && rank[line.level] < rank[filter.level]) return false;
  if (filter.grep !== undefined && !line.text.includes(filter.grep)) return false;
  return true;
}

/** The journal's syslog priority (0 emerg … 7 debug) as a log level. */
export function levelOfPriority(priority: number): LogLineLevel {
  if (priority <= 3) return 'error';
  if (priority === 4) return 'warn';
  if (priority <= 6) return 'info';
  return 'debug';
}
