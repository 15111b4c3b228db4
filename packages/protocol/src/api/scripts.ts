/**
 * The script library (`/scripts`, `/devices/:device/scripts/:name/run`): named,
 * versioned scripts with an explicit interpreter and declared parameters, run on
 * a device as an ordinary `exec/run` command (docs/scripts.md).
 */
import { type Static, Type } from '@sinclair/typebox';
import { ScriptInterpreter } from '../capabilities/exec.js';

const strict = { additionalProperties: false } as const;

/** Lowercase letters, digits, `.`, `_` and `-`, starting with a letter or digit: safe in a path and a shell. */
export const SCRIPT_NAME_PATTERN = '^[a-z0-9][a-z0-9._-]{0,63}$';
export const ScriptName = Type.String({ pattern: SCRIPT_NAME_PATTERN, description: 'e.g. `rotate-logs`' });

/** A parameter name: it becomes `OUTPOST_PARAM_<NAME>` (uppercased) in the script's environment. */
export const PARAM_NAME_PATTERN = '^[A-Za-z][A-Za-z0-9_]{0,63}$';
export const SCRIPT_PARAM_TYPES = ['string', 'integer', 'boolean'] as const;
export type ScriptParamType = (typeof SCRIPT_PARAM_TYPES)[number];

/** The longest parameter value, in characters. */
export const MAX_PARAM_VALUE_LENGTH = 4096;

/** A value given for a parameter: integers and booleans may also come as their text (`42`, `true`). */
export const ParamValue = Type.Union([
  Type.String({ maxLength: MAX_PARAM_VALUE_LENGTH }),
  Type.Integer(),
  Type.Boolean(),
]);
export type ParamValue = Static<typeof ParamValue>;

export const ScriptParameter = Type.Object(
  {
    name: Type.String({ pattern: PARAM_NAME_PATTERN }),
    description: Type.Optional(Type.String({ maxLength: 1024 })),
    type: Type.Union(SCRIPT_PARAM_TYPES.map((t) => Type.Literal(t))),
    required: Type.Optional(Type.Boolean()),
    default: Type.Optional(ParamValue),
    /** A regular expression (JavaScript, `u` flag) a string value must match as a whole. */
    pattern: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
  },
  strict,
);
export type ScriptParameter = Static<typeof ScriptParameter>;

const ScriptParams = Type.Array(ScriptParameter, { maxItems: 64 });

/** Content is capped at 256 KiB of UTF-8 (checked by the server: 413 E_TOO_LARGE beyond). */
const Content = Type.String({ minLength: 1, description: 'The script text, at most 256 KiB of UTF-8.' });
const Description = Type.String({ maxLength: 1024 });

/** What one version holds, besides who made it when. */
const versionFields = {
  name: Type.String(),
  version: Type.Integer({ minimum: 1 }),
  description: Type.String(),
  interpreter: ScriptInterpreter,
  params: Type.Array(ScriptParameter),
  /** SHA-256 of the content, lowercase hex: tells versions apart at a glance. */
  sha256: Type.String(),
  size: Type.Integer({ minimum: 0 }),
};

/** A version without its content (version lists). */
export const ScriptVersionSummary = Type.Object({
  ...versionFields,
  createdAt: Type.String(),
  createdBy: Type.Union([Type.String(), Type.Null()]),
});
export type ScriptVersionSummary = Static<typeof ScriptVersionSummary>;

/** One version in full. */
export const ScriptVersion = Type.Object({
  ...versionFields,
  content: Type.String(),
  createdAt: Type.String(),
  createdBy: Type.Union([Type.String(), Type.Null()]),
});
export type ScriptVersion = Static<typeof ScriptVersion>;

/** A script as listed: its latest version's fields, without content, and its history's ends. */
export const ScriptSummary = Type.Object({
  ...versionFields,
  createdAt: Type.String(),
  createdBy: Type.Union([Type.String(), Type.Null()]),
  updatedAt: Type.String(),
  updatedBy: Type.Union([Type.String(), Type.Null()]),
});
export type ScriptSummary = Static<typeof ScriptSummary>;

/** A script with its latest version's content. */
export const Script = Type.Object({ ...ScriptSummary.properties, content: Type.String() });
export type Script = Static<typeof Script>;

export const CreateScriptBody = Type.Object(
  {
    name: ScriptName,
    description: Type.Optional(Description),
    interpreter: ScriptInterpreter,
    content: Content,
    params: Type.Optional(ScriptParams),
  },
  strict,
);
export type CreateScriptBody = Static<typeof CreateScriptBody>;

/** An edit: fields left out keep their value from the latest version. */
export const UpdateScriptBody = Type.Object(
  {
    description: Type.Optional(Description),
    interpreter: Type.Optional(ScriptInterpreter),
    content: Type.Optional(Content),
    params: Type.Optional(ScriptParams),
  },
  { ...strict, minProperties: 1 },
);
export type UpdateScriptBody = Static<typeof UpdateScriptBody>;

/** `:name` in a path. */
export const ScriptRef = Type.Object({ name: ScriptName }, strict);
export type ScriptRef = Static<typeof ScriptRef>;

/** `:name/versions/:version` in a path. */
export const ScriptVersionRef = Type.Object(
  { name: ScriptName, version: Type.Integer({ minimum: 1, maximum: 2 ** 31 - 1 }) },
  strict,
);
export type ScriptVersionRef = Static<typeof ScriptVersionRef>;

/** `/devices/:device/scripts/:name/run`. */
export const ScriptRunRef = Type.Object(
  { device: Type.String({ minLength: 1, maxLength: 128 }), name: ScriptName },
  strict,
);
export type ScriptRunRef = Static<typeof ScriptRunRef>;

export const RunScriptBody = Type.Object(
  {
    version: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 2 ** 31 - 1, description: 'Default: the latest version.' }),
    ),
    params: Type.Optional(
      Type.Record(Type.String({ pattern: PARAM_NAME_PATTERN }), ParamValue, {
        additionalProperties: false,
        maxProperties: 64,
      }),
    ),
    timeoutMs: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 24 * 3600 * 1000,
        description: 'Kill the script (its whole process group) after this long; default 60 000.',
      }),
    ),
    ttl: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 7 * 24 * 3600, description: 'Seconds it may wait for an offline device.' }),
    ),
  },
  strict,
);
export type RunScriptBody = Static<typeof RunScriptBody>;
