/**
 * A terminal's idle timeout (docs/terminal.md): a real server, broker and agent with a real PTY,
 * the agent configured to close sessions after 3 s without input or output
 * (OUTPOST_AGENT_TERMINAL_IDLE_TIMEOUT). Typing keeps a session open past the timeout; silence
 * ends it, the shell is hung up and the result says `idle`.
 */
import { describe, expect, it } from 'vitest';
import { ApiClient } from '../../packages/cli/src/api.js';
import { useOnlineDevice } from '../fixture.js';
import { waitUntil } from '../helpers.js';
import { openTerminal } from '../terminal-session.js';

const IDLE_SECONDS = 3;
let client: ApiClient;

const fx = useOnlineDevice({
  agent: { env: { OUTPOST_AGENT_TERMINAL_IDLE_TIMEOUT: String(IDLE_SECONDS) } },
  setup: ({ ts }) => {
    client = new ApiClient(`https://127.0.0.1:${ts.server.httpPort}`, ts.token, ts.ca.toString());
  },
  teardown: async () => {
    await client?.close();
  },
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('terminal idle timeout', () => {
  it('stays open while used, then closes after the idle timeout with reason idle', async () => {
    const session = openTerminal(client, fx.deviceId, { argv: JSON.stringify(['/bin/sh']) });
    const { sock } = session;
    sock.stream.on('error', () => {}); // the idle close is a RESET (E_TIMEOUT), read from the result below
    await sock.opened;
    // Input every half second for three timeouts' worth: each one keeps the session alive.
    const rounds = (IDLE_SECONDS * 3 * 1000) / 500;
    for (let i = 0; i < rounds; i++) {
      sock.stream.write(`echo tick-${i}\r`);
      await sleep(500);
    }
    await waitUntil(() => session.out.includes(`tick-${rounds - 1}\r\n`), 'the last tick was answered', 30_000);
    // Then nothing: the agent hangs up and says why.
    const final = await sock.result;
    expect(final?.status).toBe('succeeded');
    expect(final?.result).toMatchObject({ reason: 'idle', exitCode: null, signal: 'SIGHUP' });
    const durationMs = (final?.result as { durationMs?: number } | undefined)?.durationMs ?? 0;
    expect(durationMs).toBeGreaterThanOrEqual((IDLE_SECONDS * 3 + IDLE_SECONDS) * 1000 - 500);
  }, 60_000);
});
