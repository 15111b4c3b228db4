/**
 * The setup most e2e files share: one test server and one real agent process,
 * enrolled and online, for the whole file. Files whose setup differs (several
 * agents, a server restarted or closed inside tests, an external broker,
 * PostgreSQL) use test/helpers.ts directly.
 */
import type { api } from '@outpost/protocol';
import type { ServerOptions } from '@outpost/server';
import { afterAll, beforeAll } from 'vitest';
import { type AgentOptions, onlineAgent, startTestServer, type TestAgent, type TestServer } from './helpers.js';

/** What `useOnlineDevice` brings up. Read it in hooks and tests, not at module level: it is there once its beforeAll ran. */
export interface OnlineDevice {
  readonly ts: TestServer;
  /** The agent process. A test that starts the agent again stores the new process here, so that afterAll stops it. */
  agent: TestAgent;
  /** The device record as the server had it when the agent came online. */
  readonly device: api.Device;
  /** `device.id`. */
  readonly deviceId: string;
}

export interface OnlineDeviceOptions {
  /** Options for `startTestServer` (e.g. session lifetimes); none by default. */
  server?: ServerOptions;
  /**
   * How to start the agent (flags, environment, enrollment token...), or a function of the started server that
   * returns them: for a token with other rules, or flags naming dirs made by an earlier beforeAll of the file.
   * Without `enroll`, the agent enrolls with a fresh auto-accepting token.
   */
  agent?: AgentOptions | ((ts: TestServer) => AgentOptions | Promise<AgentOptions>);
  /** Extra setup in the same beforeAll, once the device is online (users, tokens, clients, helper servers). */
  setup?: (env: OnlineDevice) => void | Promise<void>;
  /**
   * Extra teardown, first in the afterAll: before the agent stops and the server closes. It also runs when the
   * beforeAll failed part-way, so it must cope with what setup never made.
   */
  teardown?: () => void | Promise<void>;
  /** The beforeAll's timeout in ms; vitest's hookTimeout by default. */
  timeoutMs?: number;
}

/**
 * Registers, at the module level of a test file, a beforeAll that starts a test server and brings one agent online
 * (then runs `setup`), and an afterAll that runs `teardown`, stops the agent and closes the server, each step even
 * when one before it failed. Returns the handle the tests read them from:
 *
 * ```ts
 * const fx = useOnlineDevice({ agent: { args: ['--auth', 'certificate'] } });
 * it('...', async () => expect((await fx.ts.api('GET', `/devices/${fx.deviceId}`)).status).toBe(200));
 * ```
 *
 * A failing step fails the beforeAll (so the file's tests are skipped and the summary reporter counts one failure)
 * with an error that says which step it was: starting the server, the agent options, bringing the agent online
 * (with the agent's last output) or `setup`. Hooks the file registers before this call run before the server
 * starts, and their afterAll after it closes.
 */
export function useOnlineDevice(options: OnlineDeviceOptions = {}): OnlineDevice {
  let ts: TestServer | undefined;
  let agent: TestAgent | undefined;
  let device: api.Device | undefined;
  const ready = <T>(value: T | undefined, name: string): T => {
    if (value === undefined) {
      throw new Error(`useOnlineDevice: no ${name} yet: its beforeAll has not run, or failed (see its error)`);
    }
    return value;
  };
  const env: OnlineDevice = {
    get ts() {
      return ready(ts, 'test server');
    },
    get agent() {
      return ready(agent, 'agent');
    },
    set agent(next) {
      agent = next;
    },
    get device() {
      return ready(device, 'device');
    },
    get deviceId() {
      return ready(device, 'device').id;
    },
  };
  const step = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      throw new Error(`useOnlineDevice: ${what} failed: ${message}`, { cause: err });
    }
  };

  beforeAll(async () => {
    const server = await step('starting the test server', () => startTestServer(options.server));
    ts = server;
    const agentOptions = await step('agent options', async () =>
      typeof options.agent === 'function' ? options.agent(server) : options.agent,
    );
    const online = await step('bringing the agent online', () => onlineAgent(server, agentOptions));
    agent = online.agent;
    device = online.device;
    if (options.setup) {
      const setup = options.setup;
      await step('setup', async () => setup(env));
    }
  }, options.timeoutMs);

  afterAll(async () => {
    const errors: unknown[] = [];
    for (const stop of [() => options.teardown?.(), () => agent?.stop(), () => ts?.close()]) {
      try {
        await stop();
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new AggregateError(errors, 'useOnlineDevice: teardown failed');
  });

  return env;
}
