/**
 * `outpost-agent` command-line entry: parses flags/env/config, starts the agent,
 * and turns SIGTERM/SIGINT into a clean stop (offline status, exit 0). Problems
 * the user must fix print one line and exit 2.
 */
import { type AgentHandle, startAgent } from './agent.js';
import { ConfigError, resolveConfig } from './config.js';
import { EnrollmentRejected } from './enroll.js';
import { createLogger } from './log.js';
import { LineRing, ringSink } from './log-ring.js';
import { USAGE } from './usage.js';
import { AGENT_VERSION } from './version.js';

/** Hard limit for a stop; past it the process exits anyway. */
const STOP_DEADLINE_MS = 10_000;

function fail(message: string): number {
  process.stderr.write(`outpost-agent: ${message}\n`);
  return 2;
}

export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  let cli: ReturnType<typeof resolveConfig>;
  try {
    cli = resolveConfig(argv, env);
  } catch (err) {
    if (err instanceof ConfigError) return fail(err.message);
    throw err;
  }
  if (cli.action === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (cli.action === 'version') {
    process.stdout.write(`${AGENT_VERSION}\n`);
    return 0;
  }
  const { config } = cli;
  // Every record also goes to an in-memory ring, for `logs/read` source `agent`; stderr output is unchanged.
  const agentLog = new LineRing(config.agentLogBytes);
  const log = createLogger({ level: config.logLevel, sink: ringSink(agentLog) });

  process.on('unhandledRejection', (reason) => {
    // Every promise the agent starts is handled; if one slips through, keep serving and say so.
    log.error('unhandled promise rejection', { err: reason });
  });

  const controller = new AbortController();
  let handle: AgentHandle | undefined;
  let resolveStopped: (code: number) => void = () => {};
  const stopped = new Promise<number>((resolve) => {
    resolveStopped = resolve;
  });
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    log.info('signal received; stopping', { signal });
    setTimeout(() => {
      log.warn('stop took too long; exiting');
      resolveStopped(0);
    }, STOP_DEADLINE_MS).unref();
    controller.abort(new Error(`stopped by ${signal}`));
    if (handle) {
      handle.stop().then(
        () => resolveStopped(0),
        (err: unknown) => {
          log.error('error while stopping', { err });
          resolveStopped(1);
        },
      );
    }
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  try {
    handle = await startAgent(config, { log, agentLog, signal: controller.signal });
  } catch (err) {
    if (stopping) return 0;
    if (err instanceof ConfigError || err instanceof EnrollmentRejected) return fail(err.message);
    log.error('agent failed to start', { err });
    return 1;
  }
  if (stopping) {
    await handle.stop();
    return 0;
  }
  return stopped;
}

main(process.argv.slice(2), process.env).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`outpost-agent: unexpected error: ${(err as Error)?.message ?? String(err)}\n`);
    process.exit(1);
  },
);
