/** `outpost server`: runs the Outpost server in this process until SIGINT/SIGTERM. */
import type { OutpostServer, ServerOptions } from '@outpost/server';
import { type Command, Option } from 'commander';
import type { Context } from '../context.js';
import { describeListenError, onShutdownSignal, type Stopper } from '../lifecycle.js';
import { collect, portOption } from '../parse.js';
import { renderFields } from '../table.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export interface ServerFlags {
  config?: string;
  dataDir?: string;
  httpPort?: number;
  mqttPort?: number;
  hostname?: string[];
  insecurePlainMqtt?: number;
  insecureHttp?: number;
  logLevel?: string;
  host?: string;
  database?: string;
  broker?: string;
  tlsCert?: string;
  tlsKey?: string;
}

/** Flags left out stay undefined ("not given"), so the config file and `OUTPOST_*` env keep their say. */
export function serverOptions(flags: ServerFlags): ServerOptions {
  return {
    configFile: flags.config,
    dataDir: flags.dataDir,
    httpPort: flags.httpPort,
    mqttPort: flags.mqttPort,
    hostname: flags.hostname,
    insecurePlainMqtt: flags.insecurePlainMqtt,
    insecureHttp: flags.insecureHttp,
    host: flags.host,
    database: flags.database,
    broker: flags.broker,
    tlsCert: flags.tlsCert,
    tlsKey: flags.tlsKey,
    // commander's choices() already limited it to LOG_LEVELS.
    logLevel: flags.logLevel as ServerOptions['logLevel'],
  };
}

/** Starts the server; loaded lazily so `outpost devices ls` does not pay for the server's modules. */
export async function startOutpostServer(options: ServerOptions): Promise<OutpostServer> {
  const { startServer } = await import('@outpost/server');
  try {
    return await startServer(options);
  } catch (err) {
    throw describeListenError(err);
  }
}

export function serverBanner(s: OutpostServer): string {
  return renderFields(
    [
      ['API', `${s.httpUrl}/api/v1`],
      ['API docs', `${s.httpUrl}/api/docs`],
      ['MQTT', s.mqttUrl],
      ['MQTT over WS', s.wsUrl ?? '(external broker)'],
      ['data', s.dataDir],
      ['CA', s.caFile],
      ['admin token', `${s.adminTokenFile} (keep it secret)`],
    ],
    '  ',
  );
}

/** Waits for the first SIGINT/SIGTERM, then runs `stopAll` within a deadline and sets exit code 0. */
export async function stopOnSignal(ctx: Context, stopper: Stopper, stopAll: () => Promise<void>): Promise<void> {
  const signal = await stopper.signalled;
  ctx.err(`${signal}: stopping...`);
  await stopper.stop(stopAll, () => {
    ctx.err('error: stopping took too long; exiting anyway');
    process.exit(1);
  });
  ctx.err('stopped');
  ctx.exitCode = 0;
}

export function registerServer(program: Command, ctx: Context): void {
  program
    .command('server')
    .description('run the Outpost server (HTTP API, MQTT broker, store) until Ctrl-C')
    .option('--config <file>', 'config file (JSON); OUTPOST_* env and these flags override it')
    .option('--data-dir <dir>', 'where the database, CA and admin token live')
    .option('--http-port <port>', 'HTTPS port for the API and MQTT over WebSocket (default 8443)', portOption)
    .option('--mqtt-port <port>', 'MQTT over TLS port (default 8883)', portOption)
    .option(
      '--hostname <name...>',
      'names and addresses devices use to reach this server (in the TLS certificate)',
      collect,
    )
    .option('--host <address>', 'address every listener binds to (default 0.0.0.0)')
    .option('--database <url>', "'sqlite' (a file in the data dir, the default) or a postgres:// URL")
    .option('--broker <url>', "'embedded' (the default) or an external broker URL, e.g. mqtts://broker:8883")
    .option('--tls-cert <file>', 'your own certificate (PEM) for HTTPS and MQTT over TLS, instead of the generated one')
    .option('--tls-key <file>', 'the key (PEM) of --tls-cert')
    .option('--insecure-plain-mqtt <port>', 'also listen for plain-text MQTT on this port (testing only)', portOption)
    .option(
      '--insecure-http <port>',
      'also serve the API over plain HTTP on 127.0.0.1:PORT (for a local TLS proxy)',
      portOption,
    )
    .addOption(new Option('--log-level <level>', 'log level').choices(LOG_LEVELS))
    .addHelpText(
      'after',
      '\nExamples:\n  outpost server --data-dir /var/lib/outpost --hostname fleet.example.com\n  outpost server --database postgres://outpost@db/outpost --broker mqtts://broker:8883',
    )
    .action(async (flags: ServerFlags) => {
      // Listen for signals first: Ctrl-C while starting still ends in a clean close.
      const stopper = onShutdownSignal();
      const server = await startOutpostServer(serverOptions(flags)).catch((err: unknown) => {
        stopper.dispose();
        throw err;
      });
      ctx.err(`outpost server is running\n${serverBanner(server)}`);
      ctx.err('Log in from this machine with:');
      ctx.err(`  outpost login --server ${server.httpUrl} --token-file ${server.adminTokenFile} --ca ${server.caFile}`);
      ctx.err('Stop with Ctrl-C.');
      await stopOnSignal(ctx, stopper, () => server.close());
    });
}
