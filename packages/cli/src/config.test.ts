/** Where the login is saved, with which permissions, and how flags, env and the file combine. */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { configPath, loadLogin, normalizeServerUrl, removeLogin, resolveConnection, saveLogin } from './config.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'outpost-cli-config-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('configPath: where the login is saved', () => {
  it('prefers $OUTPOST_CONFIG, then $XDG_CONFIG_HOME, then ~/.config', () => {
    expect(configPath({ OUTPOST_CONFIG: '/etc/o.json', XDG_CONFIG_HOME: '/x' }, '/home/u')).toBe('/etc/o.json');
    expect(configPath({ XDG_CONFIG_HOME: '/x' }, '/home/u')).toBe('/x/outpost/cli.json');
    expect(configPath({}, '/home/u')).toBe('/home/u/.config/outpost/cli.json');
  });
});

describe('saveLogin / loadLogin', () => {
  it('writes the token file readable by its owner only (0600, directory 0700)', async () => {
    const path = join(dir, 'nested', 'outpost', 'cli.json');
    const old = process.umask(0);
    try {
      await saveLogin(path, { server: 'https://h:8443', token: 't0k', ca: '/ca.crt' });
    } finally {
      process.umask(old);
    }
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'nested', 'outpost'))).mode & 0o777).toBe(0o700);
    expect(await loadLogin(path)).toEqual({ server: 'https://h:8443', token: 't0k', ca: '/ca.crt' });
  });

  it('tightens a file that already existed with looser permissions', async () => {
    const path = join(dir, 'cli.json');
    await writeFile(path, '{}', { mode: 0o644 });
    await saveLogin(path, { server: 'https://h', token: 't' });
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual({ server: 'https://h', token: 't' });
  });

  it('no file means not logged in; a broken one is an error naming the file', async () => {
    expect(await loadLogin(join(dir, 'none.json'))).toBeUndefined();
    const bad = join(dir, 'bad.json');
    await writeFile(bad, '{nope');
    await expect(loadLogin(bad)).rejects.toThrow(`${bad} is not valid JSON`);
    await writeFile(bad, '{"server": 1}');
    await expect(loadLogin(bad)).rejects.toThrow(/lacks 'server' and 'token'/);
  });

  it('removeLogin says whether there was anything to remove', async () => {
    const path = join(dir, 'cli.json');
    await saveLogin(path, { server: 'https://h', token: 't' });
    expect(await removeLogin(path)).toBe(true);
    expect(await removeLogin(path)).toBe(false);
  });
});

describe('normalizeServerUrl', () => {
  it.each([
    ['https://h:8443', 'https://h:8443'],
    ['https://h:8443/', 'https://h:8443'],
    ['https://h:8443/api/v1/', 'https://h:8443'],
    ['h.example:8443', 'https://h.example:8443'],
    ['http://127.0.0.1:3000', 'http://127.0.0.1:3000'],
    ['https://proxy/outpost/api/v1', 'https://proxy/outpost'],
  ])('%s → %s', (raw, url) => {
    expect(normalizeServerUrl(raw)).toBe(url);
  });

  it('refuses the broker URL, which is a common mix-up', () => {
    expect(() => normalizeServerUrl('mqtts://h:8883')).toThrow(/https:\/\/ URL/);
  });
});

describe('resolveConnection: flags, then env, then the saved login', () => {
  const saved = { server: 'https://saved:8443', token: 'saved-token', ca: '/saved/ca.crt' };

  it('uses the saved login when nothing overrides it', async () => {
    expect(await resolveConnection({}, {}, saved)).toEqual({
      server: 'https://saved:8443',
      token: 'saved-token',
      ca: '/saved/ca.crt',
    });
  });

  it('env overrides the saved file and flags override env, field by field', async () => {
    const env = { OUTPOST_URL: 'https://env:8443', OUTPOST_TOKEN: 'env-token', OUTPOST_CA: '/env/ca.crt' };
    expect(await resolveConnection({}, env, saved)).toEqual({
      server: 'https://env:8443',
      token: 'env-token',
      ca: '/env/ca.crt',
    });
    expect(await resolveConnection({ token: 'flag-token' }, env, saved)).toMatchObject({ token: 'flag-token' });
    expect(await resolveConnection({ server: 'https://flag' }, env, saved)).toMatchObject({ server: 'https://flag' });
  });

  it('reads --token-file, trimming the newline', async () => {
    const file = join(dir, 'token');
    await writeFile(file, 'from-file\n');
    expect(await resolveConnection({ tokenFile: file }, {}, saved)).toMatchObject({ token: 'from-file' });
  });

  it('never sends the saved token to a different server', async () => {
    await expect(resolveConnection({ server: 'https://elsewhere' }, {}, saved)).rejects.toThrow(
      /no token for https:\/\/elsewhere/,
    );
  });

  it('without any login the error says how to log in', async () => {
    await expect(resolveConnection({}, {}, undefined)).rejects.toThrow(/^not logged in: run `outpost login/);
  });
});
