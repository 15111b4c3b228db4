/**
 * Hostile input to the user, token and audit routes, over HTTPS against a real
 * server with a real agent: SQL-looking strings, prototype-pollution keys,
 * oversized bodies and unknown fields each get a coded error and change nothing;
 * a viewer is refused every route beyond its role.
 */
import { Agent, fetch } from 'undici';
import { describe, expect, it } from 'vitest';
import { useOnlineDevice } from '../fixture.js';
import { type ApiResult, asAdmin, bearer, request } from '../helpers.js';

let dispatcher: Agent;

async function http(
  method: string,
  path: string,
  opts: { body?: unknown; rawBody?: string; headers?: Record<string, string> } = {},
): Promise<ApiResult> {
  return request(fx.ts, method, path, opts);
}

const admin = (method: string, path: string, body?: unknown): Promise<any> => asAdmin(fx.ts, method, path, body);

/** Invites and accepts, then logs in for a CLI token: a user's bearer credential. */
async function userToken(name: string, role: string): Promise<string> {
  const inv = await admin('POST', '/invitations', { name, role });
  const password = `${name}-long-password`;
  expect((await http('POST', '/auth/accept-invitation', { body: { code: inv.code, password } })).status).toBe(201);
  const r = await http('POST', '/auth/token', { body: { name, password, tokenName: 'cli' } });
  expect(r.status).toBe(201);
  return r.body.token;
}

const fx = useOnlineDevice({
  agent: async (ts) => ({ enroll: await ts.enrollmentToken({ autoAccept: true, tags: ['lab'] }) }),
  setup: async ({ ts }) => {
    dispatcher = new Agent({ connect: { ca: ts.ca } });
    // Someone to aim PATCH /users at.
    await userToken('ivy', 'viewer');
  },
});

describe('hostile input', () => {
  const sqlish = [
    "' OR 1=1 --",
    '"; DROP TABLE users; --',
    "admin'--",
    "x' UNION SELECT token_hash FROM api_tokens --",
  ];

  it('SQL-looking strings in names, device refs and audit filters get coded errors and change nothing', async () => {
    const users = await admin('GET', '/users');
    const devices = await admin('GET', '/devices');
    for (const s of sqlish) {
      const logIn = await http('POST', '/auth/login', { body: { name: s, password: 'x' } });
      expect(logIn.status, s).toBe(400);
      expect(logIn.body.error.code, s).toBe('E_BAD_ARGS');
      const inv = await http('POST', '/invitations', {
        body: { name: s, role: 'admin' },
        headers: bearer(fx.ts.token),
      });
      expect(inv.body.error.code, s).toBe('E_BAD_ARGS');
      const ref = encodeURIComponent(s);
      for (const [method, path, body] of [
        ['GET', `/devices/${ref}`, undefined],
        ['POST', `/devices/${ref}/accept`, undefined],
        ['PATCH', `/devices/${ref}`, { tags: ['x'] }],
        ['DELETE', `/devices/${ref}`, undefined],
        ['POST', `/devices/${ref}/commands`, { capability: 'system', action: 'ping' }],
        ['PATCH', `/users/${ref}`, { role: 'admin' }],
        ['DELETE', `/users/${ref}`, undefined],
      ] as const) {
        const r = await http(method, path, { body, headers: bearer(fx.ts.token) });
        expect(r.status, `${method} ${path}`).toBe(404);
        expect(r.body.error.code, `${method} ${path}`).toBe('E_NOT_FOUND');
      }
      for (const filter of ['actor', 'device', 'action']) {
        const r = await admin('GET', `/audit?${filter}=${ref}`);
        expect(r.items, `${filter}=${s}`).toEqual([]);
      }
      const prefix = await admin('GET', `/audit?action=${encodeURIComponent(`${s}.*`)}`);
      expect(prefix.items).toEqual([]);
    }
    // The admin has no password: a SQL-looking password does not let anyone in.
    const pw = await http('POST', '/auth/login', { body: { name: 'admin', password: "' OR 1=1 --" } });
    expect(pw.status).toBe(401);
    expect(await admin('GET', '/users')).toEqual(users);
    expect((await admin('GET', '/devices')).items.map((d: any) => [d.id, d.status, d.tags])).toEqual(
      devices.items.map((d: any) => [d.id, d.status, d.tags]),
    );
  });

  it('__proto__ and constructor keys are refused (E_BAD_ARGS) and pollute nothing', async () => {
    const commandsBefore = (await admin('GET', `/devices/${fx.deviceId}/commands`)).items.length;
    const cases: [string, string, string][] = [
      ['POST', '/api-tokens', '{"name":"p","__proto__":{"polluted":"yes","role":"admin"}}'],
      ['POST', '/api-tokens', '{"name":"p","constructor":{"prototype":{"polluted":"yes"}}}'],
      ['POST', '/api-tokens', '{"name":"p","constructor":"x"}'],
      ['POST', '/invitations', '{"name":"p","role":"viewer","__proto__":{"role":"admin"}}'],
      ['PATCH', `/devices/${fx.deviceId}`, '{"tags":["a"],"__proto__":{"polluted":"yes"}}'],
      [
        'POST',
        `/devices/${fx.deviceId}/commands`,
        '{"capability":"exec","action":"run","args":{"argv":["true"],"__proto__":{"polluted":"yes"}}}',
      ],
      [
        'POST',
        `/devices/${fx.deviceId}/commands`,
        '{"capability":"exec","action":"run","args":{"argv":["true"],"constructor":{"prototype":{"polluted":"yes"}}}}',
      ],
      ['POST', '/auth/login', '{"name":"admin","password":"x","__proto__":{"isAdmin":true}}'],
    ];
    for (const [method, path, rawBody] of cases) {
      const r = await http(method, path, { rawBody, headers: bearer(fx.ts.token) });
      expect(r.status, rawBody).toBe(400);
      expect(r.body.error.code, rawBody).toBe('E_BAD_ARGS');
    }
    const unknown = await http('POST', '/api-tokens', {
      rawBody: '{"name":"p","constructor":"x"}',
      headers: bearer(fx.ts.token),
    });
    expect(unknown.body.error.message).toMatch(/unknown field 'constructor'/);
    for (const q of ['__proto__=1', '__proto__[polluted]=yes', 'constructor=x']) {
      const r = await http('GET', `/devices?${q}`, { headers: bearer(fx.ts.token) });
      expect(r.status, q).toBe(400);
      expect(r.body.error.code, q).toBe('E_BAD_ARGS');
    }
    expect(({} as any).polluted).toBeUndefined();
    expect(({} as any).isAdmin).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
    expect((await admin('GET', `/devices/${fx.deviceId}/commands`)).items.length).toBe(commandsBefore);
    expect((await admin('GET', `/devices/${fx.deviceId}`)).tags).toEqual(['lab']);
    expect((await admin('GET', '/api-tokens')).items.map((t: any) => t.name)).not.toContain('p');
  });

  it('a cross-site HTML form cannot post to the API: only application/json bodies are read', async () => {
    const credentials = { name: 'ivy', password: 'ivy-long-password' };
    const forms: [string, string][] = [
      ['application/x-www-form-urlencoded', new URLSearchParams(credentials).toString()],
      ['multipart/form-data; boundary=x', `--x\r\nContent-Disposition: form-data; name="name"\r\n\r\nivy\r\n--x--\r\n`],
      // enctype="text/plain" can carry a JSON-looking body: it is a string, not an object.
      ['text/plain', JSON.stringify(credentials)],
    ];
    for (const [type, rawBody] of forms) {
      const res = await fetch(`https://127.0.0.1:${fx.ts.server.httpPort}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': type },
        body: rawBody,
        dispatcher,
      });
      expect(res.status, type).toBe(400);
      expect(((await res.json()) as any).error.code, type).toBe('E_BAD_ARGS');
      expect(res.headers.get('set-cookie'), type).toBeNull();
    }
    expect((await http('POST', '/auth/login', { body: credentials })).status).toBe(200);
  });

  it('oversized bodies are 413 E_TOO_LARGE, on public and authenticated routes', async () => {
    const big = 'x'.repeat(2 * 1024 * 1024);
    for (const [path, body] of [
      ['/auth/login', { name: 'admin', password: big }],
      ['/auth/accept-invitation', { code: big, password: big }],
      [`/devices/${fx.deviceId}/commands`, { capability: 'exec', action: 'run', args: { argv: ['echo', big] } }],
    ] as const) {
      const r = await http('POST', path, { body, headers: bearer(fx.ts.token) });
      expect(r.status, path).toBe(413);
      expect(r.body.error.code, path).toBe('E_TOO_LARGE');
    }
  });

  it('unknown fields are E_BAD_ARGS naming the field', async () => {
    for (const [method, path, body, field] of [
      ['POST', '/auth/login', { name: 'a', password: 'b', remember: true }, 'remember'],
      ['POST', '/auth/token', { name: 'a', password: 'b', tokenName: 'c', role: 'admin' }, 'role'],
      ['POST', '/api-tokens', { name: 'a', scopes: ['x'] }, 'scopes'],
      ['POST', '/invitations', { name: 'newbie', role: 'viewer', password: 'preset-password' }, 'password'],
      ['PATCH', '/users/ivy', { role: 'viewer', isAdmin: true }, 'isAdmin'],
      ['POST', '/auth/password', { current: 'a', new: 'b', confirm: 'b' }, 'confirm'],
    ] as const) {
      const r = await http(method, path, { body, headers: bearer(fx.ts.token) });
      expect(r.status, path).toBe(400);
      expect(r.body.error.code, path).toBe('E_BAD_ARGS');
      expect(r.body.error.message, path).toContain(`unknown field '${field}'`);
    }
  });

  it('a viewer gets 403 E_DENIED from every route beyond reading devices and commands and managing itself', async () => {
    const token = await userToken('vince', 'viewer');
    const doc = await http('GET', '/../docs/json');
    expect(doc.status).toBe(200);
    const viewerMay = new Set([
      'GET /health',
      'POST /auth/login',
      'POST /auth/token',
      'POST /auth/accept-invitation',
      'POST /auth/logout',
      'POST /auth/password',
      'GET /whoami',
      'GET /sessions',
      'DELETE /sessions/{id}',
      'GET /api-tokens',
      'POST /api-tokens',
      'DELETE /api-tokens/{id}',
      'GET /devices',
      'GET /devices/{device}',
      'GET /devices/{device}/presence',
      'GET /devices/{device}/commands',
      'GET /commands/{id}',
      'GET /commands/{id}/events',
      // Reading a device's state (docs/security.md § Roles): its facts, metrics, processes,
      // services, power state, logs, apps and file listings; and the script library.
      'GET /devices/{device}/info',
      'GET /devices/{device}/metrics',
      'GET /devices/{device}/metrics/latest',
      'GET /devices/{device}/metrics/live',
      'GET /devices/{device}/processes',
      'GET /devices/{device}/services',
      'GET /devices/{device}/services/{unit}',
      'GET /devices/{device}/power',
      'GET /devices/{device}/logs',
      'GET /devices/{device}/apps',
      'GET /devices/{device}/apps/{name}',
      'GET /devices/{device}/files',
      'GET /devices/{device}/files/upload-status',
      'GET /scripts',
      'GET /scripts/{name}',
      'GET /scripts/{name}/versions',
      'GET /scripts/{name}/versions/{version}',
    ]);
    const denied: string[] = [];
    for (const [path, ops] of Object.entries(doc.body.paths as Record<string, Record<string, unknown>>)) {
      for (const method of Object.keys(ops).map((m) => m.toUpperCase())) {
        const key = `${method} ${path.replace(/^\/api\/v1/, '')}`;
        if (viewerMay.has(key)) continue;
        const url = key.split(' ')[1]!.replace('{device}', fx.deviceId).replace('{id}', 'x-1').replace('{user}', 'ivy');
        const r = await http(method, url, {
          body: method === 'GET' || method === 'DELETE' ? undefined : {},
          headers: bearer(token),
        });
        expect(r.status, key).toBe(403);
        expect(r.body.error.code, key).toBe('E_DENIED');
        denied.push(key);
      }
    }
    expect(denied).toEqual(
      expect.arrayContaining([
        'POST /devices/{device}/commands',
        'POST /devices/{device}/accept',
        'DELETE /devices/{device}',
        'GET /enrollment-tokens',
        'POST /enrollment-tokens',
        'GET /audit',
        'POST /invitations',
        'DELETE /users/{user}',
      ]),
    );
  });
});
