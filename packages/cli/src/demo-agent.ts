/** The demo's device: one real `outpost-agent` child process, its state dir, its log and its clean stop. */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CliError } from './errors.js';

export interface DemoAgentOptions {
  agentBin: string;
  /** e.g. mqtts://localhost:8883 */
  broker: string;
  caFile: string;
  stateDir: string;
  logFile: string;
  /** Enrollment token; omitted when the state dir already holds an identity. */
  enrollToken?: string;
}

export function identityFile(stateDir: string): string {
  return join(stateDir, 'identity.json');
}

export function hasIdentity(stateDir: string): boolean {
  return existsSync(identityFile(stateDir));
}

/** The device id the agent saved after enrolling, or undefined before that (the secret is not read out). */
export async function enrolledDeviceId(stateDir: string): Promise<string | undefined> {
  try {
    const v = JSON.parse(await readFile(identityFile(stateDir), 'utf8')) as { deviceId?: unknown };
    return typeof v.deviceId === 'string' ? v.deviceId : undefined;
  } catch {
    return undefined;
  }
}

/** What the demo agent runs to reboot or shut down: nothing (the agent logs the request). */
export const DEMO_POWER_COMMAND = '/bin/true';

/** The argv after `node`: the agent's bin and its flags (never the token: argv is visible in ps). */
export function agentArgv(o: DemoAgentOptions): string[] {
  return [o.agentBin, '--server', o.broker, '--ca', o.caFile, '--state-dir', o.stateDir];
}

/** The agent's environment: the enrollment token travels here, not on the command line. */
export function agentEnv(o: DemoAgentOptions, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env = { ...base };
  delete env.OUTPOST_AGENT_ENROLL_TOKEN;
  if (o.enrollToken) env.OUTPOST_AGENT_ENROLL_TOKEN = o.enrollToken;
  // The demo device is this computer: `outpost reboot` on it must not reboot it (docs/processes-services-power.md).
  env.OUTPOST_AGENT_POWER_COMMAND ||= DEMO_POWER_COMMAND;
  return env;
}

export class DemoAgent {
  readonly child: ChildProcess;
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly exited: Promise<void>;

  private constructor(child: ChildProcess) {
    this.child = child;
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        resolve();
      });
    });
  }

  /** Spawns the agent with stdout and stderr appended to the log file. */
  static async start(o: DemoAgentOptions): Promise<DemoAgent> {
    if (!existsSync(o.agentBin)) {
      throw new CliError(`the agent is not at ${o.agentBin}; build it with \`npm run build\``);
    }
    await mkdir(o.stateDir, { recursive: true, mode: 0o700 });
    const log = openSync(o.logFile, 'a');
    try {
      const child = spawn(process.execPath, agentArgv(o), { stdio: ['ignore', log, log], env: agentEnv(o) });
      const agent = new DemoAgent(child);
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', resolve);
        child.once('error', (err) => reject(new CliError(`cannot start the demo agent: ${err.message}`)));
      });
      return agent;
    } finally {
      closeSync(log);
    }
  }

  /** A description of how the agent ended, or undefined while it runs. */
  get exit(): string | undefined {
    const e = this.exitInfo;
    if (!e) return undefined;
    return e.signal ? `killed by ${e.signal}` : `exit code ${e.code}`;
  }

  onExit(listener: (how: string) => void): void {
    void this.exited.then(() => listener(this.exit ?? 'exited'));
  }

  /** SIGTERM, then SIGKILL if it has not gone after `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    if (this.exitInfo) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    try {
      await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}
