/** Argument parsing end to end through main(): what each command line sends and prints (stub API). */
import { afterEach, describe, expect, it } from 'vitest';
import { type Run, runCli } from '../test/run-cli.js';
import { apiError, chunk, command, device, type Handler, json, type StubApi, sse, stubApi } from '../test/stub-api.js';

let api: StubApi | undefined;
afterEach(async () => {
  await api?.close();
  api = undefined;
});

async function outpost(handler: Handler, ...args: string[]): Promise<Run> {
  api = await stubApi(handler);
  return runWith(api.url, args);
}

function runWith(url: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return runCli(url, args, { env });
}

const last = () => api?.requests.at(-1);
/** The last request that was not the `/health` look-up `tokens create` makes for the broker URL. */
const lastCall = () => api?.requests.filter((r) => r.path !== '/health').at(-1);

describe('tokens create', () => {
  const created: Handler = (_req, res) =>
    json(res, 201, {
      id: 'et-1',
      name: 'lab',
      token: 'ope_secret',
      tags: ['a', 'b'],
      autoAccept: true,
      maxUses: 3,
      uses: 0,
      expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
      revokedAt: null,
      createdAt: new Date().toISOString(),
      state: 'active',
    });

  it('sends the TTL in seconds, the limits and tags, with the bearer token', async () => {
    const r = await outpost(
      created,
      ...['tokens', 'create', '--name', 'lab', '--ttl', '24h', '--max-uses', '3', '--tag', 'a', '--tag', 'b'],
      '--auto-accept',
    );
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(lastCall()).toMatchObject({
      method: 'POST',
      path: '/enrollment-tokens',
      authorization: 'Bearer tok',
      body: { name: 'lab', ttl: 86_400, maxUses: 3, tags: ['a', 'b'], autoAccept: true },
    });
    expect(r.stdout).toContain('ope_secret');
    expect(r.stdout).toContain(
      'OUTPOST_AGENT_ENROLL_TOKEN=ope_secret outpost-agent --server mqtts://127.0.0.1:8883 --ca ca.crt',
    );
  });

  it('sends only autoAccept when nothing else is given, so server defaults apply', async () => {
    await outpost(created, 'tokens', 'create');
    expect(lastCall()?.body).toEqual({ autoAccept: false });
  });

  it('a bad --ttl is a usage error (exit 2) and sends nothing', async () => {
    const r = await outpost(created, 'tokens', 'create', '--ttl', 'tomorrow');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: option '--ttl <duration>' argument 'tomorrow' is invalid/);
    expect(api?.requests).toEqual([]);
  });
});

describe('devices', () => {
  it('ls turns --status/--tag/--offline into query parameters', async () => {
    const r = await outpost(
      (_req, res) => json(res, 200, { items: [device({ online: false })] }),
      ...['devices', 'ls', '--status', 'pending', '--tag', 'lab', '--offline'],
    );
    expect(r.code).toBe(0);
    expect(Object.fromEntries(last()?.query ?? [])).toEqual({ status: 'pending', tag: 'lab', online: 'false' });
    expect(r.stdout).toMatch(/^ID\s+NAME\s+STATUS/);
  });

  it('ls --online and --offline together is a usage error', async () => {
    const r = await outpost((_req, res) => json(res, 200, { items: [] }), 'devices', 'ls', '--online', '--offline');
    expect(r.code).toBe(2);
  });

  it('ls --status rejects unknown statuses', async () => {
    const r = await outpost((_req, res) => json(res, 200, { items: [] }), 'devices', 'ls', '--status', 'sleeping');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Allowed choices are pending, accepted, rejected, revoked');
  });

  it('a server error is one line with its code, and exit 1', async () => {
    const r = await outpost(
      (_req, res) => apiError(res, 404, 'E_NOT_FOUND', "device 'foo' not found"),
      'devices',
      'show',
      'foo',
    );
    expect(r).toEqual({ code: 1, stdout: '', stderr: "error: device 'foo' not found (E_NOT_FOUND)\n" });
    expect(last()?.path).toBe('/devices/foo');
  });

  it('tag --add/--remove edits the current tags with one PATCH', async () => {
    const r = await outpost(
      (req, res) => {
        if (req.method === 'GET') return json(res, 200, device({ tags: ['lab', 'old'] }));
        json(res, 200, device({ tags: (req.body as { tags: string[] }).tags }));
      },
      ...['devices', 'tag', 'gw-1', '--add', 'pi', '--remove', 'old'],
    );
    expect(r.code).toBe(0);
    expect(last()).toMatchObject({ method: 'PATCH', path: '/devices/d-1', body: { tags: ['lab', 'pi'] } });
    expect(r.stdout).toBe('gw-1 (d-1): lab, pi\n');
  });

  it('rm without --yes refuses when stdin is not a terminal', async () => {
    const r = await outpost((_req, res) => json(res, 200, device()), 'devices', 'rm', 'gw-1');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/refusing to delete without --yes/);
    expect(api?.requests.map((q) => q.method)).toEqual(['GET']);
  });

  it('device names are URL-encoded into the path', async () => {
    await outpost((_req, res) => json(res, 200, device()), 'devices', 'accept', 'a b/c');
    expect(last()).toMatchObject({ method: 'POST', path: '/devices/a%20b%2Fc/accept' });
  });
});

/** A device that runs whatever it is sent: prints "out" and "err", then exits with `exitCode`. */
function execServer(finalResult: Record<string, unknown>, status = 'succeeded'): Handler {
  return (req, res) => {
    if (req.method === 'POST') return json(res, 202, command({ args: (req.body as { args: unknown }).args }));
    if (req.path === '/commands/c-1/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      sse(res, 'output', chunk(0, 'stdout', 'out\n'));
      sse(res, 'output', chunk(1, 'stderr', 'err\n'));
      sse(res, 'end', command({ status, result: finalResult }));
      res.end();
      return;
    }
    if (req.path === '/devices/d-1') return json(res, 200, device());
    return json(res, 200, command());
  };
}

const result = {
  exitCode: 3,
  signal: null,
  stdout: 'out\n',
  stderr: 'err\n',
  truncated: false,
  timedOut: false,
  durationMs: 4,
};

describe('exec', () => {
  it('sends argv after --, streams output to stdout/stderr and exits with the remote code', async () => {
    const r = await outpost(execServer(result), 'exec', 'gw-1', '--', 'ls', '-la', '--help');
    expect(r).toEqual({ code: 3, stdout: 'out\n', stderr: 'err\n' });
    expect(api?.requests[0]).toMatchObject({
      method: 'POST',
      path: '/devices/gw-1/commands',
      body: { capability: 'exec', action: 'run', args: { argv: ['ls', '-la', '--help'] } },
    });
  });

  it('options before -- are ours: timeout, cwd, env, ttl', async () => {
    await outpost(
      execServer(result),
      ...['exec', 'gw-1', '--timeout', '5m', '--cwd', '/tmp', '-e', 'A=1', '--env', 'B=x=y', '--ttl', '2h'],
      ...['--', 'env'],
    );
    expect(api?.requests[0]?.body).toEqual({
      capability: 'exec',
      action: 'run',
      args: { argv: ['env'], cwd: '/tmp', env: { A: '1', B: 'x=y' }, timeoutMs: 300_000 },
      ttl: 7200,
    });
  });

  it('--shell joins the words into one script', async () => {
    await outpost(execServer(result), 'exec', 'gw-1', '--shell', '--', 'df -h', '|', 'grep /data');
    expect(api?.requests[0]?.body).toMatchObject({ args: { script: 'df -h | grep /data', shell: true } });
  });

  it('a program killed by SIGKILL exits 137', async () => {
    const r = await outpost(execServer({ ...result, exitCode: null, signal: 'SIGKILL' }), 'exec', 'gw-1', '--', 'x');
    expect(r.code).toBe(137);
  });

  it('a failed command prints its error line and exits 1', async () => {
    const failed: Handler = (req, res) => {
      if (req.path.endsWith('/events')) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        sse(
          res,
          'end',
          command({ status: 'failed', error: { code: 'E_NOT_FOUND', message: "no such program 'nope'" } }),
        );
        return void res.end();
      }
      if (req.path === '/devices/d-1') return json(res, 200, device());
      return json(res, 202, command());
    };
    const r = await outpost(failed, 'exec', 'gw-1', '--', 'nope');
    expect(r).toEqual({ code: 1, stdout: '', stderr: "error: no such program 'nope' (E_NOT_FOUND)\n" });
  });

  it('--json prints the final command instead of the output, still with the exit code', async () => {
    const r = await outpost(execServer(result), 'exec', 'gw-1', '--json', '--', 'ls');
    expect(r.code).toBe(3);
    expect(JSON.parse(r.stdout)).toMatchObject({ id: 'c-1', status: 'succeeded', result });
  });

  it('an offline device: says the command is queued; --no-wait returns its id at once', async () => {
    const expiresAt = new Date(Date.now() + 90 * 60_000 + 800).toISOString();
    const offline: Handler = (req, res) => {
      if (req.method === 'POST') return json(res, 202, command({ expiresAt }));
      return json(res, 200, device({ online: false }));
    };
    const r = await outpost(offline, 'exec', 'gw-1', '--no-wait', '--', 'ls');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('c-1\n');
    expect(r.stderr.split('\n')).toEqual([
      `device gw-1 is offline; command queued (expires in 1h30m, at ${expiresAt})`,
      'follow it with: outpost commands follow c-1',
      '',
    ]);
  });

  it('bad arguments are caught before anything is sent', async () => {
    const r = await outpost(execServer(result), 'exec', 'gw-1', '--env', '1BAD=x', '--', 'ls');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/not a valid environment variable name/);
    expect(api?.requests).toEqual([]);
  });

  it('an unknown option without -- is a usage error that names it', async () => {
    const r = await outpost(execServer(result), 'exec', 'gw-1', 'ls', '-la');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: unknown option '-la'/);
  });
});

describe('connection errors', () => {
  it('without a login: one line saying how to log in', async () => {
    const r = await runWith('', ['devices', 'ls'], { OUTPOST_URL: '', OUTPOST_TOKEN: '' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: not logged in: run `outpost login/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('a server that is not there: one line, no stack trace', async () => {
    const r = await runWith('http://127.0.0.1:1', ['devices', 'ls']);
    expect(r).toMatchObject({ code: 1, stdout: '' });
    expect(r.stderr).toBe(
      'error: cannot connect to http://127.0.0.1:1: connection refused; is the server running? (ECONNREFUSED)\n',
    );
  });

  it('--help exits 0 and --version prints the version', async () => {
    expect((await runWith('', ['devices', '--help'])).code).toBe(0);
    expect((await runWith('', ['--version'])).stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });
});
