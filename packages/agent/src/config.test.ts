import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type AgentConfig, agentConfig, ConfigError, DEFAULT_CONFIG_FILE, resolveConfig } from './config.js';

const dir = mkdtempSync(join(tmpdir(), 'outpost-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function configFile(content: unknown): string {
  const path = join(dir, `agent-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

function resolved(argv: string[], env: NodeJS.ProcessEnv = {}): AgentConfig {
  const r = resolveConfig(argv, env);
  if (r.action !== 'run') throw new Error(`expected run, got ${r.action}`);
  return r.config;
}

function error(argv: string[], env: NodeJS.ProcessEnv = {}): string {
  try {
    resolveConfig(argv, env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('config', () => {
  it('has defaults, and a missing default config file is fine', () => {
    expect(DEFAULT_CONFIG_FILE).toBe('/etc/outpost/agent.json');
    const c = resolved(['--server', 'mqtts://example.test:8883']);
    expect(c).toMatchObject({
      server: 'mqtts://example.test:8883',
      stateDir: '/var/lib/outpost',
      heartbeat: 15,
      logLevel: 'info',
      execConcurrency: 8,
      allowInsecure: false,
      protocolVersion: 4,
      auth: 'secret',
    });
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('takes flags over environment over the config file', () => {
    const file = configFile({ server: 'mqtts://file:8883', heartbeat: 30, stateDir: '/file', logLevel: 'warn' });
    const env = { OUTPOST_AGENT_SERVER: 'wss://env:443/mqtt', OUTPOST_AGENT_HEARTBEAT: '20' };
    const c = resolved(['--config', file, '--heartbeat', '10'], env);
    expect(c).toMatchObject({ server: 'wss://env:443/mqtt', heartbeat: 10, stateDir: '/file', logLevel: 'warn' });
    const fromEnvFile = resolved([], { OUTPOST_AGENT_CONFIG: file });
    expect(fromEnvFile.server).toBe('mqtts://file:8883');
  });

  it('names the bad key of an invalid config file', () => {
    expect(error(['--config', configFile({ heartbeat: 'often' })])).toMatch(
      /config file .*: \/heartbeat: must be integer/,
    );
    expect(error(['--config', configFile({ heartbeat: 0 })])).toMatch(/\/heartbeat: must be >= 1/);
    expect(error(['--config', configFile({ logLevel: 'loud' })])).toMatch(
      /\/logLevel: must be one of "debug", "info", "warn", "error"/,
    );
    expect(error(['--config', configFile({ sever: 'mqtts://typo' })])).toMatch(/unknown field 'sever'/);
    expect(error(['--config', configFile('{ not json')])).toMatch(/malformed JSON/);
    expect(error(['--config', configFile([1, 2])])).toMatch(/must be object/);
  });

  it('refuses a missing explicit config file', () => {
    expect(error(['--config', join(dir, 'missing.json')])).toMatch(/cannot read config file .*missing\.json: ENOENT/);
  });

  it('names the bad flag or variable, and never echoes the enrollment token', () => {
    expect(error(['--heartbeat', 'soon'])).toBe('invalid --heartbeat: expected seconds, 1 to 3600 (got "soon")');
    expect(error([], { OUTPOST_AGENT_HEARTBEAT: '99999' })).toMatch(/^invalid OUTPOST_AGENT_HEARTBEAT/);
    expect(error([], { OUTPOST_AGENT_ALLOW_INSECURE: 'maybe' })).toMatch(/^invalid OUTPOST_AGENT_ALLOW_INSECURE/);
    expect(error(['--log-level', 'chatty'])).toMatch(/^invalid --log-level/);
    expect(error(['--bogus'])).toMatch(/bogus/);
    const token = 'x'.repeat(2000);
    const msg = error(['--enroll', token]);
    expect(msg).toMatch(/^invalid --enroll/);
    expect(msg).not.toContain('xxxx');
  });

  it('wants TLS unless --allow-insecure, and no credentials in the URL', () => {
    expect(error(['--server', 'mqtt://broker:1883'])).toMatch(/--allow-insecure/);
    expect(error(['--server', 'ws://broker/mqtt'])).toMatch(/--allow-insecure/);
    expect(resolved(['--server', 'mqtt://broker:1883', '--allow-insecure']).allowInsecure).toBe(true);
    expect(resolved([], { OUTPOST_AGENT_SERVER: 'ws://b/mqtt', OUTPOST_AGENT_ALLOW_INSECURE: '1' }).server).toBe(
      'ws://b/mqtt',
    );
    expect(error(['--server', 'http://broker'])).toMatch(/scheme must be mqtts:\/\/ or wss:\/\//);
    expect(error(['--server', 'mqtts://user:pw@broker'])).toMatch(/must not contain credentials/);
    expect(error(['--server', 'not a url'])).toMatch(/invalid server URL/);
  });

  it('takes the authentication from --auth, OUTPOST_AGENT_AUTH or the config key auth (default secret)', () => {
    const mqtts = ['--server', 'mqtts://b:8883'];
    expect(resolved(mqtts).auth).toBe('secret');
    expect(resolved([...mqtts, '--auth', 'certificate']).auth).toBe('certificate');
    expect(resolved(mqtts, { OUTPOST_AGENT_AUTH: 'certificate' }).auth).toBe('certificate');
    expect(resolved(['--config', configFile({ server: 'mqtts://b:8883', auth: 'certificate' })]).auth).toBe(
      'certificate',
    );
    expect(resolved([...mqtts, '--auth', 'secret'], { OUTPOST_AGENT_AUTH: 'certificate' }).auth).toBe('secret');
    expect(error([...mqtts, '--auth', 'password'])).toBe(
      'invalid --auth: expected secret|certificate (got "password")',
    );
    expect(error(['--config', configFile({ auth: 'cert' })])).toMatch(/\/auth: must be one of "secret", "certificate"/);
  });

  it('refuses certificate authentication over wss://, ws:// or mqtt:// (only the MQTT TLS port asks for certificates)', () => {
    for (const server of ['wss://b:443/mqtt', 'ws://b/mqtt', 'mqtt://b:1883']) {
      const msg = error(['--server', server, '--auth', 'certificate', '--allow-insecure']);
      expect(msg, server).toMatch(/^certificate authentication works only over mqtts:\/\//);
      expect(msg, server).toMatch(/--auth secret/);
    }
    expect(error([], { OUTPOST_AGENT_SERVER: 'wss://b/mqtt', OUTPOST_AGENT_AUTH: 'certificate' })).toMatch(
      /only over mqtts:\/\/ \(got wss:\/\/\)/,
    );
    // Without a server URL (an enrolled device reuses the one in identity.json) the agent checks at start.
    expect(resolved(['--auth', 'certificate']).auth).toBe('certificate');
    expect(() => agentConfig({ stateDir: dir, server: 'wss://b/mqtt', auth: 'certificate' })).toThrow(ConfigError);
    expect(agentConfig({ stateDir: dir, server: 'mqtts://b:8883', auth: 'certificate' }).auth).toBe('certificate');
    expect(agentConfig({ stateDir: dir }).auth).toBe('secret');
  });

  it('takes the file roots from --file-roots, OUTPOST_AGENT_FILE_ROOTS or fileRoots; default the data folder and /tmp', () => {
    expect(resolved(['--state-dir', '/srv/outpost']).fileRoots).toEqual(['/srv/outpost/files', '/tmp']);
    expect(resolved(['--file-roots', '/data,/var/lib/outpost/files']).fileRoots).toEqual([
      '/data',
      '/var/lib/outpost/files',
    ]);
    expect(resolved([], { OUTPOST_AGENT_FILE_ROOTS: '/x,/y' }).fileRoots).toEqual(['/x', '/y']);
    // An empty list turns file actions off.
    expect(resolved(['--file-roots', '']).fileRoots).toEqual([]);
    expect(resolved(['--config', configFile({ fileRoots: [] })]).fileRoots).toEqual([]);
    expect(resolved(['--config', configFile({ fileRoots: ['/mnt/usb'] })]).fileRoots).toEqual(['/mnt/usb']);
    expect(error(['--file-roots', 'relative/dir'])).toMatch(/--file-roots/);
    expect(error(['--file-roots', '/data/../etc'])).toMatch(/without '\.\.'/);
    expect(error(['--config', configFile({ fileRoots: ['/a/../b'] })])).toMatch(/fileRoots/);
    expect(agentConfig({ stateDir: dir }).fileRoots).toEqual([join(dir, 'files'), '/tmp']);
  });

  it('takes how long upload parts wait from OUTPOST_AGENT_UPLOAD_PART_TTL or uploadPartTtl: 7 days, 0 = forever', () => {
    expect(resolved([]).uploadPartTtl).toBe(604800);
    expect(agentConfig({ stateDir: dir }).uploadPartTtl).toBe(604800);
    expect(resolved([], { OUTPOST_AGENT_UPLOAD_PART_TTL: '0' }).uploadPartTtl).toBe(0);
    expect(resolved(['--config', configFile({ uploadPartTtl: 3600 })]).uploadPartTtl).toBe(3600);
    for (const bad of ['-1', '1.5', 'week']) {
      expect(error([], { OUTPOST_AGENT_UPLOAD_PART_TTL: bad })).toBe(
        `invalid OUTPOST_AGENT_UPLOAD_PART_TTL: expected seconds, 0 (keep forever) to 31536000 (got "${bad}")`,
      );
    }
    expect(error(['--config', configFile({ uploadPartTtl: -1 })])).toMatch(/\/uploadPartTtl: must be >= 0/);
    expect(error(['--config', configFile({ uploadPartTtl: 2.5 })])).toMatch(/\/uploadPartTtl: must be integer/);
  });

  it('answers --help and --version', () => {
    expect(resolveConfig(['--help'], {}).action).toBe('help');
    expect(resolveConfig(['--version'], {}).action).toBe('version');
  });
});
