/**
 * `power/*`: scheduling, acknowledging before acting, one pending action at a time,
 * cancel and status. Nothing here may reboot this machine: the scheduler tests inject
 * a recording executor, and the default executor is only ever run with
 * `powerCommand` set to a fake script this test writes.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { commands, type OutpostError, type PowerAction, parse } from '@outpost/protocol';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { failure, runAction } from '../../test/actions.js';
import { agentConfig, ConfigError, resolveConfig } from '../config.js';
import { silentLogger } from '../log.js';
import type { Capability, CommandContext } from './capability.js';
import { createPowerCapability, defaultExecutor, MIN_DELAY_MS, systemPowerCommands } from './power.js';

const dir = mkdtempSync(join(tmpdir(), 'outpost-power-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const fakeCommand = join(dir, 'fake-power');
writeFileSync(
  fakeCommand,
  `#!/bin/sh\nprintf '%s|%s|%s\\n' "$1" "$OUTPOST_POWER_ACTION" "$OUTPOST_POWER_REASON" >> '${dir}/calls'\n`,
);
chmodSync(fakeCommand, 0o755);
const failingCommand = join(dir, 'failing-power');
writeFileSync(failingCommand, '#!/bin/sh\nexit 3\n');
chmodSync(failingCommand, 0o755);

const ctx = (powerCommand = fakeCommand): CommandContext => ({
  commandId: 'c1',
  emit: () => {},
  signal: new AbortController().signal,
  log: silentLogger,
  config: agentConfig({ stateDir: dir, powerCommand }),
});

type Name = 'reboot' | 'shutdown' | 'cancel' | 'status';
async function run(cap: Capability, name: Name, args: unknown = {}): Promise<any> {
  return runAction(cap, `power/${name}`, args, ctx());
}

/** A capability whose executor records calls instead of acting. */
function recording(fail = false) {
  const calls: { action: PowerAction; reason: string | null; at: number }[] = [];
  const cap = createPowerCapability({
    execute: async (action, reason) => {
      calls.push({ action, reason, at: Date.now() });
      if (fail) throw new Error('shutdown: exit 1');
    },
  });
  return { cap, calls };
}

describe('power/reboot and power/shutdown', () => {
  it('acknowledge with when and why before acting, then act after the delay', async () => {
    const { cap, calls } = recording();
    const before = Date.now();
    const ack = await run(cap, 'reboot', { delaySeconds: 0, reason: 'kernel update' });
    expect(ack).toMatchObject({ action: 'reboot', reason: 'kernel update' });
    expect(Date.parse(ack.scheduledAt)).toBeGreaterThanOrEqual(before + MIN_DELAY_MS);
    expect(calls).toEqual([]);
    expect((await run(cap, 'status')).pending).toEqual(ack);
    await vi.waitFor(() => expect(calls).toHaveLength(1), { timeout: 10_000 });
    expect(calls[0]).toMatchObject({ action: 'reboot', reason: 'kernel update' });
    expect(calls[0]!.at).toBeGreaterThanOrEqual(Date.parse(ack.scheduledAt) - 50);
    const status = await run(cap, 'status');
    expect(status.pending).toBeNull();
    expect(status.last).toMatchObject({ action: 'reboot', ok: true, error: null });
  });

  it('default to a 5 s delay and no reason', async () => {
    const { cap } = recording();
    const before = Date.now();
    const ack = await run(cap, 'shutdown');
    expect(ack.reason).toBeNull();
    expect(Date.parse(ack.scheduledAt) - before).toBeGreaterThanOrEqual(5000);
    expect(Date.parse(ack.scheduledAt) - before).toBeLessThan(60_000);
    await run(cap, 'cancel');
  });

  it('refuse a second action while one is pending (E_CONFLICT), naming the pending one', async () => {
    const { cap, calls } = recording();
    const first = await run(cap, 'reboot', { delaySeconds: 600, reason: 'first' });
    for (const name of ['reboot', 'shutdown'] as const) {
      const err = await failure(run(cap, name, { delaySeconds: 1 }));
      expect(err.code).toBe('E_CONFLICT');
      expect(err.message).toBe(`a reboot is already scheduled for ${first.scheduledAt}; cancel it first`);
    }
    expect((await run(cap, 'status')).pending).toEqual(first);
    await run(cap, 'cancel');
    expect(calls).toEqual([]);
  });

  it('cancel calls the pending action off; cancelling nothing says so', async () => {
    const { cap, calls } = recording();
    const ack = await run(cap, 'reboot', { delaySeconds: 1 });
    expect(await run(cap, 'cancel')).toEqual({ cancelled: ack });
    expect(await run(cap, 'cancel')).toEqual({ cancelled: null });
    await new Promise((r) => setTimeout(r, 1500));
    expect(calls).toEqual([]);
    // And a new one may be scheduled.
    await run(cap, 'shutdown', { delaySeconds: 600 });
    await run(cap, 'cancel');
  });

  it('a stopping agent drops the pending action instead of running it', async () => {
    const { cap, calls } = recording();
    await run(cap, 'reboot', { delaySeconds: 1 });
    await cap.stop?.();
    expect((await run(cap, 'status')).pending).toBeNull();
    await new Promise((r) => setTimeout(r, 1500));
    expect(calls).toEqual([]);
  });

  it('a failed action is reported by status, and another may be scheduled', async () => {
    const { cap, calls } = recording(true);
    await run(cap, 'shutdown', { delaySeconds: 0 });
    await vi.waitFor(() => expect(calls).toHaveLength(1), { timeout: 10_000 });
    await vi.waitFor(async () =>
      expect((await run(cap, 'status')).last).toMatchObject({
        action: 'shutdown',
        ok: false,
        error: 'shutdown: exit 1',
      }),
    );
    await run(cap, 'reboot', { delaySeconds: 600 });
    await run(cap, 'cancel');
  });

  it('refuse a delay over an hour, a negative one and an over-long reason (E_BAD_ARGS)', () => {
    for (const args of [
      { delaySeconds: 3601 },
      { delaySeconds: -1 },
      { delaySeconds: 1.5 },
      { reason: 'x'.repeat(201) },
      { reason: '' },
    ]) {
      let err: unknown;
      try {
        parse(commands['power/reboot'].args, args, 'args');
      } catch (e) {
        err = e;
      }
      expect((err as OutpostError)?.code, JSON.stringify(args)).toBe('E_BAD_ARGS');
    }
  });
});

describe('the default executor', () => {
  it('runs the configured powerCommand with the action as its argument and the reason in its environment', async () => {
    await defaultExecutor()('reboot', 'disk swap', ctx().config, silentLogger);
    await defaultExecutor()('shutdown', null, ctx().config, silentLogger);
    expect(readFileSync(join(dir, 'calls'), 'utf8')).toBe('reboot|reboot|disk swap\nshutdown|shutdown|\n');
  });

  it('fails with what the command said when it exits non-zero', async () => {
    await expect(defaultExecutor()('reboot', null, ctx(failingCommand).config, silentLogger)).rejects.toThrow(
      `${failingCommand} reboot: exit 3`,
    );
  });

  it('without powerCommand tries systemctl (only under systemd), then shutdown, then reboot/poweroff', () => {
    // Listed, never run: running them here would reboot the test machine.
    expect(systemPowerCommands('reboot', true)).toEqual([
      ['systemctl', 'reboot'],
      ['shutdown', '-r', 'now'],
      ['reboot'],
    ]);
    expect(systemPowerCommands('shutdown', false)).toEqual([['shutdown', '-h', 'now'], ['poweroff']]);
  });
});

describe('the powerCommand setting', () => {
  const resolved = (argv: string[], env: NodeJS.ProcessEnv = {}) => {
    const r = resolveConfig(['--server', 'mqtts://example.test:8883', ...argv], env);
    if (r.action !== 'run') throw new Error(r.action);
    return r.config;
  };

  it('comes from --power-command, OUTPOST_AGENT_POWER_COMMAND or the config file, and is unset by default', () => {
    expect(resolved([]).powerCommand).toBeUndefined();
    expect(resolved(['--power-command', '/usr/local/bin/safe-reboot']).powerCommand).toBe('/usr/local/bin/safe-reboot');
    expect(resolved([], { OUTPOST_AGENT_POWER_COMMAND: '/opt/x' }).powerCommand).toBe('/opt/x');
    const file = join(dir, 'agent.json');
    writeFileSync(file, JSON.stringify({ powerCommand: '/opt/from-file' }));
    expect(resolved(['--config', file]).powerCommand).toBe('/opt/from-file');
  });

  it('must be an absolute path', () => {
    expect(() => resolved(['--power-command', 'reboot'])).toThrow(ConfigError);
    expect(() => resolved([], { OUTPOST_AGENT_POWER_COMMAND: './x' })).toThrow(
      'invalid OUTPOST_AGENT_POWER_COMMAND: expected an absolute path to a program',
    );
  });
});
