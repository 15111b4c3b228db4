/**
 * terminal/open without its native module: node-pty cannot be absent on this machine, so
 * this test makes its import fail (vi.mock), the one thing faked here. The answer must be
 * E_UNSUPPORTED with a message that says what to install. Sessions themselves run with a
 * real PTY in test/e2e/terminal.test.ts.
 */
import { OutpostError } from '@outpost/protocol';
import { describe, expect, it, vi } from 'vitest';
import { agentConfig } from '../config.js';
import { silentLogger } from '../log.js';
import type { CommandContext } from './capability.js';
import { createTerminalCapability, loadPty } from './terminal.js';

vi.mock('node-pty', () => {
  throw new Error("Cannot find module 'node-pty'");
});

const ctx = (partial: Partial<Parameters<typeof agentConfig>[0]> = {}): CommandContext => ({
  commandId: 'c1',
  emit: () => {},
  signal: new AbortController().signal,
  log: silentLogger,
  config: agentConfig({ stateDir: '/nonexistent', ...partial }),
});

describe('terminal without node-pty', () => {
  it('answers E_UNSUPPORTED and names the module to install', async () => {
    await expect(loadPty()).rejects.toThrow(OutpostError);
    const open = createTerminalCapability().actions.open;
    const err = await open?.({ sid: 's-1', cols: 80, rows: 24 }, ctx()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OutpostError);
    expect((err as OutpostError).code).toBe('E_UNSUPPORTED');
    expect((err as OutpostError).message).toMatch(/node-pty/);
  });
});
