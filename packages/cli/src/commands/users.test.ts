/** `users`, `api-tokens` and `sessions` through main(): what each command line sends and prints (stub API). */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type RunOptions, runCli } from '../../test/run-cli.js';
import { apiError, type Handler, json, type StubApi, stubApi } from '../../test/stub-api.js';

let api: StubApi | undefined;
afterEach(async () => {
  await api?.close();
  api = undefined;
});

async function outpost(handler: Handler, args: string[], options: RunOptions = {}) {
  api = await stubApi(handler);
  return runCli(api.url, args, options);
}

const last = () => api?.requests.at(-1);
const now = Date.now();
const iso = (offsetMs: number) => new Date(now + offsetMs).toISOString();

const user = (over: Record<string, unknown> = {}) => ({
  id: 'u-alice',
  name: 'alice',
  email: 'alice@example.com',
  role: 'operator',
  tags: ['lab'],
  hasPassword: true,
  createdAt: iso(-3 * 3600_000),
  ...over,
});

const invitation = (over: Record<string, unknown> = {}) => ({
  id: 'inv-1',
  name: 'alice',
  email: null,
  role: 'operator',
  tags: ['lab', 'pi'],
  expiresAt: iso(7 * 86_400_000),
  usedAt: null,
  revokedAt: null,
  createdAt: iso(0),
  state: 'open',
  ...over,
});

describe('users', () => {
  it('ls: name, role, scope in words, whether a password is set, when created', async () => {
    const r = await outpost(
      (_req, res) =>
        json(res, 200, {
          items: [user({ name: 'admin', role: 'admin', tags: [], hasPassword: false, email: null }), user()],
        }),
      ['users', 'ls'],
    );
    expect(r.stdout).toBe(
      [
        'NAME   ROLE      SCOPE               PASSWORD  EMAIL              CREATED',
        'admin  admin     all devices         no        -                  3h ago',
        'alice  operator  devices tagged lab  yes       alice@example.com  3h ago',
        '',
      ].join('\n'),
    );
  });

  it('invite sends role, email, tags and TTL; prints the code once and the accept-invite line for this server', async () => {
    const r = await outpost(
      (req, res) => json(res, 201, invitation({ ...(req.body as object), code: 'opi_secret' })),
      [
        'users',
        'invite',
        'alice',
        '--role',
        'operator',
        '--tag',
        'lab',
        '--tag',
        'pi',
        '--email',
        'a@b.c',
        '--ttl',
        '2d',
      ],
    );
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(last()).toMatchObject({
      method: 'POST',
      path: '/invitations',
      body: { name: 'alice', role: 'operator', email: 'a@b.c', tags: ['lab', 'pi'], ttl: 172_800 },
    });
    expect(r.stdout).toMatch(/^code +opi_secret$/m);
    expect(r.stdout).toMatch(/^scope +devices tagged any of lab, pi$/m);
    // A server reached through the system's CAs needs no --ca in the invitee's command.
    expect(r.stdout).toContain(`\n  outpost accept-invite --server ${api?.url} --code opi_secret\n`);
  });

  it('invite through a private CA tells the invitee to pass it as ca.crt', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'outpost-ca-'));
    const ca = join(dir, 'ca.pem');
    writeFileSync(ca, 'not used over plain http');
    try {
      const r = await outpost(
        (req, res) => json(res, 201, invitation({ code: 'opi_s', ...(req.body as object) })),
        ['users', 'invite', 'bob', '--role', 'viewer', '--ca', ca],
      );
      expect(r.stdout).toContain(`  outpost accept-invite --server ${api?.url} --ca ca.crt --code opi_s\n`);
      expect(r.stdout).toContain(`with this server's CA certificate (${ca}) saved as ca.crt.`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('invite needs a valid --role; nothing is sent without one', async () => {
    const missing = await outpost((_req, res) => json(res, 201, invitation()), ['users', 'invite', 'alice']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/required option '--role <role>' not specified/);
    const bad = await outpost((_req, res) => json(res, 201, invitation()), ['users', 'invite', 'x', '--role', 'root']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('Allowed choices are admin, operator, viewer');
    expect(api?.requests).toEqual([]);
  });

  it('invitations lists them; revoke-invite revokes by id', async () => {
    const ls = await outpost((_req, res) => json(res, 200, { items: [invitation()] }), ['users', 'invitations']);
    expect(ls.stdout).toMatch(
      /^ID +NAME +ROLE +SCOPE +STATE +EXPIRES +CREATED\ninv-1 +alice +operator +devices tagged any of lab, pi +open +in \d+d +just now\n$/,
    );
    const revoked = await outpost(
      (_req, res) => json(res, 200, invitation({ state: 'revoked', revokedAt: iso(0) })),
      ['users', 'revoke-invite', 'inv-1'],
    );
    expect(last()).toMatchObject({ method: 'DELETE', path: '/invitations/inv-1' });
    expect(revoked.stdout).toBe('revoked the invitation of alice (inv-1)\n');
  });

  it('role changes the role with one PATCH; an unknown role is a usage error', async () => {
    const r = await outpost(
      (req, res) => json(res, 200, user(req.body as Record<string, unknown>)),
      ['users', 'role', 'alice', 'viewer'],
    );
    expect(last()).toMatchObject({ method: 'PATCH', path: '/users/alice', body: { role: 'viewer' } });
    expect(r.stdout).toBe('alice is now viewer\n');
    const bad = await outpost((_req, res) => json(res, 200, user()), ['users', 'role', 'alice', 'boss']);
    expect(bad).toMatchObject({
      code: 2,
      stderr: "error: 'boss' is not a role (use one of admin, operator, viewer)\n",
    });
  });

  it('scope: --tag sets, --clear empties, neither shows; --tag with --clear is a usage error', async () => {
    const set = await outpost(
      (req, res) => json(res, 200, user(req.body as Record<string, unknown>)),
      [...['users', 'scope', 'alice', '--tag', 'lab', '--tag', 'pi']],
    );
    expect(last()).toMatchObject({ method: 'PATCH', path: '/users/alice', body: { tags: ['lab', 'pi'] } });
    expect(set.stdout).toBe('alice: devices tagged any of lab, pi\n');

    const cleared = await outpost(
      (req, res) => json(res, 200, user(req.body as Record<string, unknown>)),
      ['users', 'scope', 'alice', '--clear'],
    );
    expect(last()?.body).toEqual({ tags: [] });
    expect(cleared.stdout).toBe('alice: all devices\n');

    const shown = await outpost((_req, res) => json(res, 200, { items: [user()] }), ['users', 'scope', 'alice']);
    expect(api?.requests.map((q) => q.method)).toEqual(['GET']);
    expect(shown.stdout).toBe('alice: devices tagged lab\n');

    const both = await outpost(
      (_req, res) => json(res, 200, user()),
      ['users', 'scope', 'alice', '--clear', '--tag', 'x'],
    );
    expect(both.code).toBe(2);
  });

  it('rm asks first (refusing without a terminal), then deletes by id with --yes', async () => {
    const handler: Handler = (req, res) => {
      if (req.method === 'GET') return json(res, 200, { items: [user()] });
      res.writeHead(204).end();
    };
    const refused = await outpost(handler, ['users', 'rm', 'alice'], { stdin: '' });
    expect(refused).toMatchObject({
      code: 2,
      stderr: 'error: refusing to remove a user without --yes when stdin is not a terminal\n',
    });
    expect(api?.requests.map((q) => q.method)).toEqual(['GET']);

    const r = await outpost(handler, ['users', 'rm', 'alice', '--yes']);
    expect(last()).toMatchObject({ method: 'DELETE', path: '/users/u-alice' });
    expect(r.stdout).toBe('removed user alice; their sessions ended and their API tokens were revoked\n');

    const unknown = await outpost(handler, ['users', 'rm', 'zed', '--yes']);
    expect(unknown).toMatchObject({ code: 1, stderr: "error: user 'zed' not found (E_NOT_FOUND)\n" });
  });

  it('a non-admin gets the server’s refusal as one line', async () => {
    const r = await outpost(
      (_req, res) => apiError(res, 403, 'E_DENIED', 'role viewer may not users:read'),
      ['users', 'ls'],
    );
    expect(r).toEqual({ code: 1, stdout: '', stderr: 'error: role viewer may not users:read (E_DENIED)\n' });
  });
});

const apiToken = (over: Record<string, unknown> = {}) => ({
  id: 'tok-1',
  name: 'ci',
  role: 'viewer',
  tags: [],
  userId: 'u-alice',
  userName: 'alice',
  createdAt: iso(-86_400_000),
  expiresAt: null,
  lastUsedAt: iso(-5 * 60_000),
  revokedAt: null,
  ...over,
});

describe('api-tokens (alias tokens-api)', () => {
  it('create sends name, role, TTL and tags, and prints the token once', async () => {
    const r = await outpost(
      (req, res) =>
        json(res, 201, apiToken({ ...(req.body as object), token: 'opt_secret', expiresAt: iso(90 * 86_400_000) })),
      ['api-tokens', 'create', 'ci', '--role', 'viewer', '--ttl', '90d', '--tag', 'lab'],
    );
    expect(last()).toMatchObject({
      method: 'POST',
      path: '/api-tokens',
      body: { name: 'ci', role: 'viewer', ttl: 7_776_000, tags: ['lab'] },
    });
    expect(r.stdout).toMatch(/^token +opt_secret$/m);
    expect(r.stdout).toMatch(/^scope +devices tagged lab, within the user's$/m);
    expect(r.stdout).toMatch(/^expires +\S+ \(in (90d|89d23h)\)$/m);
  });

  it('create with only a name leaves role and expiry to the server', async () => {
    await outpost((_req, res) => json(res, 201, apiToken({ token: 'opt_x' })), ['tokens-api', 'create', 'laptop']);
    expect(last()?.body).toEqual({ name: 'laptop' });
  });

  it('ls shows state and last use; --all asks for everyone and adds the user column', async () => {
    const items = [apiToken(), apiToken({ id: 'tok-2', name: 'old', revokedAt: iso(-1000), lastUsedAt: null })];
    const mine = await outpost((_req, res) => json(res, 200, { items }), ['api-tokens', 'ls']);
    expect(last()?.query.get('all')).toBeNull();
    expect(mine.stdout).toBe(
      [
        'ID     NAME  ROLE    TAGS  STATE    LAST USED  EXPIRES  CREATED',
        'tok-1  ci    viewer  -     active   5m ago     never    1d ago',
        'tok-2  old   viewer  -     revoked  never      never    1d ago',
        '',
      ].join('\n'),
    );
    const all = await outpost((_req, res) => json(res, 200, { items }), ['api-tokens', 'ls', '--all']);
    expect(last()?.query.get('all')).toBe('true');
    expect(all.stdout).toMatch(/^ID +USER +NAME/);
  });

  it('revoke deletes by id, and warns when it was the token in use', async () => {
    const handler: Handler = (req, res) => {
      if (req.path === '/whoami') return json(res, 200, { kind: 'token', id: 'tok-1', name: 'alice', role: 'viewer' });
      res.writeHead(204).end();
    };
    const r = await outpost(handler, ['api-tokens', 'revoke', 'tok-1']);
    expect(last()).toMatchObject({ method: 'DELETE', path: '/api-tokens/tok-1' });
    expect(r.stdout).toBe('revoked API token tok-1\n');
    expect(r.stderr).toMatch(/^note: that was the token this CLI uses/);
    const other = await outpost(handler, ['api-tokens', 'revoke', 'tok-2']);
    expect(other.stderr).toBe('');
  });

  it('`tokens --help` says those are enrollment tokens and points to api-tokens', async () => {
    const r = await runCli('', ['tokens', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('*enrollment* tokens');
    expect(r.stdout).toContain('outpost api-tokens --help');
  });
});

describe('sessions', () => {
  const session = {
    id: 's-1',
    userId: 'u-alice',
    userName: 'alice',
    createdAt: iso(-3600_000),
    lastSeenAt: iso(-60_000),
    expiresAt: iso(11 * 3600_000),
    ip: '10.0.0.9',
    userAgent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)',
  };

  it('ls lists browser sessions (--all for everyone); end ends one', async () => {
    const ls = await outpost((_req, res) => json(res, 200, { items: [session] }), ['sessions', 'ls', '--all']);
    expect(last()?.query.get('all')).toBe('true');
    expect(ls.stdout).toMatch(
      /^s-1 +alice +1h ago +1m ago +in 1\dh +10\.0\.0\.9 +Mozilla\/5\.0 \(X11; Linux x86_64\) AppleWe…$/m,
    );
    const end = await outpost((_req, res) => void res.writeHead(204).end(), ['sessions', 'end', 's-1']);
    expect(last()).toMatchObject({ method: 'DELETE', path: '/sessions/s-1' });
    expect(end.stdout).toBe('ended session s-1\n');
  });
});
