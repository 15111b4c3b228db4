/**
 * The files capability against a real file system: a temp directory is the only
 * root, a second one is "outside". Every action is driven the way the router
 * drives it (args validated against the catalogue, result checked against its
 * schema), including the hostile paths: `..`, NUL, relative paths, symlinks out
 * of the root (as an intermediate and as the final component), special files.
 */
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CommandName, check, commands, OutpostError, parse } from '@outpost/protocol';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { agentConfig } from '../config.js';
import { silentLogger } from '../log.js';
import type { Capability, CommandContext } from './capability.js';
import { createFilesCapability } from './files.js';

const base = realpathSync(mkdtempSync(join(tmpdir(), 'outpost-files-')));
const root = join(base, 'root');
const outside = join(base, 'outside');
afterAll(() => rmSync(base, { recursive: true, force: true }));

let cap: Capability;
function ctx(): CommandContext {
  return {
    commandId: 'c1',
    emit: () => {},
    signal: new AbortController().signal,
    log: silentLogger,
    config: agentConfig({ stateDir: join(base, 'state'), fileRoots: [root] }),
  };
}

/** Runs an action as the router does; resolves with its result or rejects with its OutpostError. */
export async function run(capability: Capability, name: CommandName, args: unknown, c = ctx()): Promise<any> {
  const spec = commands[name];
  const handler = capability.actions[name.split('/')[1] ?? ''];
  if (!handler) throw new Error(`${name} missing`);
  const result = await handler(parse(spec.args, args, 'args'), c);
  expect(check(spec.result, result), `${name} result matches the protocol schema`).toBe(true);
  return result;
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'resolved';
  } catch (err) {
    if (!(err instanceof OutpostError)) throw err;
    return err.code;
  }
}

beforeEach(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
  mkdirSync(join(root, 'dir/sub'), { recursive: true });
  mkdirSync(outside, { recursive: true });
  writeFileSync(join(root, 'a.txt'), 'hello');
  writeFileSync(join(root, 'dir/b.txt'), 'bee');
  writeFileSync(join(outside, 'secret'), 'top secret');
  symlinkSync(outside, join(root, 'escape'));
  symlinkSync(join(outside, 'secret'), join(root, 'secret-link'));
  symlinkSync(join(root, 'dir'), join(root, 'dir-link'));
  execFileSync('mkfifo', [join(root, 'pipe')]);
  cap = createFilesCapability();
});

describe('paths', () => {
  it('refuses relative paths, `..` and NUL bytes with E_BAD_ARGS', async () => {
    expect(await code(run(cap, 'files/stat', { path: `${root}/../outside/secret` }))).toBe('E_BAD_ARGS');
    expect(await code(run(cap, 'files/stat', { path: `${root}/a.txt\0` }))).toBe('E_BAD_ARGS');
    await expect(run(cap, 'files/stat', { path: 'a.txt' })).rejects.toThrow(/must match pattern/);
  });

  it('refuses paths outside the roots, directly and through a symlink in the middle', async () => {
    expect(await code(run(cap, 'files/stat', { path: join(outside, 'secret') }))).toBe('E_DENIED');
    expect(await code(run(cap, 'files/stat', { path: join(root, 'escape/secret') }))).toBe('E_DENIED');
    expect(await code(run(cap, 'files/list', { path: join(root, 'escape') }))).toBe('E_DENIED');
    expect(await code(run(cap, 'files/list', { path: '/' }))).toBe('E_DENIED');
  });

  it('an agent with no usable root refuses every path', async () => {
    const c = ctx();
    const none: CommandContext = { ...c, config: agentConfig({ stateDir: join(base, 'state'), fileRoots: [] }) };
    await expect(run(createFilesCapability(), 'files/list', { path: root }, none)).rejects.toThrow(/disabled/);
  });
});

describe('files/list and files/stat', () => {
  it('lists a directory sorted by name, describing symlinks and special files without following them', async () => {
    const r = await run(cap, 'files/list', { path: `${root}/` });
    expect(r.path).toBe(root);
    expect(r.type).toBe('dir');
    expect(r.entries.map((e: any) => e.name)).toEqual(['a.txt', 'dir', 'dir-link', 'escape', 'pipe', 'secret-link']);
    const by = Object.fromEntries(r.entries.map((e: any) => [e.name, e]));
    expect(by['a.txt']).toMatchObject({ type: 'file', size: 5, mode: statSync(join(root, 'a.txt')).mode & 0o7777 });
    expect(by.escape).toMatchObject({ type: 'symlink', target: outside });
    expect(by.pipe.type).toBe('fifo');
    expect(r).toMatchObject({ total: 6, next: null });
  });

  it('pages with offset and limit', async () => {
    const p1 = await run(cap, 'files/list', { path: root, limit: 4 });
    expect(p1.entries).toHaveLength(4);
    expect(p1.next).toBe(4);
    const p2 = await run(cap, 'files/list', { path: root, offset: p1.next, limit: 4 });
    expect(p2.entries.map((e: any) => e.name)).toEqual(['pipe', 'secret-link']);
    expect(p2.next).toBeNull();
  });

  it('lists a file as itself, and a symlink to a directory inside the root as that directory', async () => {
    const f = await run(cap, 'files/list', { path: join(root, 'a.txt') });
    expect(f).toMatchObject({ type: 'file', total: 1, entries: [{ name: 'a.txt', size: 5 }] });
    const l = await run(cap, 'files/list', { path: join(root, 'dir-link') });
    expect(l.entries.map((e: any) => e.name)).toEqual(['b.txt', 'sub']);
    // The link itself is in the root, its target is not: described, never followed.
    const s = await run(cap, 'files/list', { path: join(root, 'secret-link') });
    expect(s.entries).toEqual([expect.objectContaining({ type: 'symlink', size: expect.any(Number) })]);
  });

  it('stats a root, a file and a symlink (not followed); a missing path is E_NOT_FOUND', async () => {
    expect((await run(cap, 'files/stat', { path: root })).entry.type).toBe('dir');
    expect((await run(cap, 'files/stat', { path: join(root, 'dir/b.txt') })).entry).toMatchObject({ size: 3 });
    const link = await run(cap, 'files/stat', { path: join(root, 'secret-link') });
    expect(link.entry).toMatchObject({ type: 'symlink', target: join(outside, 'secret') });
    expect(await code(run(cap, 'files/stat', { path: join(root, 'nope') }))).toBe('E_NOT_FOUND');
  });
});

describe('files/mkdir', () => {
  it('makes one directory with the exact mode; an existing one is E_CONFLICT', async () => {
    const r = await run(cap, 'files/mkdir', { path: join(root, 'new'), mode: 0o700 });
    expect(r).toEqual({ path: join(root, 'new'), created: true });
    expect(statSync(join(root, 'new')).mode & 0o7777).toBe(0o700);
    expect(await code(run(cap, 'files/mkdir', { path: join(root, 'new') }))).toBe('E_CONFLICT');
    expect(await code(run(cap, 'files/mkdir', { path: join(root, 'x/y') }))).toBe('E_NOT_FOUND');
  });

  it('recursive makes the parents and accepts an existing directory', async () => {
    const r = await run(cap, 'files/mkdir', { path: join(root, 'p/q/r'), recursive: true, mode: 0o750 });
    expect(r.created).toBe(true);
    expect(statSync(join(root, 'p/q')).mode & 0o7777).toBe(0o750);
    expect((await run(cap, 'files/mkdir', { path: join(root, 'p/q/r'), recursive: true })).created).toBe(false);
    expect((await run(cap, 'files/mkdir', { path: root, recursive: true })).created).toBe(false);
  });

  it('never makes anything outside a root, through a symlink or not', async () => {
    expect(await code(run(cap, 'files/mkdir', { path: join(root, 'escape/evil') }))).toBe('E_DENIED');
    expect(await code(run(cap, 'files/mkdir', { path: join(root, 'escape/e/v'), recursive: true }))).toBe('E_DENIED');
    expect(await code(run(cap, 'files/mkdir', { path: join(outside, 'evil'), recursive: true }))).toBe('E_DENIED');
    expect(readdirSync(outside)).toEqual(['secret']);
  });
});

describe('files/delete', () => {
  it('deletes files and empty directories; a full one only with recursive', async () => {
    expect(await run(cap, 'files/delete', { path: join(root, 'a.txt') })).toEqual({
      path: join(root, 'a.txt'),
      type: 'file',
    });
    expect(await code(run(cap, 'files/delete', { path: join(root, 'dir') }))).toBe('E_CONFLICT');
    await run(cap, 'files/delete', { path: join(root, 'dir/sub') });
    await run(cap, 'files/delete', { path: join(root, 'dir'), recursive: true });
    expect(existsSync(join(root, 'dir'))).toBe(false);
    expect(await code(run(cap, 'files/delete', { path: join(root, 'a.txt') }))).toBe('E_NOT_FOUND');
  });

  it('deletes a symlink itself, never its target; refuses roots, special files and escapes', async () => {
    expect((await run(cap, 'files/delete', { path: join(root, 'escape'), recursive: true })).type).toBe('symlink');
    expect(readFileSync(join(outside, 'secret'), 'utf8')).toBe('top secret');
    symlinkSync(outside, join(root, 'escape'));
    expect(await code(run(cap, 'files/delete', { path: join(root, 'escape/secret') }))).toBe('E_DENIED');
    expect(await code(run(cap, 'files/delete', { path: root, recursive: true }))).toBe('E_DENIED');
    expect(await code(run(cap, 'files/delete', { path: join(root, 'pipe') }))).toBe('E_DENIED');
    expect(await code(run(cap, 'files/delete', { path: join(outside, 'secret') }))).toBe('E_DENIED');
    expect(existsSync(join(outside, 'secret'))).toBe(true);
  });
});

describe('files/move', () => {
  it('renames, and replaces an existing target only with overwrite', async () => {
    const r = await run(cap, 'files/move', { from: join(root, 'a.txt'), to: join(root, 'dir/a2.txt') });
    expect(r).toEqual({ from: join(root, 'a.txt'), to: join(root, 'dir/a2.txt'), type: 'file' });
    expect(readFileSync(join(root, 'dir/a2.txt'), 'utf8')).toBe('hello');
    const clash = { from: join(root, 'dir/a2.txt'), to: join(root, 'dir/b.txt') };
    expect(await code(run(cap, 'files/move', clash))).toBe('E_CONFLICT');
    await run(cap, 'files/move', { ...clash, overwrite: true });
    expect(readFileSync(join(root, 'dir/b.txt'), 'utf8')).toBe('hello');
  });

  it('refuses to move out of, into or from outside a root, a root itself, or a directory into itself', async () => {
    const a = join(root, 'a.txt');
    expect(await code(run(cap, 'files/move', { from: a, to: join(outside, 'a') }))).toBe('E_DENIED');
    expect(await code(run(cap, 'files/move', { from: a, to: join(root, 'escape/a') }))).toBe('E_DENIED');
    expect(await code(run(cap, 'files/move', { from: join(outside, 'secret'), to: a }))).toBe('E_DENIED');
    expect(await code(run(cap, 'files/move', { from: join(root, 'escape/secret'), to: a }))).toBe('E_DENIED');
    expect(await code(run(cap, 'files/move', { from: root, to: join(root, 'r') }))).toBe('E_DENIED');
    expect(await code(run(cap, 'files/move', { from: a, to: root, overwrite: true }))).toBe('E_DENIED');
    expect(await code(run(cap, 'files/move', { from: join(root, 'dir'), to: join(root, 'dir/sub/x') }))).toBe(
      'E_BAD_ARGS',
    );
    expect(await code(run(cap, 'files/move', { from: join(root, 'pipe'), to: join(root, 'p2') }))).toBe('E_DENIED');
    expect(readdirSync(outside)).toEqual(['secret']);
    expect(lstatSync(a).isFile()).toBe(true);
  });
});
