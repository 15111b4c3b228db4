/**
 * Hostile and malformed input, each answered with a coded error, logged, and
 * changing nothing else: bad tokens, wrong secrets, devices reaching into other
 * devices' topics, malformed JSON and wrong types, oversized payloads, bad ids.
 */
import { describe, expect, it } from 'vitest';
import { useOnlineDevice } from '../fixture.js';
import { onlineAgent, rawClient, sendCommand, spawnAgent, waitUntil } from '../helpers.js';

const fx = useOnlineDevice();

const deviceCount = async () => (await fx.ts.api('GET', '/devices')).body.items.length as number;

async function connectRefused(opts: Parameters<typeof rawClient>[1]): Promise<string> {
  try {
    const c = await rawClient(fx.ts, opts);
    await c.endAsync(true);
    return 'connected';
  } catch (err) {
    return String((err as Error).message);
  }
}

describe('enrollment tokens', () => {
  it('an unknown, revoked, expired or used-up token is refused at CONNECT and creates no device', async () => {
    const before = await deviceCount();
    expect(await connectRefused({ clientId: 'enroll-n1abcdef', username: 'enroll', password: 'ope_nope' })).toMatch(
      /Not authorized|Bad username/i,
    );

    const revoked = await fx.ts.api('POST', '/enrollment-tokens', { autoAccept: true });
    await fx.ts.api('DELETE', `/enrollment-tokens/${revoked.body.id}`);
    expect(
      await connectRefused({ clientId: 'enroll-n2abcdef', username: 'enroll', password: revoked.body.token }),
    ).toMatch(/Not authorized/i);

    const once = await fx.ts.enrollmentToken({ autoAccept: true, maxUses: 1 });
    const first = await onlineAgent(fx.ts, { enroll: once });
    await first.agent.stop();
    const second = spawnAgent(fx.ts, { enroll: once });
    const code = await waitUntil(() => second.proc.exitCode, 'agent with used-up token to exit');
    expect(code).toBe(2);
    expect(second.output()).toMatch(/enrollment token rejected/i);
    expect(second.output()).not.toContain(once);
    expect(await deviceCount()).toBe(before + 1);
    const tokens = (await fx.ts.api('GET', '/enrollment-tokens')).body.items;
    expect(tokens.find((t: any) => t.id === revoked.body.id).state).toBe('revoked');
    expect(tokens.some((t: any) => t.state === 'used-up')).toBe(true);
  });

  it('an enrolling client cannot publish or subscribe outside its own nonce', async () => {
    const token = await fx.ts.enrollmentToken({ autoAccept: true });
    const c = await rawClient(fx.ts, { clientId: 'enroll-mynonce123', username: 'enroll', password: token });
    const sub = await c.subscribeAsync('outpost/v1/enroll/othernonce/res').catch((e) => e.packet);
    expect(sub.granted?.[0] ?? sub[0]?.qos).toBe(128);
    await c.endAsync(true);
  });
});

describe('device credentials and isolation', () => {
  it('a wrong secret or a client id that is not the device id is refused', async () => {
    const { deviceId } = fx.agent.identity();
    expect(await connectRefused({ clientId: deviceId, username: deviceId, password: 'ops_wrong' })).toMatch(
      /Bad username|Not authorized/i,
    );
    expect(
      await connectRefused({ clientId: 'someone-else', username: deviceId, password: fx.agent.identity().secret }),
    ).toMatch(/Bad username|Not authorized/i);
    expect(await connectRefused({ clientId: 'd/../x', username: 'd/../x', password: 'x' })).not.toBe('connected');
  });

  it("a device cannot subscribe to # or another device's commands, nor forge another device's results", async () => {
    // A second, hostile device with valid credentials of its own.
    const { agent: evilAgent, device: evil } = await onlineAgent(fx.ts);
    const creds = evilAgent.identity();
    await evilAgent.stop();
    const c = await rawClient(fx.ts, { clientId: creds.deviceId, username: creds.deviceId, password: creds.secret });
    for (const filter of ['#', 'outpost/#', `outpost/v1/d/${fx.device.id}/cmd/#`, 'outpost/v1/d/+/res/+']) {
      const r = await c.subscribeAsync(filter, { qos: 1 }).catch((e) => e.packet.granted);
      expect(Array.isArray(r) ? (r[0]?.qos ?? r[0]) : r, filter).toBe(128);
    }
    // Start a long command on the victim, then try to finish it with a forged result.
    const running = await sendCommand(fx.ts, fx.device.id, 'exec', 'run', { argv: ['sleep', '2'] }, 'wait=false');
    const closed = new Promise<void>((r) => c.once('close', () => r()));
    c.publish(
      `outpost/v1/d/${fx.device.id}/res/${running.body.id}`,
      JSON.stringify({
        id: running.body.id,
        ok: true,
        data: {
          exitCode: 0,
          signal: null,
          stdout: 'forged',
          stderr: '',
          truncated: false,
          timedOut: false,
          durationMs: 1,
        },
      }),
      { qos: 1 },
    );
    await closed; // the broker drops a client that publishes outside its subtree
    const done = await fx.ts.api('GET', `/commands/${running.body.id}`);
    expect(done.body.result?.stdout).not.toBe('forged');
    const final = await waitUntil(async () => {
      const x = await fx.ts.api('GET', `/commands/${running.body.id}`);
      return x.body.status === 'succeeded' ? x.body : null;
    }, 'real result');
    expect(final.result.stdout).toBe('');
    expect((await fx.ts.device(fx.device.id)).online).toBe(true);
    expect(evil.id).not.toBe(fx.device.id);
  });

  it('revoking a device disconnects it at once and its credentials stop working', async () => {
    const { agent: a, device: d } = await onlineAgent(fx.ts);
    const creds = a.identity();
    const r = await fx.ts.api('POST', `/devices/${d.id}/revoke`);
    expect(r.body.status).toBe('revoked');
    await waitUntil(async () => (await fx.ts.device(d.id)).online === false, 'revoked device offline');
    expect(
      await connectRefused({ clientId: creds.deviceId, username: creds.deviceId, password: creds.secret }),
    ).toMatch(/Bad username|Not authorized/i);
    const cmd = await sendCommand(fx.ts, d.id, 'system', 'info', {});
    expect(cmd.body.error.code).toBe('E_CONFLICT');
    const again = await fx.ts.api('POST', `/devices/${d.id}/accept`);
    expect(again.body.error.code).toBe('E_CONFLICT');
    await a.stop();
  });
});

describe('malformed messages over MQTT', () => {
  it('malformed JSON and wrong types from a device are dropped without crashing or changing state', async () => {
    const { agent: a, device: d } = await onlineAgent(fx.ts);
    const creds = a.identity();
    await a.stop();
    await waitUntil(async () => (await fx.ts.device(d.id)).online === false, 'device offline');
    const c = await rawClient(fx.ts, { clientId: creds.deviceId, username: creds.deviceId, password: creds.secret });
    const base = `outpost/v1/d/${creds.deviceId}`;
    await c.publishAsync(`${base}/status`, '{not json', { qos: 1 });
    await c.publishAsync(`${base}/status`, JSON.stringify({ online: 'yes', since: 'now' }), { qos: 1 });
    await c.publishAsync(`${base}/telemetry`, JSON.stringify({ ts: -1 }), { qos: 1 });
    await c.publishAsync(`${base}/res/c-doesnotexist`, JSON.stringify({ id: 'c-doesnotexist', ok: true, data: 1 }), {
      qos: 1,
    });
    await c.publishAsync(`${base}/out/c-doesnotexist`, Buffer.from([0xff, 0x00, 0x13]), { qos: 1 });
    await c.endAsync();
    expect((await fx.ts.device(d.id)).online).toBe(false);
    expect((await fx.ts.api('GET', '/health')).status).toBe(200);
  });

  it('a publish over the size limit drops the connection and is not delivered', async () => {
    const { agent: a } = await onlineAgent(fx.ts);
    const creds = a.identity();
    await a.stop();
    const c = await rawClient(fx.ts, { clientId: creds.deviceId, username: creds.deviceId, password: creds.secret });
    const closed = new Promise<void>((r) => c.once('close', () => r()));
    c.publish(`outpost/v1/d/${creds.deviceId}/events`, Buffer.alloc(2 * 1024 * 1024, 0x61), { qos: 0 });
    await closed;
    expect((await fx.ts.api('GET', '/health')).status).toBe(200);
  });
});

describe('malformed requests over HTTP', () => {
  it('answers every bad request with a coded error', async () => {
    const cases: [string, string, unknown, { rawBody?: string; token?: string | null }, number, string][] = [
      ['GET', '/devices', undefined, { token: null }, 401, 'E_UNAUTHENTICATED'],
      ['GET', '/devices', undefined, { token: 'opt_invalid' }, 401, 'E_UNAUTHENTICATED'],
      ['GET', '/devices/no-such-device', undefined, {}, 404, 'E_NOT_FOUND'],
      ['GET', '/devices/a%2Fb', undefined, {}, 404, 'E_NOT_FOUND'],
      ['GET', '/devices/%2B', undefined, {}, 404, 'E_NOT_FOUND'],
      ['GET', '/devices/%23', undefined, {}, 404, 'E_NOT_FOUND'],
      ['GET', '/devices/..', undefined, {}, 404, 'E_NOT_FOUND'],
      ['GET', '/commands/c-nope', undefined, {}, 404, 'E_NOT_FOUND'],
      ['GET', '/commands/..%2Fx', undefined, {}, 400, 'E_BAD_ARGS'],
      ['POST', '/enrollment-tokens', undefined, { rawBody: '{"name": ' }, 400, 'E_BAD_ARGS'],
      ['POST', '/enrollment-tokens', { maxUses: 'ten' }, {}, 400, 'E_BAD_ARGS'],
      ['POST', '/enrollment-tokens', { autoAccept: true, admin: true }, {}, 400, 'E_BAD_ARGS'],
      [
        'POST',
        '/enrollment-tokens',
        { __proto__: { x: 1 }, name: 'p' },
        { rawBody: '{"__proto__": {"autoAccept": true}}' },
        400,
        'E_BAD_ARGS',
      ],
      ['POST', '/devices/x/commands', { capability: 'nope', action: 'run' }, {}, 400, 'E_BAD_ARGS'],
      ['POST', '/no/such/route', {}, {}, 404, 'E_NOT_FOUND'],
    ];
    for (const [method, path, body, opts, status, code] of cases) {
      const r = await fx.ts.api(method, path, body, opts);
      expect(r.status, `${method} ${path}`).toBe(status);
      expect(r.body.error.code, `${method} ${path}`).toBe(code);
      expect(typeof r.body.error.message).toBe('string');
    }
  });

  it('rejects unknown commands and bad args before anything reaches the device', async () => {
    const before = (await fx.ts.api('GET', `/devices/${fx.device.id}/commands`)).body.items.length;
    const unknown = await sendCommand(fx.ts, fx.device.id, 'exec', 'format-disk', {});
    expect(unknown.body.error.code).toBe('E_BAD_ARGS');
    const wrongType = await sendCommand(fx.ts, fx.device.id, 'exec', 'run', { argv: 'rm -rf /' });
    expect(wrongType.body.error.code).toBe('E_BAD_ARGS');
    const scriptNoShell = await sendCommand(fx.ts, fx.device.id, 'exec', 'run', { script: 'id' });
    expect(scriptNoShell.body.error.code).toBe('E_BAD_ARGS');
    expect((await fx.ts.api('GET', `/devices/${fx.device.id}/commands`)).body.items.length).toBe(before);
  });

  it('a body over the limit is E_TOO_LARGE', async () => {
    const r = await fx.ts.api('POST', '/enrollment-tokens', undefined, {
      rawBody: JSON.stringify({ name: 'x'.repeat(2 * 1024 * 1024) }),
    });
    expect(r.status).toBe(413);
    expect(r.body.error.code).toBe('E_TOO_LARGE');
  });
});

describe('exec limits', () => {
  it('caps a flood of output and marks it truncated', async () => {
    const r = await sendCommand(fx.ts, fx.device.id, 'exec', 'run', {
      argv: ['sh', '-c', 'yes | head -c 20000000'],
      maxOutputBytes: 100_000,
    });
    expect(r.body.status).toBe('succeeded');
    expect(r.body.result.truncated).toBe(true);
    expect(r.body.result.stdout.length).toBeLessThanOrEqual(100_000);
    expect(r.body.result.exitCode).toBe(0);
  });

  it('kills a command that never ends, with its whole process group', async () => {
    const r = await sendCommand(fx.ts, fx.device.id, 'exec', 'run', {
      script: 'sleep 1017 & echo started; sleep 1017',
      shell: true,
      timeoutMs: 500,
    });
    expect(r.body.status).toBe('succeeded');
    expect(r.body.result.timedOut).toBe(true);
    expect(r.body.result.stdout).toBe('started\n');
    const left = await sendCommand(fx.ts, fx.device.id, 'exec', 'run', {
      argv: ['sh', '-c', 'pgrep -f "^sleep 1017$" || true'],
    });
    expect(left.body.result.stdout.trim()).toBe('');
  });
});
