/**
 * identity.json: secret identities (with or without `auth`, as written before
 * certificates) keep working; certificate identities carry no secret and need
 * their key and certificate, over mqtts:// only.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OutpostError } from '@outpost/protocol';
import { afterAll, describe, expect, it } from 'vitest';
import { startAgent } from './agent.js';
import { agentConfig, ConfigError } from './config.js';
import { silentLogger } from './log.js';
import { identityPath, readIdentity, writeIdentity } from './state.js';

const root = mkdtempSync(join(tmpdir(), 'outpost-state-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = () => join(root, `s-${n++}`);

const base = {
  server: 'mqtts://outpost.example:8883',
  deviceId: 'd-abcdefghijklmnopqrst',
  enrolledAt: '2026-01-01T00:00:00.000Z',
};

function stored(identity: unknown): string {
  const dir = fresh();
  // writeIdentity makes the directory as the agent does; the raw file replaces what it wrote.
  writeIdentity(dir, { ...base, auth: 'certificate' });
  writeFileSync(identityPath(dir), JSON.stringify(identity));
  return dir;
}

describe('readIdentity', () => {
  it('reads a secret identity written before certificates (no auth field)', () => {
    expect(readIdentity(stored({ ...base, secret: 'ops_x' }))).toEqual({ ...base, secret: 'ops_x' });
  });

  it('reads a secret identity with auth "secret" and a certificate identity without a secret', () => {
    expect(readIdentity(stored({ ...base, auth: 'secret', secret: 'ops_x' }))?.auth).toBe('secret');
    expect(readIdentity(stored({ ...base, auth: 'certificate' }))).toEqual({ ...base, auth: 'certificate' });
  });

  it.each([
    ['a secret identity without its secret', { ...base }],
    ['auth secret without a secret', { ...base, auth: 'secret' }],
    ['a certificate identity with a secret', { ...base, auth: 'certificate', secret: 'ops_x' }],
    ['an unknown auth', { ...base, auth: 'token', secret: 'ops_x' }],
  ])('refuses %s, saying how to recover', (_label, identity) => {
    const err = (() => {
      try {
        readIdentity(stored(identity));
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(OutpostError);
    expect((err as Error).message).toMatch(/remove it to enroll again/);
  });
});

describe('starting with a certificate identity', () => {
  it('refuses to start without device.key and device.crt', async () => {
    const stateDir = stored({ ...base, auth: 'certificate' });
    await expect(startAgent(agentConfig({ stateDir }), { log: silentLogger })).rejects.toThrow(
      /cannot read .*device\.key: ENOENT; remove identity\.json to enroll again/,
    );
  });

  it('refuses a WebSocket server, from the identity or the configuration', async () => {
    const stateDir = stored({ ...base, server: 'wss://outpost.example/mqtt', auth: 'certificate' });
    const err = await startAgent(agentConfig({ stateDir }), { log: silentLogger }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/certificate authentication works only over mqtts:\/\//);
    // --auth defaults to secret, but the enrolled identity decides.
    const fromConfig = stored({ ...base, auth: 'certificate' });
    await expect(
      startAgent(agentConfig({ stateDir: fromConfig, server: 'wss://outpost.example/mqtt' }), { log: silentLogger }),
    ).rejects.toThrow(/only over mqtts:\/\/ \(got wss:\/\/\)/);
  });
});
