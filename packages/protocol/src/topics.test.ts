/** Topic builders and the one parser: what the broker ACL and both routers rely on (docs/protocol.md §Topics). */
import { describe, expect, it } from 'vitest';
import {
  deviceRoot,
  ID_PATTERN,
  isValidId,
  isValidName,
  NAME_PATTERN,
  type ParsedTopic,
  parseTopic,
  serverSubscriptions,
  topics,
} from './topics.js';
import { TOPIC_PREFIX } from './version.js';

const DEV = 'd-abc123';
const P = `outpost/v1/d/${DEV}`;

/** MQTT filter matching (3.1.1 §4.7), just enough to check the subscription lists against the builders. */
function matches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

/** Ids that could widen a filter, climb a path or break a topic level: all must be refused. */
const badIds: [string, string][] = [
  ['plus', 'a+b'],
  ['lone plus', '+'],
  ['hash', 'a#'],
  ['lone hash', '#'],
  ['slash', 'a/b'],
  ['dot', 'a.b'],
  ['single dot', '.'],
  ['double dot', '..'],
  ['empty', ''],
  ['65 chars', `a${'b'.repeat(64)}`],
  ['non-ASCII letter', 'dév'],
  ['non-ASCII digit', 'a١'],
  ['emoji', 'a😀'],
  ['leading dash', '-abc'],
  ['leading underscore', '_abc'],
  ['space', 'a b'],
  ['trailing newline', 'abc\n'],
  ['NUL', 'a\u0000b'],
  ['dollar', '$SYS'],
];

const goodIds = ['a', 'A', '0', 'd-abc123', 'a_b-c', 'X'.repeat(64), `a${'-'.repeat(63)}`, '0_'];

describe('identifier patterns', () => {
  it('the exported patterns are the documented ones', () => {
    expect(ID_PATTERN).toBe('^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$');
    expect(NAME_PATTERN).toBe('^[a-z][a-z0-9-]{0,31}$');
    expect(TOPIC_PREFIX).toBe('outpost/v1');
  });

  it.each(goodIds)('accepts id %j', (id) => {
    expect(isValidId(id)).toBe(true);
  });

  it.each(badIds)('rejects id with %s', (_label, id) => {
    expect(isValidId(id)).toBe(false);
  });

  it('rejects non-string ids', () => {
    for (const v of [undefined, null, 1, {}, ['a']]) expect(isValidId(v)).toBe(false);
  });

  it.each(['exec', 'run', 'system', 'a', 'port-forward', 'x9', `a${'b'.repeat(31)}`])('accepts name %j', (name) => {
    expect(isValidName(name)).toBe(true);
  });

  it.each(['', 'Exec', 'RUN', '9x', '-x', 'a_b', 'a.b', 'a/b', '+', '#', `a${'b'.repeat(32)}`, 'exéc'])(
    'rejects name %j',
    (name) => {
      expect(isValidName(name)).toBe(false);
    },
  );
});

describe('topic builders', () => {
  it('build the documented topics', () => {
    expect(deviceRoot(DEV)).toBe(P);
    expect(topics.command(DEV, 'exec', 'run')).toBe(`${P}/cmd/exec/run`);
    expect(topics.result(DEV, 'c1')).toBe(`${P}/res/c1`);
    expect(topics.output(DEV, 'c1')).toBe(`${P}/out/c1`);
    expect(topics.status(DEV)).toBe(`${P}/status`);
    expect(topics.telemetry(DEV)).toBe(`${P}/telemetry`);
    expect(topics.events(DEV)).toBe(`${P}/events`);
    expect(topics.tty(DEV, 's1', 'in')).toBe(`${P}/tty/s1/in`);
    expect(topics.tty(DEV, 's1', 'out')).toBe(`${P}/tty/s1/out`);
    expect(topics.agentSubscriptions(DEV)).toEqual([`${P}/cmd/#`, `${P}/tty/+/in`]);
    expect(topics.enrollRequest('n0nce')).toBe('outpost/v1/enroll/n0nce/req');
    expect(topics.enrollResponse('n0nce')).toBe('outpost/v1/enroll/n0nce/res');
  });

  it('the server subscribes to every device-to-server topic and no server-to-device topic', () => {
    const toServer = [
      topics.result(DEV, 'c1'),
      topics.output(DEV, 'c1'),
      topics.status(DEV),
      topics.telemetry(DEV),
      topics.events(DEV),
      topics.tty(DEV, 's1', 'out'),
      topics.enrollRequest('n0nce'),
    ];
    const toDevice = [topics.command(DEV, 'exec', 'run'), topics.tty(DEV, 's1', 'in'), topics.enrollResponse('n0nce')];
    for (const t of toServer)
      expect(
        serverSubscriptions.some((f) => matches(f, t)),
        t,
      ).toBe(true);
    for (const t of toDevice)
      expect(
        serverSubscriptions.some((f) => matches(f, t)),
        t,
      ).toBe(false);
  });

  it("the agent's subscriptions cover its commands and terminal input only", () => {
    const subs = topics.agentSubscriptions(DEV);
    const covered = (t: string) => subs.some((f) => matches(f, t));
    expect(covered(topics.command(DEV, 'exec', 'run'))).toBe(true);
    expect(covered(topics.command(DEV, 'system', 'info'))).toBe(true);
    expect(covered(topics.tty(DEV, 's1', 'in'))).toBe(true);
    expect(covered(topics.tty(DEV, 's1', 'out'))).toBe(false);
    expect(covered(topics.result(DEV, 'c1'))).toBe(false);
    expect(covered(topics.status(DEV))).toBe(false);
    expect(covered(topics.command('d-other', 'exec', 'run'))).toBe(false);
  });

  const idTakers: [string, (id: string) => unknown][] = [
    ['deviceRoot', (id) => deviceRoot(id)],
    ['command (device id)', (id) => topics.command(id, 'exec', 'run')],
    ['result (device id)', (id) => topics.result(id, 'c1')],
    ['result (command id)', (id) => topics.result(DEV, id)],
    ['output (device id)', (id) => topics.output(id, 'c1')],
    ['output (command id)', (id) => topics.output(DEV, id)],
    ['status', (id) => topics.status(id)],
    ['telemetry', (id) => topics.telemetry(id)],
    ['events', (id) => topics.events(id)],
    ['tty (device id)', (id) => topics.tty(id, 's1', 'in')],
    ['tty (session id)', (id) => topics.tty(DEV, id, 'out')],
    ['agentSubscriptions', (id) => topics.agentSubscriptions(id)],
    ['enrollRequest', (id) => topics.enrollRequest(id)],
    ['enrollResponse', (id) => topics.enrollResponse(id)],
  ];

  describe.each(idTakers)('%s', (_name, build) => {
    it.each(badIds)('throws on an id with %s', (_label, id) => {
      expect(() => build(id)).toThrow(TypeError);
    });
    it('accepts a 64-char id', () => {
      expect(() => build('X'.repeat(64))).not.toThrow();
    });
  });

  it('command rejects bad capability or action names', () => {
    for (const [cap, action] of [
      ['Exec', 'run'],
      ['exec', 'Run'],
      ['', 'run'],
      ['exec', ''],
      ['exec/x', 'run'],
      ['exec', 'run/x'],
      ['+', 'run'],
      ['exec', '#'],
      ['e_x', 'run'],
      [`a${'b'.repeat(32)}`, 'run'],
    ] as const) {
      expect(() => topics.command(DEV, cap, action), `${cap}/${action}`).toThrow(TypeError);
    }
  });

  it('error messages do not echo unbounded input', () => {
    const long = `bad/${'x'.repeat(10_000)}`;
    try {
      deviceRoot(long);
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message.length).toBeLessThan(200);
    }
  });
});

describe('parseTopic', () => {
  const roundTrips: [string, ParsedTopic][] = [
    [
      topics.command(DEV, 'exec', 'run'),
      { kind: 'command', deviceId: DEV, capability: 'exec', action: 'run', direction: 'server' },
    ],
    [topics.result(DEV, 'c1'), { kind: 'result', deviceId: DEV, commandId: 'c1', direction: 'device' }],
    [topics.output(DEV, 'c1'), { kind: 'output', deviceId: DEV, commandId: 'c1', direction: 'device' }],
    [topics.status(DEV), { kind: 'status', deviceId: DEV, direction: 'device' }],
    [topics.telemetry(DEV), { kind: 'telemetry', deviceId: DEV, direction: 'device' }],
    [topics.events(DEV), { kind: 'events', deviceId: DEV, direction: 'device' }],
    [topics.tty(DEV, 's1', 'in'), { kind: 'tty', deviceId: DEV, sessionId: 's1', stream: 'in', direction: 'server' }],
    [topics.tty(DEV, 's1', 'out'), { kind: 'tty', deviceId: DEV, sessionId: 's1', stream: 'out', direction: 'device' }],
    [topics.enrollRequest('n0nce'), { kind: 'enroll', nonce: 'n0nce', phase: 'req', direction: 'device' }],
    [topics.enrollResponse('n0nce'), { kind: 'enroll', nonce: 'n0nce', phase: 'res', direction: 'server' }],
  ];

  it.each(roundTrips)('round-trips %s', (topic, parsed) => {
    expect(parseTopic(topic)).toEqual(parsed);
  });

  it('round-trips the longest ids and names', () => {
    const id = 'X'.repeat(64);
    const name = `a${'b'.repeat(31)}`;
    expect(parseTopic(topics.command(id, name, name))).toMatchObject({ deviceId: id, capability: name, action: name });
    expect(parseTopic(topics.tty(id, id, 'out'))).toMatchObject({ deviceId: id, sessionId: id });
    expect(parseTopic(topics.result(id, id))).toMatchObject({ deviceId: id, commandId: id });
    expect(parseTopic(topics.enrollRequest(id))).toMatchObject({ nonce: id });
  });

  it('direction: only command, tty in and enroll res flow server to device', () => {
    const serverKinds = roundTrips.filter(([, p]) => p.direction === 'server').map(([t]) => t);
    expect(serverKinds).toEqual([
      topics.command(DEV, 'exec', 'run'),
      topics.tty(DEV, 's1', 'in'),
      topics.enrollResponse('n0nce'),
    ]);
  });

  describe.each(badIds)('rejects an id with %s', (_label, id) => {
    it.each([
      `outpost/v1/d/${id}/status`,
      `outpost/v1/d/${id}/cmd/exec/run`,
      `${P}/res/${id}`,
      `${P}/out/${id}`,
      `${P}/tty/${id}/in`,
      `${P}/tty/${id}/out`,
      `outpost/v1/enroll/${id}/req`,
      `outpost/v1/enroll/${id}/res`,
    ])('%j', (topic) => {
      expect(parseTopic(topic)).toBeNull();
    });
  });

  it.each([
    ['too shallow: no kind', P],
    ['too shallow: device root with slash', `${P}/`],
    ['too shallow: prefix only', 'outpost/v1'],
    ['too shallow: prefix slash', 'outpost/v1/'],
    ['too shallow: d only', 'outpost/v1/d'],
    ['too shallow: cmd without action', `${P}/cmd/exec`],
    ['too shallow: cmd without capability', `${P}/cmd`],
    ['too shallow: res without id', `${P}/res`],
    ['too shallow: out without id', `${P}/out`],
    ['too shallow: tty without stream', `${P}/tty/s1`],
    ['too shallow: enroll without phase', 'outpost/v1/enroll/n0nce'],
    ['too deep: cmd', `${P}/cmd/exec/run/x`],
    ['too deep: res', `${P}/res/c1/x`],
    ['too deep: out', `${P}/out/c1/x`],
    ['too deep: status', `${P}/status/x`],
    ['too deep: telemetry', `${P}/telemetry/x`],
    ['too deep: events', `${P}/events/x`],
    ['too deep: tty', `${P}/tty/s1/in/x`],
    ['too deep: enroll', 'outpost/v1/enroll/n0nce/req/x'],
    ['trailing slash: status', `${P}/status/`],
    ['trailing slash: res', `${P}/res/c1/`],
    ['trailing slash: cmd', `${P}/cmd/exec/run/`],
    ['trailing slash: enroll', 'outpost/v1/enroll/n0nce/res/'],
    ['double slash', `outpost/v1/d//${DEV}/status`],
    ['wrong prefix: v2', `outpost/v2/d/${DEV}/status`],
    ['wrong prefix: other root', `other/v1/d/${DEV}/status`],
    ['wrong prefix: leading slash', `/outpost/v1/d/${DEV}/status`],
    ['wrong prefix: no separator', `outpost/v1d/${DEV}/status`],
    ['wrong prefix: case', `Outpost/v1/d/${DEV}/status`],
    ['wrong prefix: $share', `$share/outpost/outpost/v1/d/${DEV}/status`],
    ['wrong scope', `outpost/v1/x/${DEV}/status`],
    ['wrong scope: device', `outpost/v1/device/${DEV}/status`],
    ['unknown kind', `${P}/config`],
    ['kind case', `${P}/Status`],
    ['bad enroll phase', 'outpost/v1/enroll/n0nce/ack'],
    ['bad tty stream', `${P}/tty/s1/err`],
    ['cmd: uppercase capability', `${P}/cmd/Exec/run`],
    ['cmd: uppercase action', `${P}/cmd/exec/RUN`],
    ['cmd: underscore', `${P}/cmd/ex_ec/run`],
    ['cmd: dot', `${P}/cmd/exec/run.x`],
    ['cmd: leading digit', `${P}/cmd/9exec/run`],
    ['cmd: empty capability', `${P}/cmd//run`],
    ['cmd: wildcard capability', `${P}/cmd/+/run`],
    ['cmd: wildcard action', `${P}/cmd/exec/#`],
    ['cmd: over-long name', `${P}/cmd/a${'b'.repeat(32)}/run`],
    ['filter: agent cmd', `${P}/cmd/#`],
    ['filter: agent tty', `${P}/tty/+/in`],
    ['filter: any device', 'outpost/v1/d/+/status'],
    ['filter: everything', '#'],
    ['empty', ''],
  ])('rejects %s', (_label, topic) => {
    expect(parseTopic(topic)).toBeNull();
  });

  it('rejects over-long topics before splitting them', () => {
    expect(parseTopic(`${P}/status${'/x'.repeat(200)}`)).toBeNull();
    expect(parseTopic(`outpost/v1/${'a/'.repeat(100_000)}`)).toBeNull();
    expect(parseTopic(`outpost/v1/d/${'a'.repeat(300)}/status`)).toBeNull();
  });

  it('rejects non-strings', () => {
    for (const v of [undefined, null, 42, {}, ['outpost/v1/d/x/status']]) {
      expect(parseTopic(v as unknown as string)).toBeNull();
    }
  });
});
