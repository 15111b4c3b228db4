/** Password login, invitations, passwd and whoami through main(): what is sent, saved and printed (stub API). */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type RunOptions, runCli } from '../../test/run-cli.js';
import { apiError, type Handler, json, type StubApi, stubApi } from '../../test/stub-api.js';

let api: StubApi | undefined;
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'outpost-auth-test-'));
});
afterEach(async () => {
  await api?.close();
  api = undefined;
  rmSync(dir, { recursive: true, force: true });
});

const config = () => join(dir, 'outpost', 'cli.json');

/** `outpost` with no token in the environment and its login saved under a temp dir. */
async function outpost(handler: Handler, args: string[], options: RunOptions = {}) {
  api = await stubApi(handler);
  return runCli(api.url, args, {
    ...options,
    env: { OUTPOST_URL: api.url, OUTPOST_TOKEN: '', OUTPOST_CONFIG: config(), ...options.env },
  });
}

const PASSWORD = 'correct horse battery';
const HTTP_WARNING = 'warning: http:// sends passwords and tokens unencrypted; prefer https://\n';

const me = (over: Record<string, unknown> = {}) => ({
  kind: 'token',
  id: 'tok-new',
  userId: 'u-alice',
  name: 'alice',
  role: 'operator',
  scopes: [['lab'], []],
  ...over,
});

/** A server that knows alice's password and hands out `opt_new`. */
const accounts: Handler = (req, res) => {
  if (req.path === '/auth/token') {
    const body = req.body as { name: string; password: string };
    if (body.password !== PASSWORD) return apiError(res, 401, 'E_UNAUTHENTICATED', 'wrong name or password');
    return json(res, 201, { id: 'tok-new', token: 'opt_new', role: 'operator', expiresAt: '2099-01-01T00:00:00.000Z' });
  }
  if (req.path === '/auth/accept-invitation') {
    return json(res, 201, {
      id: 'u-alice',
      name: 'alice',
      email: null,
      role: 'operator',
      tags: ['lab'],
      hasPassword: true,
      createdAt: new Date().toISOString(),
    });
  }
  if (req.path === '/whoami') return json(res, 200, me());
};

/**
 * A stand-in terminal (`isTTY`, raw mode): each time a prompt turns echo off, the person types the
 * next answer, in the pieces given, a moment apart.
 */
function terminal(...answers: (string | string[])[]) {
  const tty = Object.assign(new PassThrough(), { isTTY: true, raw: false as boolean });
  Object.assign(tty, {
    setRawMode(raw: boolean) {
      tty.raw = raw;
      if (!raw) return tty;
      const next = answers.shift() ?? '\u0004';
      for (const [i, piece] of (Array.isArray(next) ? next : [next]).entries()) {
        setTimeout(() => tty.write(piece), 5 + i * 5);
      }
      return tty;
    },
  });
  return tty;
}

describe('login --user', () => {
  it('exchanges the password from stdin for an API token, anonymously, and saves it like a token login', async () => {
    const r = await outpost(accounts, ['login', '--user', 'alice', '--password-stdin'], { stdin: `${PASSWORD}\n` });
    // The stub speaks plain HTTP, and says so before the password goes out.
    expect(r.stderr).toBe(HTTP_WARNING);
    expect(r.code).toBe(0);
    const [exchange, check] = api?.requests ?? [];
    expect(exchange).toMatchObject({
      method: 'POST',
      path: '/auth/token',
      authorization: undefined,
      body: { name: 'alice', password: PASSWORD, tokenName: `cli@${hostname()}`, ttl: 30 * 86_400 },
    });
    expect(check).toMatchObject({ path: '/whoami', authorization: 'Bearer opt_new' });
    expect(JSON.parse(readFileSync(config(), 'utf8'))).toEqual({ server: api?.url, token: 'opt_new' });
    expect(statSync(config()).mode & 0o777).toBe(0o600);
    expect(r.stdout.split('\n')[0]).toBe(`logged in to ${api?.url} as alice (operator); saved to ${config()}`);
    expect(r.stdout).toMatch(/^API token tok-new expires in \d+d\S*, at 2099-01-01T00:00:00.000Z/m);
    expect(r.stdout + r.stderr).not.toContain(PASSWORD);
  });

  it('--ttl and --token-name shape the token', async () => {
    await outpost(accounts, ['login', '--user', 'alice', '--password-stdin', '--ttl', '12h', '--token-name', 'ci'], {
      stdin: `${PASSWORD}\r\n`,
    });
    expect(api?.requests[0]?.body).toEqual({ name: 'alice', password: PASSWORD, tokenName: 'ci', ttl: 43_200 });
  });

  it('asks for the password on a terminal with echo off', async () => {
    const tty = terminal(['pw\u007f\u007fcorrect horse', ' battery\r']);
    const r = await outpost(accounts, ['login', '--user', 'alice'], { stdin: tty });
    expect(r.code).toBe(0);
    expect(api?.requests[0]?.body).toMatchObject({ password: PASSWORD });
    expect(r.stderr).toBe(`${HTTP_WARNING}Password for alice: \n`);
    expect(tty.raw).toBe(false);
  });

  it('a wrong password is one line (E_UNAUTHENTICATED), exit 1, and nothing is saved', async () => {
    const r = await outpost(accounts, ['login', '--user', 'alice', '--password-stdin'], { stdin: 'nope\n' });
    expect(r).toEqual({
      code: 1,
      stdout: '',
      stderr: `${HTTP_WARNING}error: wrong name or password (E_UNAUTHENTICATED)\n`,
    });
    expect(() => statSync(config())).toThrow();
  });

  it('rate limited: says how many seconds to wait, from the body or the Retry-After header', async () => {
    const limited: Handler = (_req, res) =>
      json(res, 429, {
        error: { code: 'E_RATE_LIMITED', message: 'too many failed attempts', details: { retryAfter: 42 } },
      });
    const r = await outpost(limited, ['login', '--user', 'alice', '--password-stdin'], { stdin: 'x\n' });
    expect(r.stderr).toBe(`${HTTP_WARNING}error: too many failed attempts; try again in 42 s (E_RATE_LIMITED)\n`);

    await api?.close();
    const header: Handler = (_req, res) => {
      res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '7' });
      res.end(JSON.stringify({ error: { code: 'E_RATE_LIMITED', message: 'slow down' } }));
    };
    const h = await outpost(header, ['login', '--user', 'alice', '--password-stdin'], { stdin: 'x\n' });
    expect(h.stderr).toBe(`${HTTP_WARNING}error: slow down; try again in 7 s (E_RATE_LIMITED)\n`);
  });

  it('refuses to guess: no terminal and no --password-stdin, an empty stdin, or --user with --token', async () => {
    const noTty = await outpost(accounts, ['login', '--user', 'alice'], { stdin: `${PASSWORD}\n` });
    expect(noTty).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/stdin is not a terminal \(use --password-stdin\)/),
    });
    const empty = await outpost(accounts, ['login', '--user', 'alice', '--password-stdin'], { stdin: '' });
    expect(empty).toMatchObject({ code: 2, stderr: `${HTTP_WARNING}error: expected the password on stdin\n` });
    const both = await outpost(accounts, ['login', '--user', 'alice', '--token', 'opt_x']);
    expect(both.code).toBe(2);
    const stray = await outpost(accounts, ['login', '--password-stdin'], { stdin: 'x\n' });
    expect(stray).toMatchObject({
      code: 2,
      stderr: 'error: --password-stdin, --ttl and --token-name go with --user NAME\n',
    });
    expect(api?.requests).toEqual([]);
  });
});

describe('accept-invite', () => {
  it('sets the password with the code, then logs in as the new user and says who that is', async () => {
    const r = await outpost(accounts, ['accept-invite', '--code', 'opi_abc', '--password-stdin'], {
      stdin: `${PASSWORD}\n`,
    });
    expect(r.stderr).toBe(HTTP_WARNING);
    expect(api?.requests.map((q) => [q.method, q.path, q.authorization])).toEqual([
      ['POST', '/auth/accept-invitation', undefined],
      ['POST', '/auth/token', undefined],
      ['GET', '/whoami', 'Bearer opt_new'],
    ]);
    expect(api?.requests[0]?.body).toEqual({ code: 'opi_abc', password: PASSWORD });
    expect(api?.requests[1]?.body).toMatchObject({ name: 'alice', password: PASSWORD });
    expect(r.stdout).toMatch(/^welcome, alice: your account is ready \(operator, devices tagged lab\)\n/);
    expect(r.stdout).toMatch(/^scope +devices tagged lab$/m);
    expect(JSON.parse(readFileSync(config(), 'utf8')).token).toBe('opt_new');
  });

  it('--code-stdin with --password-stdin reads the code, then the password', async () => {
    await outpost(accounts, ['accept-invite', '--code-stdin', '--password-stdin'], { stdin: `opi_abc\n${PASSWORD}\n` });
    expect(api?.requests[0]?.body).toEqual({ code: 'opi_abc', password: PASSWORD });
  });

  it('on a terminal the password is asked twice; two different ones change nothing', async () => {
    const r = await outpost(accounts, ['accept-invite', '--code', 'opi_abc'], {
      stdin: terminal(`${PASSWORD}\r`, 'something else\r'),
    });
    expect(r).toMatchObject({
      code: 1,
      stderr: `${HTTP_WARNING}Choose a password: \nRepeat it: \nerror: the two passwords differ; nothing was changed\n`,
    });
    expect(api?.requests).toEqual([]);
  });

  it('a used code is the server’s one line', async () => {
    const used: Handler = (_req, res) => apiError(res, 409, 'E_CONFLICT', 'invitation is used');
    const r = await outpost(used, ['accept-invite', '--code', 'opi_abc', '--password-stdin'], {
      stdin: `${PASSWORD}\n`,
    });
    expect(r).toEqual({ code: 1, stdout: '', stderr: `${HTTP_WARNING}error: invitation is used (E_CONFLICT)\n` });
  });
});

describe('passwd', () => {
  const passwd =
    (user: { role: string; hasPassword: boolean }): Handler =>
    (req, res) => {
      if (req.path === '/whoami') return json(res, 200, me({ role: user.role }));
      if (req.path === '/users') return json(res, 200, { items: [{ id: 'u-alice', name: 'alice', ...user }] });
      if (req.path === '/auth/password') return json(res, 200, { endedSessions: 2 });
    };

  it('sends the current and the new password (two lines of stdin) and says how many sessions ended', async () => {
    const r = await outpost(passwd({ role: 'operator', hasPassword: true }), ['passwd', '--password-stdin'], {
      env: { OUTPOST_TOKEN: 'tok' },
      stdin: `old password!\n${PASSWORD}\n`,
    });
    expect(r.code).toBe(0);
    expect(api?.requests.at(-1)).toMatchObject({
      path: '/auth/password',
      body: { current: 'old password!', new: PASSWORD },
    });
    expect(r.stdout).toBe('password changed for alice; ended 2 other browser sessions\n');
    expect(r.stderr).toMatch(/^note: API tokens stay valid/);
  });

  it('an admin without a password yet (the first-start admin) gives only the new one', async () => {
    const r = await outpost(passwd({ role: 'admin', hasPassword: false }), ['passwd', '--password-stdin'], {
      env: { OUTPOST_TOKEN: 'tok' },
      stdin: `${PASSWORD}\n`,
    });
    expect(r.code).toBe(0);
    expect(api?.requests.at(-1)?.body).toEqual({ current: '-', new: PASSWORD });
  });
});

describe('whoami', () => {
  it('shows the role, the device scope in words and the user id', async () => {
    const r = await outpost((_req, res) => json(res, 200, me()), ['whoami'], { env: { OUTPOST_TOKEN: 'tok' } });
    expect(r.stdout).toBe(
      [
        'name     alice',
        'role     operator',
        'scope    devices tagged lab',
        'kind     token',
        'id       tok-new',
        'user id  u-alice',
        `server   ${api?.url}`,
        '',
      ].join('\n'),
    );
  });

  it('a scoped token inside a scoped user reads as both; an older server without scopes as all devices', async () => {
    const both = await outpost((_req, res) => json(res, 200, me({ scopes: [['lab'], ['pi', 'x']] })), ['whoami'], {
      env: { OUTPOST_TOKEN: 'tok' },
    });
    expect(both.stdout).toMatch(/^scope +devices tagged lab and tagged any of pi, x$/m);
    await api?.close();
    const old = await outpost(
      (_req, res) => json(res, 200, { kind: 'token', id: 't', name: 'n', role: 'admin' }),
      ['whoami'],
      {
        env: { OUTPOST_TOKEN: 'tok' },
      },
    );
    expect(old.stdout).toMatch(/^scope +all devices$/m);
    expect(old.stdout).toMatch(/^user id +-$/m);
  });
});
