/** One Ajv instance and a compiled-validator cache; every edge validates through here. */
import type { Static, TSchema } from '@sinclair/typebox';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { OutpostError } from './errors.js';

// Ajv's ESM typing exports the class as a named export in v8.
// validateSchema off: the schemas given here are TypeBox constants written in code, and
// validate.test.ts checks every one the protocol exports against the JSON Schema meta-schema;
// checking again at run time would compile the meta-schema's own validator in every agent and
// server process (about 0.5 MB of heap; docs/decisions.md, "The agent's footprint").
// Validators are compiled on first use of a schema and cached.
const ajv = new Ajv({
  allErrors: false,
  strict: false,
  coerceTypes: false,
  useDefaults: false,
  validateSchema: false,
});
const cache = new WeakMap<TSchema, ValidateFunction>();

function compiled(schema: TSchema): ValidateFunction {
  let fn = cache.get(schema);
  if (!fn) {
    fn = ajv.compile(schema);
    cache.set(schema, fn);
  }
  return fn;
}

const clip = (s: string, n = 100): string => (s.length > n ? `${s.slice(0, n)}…` : s);

function describe(errors: ErrorObject[] | null | undefined): string {
  const e = errors?.[0];
  if (!e) return 'invalid value';
  const where = clip(e.instancePath || '(root)', 200);
  if (e.keyword === 'additionalProperties') {
    return `${where}: unknown field '${clip(String((e.params as { additionalProperty?: string }).additionalProperty))}'`;
  }
  if (e.keyword === 'required') {
    return `${where}: missing field '${clip(String((e.params as { missingProperty?: string }).missingProperty))}'`;
  }
  if (e.keyword === 'enum') {
    const allowed = (e.params as { allowedValues?: unknown[] }).allowedValues ?? [];
    return `${where}: must be one of ${allowed.map((v) => JSON.stringify(v)).join(', ')}`;
  }
  return `${where}: ${e.message ?? 'invalid'}`;
}

/**
 * For a union (anyOf) Ajv reports the first branch's errors, which names a field
 * the sender never meant. Pick the branch the value most resembles: literal
 * fields that match (e.g. `ok: false`, `shell: true`) weigh most, then shared keys.
 */
function closestBranch(schema: TSchema, value: unknown): TSchema | null {
  const branches = (schema as { anyOf?: TSchema[] }).anyOf;
  if (!branches || typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const keys = Object.keys(value);
  let best: TSchema | null = null;
  let bestScore = Number.NEGATIVE_INFINITY;
  for (const b of branches) {
    const props = (b as { properties?: Record<string, { const?: unknown }> }).properties ?? {};
    let score = 0;
    for (const k of keys) {
      const p = props[k];
      if (!p) continue;
      score += 1;
      if ('const' in p) score += p.const === (value as Record<string, unknown>)[k] ? 10 : -10;
    }
    if (score > bestScore) {
      best = b;
      bestScore = score;
    }
  }
  return best;
}

function explain(schema: TSchema, value: unknown, fn: ValidateFunction): string {
  const branch = closestBranch(schema, value);
  if (branch) {
    const bfn = compiled(branch);
    if (!bfn(value)) return describe(bfn.errors);
  }
  return describe(fn.errors);
}

/** True when value matches schema. */
export function check<T extends TSchema>(schema: T, value: unknown): value is Static<T> {
  return compiled(schema)(value) as boolean;
}

/** Returns value typed by schema, or throws E_BAD_ARGS naming the first bad field. */
export function parse<T extends TSchema>(schema: T, value: unknown, what = 'value'): Static<T> {
  const fn = compiled(schema);
  if (!fn(value)) throw new OutpostError('E_BAD_ARGS', `invalid ${what}: ${explain(schema, value, fn)}`);
  return value as Static<T>;
}

/** Parses a JSON payload (Buffer or string) and validates it; malformed JSON is E_BAD_ARGS too. */
export function parseJson<T extends TSchema>(schema: T, payload: Buffer | string, what = 'message'): Static<T> {
  let value: unknown;
  try {
    value = JSON.parse(typeof payload === 'string' ? payload : payload.toString('utf8'));
  } catch {
    throw new OutpostError('E_BAD_ARGS', `invalid ${what}: malformed JSON`);
  }
  return parse(schema, value, what);
}
