/**
 * Scripts for `exec/run` with an explicit `interpreter`: finds the interpreter on
 * the PATH the program will get, and writes the script to a private temporary
 * file under the state dir (`exec-scripts/`, mode 0700; the file 0600) that the
 * interpreter runs as `INTERPRETER FILE ARGS...`. The text is never a `-c` string
 * and never passes through a shell, and stdin stays free for the script itself.
 */
import { randomBytes } from 'node:crypto';
import { accessSync, constants, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { OutpostError, type ScriptInterpreter } from '@outpost/protocol';

/** Where PATH lookups go when the environment has none (what a login shell would use). */
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The file suffix each interpreter reads its script by: node runs `.cjs` as CommonJS whatever surrounds it. */
const SUFFIX: Record<ScriptInterpreter, string> = { sh: '.sh', bash: '.bash', python3: '.py', node: '.cjs' };

const SCRIPT_DIR = 'exec-scripts';

/** State dirs whose leftover scripts (from an agent that died mid-run) this process has removed. */
const swept = new Set<string>();

function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/**
 * The interpreter's absolute path on `pathVar`; node falls back to the Node.js running
 * the agent, which every device has. E_UNSUPPORTED naming it when the device lacks it.
 */
export function findInterpreter(interpreter: ScriptInterpreter, pathVar: string | undefined): string {
  for (const dir of (pathVar ?? DEFAULT_PATH).split(delimiter)) {
    if (!dir || !isAbsolute(dir)) continue; // a relative PATH entry would depend on cwd
    const candidate = join(dir, interpreter);
    if (isExecutableFile(candidate)) return candidate;
  }
  if (interpreter === 'node') return process.execPath;
  throw new OutpostError('E_UNSUPPORTED', `interpreter ${interpreter} is not installed on this device`, {
    interpreter,
  });
}

export interface ScriptFile {
  path: string;
  /** Removes the file; safe to call more than once. */
  remove(): void;
}

/** Writes `script` to a fresh private file for `interpreter` under the state dir. */
export function writeScriptFile(stateDir: string, interpreter: ScriptInterpreter, script: string): ScriptFile {
  // Absolute: the program may run in another cwd than the agent's.
  const dir = resolve(stateDir, SCRIPT_DIR);
  if (!swept.has(stateDir)) {
    // Commands are never re-run after a restart (the journal), so anything left here is garbage.
    swept.add(stateDir);
    try {
      for (const name of readdirSync(dir)) rmSync(join(dir, name), { force: true });
    } catch {
      // No directory yet.
    }
  }
  let path: string;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    path = join(dir, `${randomBytes(12).toString('hex')}${SUFFIX[interpreter]}`);
    // 'wx': never follow or reuse an existing name.
    writeFileSync(path, script, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new OutpostError('E_INTERNAL', `could not write the script to the agent's state dir (${code})`);
  }
  const file = path;
  return { path: file, remove: () => rmSync(file, { force: true }) };
}
