/**
 * The broker ACL table (docs/protocol.md §Topics, §Connecting), exhaustively: who may
 * publish and subscribe where. A failure here means a device could read another
 * device's commands or impersonate the server.
 */
import { MAX_PAYLOAD_BYTES, topics } from '@outpost/protocol';
import { describe, expect, it } from 'vitest';
import { canPublish, canSubscribe, type Decision, type Principal } from './acl.js';

const DEV = 'd-mine';
const OTHER = 'd-other';
const NONCE = 'nonce-0123456789abcdef';
const OTHER_NONCE = 'nonce-fedcba9876543210';
const P = `outpost/v1/d/${DEV}`;
const O = `outpost/v1/d/${OTHER}`;

const server: Principal = { kind: 'server' };
const accepted: Principal = { kind: 'device', deviceId: DEV, status: 'accepted' };
const notAccepted = (['pending', 'rejected', 'revoked'] as const).map(
  (status): Principal => ({ kind: 'device', deviceId: DEV, status }),
);
const enrolling: Principal = { kind: 'enrolling', nonce: NONCE };

function expectAllowed(d: Decision, what: string): void {
  expect(d, what).toEqual({ ok: true });
}
function expectDenied(d: Decision, what: string): void {
  expect(d.ok, what).toBe(false);
  if (!d.ok) expect(d.reason.length, what).toBeGreaterThan(0);
}

/** Topics a device sends to the server, for a given device id. */
const deviceToServer = (root: string) => [
  `${root}/res/c-1`,
  `${root}/out/c-1`,
  `${root}/status`,
  `${root}/telemetry`,
  `${root}/events`,
  `${root}/tty/s-1/out`,
];
/** Topics the server sends to a device. */
const serverToDevice = (root: string) => [`${root}/cmd/exec/run`, `${root}/cmd/system/info`, `${root}/tty/s-1/in`];
const enrollTopics = [
  topics.enrollRequest(NONCE),
  topics.enrollResponse(NONCE),
  topics.enrollRequest(OTHER_NONCE),
  topics.enrollResponse(OTHER_NONCE),
];
const foreignTopics = [
  '',
  'foo',
  '$SYS/broker/uptime',
  'outpost',
  'outpost/v1',
  'outpost/v2/d/d-mine/status',
  `${P}`,
  `${P}/unknown`,
  `${P}/status/extra`,
  `${P}/cmd/Exec/run`,
  `outpost/v1/d/${'x'.repeat(300)}/status`,
];
const wildcardTopics = ['#', '+', `${P}/#`, `${P}/+`, `${P}/res/+`, `outpost/v1/d/+/status`];

describe('server principal', () => {
  const everything = [
    ...deviceToServer(P),
    ...serverToDevice(P),
    ...deviceToServer(O),
    ...serverToDevice(O),
    ...enrollTopics,
    ...foreignTopics,
  ];

  it('may publish anything, retained or not, of any size', () => {
    for (const t of everything) {
      for (const retain of [false, true]) {
        expectAllowed(canPublish(server, t, 10, retain), t);
        expectAllowed(canPublish(server, t, MAX_PAYLOAD_BYTES * 4, retain), t);
      }
    }
  });

  it('may subscribe to anything, wildcards included', () => {
    for (const f of [...everything, ...wildcardTopics, 'outpost/#', '$share/outpost/outpost/v1/d/+/res/+']) {
      expectAllowed(canSubscribe(server, f), f);
    }
  });
});

describe('accepted device: publish', () => {
  it.each(deviceToServer(P))('may publish its own %s', (t) => {
    expectAllowed(canPublish(accepted, t, 100, false), t);
  });

  it('may publish its status retained (presence and last will)', () => {
    expectAllowed(canPublish(accepted, `${P}/status`, 100, true), 'retained status');
  });

  it.each(deviceToServer(P).filter((t) => !t.endsWith('/status')))('may not retain %s', (t) => {
    expectDenied(canPublish(accepted, t, 100, true), t);
  });

  it.each(serverToDevice(P))('may not publish server-to-device %s of its own id', (t) => {
    for (const retain of [false, true]) expectDenied(canPublish(accepted, t, 100, retain), t);
  });

  it.each([...deviceToServer(O), ...serverToDevice(O)])("may not publish another device's %s", (t) => {
    for (const retain of [false, true]) expectDenied(canPublish(accepted, t, 100, retain), t);
  });

  it.each(enrollTopics)('may not publish enrollment topic %s', (t) => {
    expectDenied(canPublish(accepted, t, 100, false), t);
  });

  it.each([...foreignTopics, ...wildcardTopics])('may not publish non-Outpost or wildcard topic %j', (t) => {
    expectDenied(canPublish(accepted, t, 100, false), t);
  });

  it('may publish exactly MAX_PAYLOAD_BYTES, not one byte more', () => {
    for (const t of deviceToServer(P)) {
      expectAllowed(canPublish(accepted, t, MAX_PAYLOAD_BYTES, false), t);
      expectDenied(canPublish(accepted, t, MAX_PAYLOAD_BYTES + 1, false), t);
    }
    expectDenied(canPublish(accepted, `${P}/status`, MAX_PAYLOAD_BYTES + 1, true), 'oversize retained status');
  });

  it('the oversize reason names the limit', () => {
    const d = canPublish(accepted, `${P}/telemetry`, MAX_PAYLOAD_BYTES + 1, false);
    expect(d).toEqual({ ok: false, reason: expect.stringContaining(String(MAX_PAYLOAD_BYTES)) });
  });
});

describe('accepted device: subscribe', () => {
  it.each(topics.agentSubscriptions(DEV))('may subscribe to its agent filter %s', (f) => {
    expectAllowed(canSubscribe(accepted, f), f);
  });

  it.each(serverToDevice(P))('may subscribe to its own concrete %s', (f) => {
    expectAllowed(canSubscribe(accepted, f), f);
  });

  it.each([
    '#',
    '+',
    '+/#',
    'outpost/#',
    'outpost/v1/#',
    'outpost/v1/+/#',
    'outpost/v1/d/#',
    'outpost/v1/d/+/cmd/#',
    'outpost/v1/d/+/tty/+/in',
    'outpost/v1/d/+/status',
    `${P}/#`,
    `${P}/+`,
    `${P}/cmd/+`,
    `${P}/cmd/+/run`,
    `${P}/cmd/exec/+`,
    `${P}/cmd/exec/#`,
    `${P}/res/+`,
    `${P}/out/#`,
    `${P}/tty/#`,
    `${P}/tty/+/out`,
    `${P}/tty/+/+`,
    `${O}/cmd/#`,
    `${O}/tty/+/in`,
    'outpost/v1/enroll/+/res',
    'outpost/v1/enroll/#',
    '$SYS/#',
    `$share/g/${P}/cmd/#`,
    `$share/g/${P}/cmd/exec/run`,
  ])('may not subscribe to wildcard or foreign filter %j', (f) => {
    expectDenied(canSubscribe(accepted, f), f);
  });

  it.each(serverToDevice(O))("may not subscribe to another device's %s", (f) => {
    expectDenied(canSubscribe(accepted, f), f);
  });

  it.each([...deviceToServer(P), ...deviceToServer(O)])('may not subscribe to device-to-server %s', (f) => {
    expectDenied(canSubscribe(accepted, f), f);
  });

  it.each([...enrollTopics, ...foreignTopics])('may not subscribe to %j', (f) => {
    expectDenied(canSubscribe(accepted, f), f);
  });
});

describe.each(notAccepted.map((p) => [p.kind === 'device' ? p.status : '', p] as const))(
  '%s device',
  (_status, device) => {
    it('may publish its own status, retained or not', () => {
      expectAllowed(canPublish(device, `${P}/status`, 100, false), 'status');
      expectAllowed(canPublish(device, `${P}/status`, 100, true), 'retained status');
    });

    it.each(deviceToServer(P).filter((t) => !t.endsWith('/status')))('may not publish %s', (t) => {
      for (const retain of [false, true]) expectDenied(canPublish(device, t, 100, retain), t);
    });

    it('may not publish anything else', () => {
      for (const t of [...serverToDevice(P), ...deviceToServer(O), ...serverToDevice(O), ...enrollTopics]) {
        expectDenied(canPublish(device, t, 100, false), t);
      }
      expectDenied(canPublish(device, `${P}/status`, MAX_PAYLOAD_BYTES + 1, true), 'oversize status');
    });

    it('may subscribe to nothing, not even its agent filters', () => {
      for (const f of [
        ...topics.agentSubscriptions(DEV),
        ...serverToDevice(P),
        ...deviceToServer(P),
        ...wildcardTopics,
        ...enrollTopics,
      ]) {
        expectDenied(canSubscribe(device, f), f);
      }
    });
  },
);

describe('enrolling client', () => {
  it("may publish its own nonce's request, not retained", () => {
    expectAllowed(canPublish(enrolling, topics.enrollRequest(NONCE), 100, false), 'own req');
    expectDenied(canPublish(enrolling, topics.enrollRequest(NONCE), 100, true), 'own req retained');
    expectDenied(canPublish(enrolling, topics.enrollRequest(NONCE), MAX_PAYLOAD_BYTES + 1, false), 'oversize req');
  });

  it('may publish nothing else', () => {
    for (const t of [
      topics.enrollResponse(NONCE),
      topics.enrollRequest(OTHER_NONCE),
      topics.enrollResponse(OTHER_NONCE),
      ...deviceToServer(P),
      ...serverToDevice(P),
      ...foreignTopics,
      'outpost/v1/enroll/+/req',
    ]) {
      expectDenied(canPublish(enrolling, t, 100, false), t);
    }
  });

  it("may subscribe to its own nonce's response only", () => {
    expectAllowed(canSubscribe(enrolling, topics.enrollResponse(NONCE)), 'own res');
    for (const f of [
      topics.enrollRequest(NONCE),
      topics.enrollResponse(OTHER_NONCE),
      'outpost/v1/enroll/+/res',
      `outpost/v1/enroll/${NONCE}/+`,
      `outpost/v1/enroll/${NONCE}/#`,
      'outpost/v1/enroll/#',
      '#',
      ...serverToDevice(P),
      ...topics.agentSubscriptions(DEV),
    ]) {
      expectDenied(canSubscribe(enrolling, f), f);
    }
  });
});
