/**
 * `outpost forward DEVICE LOCALPORT:HOST:PORT`: like `ssh -L`, listens on a local
 * port (127.0.0.1 unless `--bind`) and carries each accepted connection, as its
 * own byte stream, to HOST:PORT as the device sees it (docs/forward.md). Any
 * number of connections run at once. A connection the device refuses is closed
 * with a one-line error and the forward keeps listening; Ctrl-C stops it cleanly.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { Command as Program } from 'commander';
import type { ForwardCheck } from '../api-types.js';
import type { Context } from '../context.js';
import { CliError } from '../errors.js';
import { type ConnectionOutcome, forwardConnection } from '../forward-connection.js';
import { hostPort, parseBind, parseForwardSpec } from '../forward-spec.js';
import { formatBytes } from '../progress.js';

export interface ForwardOptions {
  bind?: string;
  verbose?: boolean;
  json?: boolean;
}

/** How long Ctrl-C waits for open connections to wind down before exiting anyway. */
const SHUTDOWN_MS = 3000;

function listen(server: Server, address: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      const at = hostPort(address, port);
      if (err.code === 'EADDRINUSE')
        reject(new CliError(`cannot listen on ${at}: the port is in use`, { code: err.code }));
      else if (err.code === 'EACCES')
        reject(
          new CliError(`cannot listen on ${at}: permission denied (ports below 1024 need root)`, { code: err.code }),
        );
      else if (err.code === 'EADDRNOTAVAIL')
        reject(new CliError(`cannot listen on ${at}: no such local address`, { code: err.code }));
      else reject(new CliError(`cannot listen on ${at}: ${err.message}`, err.code ? { code: err.code } : {}));
    });
    server.listen(port, address, () => resolve((server.address() as { port: number }).port));
  });
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

async function forward(ctx: Context, device: string, specText: string, opts: ForwardOptions): Promise<void> {
  const spec = parseForwardSpec(specText);
  const bind = parseBind(opts.bind ?? '127.0.0.1');
  const api = await ctx.api();
  // Fails here, before listening, for a device out of reach: unknown, offline, or a role that may not forward.
  const check = await api.call<ForwardCheck>('GET', `/devices/${encodeURIComponent(device)}/forward`, {
    query: { host: spec.host, port: spec.port },
  });
  const target = { deviceId: check.deviceId, host: check.host, port: check.port };
  const remote = hostPort(check.host, check.port);
  const deviceLabel = check.deviceName && check.deviceName !== check.deviceId ? check.deviceName : check.deviceId;
  const event = (e: Record<string, unknown>) => {
    if (opts.json) ctx.io.stdout.write(`${JSON.stringify({ at: new Date().toISOString(), ...e })}\n`);
  };

  const open = new Map<number, { close: () => void; outcome: Promise<ConnectionOutcome> }>();
  let accepted = 0;
  let stopping = false;
  const server = createServer({ allowHalfOpen: true, pauseOnConnect: false }, (local: Socket) => {
    const id = ++accepted;
    // A client that reset before it was accepted has no address left, and nothing to forward.
    if (stopping || local.destroyed || local.remoteAddress === undefined) {
      local.destroy();
      return;
    }
    const from = hostPort(local.remoteAddress, local.remotePort ?? 0);
    event({ event: 'open', connection: id, from });
    const conn = forwardConnection(api, target, local, (commandId) => {
      if (opts.verbose) ctx.err(`#${id} ${from}: open to ${remote} (command ${commandId})`);
    });
    open.set(id, conn);
    void conn.outcome.then((o) => {
      open.delete(id);
      event({ event: 'close', connection: id, ...o });
      if (o.error && !stopping && !o.byLocalClient) {
        // Always shown: the local client only sees its connection reset, this says why.
        ctx.err(`outpost: #${id} ${from}: ${o.error.message} (${o.error.code})`);
      } else if (opts.verbose) {
        const how = !o.error ? 'closed' : o.byLocalClient ? 'reset by the local client' : 'cut short by the stop';
        ctx.err(
          `#${id} ${from}: ${how} after ${seconds(o.durationMs)}: ${formatBytes(o.sent)} sent, ${formatBytes(o.received)} received`,
        );
      }
    });
  });
  const port = await listen(server, bind.address, spec.localPort);
  const local = hostPort(bind.address, port);
  if (!bind.loopback)
    ctx.err(`outpost: warning: listening on ${local}: anyone who can reach this address can use the forward`);
  ctx.err(`forwarding ${local} -> ${remote} on ${deviceLabel} (Ctrl-C to stop)`);
  event({
    event: 'listening',
    address: bind.address,
    port,
    deviceId: check.deviceId,
    host: check.host,
    remotePort: check.port,
  });

  await new Promise<void>((resolve) => {
    const stop = () => {
      process.removeListener('SIGINT', stop);
      process.removeListener('SIGTERM', stop);
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  stopping = true;
  const closing = new Promise<void>((r) => server.close(() => r()));
  const pending = [...open.values()];
  for (const c of pending) c.close();
  await Promise.race([
    Promise.allSettled([closing, ...pending.map((c) => c.outcome)]),
    new Promise((r) => setTimeout(r, SHUTDOWN_MS).unref()),
  ]);
  ctx.err(
    `stopped forwarding ${local} (${accepted} connection${accepted === 1 ? '' : 's'}${pending.length > 0 ? `, ${pending.length} cut short` : ''})`,
  );
  event({ event: 'stopped', connections: accepted, cutShort: pending.length });
}

export function registerForward(program: Program, ctx: Context): void {
  program
    .command('forward')
    .description('forward a local TCP port to a port the device can reach (like ssh -L)')
    .argument('<device>', 'device id or name')
    .argument('<spec>', 'LOCALPORT:HOST:PORT or LOCALPORT:PORT (HOST as the device sees it, default localhost)')
    .option('--bind <address>', 'local address to listen on (default 127.0.0.1)')
    .option('-v, --verbose', 'print a line for each connection opened and closed, with its bytes')
    .option('--json', 'print events (listening, open, close, stopped) as JSON lines on stdout')
    .addHelpText(
      'after',
      `
Examples:
  outpost forward gw-12 8080:80                 http://127.0.0.1:8080 is port 80 on the device
  outpost forward gw-12 5432:db.lan:5432        a database the device can reach
  outpost forward gw-12 2222:[::1]:22 -v        the device's ssh, over IPv6 loopback
  outpost forward gw-12 0:8080                  any free local port (printed)

Each local connection becomes its own stream; many run at once. The device decides
which targets are allowed (its forwardAllow setting; localhost only by default): a
refused target closes that connection with an error, and the forward keeps running.
Operators and admins only; every connection is audited. Ctrl-C stops the forward.`,
    )
    .action(async (device: string, spec: string, opts: ForwardOptions) => {
      await forward(ctx, device, spec, opts);
    });
}
