/**
 * The port-forwarding allow list (`forwardAllow`): rule parsing with messages a
 * device owner can act on, target checks for addresses, networks and names, and
 * the config key as flag, variable and file. DNS is replaced by a table here
 * (the machine has no resolver to test against); the check takes any lookup.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OutpostError } from '@outpost/protocol';
import { afterAll, describe, expect, it } from 'vitest';
import { agentConfig, ConfigError, resolveConfig } from './config.js';
import {
  type CheckedAddress,
  checkForwardTarget,
  DEFAULT_FORWARD_ALLOW,
  type Lookup,
  normalizeIp,
  parseForwardRule,
  parseForwardRules,
  systemLookup,
} from './forward-targets.js';

const dns: Record<string, CheckedAddress[]> = {
  localhost: [
    { address: '::1', family: 6 },
    { address: '127.0.0.1', family: 4 },
  ],
  'db.lan': [{ address: '10.1.2.3', family: 4 }],
  'mixed.lan': [
    { address: '10.1.2.4', family: 4 },
    { address: '192.0.2.7', family: 4 },
  ],
  'v6.lan': [{ address: 'fd00::5', family: 6 }],
};
const asked: string[] = [];
const lookup: Lookup = async (name) => {
  asked.push(name);
  const a = dns[name];
  if (!a) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
  return a;
};

async function outcome(rules: readonly string[], host: string, port: number): Promise<string> {
  try {
    const addrs = await checkForwardTarget(parseForwardRules(rules), host, port, lookup);
    return addrs.map((a) => a.address).join(' ');
  } catch (err) {
    expect(err).toBeInstanceOf(OutpostError);
    return (err as OutpostError).code;
  }
}

function ruleError(text: string): string {
  try {
    parseForwardRule(text);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error(`'${text}' was accepted`);
}

describe('forwardAllow rules', () => {
  it('parse hosts, networks, names and port ranges', () => {
    expect(parseForwardRule('localhost:*')).toMatchObject({ host: { kind: 'name', name: 'localhost' } });
    expect(parseForwardRule('LocalHost.:22').host).toEqual({ kind: 'name', name: 'localhost' });
    expect(parseForwardRule('127.0.0.1:8080').ports).toEqual([8080, 8080]);
    expect(parseForwardRule('10.0.0.0/8:1-1024').ports).toEqual([1, 1024]);
    expect(parseForwardRule('[::1]:*').ports).toEqual([1, 65535]);
    expect(parseForwardRule('[fd00::/8]:443').host).toMatchObject({ kind: 'net', family: 6 });
    expect(parseForwardRule('*:443').host).toEqual({ kind: 'any' });
    expect(parseForwardRule('  db_1.lan:5432 ').text).toBe('db_1.lan:5432');
  });

  it.each([
    ['', /empty rule/],
    ['localhost', /no port; write HOST:PORT/],
    ['[::1]', /no port/],
    ['localhost:0', /port must be 1-65535/],
    ['localhost:65536', /port must be 1-65535/],
    ['localhost:http', /port must be 1-65535.*got 'http'/],
    ['localhost:90-80', /range 90-80 is backwards/],
    ['localhost:1-', /port must be/],
    ['::1:22', /write an IPv6 address in brackets, e\.g\. \[::1\]:22/],
    ['[127.0.0.1]:22', /inside \[ \] must be an IPv6 address/],
    ['[fd00::/129]:22', /prefix length of an IPv6 network must be 0-128/],
    ['10.0.0.0/33:22', /prefix length of an IPv4 network must be 0-32/],
    ['10.0.0.0/x:22', /prefix length/],
    ['db.lan/24:22', /not an IPv4 address, so it cannot have a \/prefix/],
    ['300.1.1.1:22', /'300\.1\.1\.1' is not a valid IPv4 address/],
    ['-bad.lan:22', /not a host name, an IP address, a network or \*/],
    ['a..b:22', /not a host name/],
    [':22', /not a host name/],
    ['*.lan:22', /not a host name/],
  ])('refuse %j with a message naming what is wrong', (text, message) => {
    const m = ruleError(text);
    expect(m).toMatch(message);
    if (text.trim()) expect(m).toContain(`'${text.trim()}'`);
  });

  it('cap the list length', () => {
    expect(() => parseForwardRules(Array.from({ length: 257 }, () => 'localhost:1'))).toThrow(/at most 256 rules/);
  });

  it('normalize IPv4-mapped IPv6 addresses to IPv4', () => {
    expect(normalizeIp('::ffff:127.0.0.1')).toEqual({ address: '127.0.0.1', family: 4 });
    expect(normalizeIp('::FFFF:7f00:1')).toEqual({ address: '::ffff:7f00:1', family: 6 });
    expect(normalizeIp('FD00::1')).toEqual({ address: 'fd00::1', family: 6 });
    expect(normalizeIp('db.lan')).toBeUndefined();
  });
});

describe('checkForwardTarget', () => {
  it('by default allows localhost only, by address or by name, on any port', async () => {
    expect(await outcome(DEFAULT_FORWARD_ALLOW, '127.0.0.1', 80)).toBe('127.0.0.1');
    expect(await outcome(DEFAULT_FORWARD_ALLOW, '::1', 65535)).toBe('::1');
    expect(await outcome(DEFAULT_FORWARD_ALLOW, '::ffff:127.0.0.1', 1)).toBe('127.0.0.1');
    expect(await outcome(DEFAULT_FORWARD_ALLOW, 'LOCALHOST', 8080)).toBe('::1 127.0.0.1');
    expect(await outcome(DEFAULT_FORWARD_ALLOW, '127.0.0.2', 80)).toBe('E_DENIED');
    expect(await outcome(DEFAULT_FORWARD_ALLOW, '10.1.2.3', 80)).toBe('E_DENIED');
    expect(await outcome(DEFAULT_FORWARD_ALLOW, 'db.lan', 5432)).toBe('E_DENIED');
    expect(await outcome(DEFAULT_FORWARD_ALLOW, '0.0.0.0', 80)).toBe('E_DENIED');
  });

  it('matches ports and networks exactly', async () => {
    const rules = ['127.0.0.1:8080', '10.0.0.0/8:1-1024', '[fd00::/8]:443'];
    expect(await outcome(rules, '127.0.0.1', 8080)).toBe('127.0.0.1');
    expect(await outcome(rules, '127.0.0.1', 8081)).toBe('E_DENIED');
    expect(await outcome(rules, '10.255.0.1', 1024)).toBe('10.255.0.1');
    expect(await outcome(rules, '10.255.0.1', 1025)).toBe('E_DENIED');
    expect(await outcome(rules, '11.0.0.1', 22)).toBe('E_DENIED');
    expect(await outcome(rules, 'fd12::1', 443)).toBe('fd12::1');
    expect(await outcome(rules, 'fe80::1', 443)).toBe('E_DENIED');
    // An IPv4 network does not admit IPv6 addresses, nor the other way round.
    expect(await outcome(['0.0.0.0/0:*'], '::1', 80)).toBe('E_DENIED');
    expect(await outcome(['[::/0]:*'], '127.0.0.1', 80)).toBe('E_DENIED');
  });

  it('allows a name by a rule naming it, or when every address it has is allowed', async () => {
    expect(await outcome(['db.lan:5432'], 'db.lan', 5432)).toBe('10.1.2.3');
    expect(await outcome(['db.lan:5432'], 'db.lan', 5433)).toBe('E_DENIED');
    expect(await outcome(['10.0.0.0/8:*'], 'db.lan', 22)).toBe('10.1.2.3');
    expect(await outcome(['[fd00::/8]:*'], 'v6.lan', 22)).toBe('fd00::5');
    // One address outside the networks is enough to refuse the name.
    expect(await outcome(['10.0.0.0/8:*'], 'mixed.lan', 22)).toBe('E_DENIED');
    expect(await outcome(['10.0.0.0/8:*', '192.0.2.0/24:22'], 'mixed.lan', 22)).toBe('10.1.2.4 192.0.2.7');
    expect(await outcome(['*:443'], 'mixed.lan', 443)).toBe('10.1.2.4 192.0.2.7');
    expect(await outcome(['*:443'], '8.8.8.8', 443)).toBe('8.8.8.8');
    expect(await outcome(['*:443'], '8.8.8.8', 80)).toBe('E_DENIED');
  });

  it('does not look a name up when no rule could allow it, and reports names that do not resolve', async () => {
    asked.length = 0;
    // No name rule for it, and no network rule for port 80: nothing to look up.
    expect(await outcome(['127.0.0.1:22', 'db.lan:5432'], 'evil.example', 80)).toBe('E_DENIED');
    expect(asked).toEqual([]);
    // A network rule on that port could admit it: looked up, then refused by address.
    expect(await outcome(['127.0.0.1:*'], 'db.lan', 80)).toBe('E_DENIED');
    expect(asked).toEqual(['db.lan']);
    asked.length = 0;
    expect(await outcome(['nowhere.lan:80'], 'nowhere.lan', 80)).toBe('E_NOT_FOUND');
    expect(await outcome(['10.0.0.0/8:*'], 'nowhere.lan', 80)).toBe('E_NOT_FOUND');
    expect(asked).toEqual(['nowhere.lan', 'nowhere.lan']);
  });

  it('refuses everything with an empty list, naming the list in the message', async () => {
    expect(await outcome([], '127.0.0.1', 80)).toBe('E_DENIED');
    await expect(checkForwardTarget([], 'localhost', 80, lookup)).rejects.toThrow(
      /forwarding to localhost:80 is not allowed on this device \(forwardAllow: none\)/,
    );
    await expect(checkForwardTarget(parseForwardRules(['[::1]:22']), '::2', 22, lookup)).rejects.toThrow(
      /forwarding to \[::2\]:22 is not allowed on this device \(forwardAllow: \[::1\]:22\)/,
    );
  });

  it('refuses a host that is neither a name nor an address as bad args', async () => {
    expect(await outcome(['*:*'], 'a..b', 80)).toBe('E_BAD_ARGS');
  });

  it('resolves localhost with the system resolver', async () => {
    const addrs = await systemLookup('localhost');
    expect(addrs.length).toBeGreaterThan(0);
    for (const a of addrs) expect(['127.0.0.1', '::1']).toContain(a.address);
  });
});

describe('the forwardAllow config key', () => {
  const dir = mkdtempSync(join(tmpdir(), 'outpost-forward-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = (content: unknown) => {
    const path = join(dir, `agent-${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(path, JSON.stringify(content));
    return path;
  };
  const run = (argv: string[], env: NodeJS.ProcessEnv = {}) => {
    const r = resolveConfig(argv, env);
    if (r.action !== 'run') throw new Error(r.action);
    return r.config.forwardAllow;
  };
  const fails = (argv: string[], env: NodeJS.ProcessEnv = {}) => {
    try {
      resolveConfig(argv, env);
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as Error).message;
    }
    throw new Error('expected a ConfigError');
  };

  it('defaults to localhost only', () => {
    expect(run(['--config', file({})])).toEqual(['localhost:*', '127.0.0.1:*', '[::1]:*']);
    expect(agentConfig({ stateDir: dir }).forwardAllow).toEqual(DEFAULT_FORWARD_ALLOW);
  });

  it('comes from the file as an array, from the variable and flag comma-separated, flags first', () => {
    const path = file({ forwardAllow: ['10.0.0.0/8:22', 'db.lan:5432'] });
    expect(run(['--config', path])).toEqual(['10.0.0.0/8:22', 'db.lan:5432']);
    const env = { OUTPOST_AGENT_FORWARD_ALLOW: 'localhost:8080, [::1]:22' };
    expect(run(['--config', path], env)).toEqual(['localhost:8080', '[::1]:22']);
    expect(run(['--config', path, '--forward-allow', '127.0.0.1:80'], env)).toEqual(['127.0.0.1:80']);
    const frozen = run(['--config', path]);
    expect(Object.isFrozen(frozen)).toBe(true);
  });

  it('is empty (forwarding off) when given as an empty list', () => {
    expect(run(['--config', file({ forwardAllow: [] })])).toEqual([]);
    expect(run(['--config', file({}), '--forward-allow', ''])).toEqual([]);
  });

  it('names the source and the rule at fault', () => {
    const path = file({ forwardAllow: ['localhost:*', '10.0.0.0/40:22'] });
    expect(fails(['--config', path])).toBe(
      `invalid config file ${path}: forwardAllow: '10.0.0.0/40:22': the prefix length of an IPv4 network must be 0-32 (got '/40')`,
    );
    expect(fails(['--config', file({ forwardAllow: 'localhost:*' })])).toMatch(/\/forwardAllow: must be array/);
    expect(fails(['--config', file({}), '--forward-allow', 'localhost'])).toMatch(
      /^invalid --forward-allow: 'localhost': no port/,
    );
    expect(fails(['--config', file({})], { OUTPOST_AGENT_FORWARD_ALLOW: 'localhost:1,' })).toMatch(
      /^invalid OUTPOST_AGENT_FORWARD_ALLOW: an empty rule/,
    );
    expect(() => agentConfig({ stateDir: dir, forwardAllow: ['::1:22'] })).toThrow(/invalid forwardAllow: .*brackets/);
  });
});
