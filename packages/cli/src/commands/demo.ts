/**
 * `outpost demo`: the quick start. A server in this process, an auto-accepting enrollment token and a
 * real agent as a child process, named `demo`, then ready-to-paste commands.
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ServerOptions } from '@outpost/server';
import { type Command, Option } from 'commander';
import { ApiClient } from '../api.js';
import type { Device } from '../api-types.js';
import type { Context } from '../context.js';
import { DemoAgent, enrolledDeviceId, hasIdentity } from '../demo-agent.js';
import { CliError } from '../errors.js';
import { onShutdownSignal } from '../lifecycle.js';
import { portOption } from '../parse.js';
import { agentBinPath } from '../paths.js';
import { renderFields } from '../table.js';
import { LOG_LEVELS, startOutpostServer, stopOnSignal } from './server.js';

interface DemoFlags {
  dataDir: string;
  httpPort: number;
  mqttPort: number;
  logLevel: string;
}

const DEMO_NAME = 'demo';

/** Polls `GET /devices?tag=demo` until the agent's device is accepted and online. */
async function waitForDevice(api: ApiClient, agent: DemoAgent, stateDir: string, log: string, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (agent.exit) throw new CliError(`the demo agent stopped (${agent.exit}) before coming online; see ${log}`);
    const id = await enrolledDeviceId(stateDir);
    if (id) {
      const devices = await api.listDevices({ tag: 'demo' });
      const d = devices.find((x) => x.id === id) ?? (await api.getDevice(id).catch(() => undefined));
      if (d?.online && d.status === 'accepted') return d;
    }
    await sleep(300);
  }
  throw new CliError(
    `the demo device did not come online within ${timeoutMs / 1000}s; see ${log} ` +
      `(if you deleted it, remove ${stateDir} to enroll afresh)`,
    { code: 'E_TIMEOUT' },
  );
}

/** Names the device `demo` so the pasted commands work; another device already called that wins. */
async function nameDevice(ctx: Context, api: ApiClient, d: Device): Promise<string> {
  if (d.name === DEMO_NAME) return DEMO_NAME;
  try {
    return (await api.updateDevice(d.id, { name: DEMO_NAME })).name;
  } catch (err) {
    ctx.err(`warning: could not rename ${d.id} to '${DEMO_NAME}' (${(err as Error).message}); use its id instead`);
    return d.id;
  }
}

export function registerDemo(program: Command, ctx: Context): void {
  program
    .command('demo')
    .description('start a server and a demo device on this machine, then print commands to try')
    .option('--data-dir <dir>', 'where the demo keeps its server and agent state', '.outpost-demo')
    .option('--http-port <port>', 'HTTPS port of the API', portOption, 8443)
    .option('--mqtt-port <port>', 'MQTT over TLS port', portOption, 8883)
    .addOption(new Option('--log-level <level>', "the server's log level").choices(LOG_LEVELS).default('warn'))
    .addHelpText(
      'after',
      '\nExamples:\n  outpost demo\n  outpost demo --data-dir /tmp/outpost-demo --http-port 9443 --mqtt-port 9883',
    )
    .action(async (flags: DemoFlags) => {
      const dataDir = resolve(flags.dataDir);
      const stopper = onShutdownSignal();
      let agent: DemoAgent | undefined;
      let stopping = false;
      const server = await startOutpostServer({
        dataDir,
        httpPort: flags.httpPort,
        mqttPort: flags.mqttPort,
        logLevel: flags.logLevel as ServerOptions['logLevel'],
      }).catch((err: unknown) => {
        stopper.dispose();
        throw err;
      });
      const stopAll = async () => {
        stopping = true;
        await agent?.stop();
        await server.close();
      };
      const stateDir = join(dataDir, 'demo-agent');
      const log = join(dataDir, 'demo-agent.log');
      let api: ApiClient;
      let device: Device;
      try {
        const adminToken = (await readFile(server.adminTokenFile, 'utf8')).trim();
        api = new ApiClient(server.httpUrl, adminToken, await readFile(server.caFile, 'utf8'));
        ctx.adopt(api);
        let enrollToken: string | undefined;
        if (!hasIdentity(stateDir)) {
          const t = await api.createToken({ name: 'demo', ttl: 3600, maxUses: 1, tags: ['demo'], autoAccept: true });
          enrollToken = t.token;
        }
        const broker = `mqtts://localhost:${new URL(server.mqttUrl).port || flags.mqttPort}`;
        agent = await DemoAgent.start({
          agentBin: agentBinPath(ctx.env),
          broker,
          caFile: server.caFile,
          stateDir,
          logFile: log,
          ...(enrollToken ? { enrollToken } : {}),
        });
        ctx.err(`demo agent started (pid ${agent.child.pid}); waiting for it to come online...`);
        const interrupted = stopper.signalled.then((s) => {
          throw new CliError(`interrupted (${s}) while starting`, { exitCode: 130 });
        });
        interrupted.catch(() => undefined); // only the race below cares
        device = await Promise.race([waitForDevice(api, agent, stateDir, log), interrupted]);
      } catch (err) {
        await stopper.stop(stopAll, () => process.exit(1));
        throw err;
      }
      const name = await nameDevice(ctx, api, device);
      agent.onExit((how) => {
        if (!stopping) ctx.err(`warning: the demo agent stopped (${how}); see ${log}`);
      });
      const cli = 'npx outpost';
      ctx.out(`\nOutpost demo is running.\n`);
      ctx.out(
        renderFields(
          [
            ['API', `${server.httpUrl}/api/v1`],
            ['API docs', `${server.httpUrl}/api/docs`],
            ['CA', server.caFile],
            ['admin token', server.adminTokenFile],
            ['demo device', `${name} (${device.id}), online`],
            ['agent log', log],
          ],
          '  ',
        ),
      );
      ctx.out('\nTry it from another terminal in this directory:');
      ctx.out(`  ${cli} login --server ${server.httpUrl} --token-file ${server.adminTokenFile} --ca ${server.caFile}`);
      ctx.out(`  ${cli} devices ls`);
      ctx.out(`  ${cli} exec ${name} -- uname -a`);
      ctx.out('\nPress Ctrl-C to stop.');
      await stopOnSignal(ctx, stopper, stopAll);
    });
}
