/**
 * Every envelope and command schema: valid examples pass; wrong types, unknown fields
 * and missing fields are refused with E_BAD_ARGS naming the field (docs/protocol.md §Errors).
 */
import { Kind, type TSchema } from '@sinclair/typebox';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { commandCases } from '../test/command-cases.js';
import { envelopeCases } from '../test/envelope-cases.js';
import type { Obj, SchemaCase } from '../test/schema-case.js';
import { ExecArgs } from './capabilities/exec.js';
import { commandSpec, commands } from './commands.js';
import * as envelope from './envelope.js';
import { OutpostError } from './errors.js';
import { check, parse, parseJson } from './validate.js';

function rejection(schema: TSchema, value: unknown, what?: string): OutpostError {
  expect(check(schema, value)).toBe(false);
  try {
    parse(schema, value, what);
  } catch (err) {
    expect(err).toBeInstanceOf(OutpostError);
    expect((err as OutpostError).code).toBe('E_BAD_ARGS');
    return err as OutpostError;
  }
  throw new Error(`parse accepted ${JSON.stringify(value)}`);
}

const isUnknown = (s: unknown): boolean => (s as Record<symbol, unknown>)[Kind] === 'Unknown';
const wrongTypeFor = (v: unknown): unknown => (typeof v === 'string' ? 42 : 'wrong');

function branches(schema: TSchema): Obj[] {
  return 'anyOf' in schema ? (schema.anyOf as Obj[]) : [schema as Obj];
}

/** The same assertions for every schema; union messages are checked separately below. */
function schemaSuite(name: string, c: SchemaCase): void {
  const union = 'anyOf' in c.schema;
  const bs = branches(c.schema);

  describe(name, () => {
    it('has one full example per branch', () => {
      expect(c.full).toHaveLength(bs.length);
    });

    it.each([...c.full, ...(c.valid ?? [])].map((v) => [JSON.stringify(v).slice(0, 80), v]))(
      'accepts %s',
      (_l, value) => {
        expect(check(c.schema, value)).toBe(true);
        expect(parse(c.schema, value)).toBe(value);
        expect(parseJson(c.schema, JSON.stringify(value))).toEqual(value);
        expect(parseJson(c.schema, Buffer.from(JSON.stringify(value)))).toEqual(value);
      },
    );

    it.each([null, [], 'x', 42, true])('rejects the non-object %j', (value) => {
      rejection(c.schema, value);
    });

    c.full.forEach((example, i) => {
      const branch = bs[i] as Obj;
      const label = union ? ` (branch ${i})` : '';
      const required = (branch.required as string[] | undefined) ?? [];
      const properties = (branch.properties as Record<string, unknown> | undefined) ?? {};

      it(`the full example${label} carries every property`, () => {
        expect(Object.keys(example).sort()).toEqual(Object.keys(properties).sort());
      });

      it(`rejects an unknown field${label}`, () => {
        const err = rejection(c.schema, { ...example, extra: 1 });
        if (!union) expect(err.message).toContain("unknown field 'extra'");
      });

      it.each(required)(`rejects a missing required field %s${label}`, (field) => {
        const value = { ...example };
        delete value[field];
        const err = rejection(c.schema, value);
        if (!union) expect(err.message).toContain(`missing field '${field}'`);
      });

      it.each(Object.keys(properties).filter((k) => !isUnknown(properties[k])))(
        `rejects a wrong type for %s${label}`,
        (field) => {
          const err = rejection(c.schema, { ...example, [field]: wrongTypeFor(example[field]) });
          if (!union) expect(err.message).toContain(`/${field}`);
        },
      );
    });

    it.each(c.invalid ?? [])('rejects %s', (_label, value, fragment) => {
      const err = rejection(c.schema, value);
      expect(err.message).toContain(fragment);
    });
  });
}

describe('envelope schemas', () => {
  it('every schema exported by envelope.ts has cases here', () => {
    const exported = Object.entries(envelope)
      .filter(([, v]) => typeof v === 'object' && v !== null && Kind in v)
      .map(([k]) => k);
    expect(exported.sort()).toEqual(Object.keys(envelopeCases).sort());
  });

  it('ENROLL_USERNAME is the documented user', () => {
    expect(envelope.ENROLL_USERNAME).toBe('enroll');
  });

  for (const [name, c] of Object.entries(envelopeCases)) schemaSuite(name, c);
});

describe('command schemas', () => {
  it('every command in the catalogue has cases here', () => {
    expect(Object.keys(commands).sort()).toEqual(Object.keys(commandCases).sort());
  });

  for (const [name, c] of Object.entries(commandCases)) {
    schemaSuite(`${name} args`, c.args);
    schemaSuite(`${name} result`, c.result);
  }

  it('exec args are the exported ExecArgs', () => {
    expect(commands['exec/run'].args).toBe(ExecArgs);
    expect(commands['exec/run'].streams).toBe(true);
    expect(commands['system/info'].streams).toBe(false);
  });

  it('commandSpec finds catalogue entries and nothing inherited', () => {
    expect(commandSpec('exec', 'run')).toBe(commands['exec/run']);
    expect(commandSpec('system', 'info')).toBe(commands['system/info']);
    for (const [cap, action] of [
      ['exec', 'nope'],
      ['nope', 'run'],
      ['__proto__', ''],
      ['constructor', ''],
      ['toString', ''],
      ['hasOwnProperty', ''],
      ['exec/run', ''],
      ['', 'exec/run'],
    ]) {
      expect(commandSpec(cap as string, action as string), `${cap}/${action}`).toBeUndefined();
    }
  });
});

/**
 * A union's message should name the field that is actually wrong. Today `describe()` in
 * validate.ts reports the first error of the first branch, so a user who sends a script
 * without `shell: true` reads "missing field 'argv'".
 */
describe('union errors name the offending field', () => {
  it.each([
    ['exec script without shell', ExecArgs, { script: 'ls' }, 'shell'],
    ['exec script with timeoutMs 0', ExecArgs, { script: 'ls', shell: true, timeoutMs: 0 }, '/timeoutMs'],
    [
      'response with an unknown error code',
      envelope.CommandResponse,
      { id: 'c-1', ok: false, error: { code: 'E_NOPE', message: 'x' } },
      '/error/code',
    ],
    ['enroll failure without error', envelope.EnrollResponse, { ok: false }, "missing field 'error'"],
  ] as [string, TSchema, unknown, string][])('%s', (_label, schema, value, fragment) => {
    expect(rejection(schema, value).message).toContain(fragment);
  });
});

describe('parse and parseJson', () => {
  it('name what was being parsed', () => {
    expect(rejection(envelope.DeviceStatus, { online: 1, since: 0 }, 'status').message).toBe(
      'invalid status: /online: must be boolean',
    );
    expect(rejection(envelope.DeviceStatus, {}).message).toBe("invalid value: (root): missing field 'online'");
  });

  it.each(['{', '', 'undefined', "{'a':1}", '{"online":true,}', '\u0000'])('malformed JSON %j is E_BAD_ARGS', (p) => {
    for (const payload of [p, Buffer.from(p)]) {
      let thrown: unknown;
      try {
        parseJson(envelope.DeviceStatus, payload);
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(OutpostError);
      expect((thrown as OutpostError).code).toBe('E_BAD_ARGS');
      expect((thrown as OutpostError).message).toBe('invalid message: malformed JSON');
    }
    expect(() => parseJson(envelope.DeviceStatus, p, 'status')).toThrow('invalid status: malformed JSON');
  });

  it('non-UTF-8 bytes are malformed JSON, not a crash', () => {
    expect(() => parseJson(envelope.DeviceStatus, Buffer.from([0xff, 0xfe, 0x7b]))).toThrow('malformed JSON');
  });

  it('well-formed JSON of the wrong shape names the field', () => {
    expect(() => parseJson(envelope.Telemetry, '{"ts":1}', 'telemetry')).toThrow(
      "invalid telemetry: (root): missing field 'uptime'",
    );
    expect(() => parseJson(envelope.Telemetry, 'null')).toThrow(OutpostError);
    expect(() => parseJson(envelope.Telemetry, '[]')).toThrow(OutpostError);
  });

  it('messages never echo the rejected value (it may be a secret)', () => {
    const leaked = 'hunter2-TOPSECRET';
    const msgs = [
      rejection(envelope.EnrollResponse, { ok: true, deviceId: 'd-x', secret: leaked, status: 'accepted' }),
      rejection(envelope.CommandRequest, { id: `${leaked}/x`, args: {}, ts: 0 }),
      rejection(envelope.ErrorBodySchema, { code: leaked, message: '' }),
      rejection(ExecArgs, { argv: [leaked], env: { A: 1 } }),
    ].map((e) => e.message);
    for (const m of msgs) expect(m).not.toContain('TOPSECRET');
  });

  it('does not coerce types or fill defaults', () => {
    const value = { argv: ['x'], timeoutMs: 5 };
    expect(check(ExecArgs, { argv: ['x'], timeoutMs: '5' })).toBe(false);
    expect(parse(ExecArgs, value)).toEqual({ argv: ['x'], timeoutMs: 5 });
  });
});

/** Walks a JSON Schema and returns every object-typed node with its path. */
function objectNodes(node: unknown, path = '#'): [string, Obj][] {
  if (typeof node !== 'object' || node === null) return [];
  if (Array.isArray(node)) return node.flatMap((n, i) => objectNodes(n, `${path}/${i}`));
  const s = node as Obj;
  const out: [string, Obj][] = s.type === 'object' ? [[path, s]] : [];
  for (const key of ['properties', 'patternProperties']) {
    const map = s[key] as Obj | undefined;
    if (map) for (const [k, v] of Object.entries(map)) out.push(...objectNodes(v, `${path}/${key}/${k}`));
  }
  for (const key of ['items', 'anyOf', 'oneOf', 'allOf', 'additionalProperties', 'not']) {
    if (s[key] !== undefined) out.push(...objectNodes(s[key], `${path}/${key}`));
  }
  return out;
}

/** A map with one catch-all key pattern is open by design (telemetry metrics). */
const isFreeFormMap = (s: Obj): boolean =>
  s.patternProperties !== undefined && Object.keys(s.patternProperties as Obj).join() === '^(.*)$';

describe('schemas as JSON Schema (for agents in other languages)', () => {
  const all: [string, SchemaCase][] = [
    ...Object.entries(envelopeCases).map(([n, c]) => [`envelope.${n}`, c] as [string, SchemaCase]),
    ...Object.entries(commandCases).flatMap(([n, c]): [string, SchemaCase][] => [
      [`${n} args`, c.args],
      [`${n} result`, c.result],
    ]),
  ];

  it.each(Object.entries(commands))('%s: args and result serialize and close every object', (_name, spec) => {
    for (const schema of [spec.args, spec.result]) {
      const json = JSON.parse(JSON.stringify(schema)) as unknown;
      const nodes = objectNodes(json);
      expect(nodes.length).toBeGreaterThan(0);
      for (const [path, node] of nodes) expect(node.additionalProperties, path).toBe(false);
    }
  });

  it.each(Object.keys(envelopeCases))('envelope.%s closes every object except free-form maps', (name) => {
    const json = JSON.parse(JSON.stringify(envelopeCases[name]?.schema)) as unknown;
    for (const [path, node] of objectNodes(json)) {
      if (!isFreeFormMap(node)) expect(node.additionalProperties, path).toBe(false);
    }
  });

  it.each(all)('%s: the serialized schema judges every example like the TypeBox one', (_name, c) => {
    const ajv = new Ajv({ strict: false });
    const validate = ajv.compile(JSON.parse(JSON.stringify(c.schema)) as object);
    for (const v of [...c.full, ...(c.valid ?? [])]) expect(validate(v), JSON.stringify(v)).toBe(true);
    for (const [label, v] of c.invalid ?? []) expect(validate(v), label).toBe(false);
    for (const v of c.full) expect(validate({ ...v, extra: 1 })).toBe(false);
  });
});
