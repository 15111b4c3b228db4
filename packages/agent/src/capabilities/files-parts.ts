/**
 * The registry of upload partial files (docs/files.md §Copy), so that parts of
 * transfers nobody resumes do not fill a small disk: `<stateDir>/upload-parts.json`
 * (mode 0600, written atomically) names each part with its time of last activity,
 * and a sweep removes those idle for longer than `uploadPartTtl`. Only a part in
 * the registry is ever removed, found through the file sandbox as file actions
 * find paths (inside the roots, never through a symlink), and only while it is
 * still a regular file that nothing wrote since.
 */
import { mkdirSync, readFileSync, type Stats } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { FilePath, OutpostError, parse, TransferId } from '@outpost/protocol';
import { type Static, Type } from '@sinclair/typebox';
import type { Logger } from '../log.js';
import { writeFileAtomic } from '../state.js';
import { type FileSandbox, fsError } from './files-paths.js';
import { partName } from './files-transfer.js';

/** The registry's file name in the state directory. */
export const UPLOAD_PARTS_FILE = 'upload-parts.json';
/** How often parts are checked for expiry after the sweep at start. */
export const SWEEP_INTERVAL_MS = 3600_000;
/** Most parts remembered; beyond it the oldest idle one is forgotten (its file is left alone). */
export const MAX_UPLOAD_PARTS = 1000;

const PartEntry = Type.Object(
  {
    /** The upload's destination, as the client named it (for logs). */
    path: FilePath,
    transfer: TransferId,
    /** The part's real path: its directory resolved when the upload started, and its own name. */
    part: FilePath,
    /** Time of last activity (ms since the epoch): the upload starting, stopping, or a write seen by a sweep. */
    at: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);
type PartEntry = Static<typeof PartEntry>;
const RegistryFile = Type.Object(
  { version: Type.Literal(1), parts: Type.Array(PartEntry, { maxItems: MAX_UPLOAD_PARTS }) },
  { additionalProperties: false },
);

/** What a sweep found at a registered part's name. */
type Found = 'removed' | 'gone' | 'replaced' | 'kept' | { writtenAt: number };

/** The parts this agent has left or is writing, persisted in the state directory, and their sweep. */
export class UploadParts {
  private readonly entries = new Map<string, PartEntry>();
  /** Parts of uploads running now, with how many: a sweep never touches them. */
  private readonly active = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> | undefined;

  /** Loads the registry at `file`; an unreadable or corrupt one is logged and replaced, never fatal. */
  constructor(
    private readonly file: string,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.load();
  }

  /** The registered parts, least recently recorded first. */
  list(): PartEntry[] {
    return [...this.entries.values()];
  }

  /**
   * Runs one upload of `args.transfer` to `args.path`. Its part is registered before
   * a byte is written (so a part survives an agent that dies mid-upload), forgotten
   * when the upload completes or its part is discarded, and registered again with the
   * time it stopped when the part is kept to resume.
   */
  async track<T>(sandbox: FileSandbox, args: { path: string; transfer: string }, run: () => Promise<T>): Promise<T> {
    // A path the sandbox refuses gets no part: the upload fails the same way before it writes.
    const entry = await sandbox
      .with(args.path, async (l) =>
        l.name === ''
          ? undefined
          : { path: l.path, transfer: args.transfer, part: join(l.parent.real, partName(l.name, args.transfer)) },
      )
      .catch(() => undefined);
    if (!entry) return run();
    this.active.set(entry.part, (this.active.get(entry.part) ?? 0) + 1);
    this.remember({ ...entry, at: this.now() });
    this.save();
    try {
      const result = await run();
      this.forget(entry.part);
      return result;
    } catch (err) {
      const kept = await this.visit(sandbox, entry.part, async (st) => (st.isFile() ? 'kept' : 'replaced'));
      if (kept === 'kept') {
        this.remember({ ...entry, at: this.now() });
        this.save();
      } else this.forget(entry.part);
      throw err;
    } finally {
      const n = (this.active.get(entry.part) ?? 1) - 1;
      if (n > 0) this.active.set(entry.part, n);
      else this.active.delete(entry.part);
    }
  }

  /**
   * Removes the parts idle for more than `ttlSeconds` (0: none), logging each; forgets
   * those that are gone or were replaced by something else. A part written since its
   * last activity gets that write as its new activity instead.
   */
  async sweep(sandbox: FileSandbox, ttlSeconds: number): Promise<void> {
    if (ttlSeconds === 0) return;
    let changed = false;
    for (const entry of this.list()) {
      const now = this.now();
      const age = now - entry.at;
      if (age <= ttlSeconds * 1000 || this.active.has(entry.part)) continue;
      const found = await this.visit(sandbox, entry.part, async (st, at) => {
        if (!st.isFile()) return 'replaced';
        const written = Math.trunc(st.mtimeMs);
        if (written > entry.at) return { writtenAt: written };
        // Checked again here: an upload that resumes this part may have started during the visit.
        if (this.active.has(entry.part)) return 'kept';
        await unlink(at).catch((err: unknown) => {
          throw fsError(err, entry.part);
        });
        this.log.info('removed an abandoned upload part', {
          path: entry.part,
          size: st.size,
          ageSeconds: Math.round(age / 1000),
        });
        return 'removed';
      });
      if (found === 'replaced') {
        this.log.info('an upload part was replaced by something else; left alone and forgotten', { path: entry.part });
      }
      // An upload that started meanwhile has recorded the part afresh: its record stands.
      if (found === 'kept' || this.entries.get(entry.part) !== entry) continue;
      if (typeof found === 'object') this.remember({ ...entry, at: found.writtenAt });
      else this.forget(entry.part, false);
      changed = true;
    }
    if (changed) this.save();
  }

  /** Sweeps now and every SWEEP_INTERVAL_MS until stop(); parts are kept forever when `ttlSeconds` is 0. */
  start(sandbox: () => FileSandbox, ttlSeconds: number): void {
    if (ttlSeconds === 0 || this.timer) return;
    const run = (): void => {
      this.sweeping ??= this.sweep(sandbox(), ttlSeconds)
        .catch((err: unknown) => this.log.warn('upload part sweep failed', { err }))
        .finally(() => {
          this.sweeping = undefined;
        });
    };
    this.timer = setInterval(run, SWEEP_INTERVAL_MS);
    // The sweep must not keep a stopping agent alive.
    this.timer.unref();
    run();
  }

  /** Stops the timer and waits for a sweep in progress. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.sweeping;
  }

  /**
   * Calls `fn` with the lstat of what is at the registered part's name now and its
   * path through the open parent, when that parent still is the registered directory.
   * A symlink is never followed; a part outside the roots is kept (a root may be back later).
   */
  private async visit(
    sandbox: FileSandbox,
    part: string,
    fn: (st: Stats, at: string) => Promise<Found>,
  ): Promise<Found> {
    try {
      return await sandbox.with(part, async (l) => {
        if (!l.stat) return 'gone';
        if (l.name === '' || l.real !== part) return 'replaced';
        return fn(l.stat, l.parent.at(l.name));
      });
    } catch (err) {
      const e = fsError(err, part);
      if (e.code === 'E_NOT_FOUND') return 'gone';
      this.log.warn('cannot check an upload part; it is kept for the next sweep', { path: part, code: e.code });
      return 'kept';
    }
  }

  /** Records `entry` (replacing the same part's) as the newest; past the cap the oldest idle one is forgotten. */
  private remember(entry: PartEntry): void {
    this.entries.delete(entry.part);
    this.entries.set(entry.part, entry);
    if (this.entries.size > MAX_UPLOAD_PARTS) {
      const oldest = this.list().find((e) => !this.active.has(e.part));
      if (oldest) {
        this.log.warn('too many upload parts registered; the oldest is forgotten (not removed)', {
          path: oldest.part,
        });
        this.entries.delete(oldest.part);
      }
    }
  }

  private forget(part: string, save = true): void {
    if (this.entries.delete(part) && save) this.save();
  }

  private load(): void {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      this.log.warn('cannot read the upload part registry; it is replaced', { file: this.file, code });
      this.save();
      return;
    }
    let parts: PartEntry[];
    try {
      parts = parse(RegistryFile, JSON.parse(text), this.file).parts;
    } catch (err) {
      const message = err instanceof OutpostError ? err.message : 'malformed JSON';
      this.log.warn('the upload part registry is corrupt; it is replaced', { file: this.file, message });
      this.save();
      return;
    }
    for (const entry of parts) {
      // Only a name this agent gives parts may ever be removed, whatever the file says.
      if (basename(entry.part) === partName(basename(entry.path), entry.transfer)) this.entries.set(entry.part, entry);
      else this.log.warn('ignoring an upload part registry entry that does not name a part', { path: entry.part });
    }
    if (this.entries.size !== parts.length) this.save();
  }

  /** Writes the registry; a failure is logged (the parts stay on disk, as before this registry existed). */
  private save(): void {
    try {
      mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
      writeFileAtomic(this.file, `${JSON.stringify({ version: 1, parts: this.list() })}\n`, 0o600);
    } catch (err) {
      this.log.warn('cannot write the upload part registry', {
        file: this.file,
        code: (err as NodeJS.ErrnoException).code,
      });
    }
  }
}
