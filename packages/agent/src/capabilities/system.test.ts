import { readFileSync } from 'node:fs';
import { check, commands, DeviceFacts, parse } from '@outpost/protocol';
import { describe, expect, it } from 'vitest';
import { agentConfig } from '../config.js';
import { collectFacts } from '../facts.js';
import { silentLogger } from '../log.js';
import { AGENT_VERSION } from '../version.js';
import { createSystemCapability, parseOsRelease } from './system.js';

describe('system/info', () => {
  it('answers a result that matches its schema', async () => {
    const handler = createSystemCapability().actions.info;
    if (!handler) throw new Error('system/info missing');
    const ctx = {
      commandId: 'c1',
      emit: () => {},
      signal: new AbortController().signal,
      log: silentLogger,
      config: agentConfig({ stateDir: '/tmp' }),
    };
    const info = await handler(parse(commands['system/info'].args, {}, 'args'), ctx);
    expect(check(commands['system/info'].result, info)).toBe(true);
    expect(info).toMatchObject({ agentVersion: AGENT_VERSION, nodeVersion: process.version, arch: process.arch });
    const { macs, ips } = info as { macs: string[]; ips: string[] };
    expect(ips).not.toContain('127.0.0.1');
    expect(ips).not.toContain('::1');
    expect(macs).not.toContain('00:00:00:00:00:00');
  });

  it('refuses args it does not know', () => {
    expect(() => parse(commands['system/info'].args, { verbose: true }, 'args')).toThrow(/unknown field 'verbose'/);
  });

  it('parses os-release with quotes and escapes', () => {
    const text = [
      '# comment',
      'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"',
      'NAME="Debian GNU/Linux"',
      'VERSION_ID="12"',
      'VERSION="12 (bookworm)"',
      'ID=debian',
      'BUILD="say \\"hi\\""',
    ].join('\n');
    expect(parseOsRelease(text)).toEqual({
      id: 'debian',
      name: 'Debian GNU/Linux',
      version: '12 (bookworm)',
      prettyName: 'Debian GNU/Linux 12 (bookworm)',
    });
    expect(parseOsRelease("NAME='Alpine Linux'\nVERSION_ID=3.19.0\n")).toEqual({
      id: 'linux',
      name: 'Alpine Linux',
      version: '3.19.0',
      prettyName: 'Alpine Linux 3.19.0',
    });
    expect(parseOsRelease('')).toEqual({ id: 'linux', name: 'Linux', version: '', prettyName: 'Linux' });
  });
});

describe('device facts', () => {
  it('match the protocol’s DeviceFacts', () => {
    const facts = collectFacts();
    expect(check(DeviceFacts, facts)).toBe(true);
    expect(facts.agentVersion).toBe(AGENT_VERSION);
  });

  it('report the version in package.json', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(AGENT_VERSION).toBe(pkg.version);
  });
});
