/** Locates files the CLI ships with or drives: its own package.json (for the version) and the agent's entry. */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let version: string | undefined;

/** The directory holding @outpost/cli's package.json (one level above src/ or dist/). */
export function cliPackageDir(): string {
  return dirname(dirname(fileURLToPath(import.meta.url)));
}

export function cliVersion(): string {
  if (version === undefined) {
    try {
      const pkg = JSON.parse(readFileSync(join(cliPackageDir(), 'package.json'), 'utf8')) as { version?: unknown };
      version = typeof pkg.version === 'string' ? pkg.version : '0.0.0';
    } catch {
      version = '0.0.0';
    }
  }
  return version;
}

/** The agent's bin script: `$OUTPOST_AGENT_BIN`, else the workspace sibling, else the installed package. */
export function agentBinPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.OUTPOST_AGENT_BIN) return env.OUTPOST_AGENT_BIN;
  const candidates = [
    join(cliPackageDir(), '..', 'agent', 'bin', 'outpost-agent.js'),
    join(cliPackageDir(), 'node_modules', '@outpost', 'agent', 'bin', 'outpost-agent.js'),
    join(cliPackageDir(), '..', '..', 'node_modules', '@outpost', 'agent', 'bin', 'outpost-agent.js'),
  ];
  return candidates.find((p) => existsSync(p)) ?? (candidates[0] as string);
}
