/**
 * Declared script parameters: checking a declaration when a script is saved, and
 * checking the values of a run against it. Values reach the script only as
 * environment variables (`OUTPOST_PARAM_<NAME>`) and positional arguments, never
 * inside its text (docs/scripts.md §Parameters).
 */
import { type api, OutpostError } from '@outpost/protocol';

type Param = api.ScriptParameter;

/** The environment variable a parameter arrives in. */
export const paramEnvName = (name: string): string => `OUTPOST_PARAM_${name.toUpperCase()}`;

const INTEGER_TEXT = /^-?\d{1,15}$/;

function wholeMatch(pattern: string, name: string): RegExp {
  try {
    return new RegExp(`^(?:${pattern})$`, 'u');
  } catch {
    throw new OutpostError('E_BAD_ARGS', `parameter '${name}': pattern is not a valid regular expression`, {
      param: name,
    });
  }
}

/** A value as the text the script receives, or E_BAD_ARGS naming the parameter. */
export function paramText(param: Param, value: unknown): string {
  const bad = (why: string) =>
    new OutpostError('E_BAD_ARGS', `parameter '${param.name}' ${why}`, { param: param.name });
  let text: string;
  switch (param.type) {
    case 'string':
      if (typeof value !== 'string') throw bad('must be a string');
      if (value.includes('\u0000')) throw bad('must not contain NUL bytes');
      text = value;
      break;
    case 'integer':
      if (typeof value === 'number' && Number.isSafeInteger(value)) text = String(value);
      else if (typeof value === 'string' && INTEGER_TEXT.test(value.trim())) text = String(Number(value.trim()));
      else throw bad('must be an integer');
      break;
    case 'boolean':
      if (typeof value === 'boolean') text = String(value);
      else if (value === 'true' || value === 'false') text = value;
      else throw bad('must be true or false');
      break;
  }
  if (param.pattern !== undefined && !wholeMatch(param.pattern, param.name).test(text)) {
    throw bad(`does not match its pattern ${param.pattern}`);
  }
  return text;
}

/** The value in its declared JSON type (`"42"` → 42 for an integer), for storing a default. */
function typedValue(param: Param, text: string): string | number | boolean {
  if (param.type === 'integer') return Number(text);
  if (param.type === 'boolean') return text === 'true';
  return text;
}

/**
 * Checks a declaration and returns it normalized (defaults in their declared type,
 * `required` always present). Names must differ even ignoring case: they become
 * uppercase environment variable names.
 */
export function checkParamDeclarations(params: readonly Param[]): Param[] {
  const seen = new Set<string>();
  return params.map((p) => {
    const key = p.name.toUpperCase();
    if (seen.has(key)) {
      throw new OutpostError('E_BAD_ARGS', `parameter '${p.name}' is declared twice (names ignore case)`, {
        param: p.name,
      });
    }
    seen.add(key);
    if (p.pattern !== undefined) {
      if (p.type !== 'string') {
        throw new OutpostError('E_BAD_ARGS', `parameter '${p.name}': only string parameters take a pattern`, {
          param: p.name,
        });
      }
      wholeMatch(p.pattern, p.name);
    }
    const required = p.required ?? false;
    const out: Param = { name: p.name, type: p.type, required };
    if (p.description !== undefined) out.description = p.description;
    if (p.pattern !== undefined) out.pattern = p.pattern;
    if (p.default !== undefined) {
      if (required) {
        throw new OutpostError('E_BAD_ARGS', `parameter '${p.name}' is required, so it cannot have a default`, {
          param: p.name,
        });
      }
      out.default = typedValue(p, paramText(p, p.default));
    }
    return out;
  });
}

export interface BoundParams {
  /** `OUTPOST_PARAM_<NAME>` for each parameter given or defaulted. */
  env: Record<string, string>;
  /** Every declared parameter in order, `''` for one neither given nor defaulted. */
  args: string[];
}

/** Checks the values of a run against the declaration: unknown, missing and ill-typed ones are E_BAD_ARGS. */
export function bindParams(declared: readonly Param[], given: Readonly<Record<string, unknown>>): BoundParams {
  const known = new Set(declared.map((p) => p.name));
  for (const name of Object.keys(given)) {
    if (!known.has(name)) {
      const list = declared.length > 0 ? declared.map((p) => p.name).join(', ') : 'none';
      throw new OutpostError('E_BAD_ARGS', `unknown parameter '${name}' (the script declares: ${list})`, {
        param: name,
      });
    }
  }
  const env: Record<string, string> = {};
  const args: string[] = [];
  for (const p of declared) {
    const value = Object.hasOwn(given, p.name) ? given[p.name] : p.default;
    if (value === undefined) {
      if (p.required) {
        throw new OutpostError('E_BAD_ARGS', `missing required parameter '${p.name}'`, { param: p.name });
      }
      args.push('');
      continue;
    }
    const text = paramText(p, value);
    env[paramEnvName(p.name)] = text;
    args.push(text);
  }
  return { env, args };
}
