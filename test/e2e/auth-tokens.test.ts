/**
 * Personal API tokens end to end over HTTPS against a real server with two real agents (tags `lab` and `prod`):
 * a token's role and tag scope never exceed its maker's, a viewer's token runs no command, the list never shows
 * a token, revocation and user removal end tokens and sessions at once. Ends with the secrets-hygiene check over
 * the secrets these tests were handed, and the file modes of the data dir's secrets (that test closes the server,
 * so it is last). Agents are online here, so no test in this file moves the clock.
 */
import { once } from 'node:events';
import { chmodSync, createWriteStream, statSync } from 'node:fs';
import { join } from 'node:path';
import { startServer } from '@outpost/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  admin,
  browser,
  cliToken,
  expectNoKeptSecretLeaks,
  http,
  keep,
  login,
  markServerClosed,
  newUser,
  ts,
  useAuthServer,
  whoami,
} from '../auth-helpers.js';
import { bearer, onlineAgent, type TestAgent } from '../helpers.js';

useAuthServer();

describe('personal API tokens', () => {
  const agents: TestAgent[] = [];
  let lab: string;
  let prod: string;
  beforeAll(async () => {
    for (const tag of ['lab', 'prod']) {
      const { agent, device } = await onlineAgent(ts, {
        enroll: keep('enrollment token', await ts.enrollmentToken({ autoAccept: true, tags: [tag] })),
      });
      agents.push(agent);
      keep('device secret', agent.identity().secret);
      if (tag === 'lab') lab = device.id;
      else prod = device.id;
    }
  });
  afterAll(async () => {
    for (const a of agents) await a.stop();
  });

  const ping = (token: string, device: string) =>
    http('POST', `/devices/${device}/commands`, {
      body: { capability: 'system', action: 'ping' },
      headers: bearer(token),
    });

  it("a token's role cannot exceed its user's: E_DENIED", async () => {
    const vic = await newUser('vic', 'viewer');
    const token = await cliToken(vic);
    for (const role of ['operator', 'admin']) {
      const r = await http('POST', '/api-tokens', { body: { name: 'up', role }, headers: bearer(token) });
      expect(r.status, role).toBe(403);
      expect(r.body.error.code, role).toBe('E_DENIED');
    }
    const same = await http('POST', '/api-tokens', { body: { name: 'same', role: 'viewer' }, headers: bearer(token) });
    expect(same.status).toBe(201);
    keep('API token', same.body.token);

    // An operator's viewer token acts as a viewer, and cannot mint an operator token back.
    const opal = await newUser('opal', 'operator');
    const opalToken = await cliToken(opal);
    const capped = await http('POST', '/api-tokens', {
      body: { name: 'ro', role: 'viewer' },
      headers: bearer(opalToken),
    });
    const viewerToken = keep('API token', capped.body.token);
    expect((await whoami(bearer(viewerToken))).body.role).toBe('viewer');
    const back = await http('POST', '/api-tokens', {
      body: { name: 'up', role: 'operator' },
      headers: bearer(viewerToken),
    });
    expect(back.status).toBe(403);
    expect((await ping(viewerToken, lab)).status).toBe(403);
    expect((await ping(opalToken, lab)).status).toBe(202);
  });

  it("a viewer's token cannot run commands, and nothing reaches the device", async () => {
    const viola = await newUser('viola', 'viewer');
    const token = await cliToken(viola);
    const before = (await admin('GET', `/devices/${lab}/commands`)).items.length;
    const r = await ping(token, lab);
    expect(r.status).toBe(403);
    expect(r.body.error.code).toBe('E_DENIED');
    expect((await admin('GET', `/devices/${lab}/commands`)).items.length).toBe(before);
  });

  it('the list shows last use and never the token; a revoked token is 401 at once', async () => {
    const made = await admin('POST', '/api-tokens', { name: 'short-lived' });
    const token = keep('API token', made.token);
    const listed = async () => (await admin('GET', '/api-tokens')).items.find((t: any) => t.id === made.id);
    expect(await listed()).toMatchObject({ lastUsedAt: null, revokedAt: null });
    expect(await listed()).not.toHaveProperty('token');
    expect((await whoami(bearer(token))).status).toBe(200);
    expect(Date.parse((await listed()).lastUsedAt)).toBeGreaterThan(0);
    const list = await http('GET', '/api-tokens?all=true', { headers: bearer(ts.token) });
    expect(list.text).not.toMatch(/opt_[A-Za-z0-9_-]{20,}/);

    // Another user cannot revoke it, nor learn that it exists.
    const olga = await newUser('olga', 'operator');
    const olgaToken = await cliToken(olga);
    const foreign = await http('DELETE', `/api-tokens/${made.id}`, { headers: bearer(olgaToken) });
    expect(foreign.status).toBe(404);
    expect((await whoami(bearer(token))).status).toBe(200);

    expect((await http('DELETE', `/api-tokens/${made.id}`, { headers: bearer(ts.token) })).status).toBe(204);
    const after = await whoami(bearer(token));
    expect(after.status).toBe(401);
    expect(after.body.error.code).toBe('E_UNAUTHENTICATED');
    expect((await listed()).revokedAt).not.toBeNull();
  });

  it('a token scoped to a tag sees and acts on only the devices with that tag', async () => {
    const made = await admin('POST', '/api-tokens', { name: 'lab only', tags: ['lab'] });
    const token = keep('API token', made.token);
    const list = await http('GET', '/devices', { headers: bearer(token) });
    expect(list.body.items.map((d: any) => d.id)).toEqual([lab]);
    const byTag = await http('GET', '/devices?tag=prod', { headers: bearer(token) });
    expect(byTag.body.items).toEqual([]);
    for (const r of [
      await http('GET', `/devices/${prod}`, { headers: bearer(token) }),
      await ping(token, prod),
      await http('POST', `/devices/${prod}/revoke`, { headers: bearer(token) }),
    ]) {
      expect(r.status).toBe(404);
      expect(r.body.error.code).toBe('E_NOT_FOUND');
    }
    expect((await ping(token, lab)).status).toBe(202);
    expect((await admin('GET', `/devices/${prod}`)).status).toBe('accepted');
  });

  // Once a bug: a new token got `input.tags ?? []` whatever its maker's scope, so a token limited
  // to `lab` minted an unscoped one (POST /api-tokens needs only self:write).
  it('a scoped token cannot mint a token that sees more than it does', async () => {
    const scoped = keep('API token', (await admin('POST', '/api-tokens', { name: 'ci', tags: ['lab'] })).token);
    // Without tags the new token inherits the maker's scope...
    const minted = await http('POST', '/api-tokens', { body: { name: 'child' }, headers: bearer(scoped) });
    expect(minted.status).toBe(201);
    expect(minted.body.tags).toEqual(['lab']);
    const child = keep('API token', minted.body.token);
    const seen = (await http('GET', '/devices', { headers: bearer(child) })).body.items.map((d: any) => d.id);
    expect(seen, 'devices seen through a token minted by a lab-only token').toEqual([lab]);
    // ...and it may not name a tag its maker lacks.
    for (const tags of [['prod'], ['lab', 'prod']]) {
      const wider = await http('POST', '/api-tokens', { body: { name: 'wider', tags }, headers: bearer(scoped) });
      expect(wider.status, tags.join()).toBe(403);
      expect(wider.body.error.code, tags.join()).toBe('E_DENIED');
    }
  });

  // Was a bug (scope escape through invitations): POST /invitations took any tags, or none, from a
  // caller limited to `lab`, so an admin token limited to `lab` could invite an unscoped admin,
  // accept the code itself (the route is public) and see every device.
  it('a scoped admin token cannot invite its way out of its scope', async () => {
    const scoped = keep('API token', (await admin('POST', '/api-tokens', { name: 'lab admin', tags: ['lab'] })).token);
    const inv = await http('POST', '/invitations', {
      body: { name: 'shadow', role: 'admin' },
      headers: bearer(scoped),
    });
    if (inv.status !== 201) {
      expect(inv.body.error.code).toBe('E_DENIED');
      return;
    }
    const password = keep('password', 'shadow-long-password');
    keep('invitation code', inv.body.code);
    const accepted = await http('POST', '/auth/accept-invitation', { body: { code: inv.body.code, password } });
    expect(accepted.status).toBe(201);
    const shadow = await cliToken({ name: 'shadow', password });
    const seen = (await http('GET', '/devices', { headers: bearer(shadow) })).body.items.map((d: any) => d.id);
    expect(seen, 'devices seen by an account a lab-only token invited').not.toContain(prod);
  });

  it('removing a user revokes their tokens and ends their sessions', async () => {
    const rex = await newUser('rex', 'operator');
    const token = await cliToken(rex);
    const s = await login(rex.name, rex.password);
    const tokenId = (await admin('GET', '/api-tokens?all=true')).items.find((t: any) => t.userName === 'rex').id;

    expect((await http('DELETE', '/users/rex', { headers: bearer(ts.token) })).status).toBe(204);
    expect((await whoami(bearer(token))).status).toBe(401);
    expect((await whoami(browser(s, null))).status).toBe(401);
    const tokens = (await admin('GET', '/api-tokens?all=true')).items;
    expect(tokens.find((t: any) => t.id === tokenId).revokedAt).not.toBeNull();
    expect((await admin('GET', '/sessions?all=true')).items.map((x: any) => x.userName)).not.toContain('rex');

    // A new account with the same name inherits nothing.
    await newUser('rex', 'operator');
    expect((await whoami(bearer(token))).status).toBe(401);
    expect((await whoami(browser(s, null))).status).toBe(401);
  });
});

describe('secrets hygiene', () => {
  it('no password, token, session, CSRF token, invitation code or enrollment token leaks after creation', async () => {
    await expectNoKeptSecretLeaks(
      ['password', 'API token', 'session token', 'CSRF token', 'invitation code', 'enrollment token'],
      40,
    );
  });

  it('secret files are 0600 in a 0700 data dir; the server refuses to start when admin-token is chmod 644', async () => {
    const mode = (p: string) => statSync(p).mode & 0o777;
    expect(mode(ts.dataDir)).toBe(0o700);
    const adminToken = ts.server.adminTokenFile;
    for (const f of [adminToken, join(ts.dataDir, 'tls/ca.key'), join(ts.dataDir, 'tls/server.key')]) {
      expect(mode(f), f).toBe(0o600);
    }
    const { dataDir } = ts;
    await ts.close();
    markServerClosed();
    chmodSync(adminToken, 0o644);
    const log = createWriteStream(join(dataDir, 'refused.log'));
    await once(log, 'open');
    const refused = startServer({ dataDir, httpPort: 0, mqttPort: 0, host: '127.0.0.1', logDestination: log, env: {} });
    await expect(refused).rejects.toThrow(`chmod 600 ${adminToken}`);
    log.end();
  });
});
