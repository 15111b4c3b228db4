/**
 * Reboot and shutdown end to end. This machine must never reboot, so the agent runs
 * with `OUTPOST_AGENT_POWER_COMMAND` set to a FAKE power command written here: it
 * records that it was called (action and reason) and stops the agent, as a real
 * reboot would; the test then starts the agent again, as the device's boot would,
 * and checks what the server saw (presence history, audit) and what the CLI says.
 */
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useOnlineDevice } from '../fixture.js';
import { asAdmin, runCli, spawnAgent, type TestAgent, tempDir, waitUntil } from '../helpers.js';

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
  fx.agent = spawnAgent(fx.ts, { stateDir: fx.agent.stateDir, env });
  return fx.agent;
}

const online = (want: boolean) =>
  waitUntil(async () => (await fx.ts.device(fx.deviceId))?.online === want, `online=${want}`);

const fx = useOnlineDevice({ agent: { env } });

describe('POST /devices/:device/reboot', () => {
  it('acknowledges before acting, reboots after the delay, and the device goes offline and comes back', async () => {
    const asked = Date.now();
    const r = await fx.ts.api('POST', `/devices/${fx.deviceId}/reboot`, {
      delaySeconds: 2,
      reason: 'kernel 6.1 update',
    });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ action: 'reboot', reason: 'kernel 6.1 update' });
    expect(Date.parse(r.body.scheduledAt)).toBeGreaterThanOrEqual(asked + 1000);
    // The answer came first: nothing has run yet, and the device says what is pending.
    expect(recorded()).toEqual([]);
    expect((await fx.ts.api('GET', `/devices/${fx.deviceId}/power`)).body.pending).toEqual(r.body);

    const stopped = fx.agent;
    await waitUntil(() => stopped.proc.exitCode !== null, 'agent stopped by the power command');
    expect(recorded()).toEqual(['reboot|kernel 6.1 update']);
    expect(stopped.output()).toContain('kernel 6.1 update');
    await online(false);

    boot();
    await online(true);
    // Newest first: back online, offline for the reboot, online from before.
    const presence = (await fx.ts.api('GET', `/devices/${fx.deviceId}/presence`)).body.items;
    expect(presence.slice(0, 3).map((p: any) => p.online)).toEqual([true, false, true]);
    expect(Date.parse(presence[1].at)).toBeGreaterThanOrEqual(Date.parse(r.body.scheduledAt) - 1000);
    // A rebooted agent has nothing pending.
    expect((await fx.ts.api('GET', `/devices/${fx.deviceId}/power`)).body).toEqual({ pending: null, last: null });

    const audit = await asAdmin(fx.ts, 'GET', `/audit?action=device.reboot&device=${fx.deviceId}`);
    expect(audit.items.at(-1)).toMatchObject({
      result: 'ok',
      details: { command: 'power/reboot', args: { delaySeconds: 2, reason: 'kernel 6.1 update' } },
    });
  });

  it('refuses a second reboot or a shutdown while one is pending (409 E_CONFLICT); cancel calls it off', async () => {
    const first = await fx.ts.api('POST', `/devices/${fx.deviceId}/reboot`, { delaySeconds: 2 });
    expect(first.status).toBe(200);
    for (const act of ['reboot', 'shutdown']) {
      const again = await fx.ts.api('POST', `/devices/${fx.deviceId}/${act}`, {});
      expect(again.status).toBe(409);
      expect(again.body.error).toMatchObject({
        code: 'E_CONFLICT',
        message: `a reboot is already scheduled for ${first.body.scheduledAt}; cancel it first`,
      });
    }
    const cancel = await fx.ts.api('POST', `/devices/${fx.deviceId}/power/cancel`);
    expect(cancel.body).toEqual({ cancelled: first.body });
    expect((await fx.ts.api('POST', `/devices/${fx.deviceId}/power/cancel`)).body).toEqual({ cancelled: null });
    // Well past the delay: the agent is still up and the power command never ran again.
    await new Promise((r) => setTimeout(r, 3500));
    expect(fx.agent.proc.exitCode).toBeNull();
    expect((await fx.ts.device(fx.deviceId)).online).toBe(true);
    expect(recorded()).toHaveLength(1);
  });

  it('takes the defaults from a POST without a body: 5 s, no reason', async () => {
    const asked = Date.now();
    const r = await fx.ts.api('POST', `/devices/${fx.deviceId}/shutdown`);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ action: 'shutdown', reason: null });
    expect(Date.parse(r.body.scheduledAt) - asked).toBeGreaterThanOrEqual(4000);
    expect((await fx.ts.api('POST', `/devices/${fx.deviceId}/power/cancel`)).body.cancelled).toEqual(r.body);
  });

  it('refuses a delay over an hour, a reason over 200 characters and unknown fields (400 E_BAD_ARGS)', async () => {
    for (const body of [{ delaySeconds: 3601 }, { delaySeconds: -1 }, { reason: 'x'.repeat(201) }, { force: true }]) {
      const r = await fx.ts.api('POST', `/devices/${fx.deviceId}/shutdown`, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error.code).toBe('E_BAD_ARGS');
    }
    expect((await fx.ts.api('GET', `/devices/${fx.deviceId}/power`)).body.pending).toBeNull();
  });

  it('answers 503 E_OFFLINE for a device that is not connected', async () => {
    await fx.agent.stop();
    await online(false);
    const r = await fx.ts.api('POST', `/devices/${fx.deviceId}/reboot`, {});
    expect(r.status).toBe(503);
    expect(r.body.error.code).toBe('E_OFFLINE');
    boot();
    await online(true);
  });
});

describe('the CLI', () => {
  it('reboot asks first and, without a terminal, refuses unless --yes; nothing is scheduled', async () => {
    const r = await runCli(fx.ts, ['reboot', fx.deviceId]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('refusing to reboot without --yes when stdin is not a terminal');
    expect((await fx.ts.api('GET', `/devices/${fx.deviceId}/power`)).body.pending).toBeNull();
  });

  it('reboot --wait waits for the device to go down and come back, and says how long it took', async () => {
    // The "device": when the agent stops (the fake power command), boot it again.
    const stopping = fx.agent;
    const rebooted = new Promise<void>((resolve) =>
      stopping.proc.once('exit', () => {
        boot();
        resolve();
      }),
    );
    const r = await runCli(fx.ts, [
      'reboot',
      fx.deviceId,
      '--yes',
      '--delay',
      '0',
      '--reason',
      'from the cli',
      '--wait',
    ]);
    await rebooted;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(new RegExp(`^\\S+ \\(${fx.deviceId}\\) will reboot at \\d{4}-\\d{2}-\\d{2}T`));
    expect(lines[1]).toMatch(new RegExp(`^\\S+ \\(${fx.deviceId}\\) is back online after \\d+[sm]`));
    expect(recorded().at(-1)).toBe('reboot|from the cli');
  });

  it('shutdown with a delay, then power shows it and power cancel calls it off', async () => {
    const s = await runCli(fx.ts, ['shutdown', fx.deviceId, '--yes', '--delay', '10m', '--json']);
    expect(s.code).toBe(0);
    const ack = JSON.parse(s.stdout);
    expect(ack).toMatchObject({ action: 'shutdown', reason: null });
    const status = await runCli(fx.ts, ['power', fx.deviceId]);
    expect(status.stdout).toMatch(new RegExp(`^pending\\s+shutdown at ${ack.scheduledAt}$`, 'm'));
    const cancel = await runCli(fx.ts, ['power', fx.deviceId, 'cancel']);
    expect(cancel.code).toBe(0);
    expect(cancel.stdout.trim()).toBe(`cancelled the shutdown of ${fx.deviceId} that was due at ${ack.scheduledAt}`);
    expect((await runCli(fx.ts, ['power', fx.deviceId, 'cancel'])).stdout.trim()).toBe(
      `nothing was pending on ${fx.deviceId}`,
    );
  });

  it('reboot --wait stops waiting when the power command fails on the device, and power shows why', async () => {
    const failing = join(dir, 'failing-power');
    writeFileSync(failing, '#!/bin/sh\necho "no permission" >&2\nexit 3\n');
    chmodSync(failing, 0o755);
    await fx.agent.stop();
    await online(false);
    fx.agent = spawnAgent(fx.ts, { stateDir: fx.agent.stateDir, env: { OUTPOST_AGENT_POWER_COMMAND: failing } });
    await online(true);
    const r = await runCli(fx.ts, ['reboot', fx.deviceId, '--yes', '--delay', '0', '--wait', '--timeout', '30s']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toMatch(
      new RegExp(`^error: the reboot failed on \\S+ \\(${fx.deviceId}\\): ${failing} reboot: exit 3$`),
    );
    const status = await runCli(fx.ts, ['power', fx.deviceId]);
    expect(status.stdout).toMatch(/^last\s+reboot at \S+: failed: .*exit 3$/m);
    expect((await fx.ts.device(fx.deviceId)).online).toBe(true);
    await fx.agent.stop();
    await online(false);
    boot();
    await online(true);
  });

  it('refuses a delay over an hour before calling the server (exit 2)', async () => {
    const r = await runCli(fx.ts, ['reboot', fx.deviceId, '--yes', '--delay', '2h']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('at most 60m');
  });
});
