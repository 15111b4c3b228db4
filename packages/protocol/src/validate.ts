/** One Ajv instance and a compiled-validator cache; every edge validates through here. */
import type { Static, TSchema } from '@sinclair/typebox';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { OutpostError } from './errors.js';

// Ajv's ESM typing exports the class as a named export in v8.
const ajv = new Ajv({ allErrors: false, strict: false, coerceTypes: false, useDefaults: false });
const cache = new WeakMap<TSchema, ValidateFunction>();

function compiled(schema: TSchema): ValidateFunction {
  let fn = cache.get(schema);
  if (!fn) {
    fn = ajv.compile(schema);
    cache.set(schema, fn);
  }
  return fn;
}

function describe(errors: ErrorObject[] | null | undefined): string {
  const e = errors?.[0];
  if (!e) return 'invalid value';
  const where = e.instancePath || '(root)';
  if (e.keyword === 'additionalProperties') {
    return `${where}: unknown field '${String((e.params as { additionalProperty?: string }).additionalProperty)}'`;
  }
  if (e.keyword === 'required') {
    return `${where}: missing field '${String((e.params as { missingProperty?: string }).missingProperty)}'`;
  }
  return `${where}: ${e.message ?? 'invalid'}`;
}

/** True when value matches schema. */
export function check<T extends TSchema>(schema: T, value: unknown): value is Static<T> {
  return compiled(schema)(value) as boolean;
}

/** Returns value typed by schema, or throws E_BAD_ARGS naming the first bad field. */
export function parse<T extends TSchema>(schema: T, value: unknown, what = 'value'): Static<T> {
  const fn = compiled(schema);
  if (!fn(value)) throw new OutpostError('E_BAD_ARGS', `invalid ${what}: ${describe(fn.errors)}`);
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
