/**
 * The script library service against both real stores: a SQLite file and, when
 * the machine's PostgreSQL (127.0.0.1:5432) answers, a throwaway PostgreSQL
 * database, through the real migrations. Versions, parameter checks and limits.
 */
import { Writable } from 'node:stream';
import { OutpostError } from '@outpost/protocol';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type ThrowawayDatabase, throwawayDatabase } from '../../../../test/postgres.js';
import { tempDir } from '../../../../test/tmp.js';
import type { Actor } from '../actor.js';
import { createLogger } from '../log.js';
import { type Db, openDatabase } from '../store/db.js';
import { MAX_SCRIPT_CONTENT_BYTES, ScriptService } from './scripts.js';

const silent = createLogger(
  'silent',
  new Writable({
    write: (_c, _e, cb) => cb(),
  }),
);
const alice: Actor = { kind: 'token', id: 'tok-a', userId: 'u-a', name: 'alice', role: 'operator', scopes: [] };
const bob: Actor = { ...alice, id: 'tok-b', userId: 'u-b', name: 'bob' };

async function code(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'the call should have failed').toBeInstanceOf(OutpostError);
  return `${(err as OutpostError).code}: ${(err as OutpostError).message}`;
}

const stores: Record<'sqlite' | 'postgres', Db | null> = { sqlite: null, postgres: null };
let postgres: ThrowawayDatabase | null = null;

beforeAll(async () => {
  stores.sqlite = await openDatabase('sqlite', tempDir());
  postgres = await throwawayDatabase('outpost_scripts');
  if (postgres) stores.postgres = await openDatabase(postgres.url, tempDir());
});

afterAll(async () => {
  await stores.sqlite?.destroy();
  await stores.postgres?.destroy();
  await postgres?.drop();
});

describe.each(['sqlite', 'postgres'] as const)('script library on %s', (store) => {
  let scripts: ScriptService;
  let n = 0;
  const fresh = () => `s${++n}-${store}`;

  beforeEach(({ skip }) => {
    const db = stores[store];
    if (!db) return skip('no PostgreSQL on this machine');
    scripts ??= new ScriptService(db, silent);
  });

  it('keeps every edit as an immutable version; an edit that changes nothing adds none', async () => {
    const name = fresh();
    const v1 = await scripts.create({ name, interpreter: 'sh', content: 'echo one\n', description: 'first' }, alice);
    expect(v1).toMatchObject({
      name,
      version: 1,
      interpreter: 'sh',
      description: 'first',
      size: 9,
      createdBy: 'user:alice',
    });
    expect(v1.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(await code(scripts.create({ name, interpreter: 'sh', content: 'x' }, bob))).toBe(
      `E_CONFLICT: a script named '${name}' already exists`,
    );

    const v2 = await scripts.update(name, { content: 'print("two")\n', interpreter: 'python3' }, bob);
    expect(v2.changed).toBe(true);
    expect(v2.script).toMatchObject({
      version: 2,
      interpreter: 'python3',
      description: 'first',
      updatedBy: 'user:bob',
    });
    expect(v2.script.createdBy).toBe('user:alice');
    const same = await scripts.update(name, { content: 'print("two")\n' }, bob);
    expect(same).toMatchObject({ changed: false, script: { version: 2 } });
    await scripts.update(name, { description: 'third' }, alice);

    const versions = await scripts.versions(name);
    expect(versions.map((v) => [v.version, v.interpreter, v.description])).toEqual([
      [3, 'python3', 'third'],
      [2, 'python3', 'first'],
      [1, 'sh', 'first'],
    ]);
    expect(versions[0]).not.toHaveProperty('content');
    expect((await scripts.version(name, 1)).content).toBe('echo one\n');
    expect((await scripts.get(name)).content).toBe('print("two")\n');
    expect(await code(scripts.version(name, 4))).toBe(`E_NOT_FOUND: script '${name}' has no version 4`);
    const listed = (await scripts.list()).find((s) => s.name === name);
    expect(listed).toMatchObject({ version: 3, description: 'third' });
    expect(listed).not.toHaveProperty('content');
    expect(await scripts.source(name, 1)).toEqual({
      name,
      version: 1,
      interpreter: 'sh',
      content: 'echo one\n',
      sha256: v1.sha256,
    });
  });

  it('loses no edit when two race: each that succeeds is its own version', async () => {
    const name = fresh();
    await scripts.create({ name, interpreter: 'sh', content: 'v1' }, alice);
    const results = await Promise.allSettled(['a', 'b', 'c'].map((c) => scripts.update(name, { content: c }, alice)));
    const saved = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value.script] : []));
    for (const r of results) if (r.status === 'rejected') expect((r.reason as OutpostError).code).toBe('E_CONFLICT');
    const versions = await scripts.versions(name);
    expect(versions).toHaveLength(1 + saved.length);
    expect((await scripts.get(name)).version).toBe(versions.length);
    for (const s of saved) expect((await scripts.version(name, s.version)).content).toBe(s.content);
  });

  it('refuses content over 256 KiB (counted in UTF-8 bytes) and NUL bytes', async () => {
    const name = fresh();
    // Exactly the limit in bytes, though only half of it in characters.
    const fits = 'é'.repeat(MAX_SCRIPT_CONTENT_BYTES / 2);
    await scripts.create({ name, interpreter: 'sh', content: fits }, alice);
    expect(await code(scripts.update(name, { content: `${fits}x` }, alice))).toBe(
      `E_TOO_LARGE: script content is ${MAX_SCRIPT_CONTENT_BYTES + 1} bytes; the limit is ${MAX_SCRIPT_CONTENT_BYTES} (256 KiB)`,
    );
    expect(await code(scripts.create({ name: fresh(), interpreter: 'sh', content: 'a\u0000b' }, alice))).toBe(
      'E_BAD_ARGS: script content must not contain NUL bytes',
    );
    expect((await scripts.get(name)).version).toBe(1);
  });

  it('checks declared parameters when saving, naming the one at fault', async () => {
    const bad = async (params: unknown[]) =>
      code(scripts.create({ name: fresh(), interpreter: 'sh', content: 'x', params: params as never }, alice));
    expect(
      await bad([
        { name: 'host', type: 'string' },
        { name: 'HOST', type: 'string' },
      ]),
    ).toBe("E_BAD_ARGS: parameter 'HOST' is declared twice (names ignore case)");
    expect(await bad([{ name: 'n', type: 'integer', pattern: '\\d+' }])).toBe(
      "E_BAD_ARGS: parameter 'n': only string parameters take a pattern",
    );
    expect(await bad([{ name: 'p', type: 'string', pattern: '(' }])).toBe(
      "E_BAD_ARGS: parameter 'p': pattern is not a valid regular expression",
    );
    expect(await bad([{ name: 'r', type: 'string', required: true, default: 'x' }])).toBe(
      "E_BAD_ARGS: parameter 'r' is required, so it cannot have a default",
    );
    expect(await bad([{ name: 'count', type: 'integer', default: 'many' }])).toBe(
      "E_BAD_ARGS: parameter 'count' must be an integer",
    );
    expect(await bad([{ name: 'mode', type: 'string', pattern: 'fast|slow', default: 'medium' }])).toBe(
      "E_BAD_ARGS: parameter 'mode' does not match its pattern fast|slow",
    );
    const ok = await scripts.create(
      {
        name: fresh(),
        interpreter: 'sh',
        content: 'x',
        params: [
          { name: 'count', type: 'integer', default: '42' },
          { name: 'dry', type: 'boolean', default: 'false' },
        ],
      },
      alice,
    );
    expect(ok.params).toEqual([
      { name: 'count', type: 'integer', required: false, default: 42 },
      { name: 'dry', type: 'boolean', required: false, default: false },
    ]);
  });

  it('binds run values to OUTPOST_PARAM_* and positional args, with defaults, never into the text', async () => {
    const name = fresh();
    const content = 'echo "$OUTPOST_PARAM_HOST"';
    await scripts.create(
      {
        name,
        interpreter: 'bash',
        content,
        params: [
          { name: 'host', type: 'string', required: true, pattern: '[a-z0-9.-]+' },
          { name: 'count', type: 'integer', default: 3 },
          { name: 'verbose', type: 'boolean' },
          { name: 'note', type: 'string' },
        ],
      },
      alice,
    );
    const run = await scripts.runArgs(name, { params: { host: 'gw-1.lan', verbose: 'true' }, timeoutMs: 5000 });
    expect(run).toEqual({
      version: 1,
      args: {
        script: content,
        interpreter: 'bash',
        args: ['gw-1.lan', '3', 'true', ''],
        env: {
          OUTPOST_PARAM_HOST: 'gw-1.lan',
          OUTPOST_PARAM_COUNT: '3',
          OUTPOST_PARAM_VERBOSE: 'true',
          OUTPOST_SCRIPT_NAME: name,
          OUTPOST_SCRIPT_VERSION: '1',
        },
        timeoutMs: 5000,
      },
    });
    const fails = (params: Record<string, unknown>) => code(scripts.runArgs(name, { params }));
    expect(await fails({})).toBe("E_BAD_ARGS: missing required parameter 'host'");
    expect(await fails({ host: 'a', colour: 'red' })).toBe(
      "E_BAD_ARGS: unknown parameter 'colour' (the script declares: host, count, verbose, note)",
    );
    expect(await fails({ host: 'a; rm -rf /' })).toBe(
      "E_BAD_ARGS: parameter 'host' does not match its pattern [a-z0-9.-]+",
    );
    expect(await fails({ host: 'a', count: '3.5' })).toBe("E_BAD_ARGS: parameter 'count' must be an integer");
    expect(await fails({ host: 'a', verbose: 'yes' })).toBe("E_BAD_ARGS: parameter 'verbose' must be true or false");
    expect(await fails({ host: 'a', note: 7 })).toBe("E_BAD_ARGS: parameter 'note' must be a string");
    expect(await fails({ host: 'a', note: 'a\u0000b' })).toBe(
      "E_BAD_ARGS: parameter 'note' must not contain NUL bytes",
    );
    expect(await code(scripts.runArgs(name, { version: 2 }))).toBe(`E_NOT_FOUND: script '${name}' has no version 2`);
    expect(await code(scripts.runArgs('no-such-script', {}))).toBe("E_NOT_FOUND: script 'no-such-script' not found");
  });

  it('runs the version asked for, and deletes a script with all its versions', async () => {
    const name = fresh();
    await scripts.create({ name, interpreter: 'sh', content: 'echo old' }, alice);
    await scripts.update(name, { content: 'echo new', params: [{ name: 'x', type: 'string' }] }, alice);
    expect((await scripts.runArgs(name, { version: 1 })).args).toMatchObject({ script: 'echo old', args: [] });
    expect((await scripts.runArgs(name, {})).args).toMatchObject({ script: 'echo new', args: [''] });

    const removed = await scripts.remove(name, alice);
    expect(removed).toMatchObject({ name, version: 2 });
    expect(await code(scripts.get(name))).toBe(`E_NOT_FOUND: script '${name}' not found`);
    expect(await code(scripts.versions(name))).toBe(`E_NOT_FOUND: script '${name}' not found`);
    const db = stores[store] as Db;
    const orphans = await db
      .selectFrom('script_versions')
      .select('version')
      .where('content', 'in', ['echo old', 'echo new'])
      .execute();
    expect(orphans).toEqual([]);
    // The name is free again, and its history starts over.
    expect((await scripts.create({ name, interpreter: 'sh', content: 'echo again' }, alice)).version).toBe(1);
  });
});
