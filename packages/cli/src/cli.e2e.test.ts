/**
 * The built `outpost` CLI as a real process against a real server (in-process, port 0, temp data
 * dir, real TLS and SQLite) and, for the device commands, a real agent process.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { type OutpostServer, startServer } from '@outpost/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../../..');
const CLI = join(ROOT, 'packages/cli/bin/outpost.js');
const AGENT = join(ROOT, 'packages/agent/bin/outpost-agent.js');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

let server: OutpostServer;
let adminToken: string;
let work: string;

/** A fresh directory inside this run's work dir, so afterAll removes it. */
const temp = (prefix: string) => mkdtempSync(join(work, prefix));

/**
 * Runs `outpost ...args` with no login but what `env` gives (OUTPOST_CONFIG points into a temp dir;
 * an `undefined` in `env` removes a variable). `input` is piped to its stdin.
 */
function outpost(args: string[], env: NodeJS.ProcessEnv = {}, input?: string): Promise<Run> {
  const home = temp('outpost-cli-home-');
  const base = { PATH: process.env.PATH, HOME: home, OUTPOST_CONFIG: join(home, 'cli.json') };
  const merged = Object.entries({ ...base, ...env }).filter(([, v]) => v !== undefined);
  return new Promise((done) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: Object.fromEntries(merged),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    // Without input stdin is at its end at once, like </dev/null.
    child.stdin.end(input);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('exit', (code) => done({ code, stdout, stderr }));
  });
}

/** `outpost` logged in as admin through the environment. */
const asAdmin = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  outpost(args, { OUTPOST_URL: server.httpUrl, OUTPOST_TOKEN: adminToken, OUTPOST_CA: server.caFile, ...env });

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  // Test the CLI as shipped: compile it (incremental, quick when up to date).
  await promisify(execFile)(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-b', 'packages/cli'], {
    cwd: ROOT,
  });
  work = mkdtempSync(join(tmpdir(), 'outpost-cli-e2e-'));
  server = await startServer({
    dataDir: join(work, 'server'),
    httpPort: 0,
    mqttPort: 0,
    host: '127.0.0.1',
    logLevel: 'silent',
    env: {},
  });
  adminToken = readFileSync(server.adminTokenFile, 'utf8').trim();
}, 120_000);

afterAll(async () => {
  await server?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('login, whoami, logout', () => {
  it('login checks the credentials, saves them with mode 0600, and later commands use them', async () => {
    const home = temp('outpost-cli-login-');
    const env = { OUTPOST_CONFIG: join(home, 'outpost', 'cli.json') };
    const tokenFile = join(home, 'token');
    writeFileSync(tokenFile, `${adminToken}\n`);

    const login = await outpost(
      ['login', '--server', server.httpUrl, '--token-file', tokenFile, '--ca', server.caFile],
      env,
    );
    expect(login).toMatchObject({ code: 0, stderr: '' });
    expect(login.stdout).toMatch(/^logged in to https:\/\/localhost:\d+ as .+ \(admin\); saved to /);
    expect(statSync(env.OUTPOST_CONFIG).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(env.OUTPOST_CONFIG, 'utf8'))).toEqual({
      server: server.httpUrl,
      token: adminToken,
      ca: server.caFile,
    });

    const me = await outpost(['whoami', '--json'], env);
    expect(me.code).toBe(0);
    expect(JSON.parse(me.stdout)).toMatchObject({ role: 'admin' });

    const out = await outpost(['logout'], env);
    expect(out).toMatchObject({ code: 0, stdout: `logged out (removed ${env.OUTPOST_CONFIG})\n` });
    expect(existsSync(env.OUTPOST_CONFIG)).toBe(false);
    const after = await outpost(['whoami'], env);
    expect(after.code).toBe(1);
    expect(after.stderr).toMatch(/^error: not logged in: run `outpost login/);
  });

  it('a wrong token is refused in one line and nothing is saved', async () => {
    const home = temp('outpost-cli-login-');
    const env = { OUTPOST_CONFIG: join(home, 'cli.json') };
    const r = await outpost(['login', '--server', server.httpUrl, '--token', 'nope', '--ca', server.caFile], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: .+ \(E_UNAUTHENTICATED\)\n$/);
    expect(existsSync(env.OUTPOST_CONFIG)).toBe(false);
  });

  it("without the server's CA the TLS failure says to pass --ca", async () => {
    const r = await outpost(['whoami'], { OUTPOST_URL: server.httpUrl, OUTPOST_TOKEN: adminToken });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^error: cannot verify the TLS certificate of https:\/\/localhost:\d+; pass the server's CA with --ca \([A-Z_]+\)\n$/,
    );
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('whoami prints who the token belongs to', async () => {
    const r = await asAdmin(['whoami']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^name +.+\nrole +admin\n/);
  });
});

describe('tokens', () => {
  it('create prints the token once with a ready-to-paste agent line; ls never shows it; revoke revokes', async () => {
    const created = await asAdmin([
      'tokens',
      'create',
      '--name',
      'e2e',
      '--ttl',
      '2h',
      '--max-uses',
      '2',
      '--tag',
      'lab',
    ]);
    expect(created.code).toBe(0);
    const token = /^token +(\S+)$/m.exec(created.stdout)?.[1] ?? '';
    const id = /^id +(\S+)$/m.exec(created.stdout)?.[1] ?? '';
    expect(token).not.toBe('');
    // The agent line dials the MQTT port the server really listens on, with the token kept out of argv.
    expect(created.stdout).toContain(
      `OUTPOST_AGENT_ENROLL_TOKEN=${token} outpost-agent --server mqtts://localhost:${server.mqttPort} --ca ca.crt`,
    );
    expect(created.stdout).toMatch(/^expires +\S+ \(in 2h\)$/m);

    const ls = await asAdmin(['tokens', 'ls']);
    expect(ls.stdout).toMatch(new RegExp(`^${id} +e2e +active +0/2 +in \\d+[hm] +no +lab$`, 'm'));
    expect(ls.stdout).not.toContain(token);

    const revoked = await asAdmin(['tokens', 'revoke', id, '--json']);
    expect(JSON.parse(revoked.stdout)).toMatchObject({ id, state: 'revoked' });
    const unknown = await asAdmin(['tokens', 'revoke', 'et-nope']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^error: .+ \(E_NOT_FOUND\)\n$/);
  });
});

describe('devices (with a real agent)', () => {
  let agent: ChildProcess | undefined;
  afterAll(async () => {
    if (agent && agent.exitCode === null) {
      const gone = new Promise((r) => agent?.once('exit', r));
      agent.kill('SIGTERM');
      await gone;
    }
  });

  it('a pending device is listed, accepted, tagged, renamed, revoked and removed', async () => {
    expect(existsSync(join(ROOT, 'packages/agent/dist/outpost-agent.mjs')), 'agent bundle: run npm run build').toBe(
      true,
    );
    const none = await asAdmin(['devices', 'ls']);
    expect(none).toMatchObject({ code: 0, stdout: '' });
    expect(none.stderr).toMatch(/^no devices yet/);

    const create = await asAdmin(['tokens', 'create', '--tag', 'lab', '--json']);
    const token = JSON.parse(create.stdout).token as string;
    const stateDir = join(work, 'agent');
    const mqtt = `mqtts://127.0.0.1:${new URL(server.mqttUrl).port}`;
    agent = spawn(
      process.execPath,
      [AGENT, '--server', mqtt, '--ca', server.caFile, '--state-dir', stateDir, '--enroll', token],
      {
        stdio: 'ignore',
      },
    );

    const pending = await waitFor('a pending device', async () => {
      const r = await asAdmin(['devices', 'ls', '--status', 'pending', '--json']);
      const list = JSON.parse(r.stdout || '[]') as { id: string; name: string; online: boolean }[];
      return list.find((d) => d.online);
    });
    const table = await asAdmin(['devices', 'ls', '--status', 'pending']);
    expect(table.stdout).toMatch(/^ID +NAME +STATUS +ONLINE +LAST SEEN +IP +AGENT +TAGS\n/);
    expect(table.stdout).toMatch(new RegExp(`^${pending.id} +\\S+ +pending +yes +now +\\S+ +\\S+ +lab$`, 'm'));

    const accepted = await asAdmin(['devices', 'accept', pending.id]);
    expect(accepted.stdout).toMatch(/is now accepted\n$/);

    expect((await asAdmin(['devices', 'rename', pending.id, 'e2e-box'])).stdout).toBe(
      `renamed ${pending.id} to e2e-box\n`,
    );
    const tagged = await asAdmin(['devices', 'tag', 'e2e-box', '--add', 'pi', '--remove', 'lab']);
    expect(tagged.stdout).toBe(`e2e-box (${pending.id}): pi\n`);
    const replaced = await asAdmin(['devices', 'tag', 'e2e-box', 'north', 'pump']);
    expect(replaced.stdout).toBe(`e2e-box (${pending.id}): north, pump\n`);

    const shown = await asAdmin(['devices', 'show', 'e2e-box']);
    expect(shown.stdout).toMatch(new RegExp(`^id +${pending.id}$`, 'm'));
    expect(shown.stdout).toMatch(/^status +accepted$/m);
    expect(shown.stdout).toMatch(/^tags +north, pump$/m);

    const byTag = await asAdmin(['devices', 'ls', '--tag', 'pump', '--online', '--json']);
    expect(JSON.parse(byTag.stdout).map((d: { id: string }) => d.id)).toEqual([pending.id]);

    expect((await asAdmin(['devices', 'revoke', 'e2e-box'])).stdout).toMatch(/is now revoked\n$/);
    const refused = await asAdmin(['devices', 'rm', 'e2e-box']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/refusing to delete without --yes/);
    expect((await asAdmin(['devices', 'rm', 'e2e-box', '--yes'])).stdout).toBe(
      `deleted device e2e-box (${pending.id})\n`,
    );

    const gone = await asAdmin(['devices', 'show', pending.id]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/^error: .+ \(E_NOT_FOUND\)\n$/);
  });
});

describe('users, roles and device scopes (real agents, real logins)', () => {
  const agents: ChildProcess[] = [];
  afterAll(async () => {
    await Promise.all(
      agents
        .filter((a) => a.exitCode === null)
        .map((a) => {
          const gone = new Promise((r) => a.once('exit', r));
          a.kill('SIGTERM');
          return gone;
        }),
    );
  });

  /** A device enrolled by a real agent with an auto-accepting token that tags it `tag`. */
  async function enroll(tag: string): Promise<{ id: string }> {
    const created = await asAdmin(['tokens', 'create', '--tag', tag, '--auto-accept', '--max-uses', '1', '--json']);
    const token = JSON.parse(created.stdout).token as string;
    const mqtt = `mqtts://127.0.0.1:${new URL(server.mqttUrl).port}`;
    const args = [AGENT, '--server', mqtt, '--ca', server.caFile, '--state-dir', join(work, `agent-${tag}`)];
    agents.push(
      spawn(process.execPath, args, {
        env: { PATH: process.env.PATH, HOME: work, OUTPOST_AGENT_ENROLL_TOKEN: token },
        stdio: 'ignore',
      }),
    );
    return waitFor(`the device tagged ${tag}`, async () => {
      const r = await asAdmin(['devices', 'ls', '--tag', tag, '--online', '--json']);
      return (JSON.parse(r.stdout || '[]') as { id: string; status: string }[]).find((d) => d.status === 'accepted');
    });
  }

  /** Someone at their own machine: a home whose XDG config dir holds their saved login. */
  function person() {
    const home = temp('outpost-person-');
    const env = { HOME: home, XDG_CONFIG_HOME: join(home, '.config'), OUTPOST_CONFIG: undefined };
    return {
      config: join(home, '.config', 'outpost', 'cli.json'),
      run: (args: string[], input?: string) => outpost(args, env, input),
    };
  }

  const connect = () => ['--server', server.httpUrl, '--ca', server.caFile];
  const OPERATOR_PASSWORD = 'operator: correct horse battery';
  const VIEWER_PASSWORD = 'viewer: staple battery horse';

  it('invite, accept, log in with a password; roles and device scopes hold; the audit log exports it all', async () => {
    const [lab, field] = await Promise.all([enroll('lab'), enroll('field')]);

    // The admin invites an operator limited to `lab`, and a viewer.
    const invited = await asAdmin(['users', 'invite', 'olga', '--role', 'operator', '--tag', 'lab']);
    expect(invited).toMatchObject({ code: 0, stderr: '' });
    const olgaCode = /^code +(opi_\S+)$/m.exec(invited.stdout)?.[1] ?? '';
    expect(invited.stdout).toContain(
      `\n  outpost accept-invite --server ${server.httpUrl} --ca ca.crt --code ${olgaCode}\n`,
    );
    expect(invited.stdout).toMatch(/^scope +devices tagged lab$/m);
    const vicInvite = await asAdmin(['users', 'invite', 'vic', '--role', 'viewer', '--json']);
    const vicCode = JSON.parse(vicInvite.stdout).code as string;
    const pending = await asAdmin(['users', 'invitations']);
    expect(pending.stdout).toMatch(/^inv-\S+ +vic +viewer +all devices +open +in \d+d +just now$/m);
    expect(pending.stdout).not.toContain(vicCode);

    // Each accepts on their own machine, with the password on stdin; that also logs them in.
    const olgaLaptop = person();
    const olgaAccepts = await olgaLaptop.run(
      ['accept-invite', ...connect(), '--code', olgaCode, '--password-stdin'],
      `${OPERATOR_PASSWORD}\n`,
    );
    expect(olgaAccepts.stderr).toBe('');
    expect(olgaAccepts.stdout).toMatch(/^welcome, olga: your account is ready \(operator, devices tagged lab\)\n/);
    expect(olgaAccepts.stdout).toMatch(/^logged in to https:\/\/localhost:\d+ as olga \(operator\); saved to /m);
    expect(statSync(olgaLaptop.config).mode & 0o777).toBe(0o600);
    const again = await person().run(['accept-invite', ...connect(), '--code', olgaCode, '--password-stdin'], 'x\n');
    expect(again).toMatchObject({ code: 1, stderr: 'error: invitation is used (E_CONFLICT)\n' });

    const vicLaptop = person();
    const vicAccepts = await vicLaptop.run(
      ['accept-invite', ...connect(), '--code-stdin', '--password-stdin'],
      `${vicCode}\n${VIEWER_PASSWORD}\n`,
    );
    expect(vicAccepts.stdout).toMatch(/^welcome, vic: your account is ready \(viewer, all devices\)\n/);

    // Later, on another machine: log in with the password.
    const olga = person();
    const wrong = await olga.run(['login', ...connect(), '--user', 'olga', '--password-stdin'], 'not it\n');
    expect(wrong).toMatchObject({ code: 1, stderr: 'error: wrong name or password (E_UNAUTHENTICATED)\n' });
    expect(existsSync(olga.config)).toBe(false);
    const login = await olga.run(
      ['login', ...connect(), '--user', 'olga', '--password-stdin'],
      `${OPERATOR_PASSWORD}\n`,
    );
    expect(login).toMatchObject({ code: 0, stderr: '' });
    expect(login.stdout).toMatch(/^logged in to https:\/\/localhost:\d+ as olga \(operator\); saved to /);
    expect(login.stdout).toMatch(/^API token tok-\S+ expires in \d+d\S*, at \S+; see `outpost api-tokens ls`$/m);
    const vic = person();
    expect(
      (await vic.run(['login', ...connect(), '--user', 'vic', '--password-stdin'], `${VIEWER_PASSWORD}\n`)).code,
    ).toBe(0);

    const olgaIs = await olga.run(['whoami']);
    expect(olgaIs.stdout).toMatch(/^name +olga\nrole +operator\nscope +devices tagged lab\n/);
    expect((await vic.run(['whoami'])).stdout).toMatch(/^name +vic\nrole +viewer\nscope +all devices\n/);
    const tokens = await olga.run(['api-tokens', 'ls']);
    expect(tokens.stdout.match(/ cli@\S+ +operator +- +active /g)).toHaveLength(2); // accept-invite's and login's

    // The operator sees and runs commands on `lab` devices only; the viewer sees all and runs nothing.
    const olgaSees = JSON.parse((await olga.run(['devices', 'ls', '--json'])).stdout) as { id: string }[];
    expect(olgaSees.map((d) => d.id)).toEqual([lab.id]);
    const hidden = await olga.run(['devices', 'show', field.id]);
    expect(hidden).toMatchObject({ code: 1, stderr: expect.stringMatching(/\(E_NOT_FOUND\)\n$/) });
    expect(await olga.run(['exec', lab.id, '--', 'echo', 'hello from lab'])).toEqual({
      code: 0,
      stdout: 'hello from lab\n',
      stderr: '',
    });
    const vicSees = JSON.parse((await vic.run(['devices', 'ls', '--json'])).stdout) as { id: string }[];
    expect(vicSees.map((d) => d.id).sort()).toEqual([lab.id, field.id].sort());
    const denied = await vic.run(['exec', lab.id, '--', 'id']);
    expect(denied).toEqual({ code: 1, stdout: '', stderr: 'error: role viewer may not commands:run (E_DENIED)\n' });
    expect((await vic.run(['users', 'ls'])).stderr).toMatch(/\(E_DENIED\)\n$/);

    // The admin's export has it all: the invitations, their acceptance, the logins, the denied attempt.
    const file = join(temp('outpost-audit-'), 'audit.csv');
    const exported = await asAdmin(['audit', '--format', 'csv', '--output', file]);
    expect(exported).toMatchObject({ code: 0, stdout: '' });
    expect(exported.stderr).toMatch(/^exported \d+ entries to \S+audit\.csv \(csv\)\n$/);
    const rows = readFileSync(file, 'utf8').split('\r\n');
    expect(rows[0]).toBe('id,at,actor,actorName,ip,action,target,deviceId,result,errorCode,details');
    const row = (action: string, who: string, result: string) =>
      new RegExp(`^\\d+,[^,]+,[^,]+,${who},127\\.0\\.0\\.1,${action},[^,]*,[^,]*,${result}`);
    const has = (re: RegExp) =>
      expect(
        rows.some((r) => re.test(r)),
        `a row like ${re}`,
      ).toBe(true);
    has(row('user\\.invite', 'admin', 'ok,,'));
    has(/^\d+,[^,]+,claimed:olga,olga,127\.0\.0\.1,invitation\.accept,u-\S+,,ok,,/);
    has(/^\d+,[^,]+,claimed:vic,vic,127\.0\.0\.1,invitation\.accept,u-\S+,,ok,,/);
    has(row('auth\\.token', 'olga', 'ok,,'));
    has(/^\d+,[^,]+,claimed:olga,olga,127\.0\.0\.1,auth\.token,,,error,E_UNAUTHENTICATED,/);
    has(row('command\\.send', 'vic', 'error,E_DENIED,'));

    const table = await asAdmin(['audit', '--actor', 'vic', '--action', 'command.*']);
    expect(table.stdout).toMatch(
      new RegExp(
        `^TIME +ACTOR +IP +ACTION +TARGET +RESULT\\n\\S+Z +vic +127\\.0\\.0\\.1 +command\\.send +${lab.id} +E_DENIED\\n$`,
      ),
    );
  });
});

describe('outpost server', () => {
  it('starts, prints where the admin token and CA are, and stops cleanly on SIGTERM', async () => {
    const dir = join(work, 'own-server');
    const child = spawn(process.execPath, [CLI, 'server', '--data-dir', dir, '--http-port', '0', '--mqtt-port', '0'], {
      env: { PATH: process.env.PATH, HOME: work, OUTPOST_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<number | null>((r) => child.on('exit', r));
    await waitFor('the banner', async () => (stderr.includes('Stop with Ctrl-C.') ? true : undefined));
    expect(stderr).toContain(`admin token   ${join(dir, 'admin-token')}`);
    expect(stderr).toMatch(/CA +\S+ca\.crt/);
    expect(stderr).toMatch(/outpost login --server https:\/\/localhost:\d+ --token-file \S+ --ca \S+/);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stderr).toMatch(/SIGTERM: stopping\.\.\.\nstopped\n$/);
  });

  it('a bad config file is one line naming the bad key, exit 1', async () => {
    const config = join(work, 'bad.json');
    writeFileSync(config, JSON.stringify({ httpPort: 'eighty' }));
    const r = await outpost(['server', '--config', config, '--data-dir', join(work, 'bad-server')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: .*httpPort.* \(E_BAD_ARGS\)\n$/);
  });
});
