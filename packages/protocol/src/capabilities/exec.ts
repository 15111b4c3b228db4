/**
 * `exec/run`: run a program by argv (no shell), a script only with an explicit
 * `shell: true`, or a script file run by an explicitly named interpreter.
 */
import { type Static, Type } from '@sinclair/typebox';

const strict = { additionalProperties: false } as const;
const Arg = Type.String({ maxLength: 8192 });

const Common = {
  cwd: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
  env: Type.Optional(
    Type.Record(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,127}$' }), Type.String({ maxLength: 32768 }), {
      additionalProperties: false,
      maxProperties: 256,
    }),
  ),
  /** Written to the program's stdin, then stdin is closed. */
  stdin: Type.Optional(Type.String({ maxLength: 256 * 1024 })),
  /** Kill the whole process group after this many ms (default 60 000). */
  timeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 24 * 3600 * 1000 })),
  /** Output cap (stdout + stderr) in bytes; beyond it output is dropped and `truncated` set. */
  maxOutputBytes: Type.Optional(Type.Integer({ minimum: 0, maximum: 64 * 1024 * 1024 })),
};

/** The interpreters a script may name; the agent looks each up on its PATH. */
export const SCRIPT_INTERPRETERS = ['sh', 'bash', 'python3', 'node'] as const;
export const ScriptInterpreter = Type.Union(SCRIPT_INTERPRETERS.map((i) => Type.Literal(i)));
export type ScriptInterpreter = (typeof SCRIPT_INTERPRETERS)[number];

/** The most bytes of script text a command can carry (the agent writes it to a file). */
export const MAX_SCRIPT_BYTES = 256 * 1024;

export const ExecArgs = Type.Union([
  Type.Object({ argv: Type.Array(Arg, { minItems: 1, maxItems: 1024 }), ...Common }, strict),
  Type.Object(
    { script: Type.String({ minLength: 1, maxLength: 256 * 1024 }), shell: Type.Literal(true), ...Common },
    strict,
  ),
  // The script goes to a private temporary file run as `interpreter FILE ...args`: never a
  // `-c` string, so stdin stays the script's own and args reach it as $1... / sys.argv[1:].
  Type.Object(
    {
      script: Type.String({ minLength: 1, maxLength: MAX_SCRIPT_BYTES }),
      interpreter: ScriptInterpreter,
      args: Type.Optional(Type.Array(Arg, { maxItems: 1024 })),
      ...Common,
    },
    strict,
  ),
]);
export type ExecArgs = Static<typeof ExecArgs>;

export const ExecResult = Type.Object(
  {
    exitCode: Type.Union([Type.Integer(), Type.Null()]),
    signal: Type.Union([Type.String(), Type.Null()]),
    /** Captured output, UTF-8 decoded, up to the cap; the full bytes went out as `out` chunks. */
    stdout: Type.String(),
    stderr: Type.String(),
    truncated: Type.Boolean(),
    timedOut: Type.Boolean(),
    durationMs: Type.Integer({ minimum: 0 }),
  },
  strict,
);
export type ExecResult = Static<typeof ExecResult>;
