/**
 * The real agent core (`startAgent` from @outpost/agent) run in-process with
 * simulated OS backends: the same connection, router, journal and enrollment
 * code as on a device, while `system` and `exec` answer from backends.ts. For
 * fidelity where the lightweight devices (device.ts) would cut corners.
 */
import { join } from 'node:path';
import {
  type AgentHandle,
  action,
  agentConfig,
  type Capability,
  createLogger,
  type LogLevel,
  startAgent,
} from '@outpost/agent';
import { simFacts, simSystemInfo, simulateExec } from './backends.js';
import { mapLimit, sleep } from './pool.js';

/** `system` and `exec` for virtual device number `index`, behind the agent's capability interface. */
export function simulatedCapabilities(index: number): Capability[] {
  const startedAt = Date.now();
  const hostname = simFacts(index).hostname;
  return [
    {
      name: 'system',
      actions: {
        info: action('system/info', async () => simSystemInfo(index, startedAt)),
        ping: action('system/ping', async () => ({ pong: true as const, time: Date.now() })),
      },
    },
    {
      name: 'exec',
      actions: {
        run: action('exec/run', async (args, ctx) => {
          const result = await simulateExec(args, hostname, ctx.signal);
          if (result.stdout) ctx.emit('stdout', Buffer.from(result.stdout));
          if (result.stderr) ctx.emit('stderr', Buffer.from(result.stderr));
          return result;
        }),
      },
    },
  ];
}

export interface AgentFleetOptions {
  /** Broker URL, e.g. `mqtts://127.0.0.1:8883`. */
  server: string;
  /** CA certificate file of the server. */
  caFile: string;
  token: string;
  count: number;
  /** Each agent keeps its identity and journal in `<stateRoot>/<index>`. */
  stateRoot: string;
  /** Agents starting (enrolling) at once (default 8). */
  concurrency?: number;
  heartbeat?: number;
  logLevel?: LogLevel;
}

export interface AgentFleet {
  readonly agents: readonly AgentHandle[];
  /** Resolves when every agent's command subscription is granted; rejects after `timeoutMs`. */
  accepted(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startAgentFleet(options: AgentFleetOptions): Promise<AgentFleet> {
  const indexes = Array.from({ length: options.count }, (_, i) => i);
  const agents: AgentHandle[] = [];
  const stop = async () => {
    await Promise.all(agents.map((a) => a.stop()));
  };
  try {
    await mapLimit(indexes, options.concurrency ?? 8, async (index) => {
      const config = agentConfig({
        server: options.server,
        ca: options.caFile,
        enrollToken: options.token,
        stateDir: join(options.stateRoot, String(index)),
        heartbeat: options.heartbeat ?? 15,
        logLevel: options.logLevel ?? 'warn',
      });
      const log = createLogger({ level: config.logLevel, fields: { sim: index } });
      agents.push(await startAgent(config, { log, capabilities: simulatedCapabilities(index) }));
    });
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    agents,
    async accepted(timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while (!agents.every((a) => a.accepted)) {
        if (Date.now() > deadline) throw new Error('agents not accepted in time');
        await sleep(50);
      }
    },
    stop,
  };
}
