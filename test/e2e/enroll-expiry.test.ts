/**
 * An expired enrollment token is refused at CONNECT. The test moves the clock of this
 * process (Date only; timers stay real) past the token's expiry, so it has a file, and so a
 * process, of its own: any other server in the process would see its devices' heartbeats
 * stop for two minutes and mark them offline.
 */
import { describe, expect, it, vi } from 'vitest';
import { rawClient, startTestServer } from '../helpers.js';

describe('enrollment tokens', () => {
  it('an expired token is refused at CONNECT and listed as expired', async () => {
    const own = await startTestServer();
    try {
      const created = await own.api('POST', '/enrollment-tokens', { autoAccept: true, ttl: 60 });
      // The server runs in this process: move its clock (Date only; timers stay real) past the expiry.
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(Date.now() + 120_000);
      const refused = await rawClient(own, {
        clientId: 'enroll-expired1',
        username: 'enroll',
        password: created.body.token,
      }).then(
        async (c) => {
          await c.endAsync(true);
          return 'connected';
        },
        (err: Error) => err.message,
      );
      expect(refused).toMatch(/Not authorized/i);
      const listed = (await own.api('GET', '/enrollment-tokens')).body.items.find((t: any) => t.id === created.body.id);
      expect(listed.state).toBe('expired');
    } finally {
      vi.useRealTimers();
      await own.close();
    }
  });
});
