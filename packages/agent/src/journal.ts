/**
 * The command journal that makes every command id run at most once
 * (docs/protocol.md §Commands). One small file per id under `<state-dir>/journal/`,
 * each written atomically: `running` is on disk before a handler starts, `done`
 * holds the response to send again when the id is re-delivered.
 */
import { mkdirSync, readdirSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { CommandResponse, check, isValidId } from '@outpost/protocol';
import type { Logger } from './log.js';
import { writeFileAtomic } from './state.js';

export type JournalEntry =
  | { id: string; state: 'running'; at: number }
  /** `response` is absent once it was dropped to stay inside the byte budget. */
  | { id: string; state: 'done'; at: number; response?: CommandResponse };

export interface JournalLimits {
  /** Most ids remembered (oldest forgotten first). */
  maxEntries: number;
  /** Ids older than this are forgotten: the server never re-delivers past a command's ttl (≤ 7 days). */
  maxAgeMs: number;
  /** Total bytes of stored responses; beyond it the oldest responses are dropped, their ids kept. */
  maxResponseBytes: number;
}

export const DEFAULT_JOURNAL_LIMITS: JournalLimits = {
  maxEntries: 1000,
  maxAgeMs: 7 * 24 * 3600 * 1000,
  maxResponseBytes: 16 * 1024 * 1024,
};

export const RESTARTED_MESSAGE = 'agent restarted while the command was running';

interface IndexEntry {
  state: 'running' | 'done';
  at: number;
  /** Bytes of the stored response, 0 when none. */
  bytes: number;
}

export class CommandJournal {
  private readonly dir: string;
  private readonly index = new Map<string, IndexEntry>();
  private responseBytes = 0;
  private writesSincePrune = 0;

  /**
   * Opens (creating) the journal in `stateDir`. Entries still `running` belong to
   * an agent that died mid-command: they become `done` with E_INTERNAL, never re-run.
   */
  constructor(
    stateDir: string,
    private readonly log: Logger,
    private readonly limits: JournalLimits = DEFAULT_JOURNAL_LIMITS,
    private readonly now: () => number = Date.now,
  ) {
    this.dir = join(stateDir, 'journal');
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    this.load();
    this.prune();
  }

  get size(): number {
    return this.index.size;
  }

  /** The entry for `id` with its stored response, or undefined for an id never seen. */
  lookup(id: string): JournalEntry | undefined {
    const meta = this.index.get(id);
    if (!meta) return undefined;
    if (meta.state === 'running') return { id, state: 'running', at: meta.at };
    const stored = this.readEntry(id);
    return stored?.state === 'done' ? stored : { id, state: 'done', at: meta.at };
  }

  /** Durably records that `id` is starting. Throws if it cannot be written: then the command must not run. */
  markRunning(id: string): void {
    const at = this.now();
    this.write({ id, state: 'running', at });
    this.set(id, { state: 'running', at, bytes: 0 });
  }

  /** Records the final response of `id`. */
  markDone(id: string, response: CommandResponse): void {
    const at = this.now();
    const bytes = this.write({ id, state: 'done', at, response });
    this.set(id, { state: 'done', at, bytes });
    if (++this.writesSincePrune >= 100 || this.index.size > this.limits.maxEntries || this.overBudget()) this.prune();
  }

  private path(id: string): string {
    return join(this.dir, `${id}.json`);
  }

  private write(entry: JournalEntry): number {
    const text = JSON.stringify(entry);
    writeFileAtomic(this.path(entry.id), text, 0o600);
    return entry.state === 'done' && entry.response ? Buffer.byteLength(text) : 0;
  }

  private set(id: string, meta: IndexEntry): void {
    const old = this.index.get(id);
    if (old) this.responseBytes -= old.bytes;
    // Re-insert so the Map's order stays oldest-first.
    this.index.delete(id);
    this.index.set(id, meta);
    this.responseBytes += meta.bytes;
  }

  private overBudget(): boolean {
    return this.responseBytes > this.limits.maxResponseBytes;
  }

  private readEntry(id: string): JournalEntry | undefined {
    try {
      const value: unknown = JSON.parse(readFileSync(this.path(id), 'utf8'));
      return isEntry(value) && value.id === id ? value : undefined;
    } catch {
      return undefined;
    }
  }

  private load(): void {
    const found: { entry: JournalEntry; bytes: number }[] = [];
    for (const name of readdirSync(this.dir)) {
      const file = join(this.dir, name);
      const id = name.endsWith('.json') ? name.slice(0, -'.json'.length) : '';
      const entry = isValidId(id) ? this.readEntry(id) : undefined;
      if (!entry) {
        // A temp file from a crash mid-write, or something that is not ours to keep.
        this.log.warn('removing unreadable journal file', { file: name });
        removeQuietly(file);
        continue;
      }
      found.push({ entry, bytes: entry.state === 'done' && entry.response ? statSize(file) : 0 });
    }
    found.sort((a, b) => a.entry.at - b.entry.at);
    for (const { entry, bytes } of found) {
      if (entry.state === 'running') {
        const response: CommandResponse = {
          id: entry.id,
          ok: false,
          error: { code: 'E_INTERNAL', message: RESTARTED_MESSAGE },
        };
        this.log.warn('command was running when the agent stopped; it will not be re-run', { commandId: entry.id });
        const written = this.write({ id: entry.id, state: 'done', at: entry.at, response });
        this.set(entry.id, { state: 'done', at: entry.at, bytes: written });
      } else {
        this.set(entry.id, { state: 'done', at: entry.at, bytes });
      }
    }
  }

  /** Forgets ids past the count and age limits, then drops the oldest responses beyond the byte budget. */
  private prune(): void {
    this.writesSincePrune = 0;
    const cutoff = this.now() - this.limits.maxAgeMs;
    for (const [id, meta] of this.index) {
      const tooMany = this.index.size > this.limits.maxEntries;
      if (!tooMany && meta.at >= cutoff) break;
      if (meta.state === 'running') continue;
      this.index.delete(id);
      this.responseBytes -= meta.bytes;
      removeQuietly(this.path(id));
    }
    for (const [id, meta] of this.index) {
      if (!this.overBudget()) break;
      if (meta.state !== 'done' || meta.bytes === 0) continue;
      try {
        this.write({ id, state: 'done', at: meta.at });
        this.responseBytes -= meta.bytes;
        meta.bytes = 0;
      } catch (err) {
        this.log.warn('could not trim journal entry', { commandId: id, err });
        return;
      }
    }
  }
}

function isEntry(value: unknown): value is JournalEntry {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  if (!isValidId(v.id) || typeof v.at !== 'number') return false;
  if (v.state === 'running') return true;
  return v.state === 'done' && (v.response === undefined || check(CommandResponse, v.response));
}

function statSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

function removeQuietly(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // Already gone.
  }
}
