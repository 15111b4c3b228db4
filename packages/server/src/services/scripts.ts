/**
 * The script library: named scripts whose every edit is a new immutable version
 * (interpreter, content, declared parameters, description), and the `exec/run`
 * arguments that run one version on a device with checked parameter values.
 */
import { createHash } from 'node:crypto';
import { type api, type ExecArgs, MAX_PAYLOAD_BYTES, OutpostError, type ScriptInterpreter } from '@outpost/protocol';
import { type Actor, actorRef } from '../actor.js';
import type { Logger } from '../log.js';
import { newId } from '../secrets.js';
import type { Db } from '../store/db.js';
import type { ScriptTable, ScriptVersionTable } from '../store/schema.js';
import { bindParams, checkParamDeclarations } from './script-params.js';
import { iso } from './time.js';

/** The most script text the library keeps, in UTF-8 bytes (what one `exec/run` carries). */
export const MAX_SCRIPT_CONTENT_BYTES = 256 * 1024;
/** Room left in one MQTT payload for the command envelope around its args. */
const COMMAND_ENVELOPE_BYTES = 4096;

/** What any consumer of a library script needs to run it (the seam for installing one as an app). */
export interface ScriptSource {
  name: string;
  version: number;
  interpreter: ScriptInterpreter;
  content: string;
  sha256: string;
}

export interface ScriptRun {
  version: number;
  args: ExecArgs;
}

type Joined = ScriptTable & Omit<ScriptVersionTable, 'script_id' | 'created_at' | 'created_by'>;

/** What an edit may change: everything a version holds besides its number and author. */
interface VersionFields {
  interpreter: ScriptInterpreter;
  content: string;
  description: string;
  params: api.ScriptParameter[];
}

function joined(script: ScriptTable, v: ScriptVersionTable): Joined {
  const { script_id: _, created_at: _at, created_by: _by, ...fields } = v;
  return { ...script, ...fields };
}

function versionRow(scriptId: string, version: number, f: VersionFields, now: number, by: string): ScriptVersionTable {
  return {
    script_id: scriptId,
    version,
    description: f.description,
    interpreter: f.interpreter,
    content: f.content,
    params: JSON.stringify(f.params),
    sha256: createHash('sha256').update(f.content, 'utf8').digest('hex'),
    size: Buffer.byteLength(f.content, 'utf8'),
    created_at: now,
    created_by: by,
  };
}

/** What a version stores, as the API shows it. */
function stored(name: string, v: Omit<ScriptVersionTable, 'script_id' | 'created_at' | 'created_by'>) {
  return {
    name,
    version: v.version,
    description: v.description,
    interpreter: v.interpreter as ScriptInterpreter,
    params: JSON.parse(v.params) as api.ScriptParameter[],
    sha256: v.sha256,
    size: v.size,
    content: v.content,
  };
}

function versionView(name: string, v: ScriptVersionTable): api.ScriptVersion {
  return { ...stored(name, v), createdAt: iso(v.created_at), createdBy: v.created_by };
}

/** The latest version's fields, with the script's own history (created by whom, last changed by whom). */
function scriptView(r: Joined): api.Script {
  return {
    ...stored(r.name, r),
    createdAt: iso(r.created_at),
    createdBy: r.created_by,
    updatedAt: iso(r.updated_at),
    updatedBy: r.updated_by,
  };
}

const withoutContent = <T extends { content: string }>({ content: _, ...rest }: T): Omit<T, 'content'> => rest;

function checkText(field: 'content' | 'description', text: string): void {
  // PostgreSQL text cannot hold NUL, and no interpreter here wants one.
  if (text.includes('\u0000')) throw new OutpostError('E_BAD_ARGS', `script ${field} must not contain NUL bytes`);
}

function checkContent(content: string): void {
  const size = Buffer.byteLength(content, 'utf8');
  if (size > MAX_SCRIPT_CONTENT_BYTES) {
    throw new OutpostError(
      'E_TOO_LARGE',
      `script content is ${size} bytes; the limit is ${MAX_SCRIPT_CONTENT_BYTES} (256 KiB)`,
      { size, limit: MAX_SCRIPT_CONTENT_BYTES },
    );
  }
  checkText('content', content);
}

/** A unique-constraint violation from SQLite or PostgreSQL. */
function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === '23505';
}

const notFound = (name: string) => new OutpostError('E_NOT_FOUND', `script '${name}' not found`);

export class ScriptService {
  constructor(
    private readonly db: Db,
    private readonly log: Logger,
  ) {}

  #latest() {
    return this.db
      .selectFrom('scripts')
      .innerJoin('script_versions', (j) =>
        j
          .onRef('script_versions.script_id', '=', 'scripts.id')
          .onRef('script_versions.version', '=', 'scripts.latest_version'),
      )
      .select([
        'scripts.id',
        'scripts.name',
        'scripts.latest_version',
        'scripts.created_at',
        'scripts.created_by',
        'scripts.updated_at',
        'scripts.updated_by',
        'script_versions.version',
        'script_versions.description',
        'script_versions.interpreter',
        'script_versions.content',
        'script_versions.params',
        'script_versions.sha256',
        'script_versions.size',
      ]);
  }

  async #row(name: string): Promise<ScriptTable> {
    const row = await this.db.selectFrom('scripts').selectAll().where('name', '=', name).executeTakeFirst();
    if (!row) throw notFound(name);
    return row;
  }

  async #latestRow(name: string): Promise<Joined> {
    const row = await this.#latest().where('scripts.name', '=', name).executeTakeFirst();
    if (!row) throw notFound(name);
    return row;
  }

  /** Every script's latest version, by name, without content. */
  async list(): Promise<api.ScriptSummary[]> {
    const rows = await this.#latest().orderBy('scripts.name', 'asc').execute();
    return rows.map((r) => withoutContent(scriptView(r)));
  }

  /** A script with its latest version's content. */
  async get(name: string): Promise<api.Script> {
    return scriptView(await this.#latestRow(name));
  }

  async versions(name: string): Promise<api.ScriptVersionSummary[]> {
    const script = await this.#row(name);
    const rows = await this.db
      .selectFrom('script_versions')
      .selectAll()
      .where('script_id', '=', script.id)
      .orderBy('version', 'desc')
      .execute();
    return rows.map((v) => withoutContent(versionView(name, v)));
  }

  async version(name: string, version: number): Promise<api.ScriptVersion> {
    const script = await this.#row(name);
    const v = await this.db
      .selectFrom('script_versions')
      .selectAll()
      .where('script_id', '=', script.id)
      .where('version', '=', version)
      .executeTakeFirst();
    if (!v) throw new OutpostError('E_NOT_FOUND', `script '${name}' has no version ${version}`);
    return versionView(name, v);
  }

  /** The text and interpreter of a version (the latest when none is named). */
  async source(name: string, version?: number): Promise<ScriptSource> {
    const v = version === undefined ? await this.get(name) : await this.version(name, version);
    return { name, version: v.version, interpreter: v.interpreter, content: v.content, sha256: v.sha256 };
  }

  async create(input: api.CreateScriptBody, actor: Actor): Promise<api.Script> {
    checkContent(input.content);
    checkText('description', input.description ?? '');
    const params = checkParamDeclarations(input.params ?? []);
    const now = Date.now();
    const by = actorRef(actor);
    const script: ScriptTable = {
      id: newId('scr', 16),
      name: input.name,
      latest_version: 1,
      created_at: now,
      created_by: by,
      updated_at: now,
      updated_by: by,
    };
    const fields = {
      interpreter: input.interpreter,
      content: input.content,
      description: input.description ?? '',
      params,
    };
    const version = versionRow(script.id, 1, fields, now, by);
    if (await this.db.selectFrom('scripts').select('id').where('name', '=', input.name).executeTakeFirst()) {
      throw new OutpostError('E_CONFLICT', `a script named '${input.name}' already exists`);
    }
    try {
      await this.db.transaction().execute(async (trx) => {
        await trx.insertInto('scripts').values(script).execute();
        await trx.insertInto('script_versions').values(version).execute();
      });
    } catch (err) {
      // Another create of the same name won the race.
      if (isUniqueViolation(err)) throw new OutpostError('E_CONFLICT', `a script named '${input.name}' already exists`);
      throw err;
    }
    this.log.info({ script: input.name, version: 1, actor: by }, 'script created');
    return scriptView(joined(script, version));
  }

  /**
   * Saves an edit as the next version; fields left out keep the latest version's value.
   * An edit that changes nothing adds no version (`changed: false`).
   */
  async update(
    name: string,
    input: api.UpdateScriptBody,
    actor: Actor,
  ): Promise<{ script: api.Script; changed: boolean }> {
    if (input.content !== undefined) checkContent(input.content);
    if (input.description !== undefined) checkText('description', input.description);
    const params = input.params === undefined ? undefined : checkParamDeclarations(input.params);
    const row = await this.#latestRow(name);
    const current = scriptView(row);
    const next: VersionFields = {
      interpreter: input.interpreter ?? current.interpreter,
      content: input.content ?? current.content,
      description: input.description ?? current.description,
      params: params ?? current.params,
    };
    const changed =
      next.interpreter !== current.interpreter ||
      next.content !== current.content ||
      next.description !== current.description ||
      JSON.stringify(next.params) !== JSON.stringify(current.params);
    if (!changed) return { script: current, changed: false };

    const now = Date.now();
    const by = actorRef(actor);
    const number = current.version + 1;
    const script: ScriptTable = { ...pickScript(row), latest_version: number, updated_at: now, updated_by: by };
    const version = versionRow(script.id, number, next, now, by);
    try {
      await this.db.transaction().execute(async (trx) => {
        // Only from the version this edit was based on: a concurrent edit makes this one a conflict.
        const moved = await trx
          .updateTable('scripts')
          .set({ latest_version: number, updated_at: now, updated_by: by })
          .where('id', '=', script.id)
          .where('latest_version', '=', current.version)
          .executeTakeFirst();
        if (Number(moved.numUpdatedRows) !== 1) throw conflict(name);
        await trx.insertInto('script_versions').values(version).execute();
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw conflict(name);
      throw err;
    }
    this.log.info({ script: name, version: number, actor: by }, 'script updated');
    return { script: scriptView(joined(script, version)), changed: true };
  }

  /** Deletes a script and all its versions; commands already sent keep their own copy of the text. */
  async remove(name: string, actor: Actor): Promise<api.ScriptSummary> {
    const row = await this.#latestRow(name);
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('script_versions').where('script_id', '=', row.id).execute();
      await trx.deleteFrom('scripts').where('id', '=', row.id).execute();
    });
    this.log.info({ script: name, versions: row.latest_version, actor: actorRef(actor) }, 'script deleted');
    return withoutContent(scriptView(row));
  }

  /**
   * The `exec/run` args that run a version (the latest when none is named) with these
   * parameter values: the text goes to the device as is, the values as
   * `OUTPOST_PARAM_<NAME>` variables and as positional arguments in declared order.
   */
  async runArgs(
    name: string,
    input: {
      version?: number | undefined;
      params?: Record<string, unknown> | undefined;
      timeoutMs?: number | undefined;
    },
  ): Promise<ScriptRun> {
    const v = input.version === undefined ? await this.get(name) : await this.version(name, input.version);
    const bound = bindParams(v.params, input.params ?? {});
    const args: ExecArgs = {
      script: v.content,
      interpreter: v.interpreter,
      args: bound.args,
      env: { ...bound.env, OUTPOST_SCRIPT_NAME: name, OUTPOST_SCRIPT_VERSION: String(v.version) },
      ...(input.timeoutMs !== undefined ? { timeoutMs: input.timeoutMs } : {}),
    };
    const size = Buffer.byteLength(JSON.stringify(args));
    if (size > MAX_PAYLOAD_BYTES - COMMAND_ENVELOPE_BYTES) {
      throw new OutpostError(
        'E_TOO_LARGE',
        `script '${name}' with these parameters does not fit in one command (${size} bytes)`,
      );
    }
    return { version: v.version, args };
  }
}

function pickScript(r: Joined): ScriptTable {
  return {
    id: r.id,
    name: r.name,
    latest_version: r.latest_version,
    created_at: r.created_at,
    created_by: r.created_by,
    updated_at: r.updated_at,
    updated_by: r.updated_by,
  };
}

const conflict = (name: string) =>
  new OutpostError('E_CONFLICT', `script '${name}' was changed by someone else meanwhile; fetch it and try again`);
