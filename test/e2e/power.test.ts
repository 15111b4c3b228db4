/**
 * Reboot and shutdown end to end. This machine must never reboot, so the agent runs
 * with `OUTPOST_AGENT_POWER_COMMAND` set to a FAKE power command written here: it
 * records that it was called (action and reason) and stops the agent, as a real
 * reboot would; the test then starts the agent again, as the device's boot would,
 * and checks what the server saw (presence history, audit) and what the CLI says.
 */
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  asAdmin,
  onlineAgent,
  runCli,
  spawnAgent,
  startTestServer,
  type TestAgent,
  type TestServer,
  tempDir,
  waitUntil,
} from '../helpers.js';

let ts: TestServer;
let agent: TestAgent;
let device: string;
const dir = tempDir('outpost-power-');
const calls = join(dir, 'calls');
const fakePower = join(dir, 'fake-power');
// $PPID is the agent: the command is run by it directly, without a shell.
writeFileSync(fakePower, `#!/bin/sh\necho "$1|$OUTPOST_POWER_REASON" >> '${calls}'\nkill -TERM "$PPID"\n`);
chmodSync(fakePower, 0o755);
const env = { OUTPOST_AGENT_POWER_COMMAND: fakePower };

const recorded = () => (existsSync(calls) ? readFileSync(calls, 'utf8').trim().split('\n') : []);

/** Starts the agent again from its state dir, as the device's boot would. */
function boot(): TestAgent {
  agent = spawnAgent(ts, { stateDir: agent.stateDir, env });
  return agent;
}

const online = (want: boolean) => waitUntil(async () => (await ts.device(device))?.online === want, `online=${want}`);

beforeAll(async () => {
  ts = await startTestServer();
  ({ agent } = await onlineAgent(ts, { env }));
  device = agent.identity().deviceId;
});
afterAll(async () => {
  await agent?.stop();
  await ts?.close();
});

describe('POST /devices/:device/reboot', () => {
  it('acknowledges before acting, reboots after the delay, and the device goes offline and comes back', async () => {
    const asked = Date.now();
    const r = await ts.api('POST', `/devices/${device}/reboot`, { delaySeconds: 2, reason: 'kernel 6.1 update' });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ action: 'reboot', reason: 'kernel 6.1 update' });
    expect(Date.parse(r.body.scheduledAt)).toBeGreaterThanOrEqual(asked + 1000);
    // The answer came first: nothing has run yet, and the device says what is pending.
    expect(recorded()).toEqual([]);
    expect((await ts.api('GET', `/devices/${device}/power`)).body.pending).toEqual(r.body);

    const stopped = agent;
    await waitUntil(() => stopped.proc.exitCode !== null, 'agent stopped by the power command');
    expect(recorded()).toEqual(['reboot|kernel 6.1 update']);
    expect(stopped.output()).toContain('kernel 6.1 update');
    await online(false);

    boot();
    await online(true);
    // Newest first: back online, offline for the reboot, online from before.
    const presence = (await ts.api('GET', `/devices/${device}/presence`)).body.items;
    expect(presence.slice(0, 3).map((p: any) => p.online)).toEqual([true, false, true]);
    expect(Date.parse(presence[1].at)).toBeGreaterThanOrEqual(Date.parse(r.body.scheduledAt) - 1000);
    // A rebooted agent has nothing pending.
    expect((await ts.api('GET', `/devices/${device}/power`)).body).toEqual({ pending: null, last: null });

    const audit = await asAdmin(ts, 'GET', `/audit?action=device.reboot&device=${device}`);
    expect(audit.items.at(-1)).toMatchObject({
      result: 'ok',
      details: { command: 'power/reboot', args: { delaySeconds: 2, reason: 'kernel 6.1 update' } },
    });
  });

  it('refuses a second reboot or a shutdown while one is pending (409 E_CONFLICT); cancel calls it off', async () => {
    const first = await ts.api('POST', `/devices/${device}/reboot`, { delaySeconds: 2 });
    expect(first.status).toBe(200);
    for (const act of ['reboot', 'shutdown']) {
      const again = await ts.api('POST', `/devices/${device}/${act}`, {});
      expect(again.status).toBe(409);
      expect(again.body.error).toMatchObject({
        code: 'E_CONFLICT',
        message: `a reboot is already scheduled for ${first.body.scheduledAt}; cancel it first`,
      });
    }
    const cancel = await ts.api('POST', `/devices/${device}/power/cancel`);
    expect(cancel.body).toEqual({ cancelled: first.body });
    expect((await ts.api('POST', `/devices/${device}/power/cancel`)).body).toEqual({ cancelled: null });
    // Well past the delay: the agent is still up and the power command never ran again.
    await new Promise((r) => setTimeout(r, 3500));
    expect(agent.proc.exitCode).toBeNull();
    expect((await ts.device(device)).online).toBe(true);
    expect(recorded()).toHaveLength(1);
  });

  it('takes the defaults from a POST without a body: 5 s, no reason', async () => {
    const asked = Date.now();
    const r = await ts.api('POST', `/devices/${device}/shutdown`);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ action: 'shutdown', reason: null });
    expect(Date.parse(r.body.scheduledAt) - asked).toBeGreaterThanOrEqual(4000);
    expect((await ts.api('POST', `/devices/${device}/power/cancel`)).body.cancelled).toEqual(r.body);
  });

  it('refuses a delay over an hour, a reason over 200 characters and unknown fields (400 E_BAD_ARGS)', async () => {
    for (const body of [{ delaySeconds: 3601 }, { delaySeconds: -1 }, { reason: 'x'.repeat(201) }, { force: true }]) {
      const r = await ts.api('POST', `/devices/${device}/shutdown`, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error.code).toBe('E_BAD_ARGS');
    }
    expect((await ts.api('GET', `/devices/${device}/power`)).body.pending).toBeNull();
  });

  it('answers 503 E_OFFLINE for a device that is not connected', async () => {
    await agent.stop();
    await online(false);
    const r = await ts.api('POST', `/devices/${device}/reboot`, {});
    expect(r.status).toBe(503);
    expect(r.body.error.code).toBe('E_OFFLINE');
    boot();
    await online(true);
  });
});

describe('the CLI', () => {
  it('reboot asks first and, without a terminal, refuses unless --yes; nothing is scheduled', async () => {
    const r = await runCli(ts, ['reboot', device]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('refusing to reboot without --yes when stdin is not a terminal');
    expect((await ts.api('GET', `/devices/${device}/power`)).body.pending).toBeNull();
  });

  it('reboot --wait waits for the device to go down and come back, and says how long it took', async () => {
    // The "device": when the agent stops (the fake power command), boot it again.
    const stopping = agent;
    const rebooted = new Promise<void>((resolve) =>
      stopping.proc.once('exit', () => {
        boot();
        resolve();
      }),
    );
    const r = await runCli(ts, ['reboot', device, '--yes', '--delay', '0', '--reason', 'from the cli', '--wait']);
    await rebooted;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(new RegExp(`^\\S+ \\(${device}\\) will reboot at \\d{4}-\\d{2}-\\d{2}T`));
    expect(lines[1]).toMatch(new RegExp(`^\\S+ \\(${device}\\) is back online after \\d+[sm]`));
    expect(recorded().at(-1)).toBe('reboot|from the cli');
  });

  it('shutdown with a delay, then power shows it and power cancel calls it off', async () => {
    const s = await runCli(ts, ['shutdown', device, '--yes', '--delay', '10m', '--json']);
    expect(s.code).toBe(0);
    const ack = JSON.parse(s.stdout);
    expect(ack).toMatchObject({ action: 'shutdown', reason: null });
    const status = await runCli(ts, ['power', device]);
    expect(status.stdout).toMatch(new RegExp(`^pending\\s+shutdown at ${ack.scheduledAt}$`, 'm'));
    const cancel = await runCli(ts, ['power', device, 'cancel']);
    expect(cancel.code).toBe(0);
    expect(cancel.stdout.trim()).toBe(`cancelled the shutdown of ${device} that was due at ${ack.scheduledAt}`);
    expect((await runCli(ts, ['power', device, 'cancel'])).stdout.trim()).toBe(`nothing was pending on ${device}`);
  });

  it('reboot --wait stops waiting when the power command fails on the device, and power shows why', async () => {
    const failing = join(dir, 'failing-power');
    writeFileSync(failing, '#!/bin/sh\necho "no permission" >&2\nexit 3\n');
    chmodSync(failing, 0o755);
    await agent.stop();
    await online(false);
    agent = spawnAgent(ts, { stateDir: agent.stateDir, env: { OUTPOST_AGENT_POWER_COMMAND: failing } });
    await online(true);
    const r = await runCli(ts, ['reboot', device, '--yes', '--delay', '0', '--wait', '--timeout', '30s']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toMatch(
      new RegExp(`^error: the reboot failed on \\S+ \\(${device}\\): ${failing} reboot: exit 3$`),
    );
    const status = await runCli(ts, ['power', device]);
    expect(status.stdout).toMatch(/^last\s+reboot at \S+: failed: .*exit 3$/m);
    expect((await ts.device(device)).online).toBe(true);
    await agent.stop();
    await online(false);
    boot();
    await online(true);
  });

  it('refuses a delay over an hour before calling the server (exit 2)', async () => {
    const r = await runCli(ts, ['reboot', device, '--yes', '--delay', '2h']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('at most 60m');
  });
});
