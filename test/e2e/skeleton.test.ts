/**
 * The walking skeleton end to end: a real server (TLS, SQLite), a real agent
 * process enrolled with a token, commands over the API and the CLI.
 */
import { describe, expect, it } from 'vitest';
import { useOnlineDevice } from '../fixture.js';
import { onlineAgent, runCli, sendCommand, spawnAgent, waitUntil } from '../helpers.js';

const fx = useOnlineDevice();

describe('enrollment and presence', () => {
  it('records the device facts the agent reported', async () => {
    expect(fx.device.status).toBe('accepted');
    expect(fx.device.online).toBe(true);
    expect(fx.device.hostname).toBeTruthy();
    expect(fx.device.arch).toBe(process.arch);
    expect(fx.device.agentVersion).toMatch(/^\d+\.\d+\.\d+/);
    expect(fx.device.firstSeen).toBeTruthy();
  });

  it('stores the device secret with mode 0600 and never on the server in clear', async () => {
    const { statSync, readFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const id = fx.agent.identity();
    expect(statSync(join(fx.agent.stateDir, 'identity.json')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(fx.ts.dataDir, 'outpost.db')).includes(Buffer.from(id.secret))).toBe(false);
  });

  it('a token without autoAccept leaves the device pending until accepted, and pending devices get no commands', async () => {
    const token = await fx.ts.enrollmentToken({ autoAccept: false, tags: ['lab'] });
    const pending = spawnAgent(fx.ts, { enroll: token });
    try {
      const id = await waitUntil(() => pending.identity().deviceId, 'pending agent identity');
      const d = await waitUntil(async () => {
        const x = await fx.ts.device(id);
        return x?.online ? x : null;
      }, 'pending device online');
      expect(d.status).toBe('pending');
      expect(d.tags).toEqual(['lab']);
      const refused = await sendCommand(fx.ts, id, 'system', 'info', {});
      expect(refused.status).toBe(409);
      expect(refused.body.error.code).toBe('E_CONFLICT');

      const accepted = await fx.ts.api('POST', `/devices/${id}/accept`);
      expect(accepted.body.status).toBe('accepted');
      const r = await waitUntil(async () => {
        const res = await sendCommand(fx.ts, id, 'system', 'info', {}, 'wait=true&timeout=5');
        return res.status === 200 && res.body.status === 'succeeded' ? res : null;
      }, 'accepted device answering');
      expect(r.body.result.hostname).toBeTruthy();
    } finally {
      await pending.stop();
    }
  });

  it('a device marked offline while its link stayed up is online again at its next heartbeat, and what was queued meanwhile runs', async () => {
    const id = fx.deviceId;
    const connects = () =>
      fx.agent
        .output()
        .split('\n')
        .filter((l) => /"msg":"connected"/.test(l)).length;
    const before = connects();
    expect(before).toBeGreaterThan(0);
    // What the missed-heartbeat sweep does when the server's event loop stalled or its clock stepped.
    await fx.ts.server.services.devices.markOffline(id, 'missed heartbeats');
    const queued = await sendCommand(fx.ts, id, 'exec', 'run', { argv: ['echo', 'queued'] }, 'wait=false');
    expect(queued.body.status).toBe('queued');
    const done = await waitUntil(async () => {
      const c = await fx.ts.api('GET', `/commands/${queued.body.id}`);
      return c.body.status === 'succeeded' ? c.body : null;
    }, 'the queued command to run after the next heartbeat');
    expect(done.result.stdout).toBe('queued\n');
    expect((await fx.ts.device(id)).online).toBe(true);
    const presence = (await fx.ts.api('GET', `/devices/${id}/presence`)).body.items.map((p: any) => p.online);
    expect(presence.slice(0, 2)).toEqual([true, false]); // newest first: back online after the sweep's offline
    expect(connects()).toBe(before); // the same connection: the agent never reconnected
  });
});

describe('commands', () => {
  it('runs exec/run by argv and returns stdout and the exit code', async () => {
    const r = await sendCommand(fx.ts, fx.device.id, 'exec', 'run', { argv: ['uname', '-a'] });
    expect(r.status).toBe(200);
    expect(r.body.status).toBe('succeeded');
    expect(r.body.result.exitCode).toBe(0);
    expect(r.body.result.stdout).toContain('Linux');
    expect(r.body.createdBy).toBe('user:admin');
    expect(r.body.durationMs).toBeGreaterThanOrEqual(0);
  });

  it('keeps shell metacharacters literal without shell:true', async () => {
    const r = await sendCommand(fx.ts, fx.device.id, 'exec', 'run', { argv: ['echo', '$(id) ; rm -rf / | `x`'] });
    expect(r.body.result.stdout).toBe('$(id) ; rm -rf / | `x`\n');
  });

  it('system/info answers with the device identity', async () => {
    const r = await sendCommand(fx.ts, fx.device.id, 'system', 'info', {});
    expect(r.body.status).toBe('succeeded');
    expect(r.body.result.kernel).toBeTruthy();
    expect(Array.isArray(r.body.result.ips)).toBe(true);
  });

  it('resolves a device by its name as well as its id', async () => {
    await fx.ts.api('PATCH', `/devices/${fx.device.id}`, { name: 'skeleton-dev', tags: ['b', 'a'] });
    const d = await fx.ts.device('skeleton-dev');
    expect(d.id).toBe(fx.device.id);
    expect(d.tags).toEqual(['a', 'b']);
    const byTag = await fx.ts.api('GET', '/devices?tag=a&online=true');
    expect(byTag.body.items.map((x: any) => x.id)).toContain(fx.device.id);
  });

  it('lists and shows stored commands with their outcome', async () => {
    const list = await fx.ts.api('GET', `/devices/${fx.device.id}/commands`);
    expect(list.body.items.length).toBeGreaterThan(0);
    const one = await fx.ts.api('GET', `/commands/${list.body.items[0].id}`);
    expect(one.body.deviceId).toBe(fx.device.id);
    expect(['succeeded', 'failed']).toContain(one.body.status);
  });

  it('streams output over SSE, replaying what was already sent', async () => {
    const created = await sendCommand(
      fx.ts,
      fx.device.id,
      'exec',
      'run',
      { script: 'for i in 1 2 3; do echo line$i; done; echo err >&2', shell: true },
      'wait=false',
    );
    expect(created.status).toBe(202);
    const { Agent, fetch } = await import('undici');
    const res = await fetch(`https://127.0.0.1:${fx.ts.server.httpPort}/api/v1/commands/${created.body.id}/events`, {
      headers: { authorization: `Bearer ${fx.ts.token}` },
      dispatcher: new Agent({ connect: { ca: fx.ts.ca } }),
    });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const text = await res.text();
    const events = text
      .split('\n\n')
      .filter((b) => b.startsWith('event:'))
      .map((b) => ({ event: /event: (\w+)/.exec(b)?.[1], data: JSON.parse(/data: (.*)/.exec(b)?.[1] ?? 'null') }));
    const out = events.filter((e) => e.event === 'output');
    const stdout = out
      .filter((e) => e.data.stream === 'stdout')
      .map((e) => Buffer.from(e.data.data, 'base64').toString())
      .join('');
    expect(stdout).toBe('line1\nline2\nline3\n');
    expect(out.some((e) => e.data.stream === 'stderr')).toBe(true);
    expect(events.at(-1)?.event).toBe('end');
    expect(events.at(-1)?.data.status).toBe('succeeded');
  });
});

describe('CLI', () => {
  it('outpost exec prints the remote output and exits with the remote exit code', async () => {
    const uname = await runCli(fx.ts, ['exec', fx.device.id, '--', 'uname', '-a']);
    expect(uname.stderr).toBe('');
    expect(uname.code).toBe(0);
    expect(uname.stdout).toMatch(/^Linux /);
    const three = await runCli(fx.ts, ['exec', fx.device.id, '--', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    expect(three.code).toBe(3);
    expect(three.stdout).toBe('out\n');
    expect(three.stderr).toContain('err\n');
  });

  it('outpost devices ls shows the device; --json gives the records', async () => {
    const ls = await runCli(fx.ts, ['devices', 'ls']);
    expect(ls.code).toBe(0);
    expect(ls.stdout).toContain(fx.device.id);
    const json = await runCli(fx.ts, ['devices', 'ls', '--json']);
    const parsed = JSON.parse(json.stdout);
    const items = Array.isArray(parsed) ? parsed : parsed.items;
    expect(items.some((d: any) => d.id === fx.device.id)).toBe(true);
  });

  it('an unknown device is one clear error line and a non-zero exit', async () => {
    const r = await runCli(fx.ts, ['exec', 'no-such-device', '--', 'true']);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('E_NOT_FOUND');
  });

  it('tokens create | ls | revoke', async () => {
    const created = await runCli(fx.ts, ['tokens', 'create', '--name', 'cli-made', '--max-uses', '2', '--json']);
    expect(created.code).toBe(0);
    const tok = JSON.parse(created.stdout);
    expect(tok.token).toMatch(/^ope_/);
    const ls = await runCli(fx.ts, ['tokens', 'ls']);
    expect(ls.stdout).toContain(tok.id);
    expect(ls.stdout).not.toContain(tok.token);
    const rev = await runCli(fx.ts, ['tokens', 'revoke', tok.id]);
    expect(rev.code).toBe(0);
    const after = await fx.ts.api('GET', '/enrollment-tokens');
    expect(after.body.items.find((t: any) => t.id === tok.id).state).toBe('revoked');
  });
});

describe('over WebSocket', () => {
  it('an agent on wss://host/mqtt enrolls, comes online and runs commands', async () => {
    const { agent: wsAgent, device: wsDevice } = await onlineAgent(fx.ts, { transport: 'wss' });
    try {
      const r = await sendCommand(fx.ts, wsDevice.id, 'exec', 'run', { argv: ['echo', 'over-wss'] });
      expect(r.body.result.stdout).toBe('over-wss\n');
    } finally {
      await wsAgent.stop();
    }
    await waitUntil(async () => (await fx.ts.device(wsDevice.id))?.online === false, 'wss agent offline after stop');
  });
});

describe('secrets hygiene', () => {
  it('no token or device secret appears in the server log or the agent log', async () => {
    const { readFileSync } = await import('node:fs');
    const serverLog = readFileSync(fx.ts.logFile, 'utf8');
    const agentLog = fx.agent.output();
    expect(serverLog.length).toBeGreaterThan(0);
    const secrets = [fx.ts.token, fx.agent.identity().secret];
    // Every secret Outpost makes has a typed prefix: none may appear in full in any log.
    for (const log of [serverLog, agentLog]) {
      for (const s of secrets) expect(log).not.toContain(s);
      expect(log).not.toMatch(/\b(opt|ope|ops)_[A-Za-z0-9_-]{40,}/);
    }
  });
});
