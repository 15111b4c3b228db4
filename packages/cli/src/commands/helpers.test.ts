/** The pure pieces behind the commands: request bodies, tag edits, summaries, the agent line. */
import { describe, expect, it } from 'vitest';
import { agentArgv, agentEnv } from '../demo-agent.js';
import { summarizeArgs, summarizeOutcome } from './commands.js';
import { nextTags, primaryIp } from './devices.js';
import { serverOptions } from './server.js';
import { agentCommandLine, brokerUrlFor, tokenCreateBody } from './tokens.js';

describe('devices tag', () => {
  it('positional tags replace, --add appends once, --remove drops, --clear empties', () => {
    expect(nextTags(['a', 'b'], { set: ['x', 'y'] })).toEqual(['x', 'y']);
    expect(nextTags(['a', 'b'], { add: ['b', 'c'] })).toEqual(['a', 'b', 'c']);
    expect(nextTags(['a', 'b'], { remove: ['a', 'zz'] })).toEqual(['b']);
    expect(nextTags(['a'], { clear: true, add: ['n'] })).toEqual(['n']);
    expect(nextTags(['a'], { set: ['x', 'x'], add: ['y'], remove: ['x'] })).toEqual(['y']);
    expect(nextTags(['a'], { set: [] })).toEqual(['a']);
  });

  it('primaryIp skips loopback and link-local addresses', () => {
    expect(primaryIp(['127.0.0.1', '::1', 'fe80::1', '169.254.1.1', '10.0.0.2'])).toBe('10.0.0.2');
    expect(primaryIp(['127.0.0.1'])).toBe('127.0.0.1');
    expect(primaryIp([])).toBe('-');
  });
});

describe('tokens create', () => {
  it('the agent line dials the API host on 8883 unless --broker says otherwise', () => {
    expect(brokerUrlFor('https://fleet.example:8443')).toBe('mqtts://fleet.example:8883');
    expect(brokerUrlFor('https://fleet.example', 'mqtts://broker:9883')).toBe('mqtts://broker:9883');
    expect(agentCommandLine('mqtts://h:8883', 'ope_x')).toBe(
      'OUTPOST_AGENT_ENROLL_TOKEN=ope_x outpost-agent --server mqtts://h:8883 --ca ca.crt',
    );
    // The server's advertised URL wins, with the API host when it only knows itself as localhost.
    expect(brokerUrlFor('https://fleet.example:8443', undefined, 'mqtts://localhost:9883')).toBe(
      'mqtts://fleet.example:9883',
    );
    expect(brokerUrlFor('https://10.0.0.5:8443', undefined, 'mqtts://fleet.example:8883')).toBe(
      'mqtts://fleet.example:8883',
    );
  });

  it('maxUses is sent only when given', () => {
    expect(tokenCreateBody({ maxUses: 1, autoAccept: true })).toEqual({ maxUses: 1, autoAccept: true });
    expect(tokenCreateBody({})).toEqual({ autoAccept: false });
  });
});

describe('commands ls', () => {
  it('summarizes args and outcomes in a few characters', () => {
    expect(summarizeArgs({ capability: 'exec', action: 'run', args: { argv: ['uname', '-a'] } })).toBe('uname -a');
    expect(summarizeArgs({ capability: 'exec', action: 'run', args: { script: 'df -h\n| grep x', shell: true } })).toBe(
      'sh: df -h | grep x',
    );
    const python = { script: 'import os\nprint(1)', interpreter: 'python3' };
    expect(summarizeArgs({ capability: 'exec', action: 'run', args: python })).toBe('python3: import os print(1)');
    const library = { ...python, env: { OUTPOST_SCRIPT_NAME: 'probe', OUTPOST_SCRIPT_VERSION: '3' } };
    expect(summarizeArgs({ capability: 'exec', action: 'run', args: library })).toBe('script probe@3');
    expect(summarizeArgs({ capability: 'system', action: 'info', args: {} })).toBe('{}');
    expect(summarizeArgs({ capability: 'exec', action: 'run', args: { argv: ['x'.repeat(100)] } }, 10)).toBe(
      'xxxxxxxxx…',
    );
    expect(summarizeOutcome({ result: { exitCode: 2 }, error: null })).toBe('exit 2');
    expect(summarizeOutcome({ result: { exitCode: null, signal: 'SIGKILL' }, error: null })).toBe('SIGKILL');
    expect(summarizeOutcome({ result: null, error: { code: 'E_BUSY', message: 'busy' } })).toBe('E_BUSY');
    expect(summarizeOutcome({ result: { hostname: 'h' }, error: null })).toBe('ok');
    expect(summarizeOutcome({ result: null, error: null })).toBe('-');
  });
});

describe('server and demo', () => {
  it('server flags not given stay undefined so the config file and env apply', () => {
    expect(serverOptions({ httpPort: 0, hostname: ['a', 'b'] })).toEqual({
      configFile: undefined,
      dataDir: undefined,
      httpPort: 0,
      mqttPort: undefined,
      hostname: ['a', 'b'],
      insecurePlainMqtt: undefined,
      insecureHttp: undefined,
      host: undefined,
      database: undefined,
      broker: undefined,
      tlsCert: undefined,
      tlsKey: undefined,
      logLevel: undefined,
    });
    expect(serverOptions({ database: 'postgres://db/outpost', broker: 'mqtts://b:8883' })).toMatchObject({
      database: 'postgres://db/outpost',
      broker: 'mqtts://b:8883',
    });
  });

  it('the demo agent enrolls only when it has no identity yet, with the token in its environment', () => {
    const base = { agentBin: '/a.js', broker: 'mqtts://localhost:8883', caFile: '/ca', stateDir: '/s', logFile: '/l' };
    const argv = agentArgv({ ...base, enrollToken: 'ope_t' });
    expect(argv).toEqual(['/a.js', '--server', 'mqtts://localhost:8883', '--ca', '/ca', '--state-dir', '/s']);
    expect(argv.join(' ')).not.toContain('ope_t');
    expect(agentEnv({ ...base, enrollToken: 'ope_t' }, {}).OUTPOST_AGENT_ENROLL_TOKEN).toBe('ope_t');
    expect(agentEnv(base, { OUTPOST_AGENT_ENROLL_TOKEN: 'stale' }).OUTPOST_AGENT_ENROLL_TOKEN).toBeUndefined();
  });
});
