/** Server configuration: defaults < file < OUTPOST_* env < flags, validated once, errors naming the bad key. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { OutpostError } from '@outpost/protocol';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultConfig, loadConfig, type ServerOptions } from './config.js';

const dir = mkdtempSync(join(tmpdir(), 'outpost-config-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let fileCount = 0;
function configFile(content: unknown): string {
  const path = join(dir, `config-${fileCount++}.json`);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

/** loadConfig with an empty environment unless one is given, so the test runner's env cannot leak in. */
const load = (options: ServerOptions = {}) => loadConfig({ env: {}, ...options });

/** The E_BAD_ARGS thrown by loadConfig; fails when it does not throw. */
function failure(options: ServerOptions): OutpostError {
  try {
    load(options);
  } catch (err) {
    expect(err).toBeInstanceOf(OutpostError);
    expect((err as OutpostError).code).toBe('E_BAD_ARGS');
    return err as OutpostError;
  }
  throw new Error('loadConfig accepted a bad configuration');
}

describe('defaults', () => {
  it('are the documented ones, with dataDir made absolute', () => {
    expect(load()).toEqual({ ...defaultConfig, dataDir: resolve('./outpost-data') });
    expect(defaultConfig).toMatchObject({
      host: '0.0.0.0',
      httpPort: 8443,
      mqttPort: 8883,
      hostname: [],
      insecurePlainMqtt: null,
      database: 'sqlite',
      broker: 'embedded',
      logLevel: 'info',
      commandTtl: 3600,
      missedHeartbeats: 3,
      tlsCert: null,
      tlsKey: null,
    });
  });

  it('no config file is read unless one is named', () => {
    expect(() => load()).not.toThrow();
  });

  it('loadConfig() without arguments reads process.env', () => {
    const saved = process.env.OUTPOST_COMMAND_TTL;
    process.env.OUTPOST_COMMAND_TTL = '77';
    try {
      expect(loadConfig().commandTtl).toBe(77);
    } finally {
      if (saved === undefined) delete process.env.OUTPOST_COMMAND_TTL;
      else process.env.OUTPOST_COMMAND_TTL = saved;
    }
  });
});

describe('precedence: flags > env > file > defaults', () => {
  const file = () =>
    configFile({ httpPort: 1001, mqttPort: 2001, commandTtl: 60, logLevel: 'warn', hostname: ['file.example'] });
  const env = { OUTPOST_HTTP_PORT: '1002', OUTPOST_MQTT_PORT: '2002', OUTPOST_HOSTNAME: 'env.example' };

  it('file over defaults', () => {
    expect(load({ configFile: file() })).toMatchObject({
      httpPort: 1001,
      mqttPort: 2001,
      commandTtl: 60,
      logLevel: 'warn',
      hostname: ['file.example'],
      database: 'sqlite',
    });
  });

  it('env over file', () => {
    expect(load({ configFile: file(), env })).toMatchObject({
      httpPort: 1002,
      mqttPort: 2002,
      commandTtl: 60,
      hostname: ['env.example'],
    });
  });

  it('flags over env', () => {
    expect(load({ configFile: file(), env, httpPort: 1003, hostname: ['flag.example'] })).toMatchObject({
      httpPort: 1003,
      mqttPort: 2002,
      commandTtl: 60,
      logLevel: 'warn',
      hostname: ['flag.example'],
    });
  });

  it('undefined flags and empty env vars do not override', () => {
    const c = load({
      configFile: file(),
      env: { OUTPOST_HTTP_PORT: '', OUTPOST_MQTT_PORT: '2002' },
      httpPort: undefined,
    });
    expect(c.httpPort).toBe(1001);
    expect(c.mqttPort).toBe(2002);
  });

  it('OUTPOST_SERVER_CONFIG names the file; an explicit configFile wins over it', () => {
    const a = configFile({ httpPort: 1111 });
    const b = configFile({ httpPort: 2222 });
    expect(load({ env: { OUTPOST_SERVER_CONFIG: a } }).httpPort).toBe(1111);
    expect(load({ env: { OUTPOST_SERVER_CONFIG: a }, configFile: b }).httpPort).toBe(2222);
  });

  it('reads every OUTPOST_* variable', () => {
    const c = load({
      env: {
        OUTPOST_DATA_DIR: join(dir, 'env-data'),
        OUTPOST_HOST: '127.0.0.1',
        OUTPOST_HTTP_PORT: '0',
        OUTPOST_MQTT_PORT: '1883',
        OUTPOST_HOSTNAME: ' a.example , 10.0.0.5,,b ',
        OUTPOST_INSECURE_PLAIN_MQTT: '1884',
        OUTPOST_DATABASE: 'postgres://outpost@db/outpost',
        OUTPOST_BROKER: 'mqtts://broker.example:8883',
        OUTPOST_BROKER_USERNAME: 'srv',
        OUTPOST_BROKER_PASSWORD: 'pw',
        OUTPOST_LOG_LEVEL: 'debug',
        OUTPOST_COMMAND_TTL: '120',
        OUTPOST_TLS_CERT: '/etc/outpost/cert.pem',
        OUTPOST_TLS_KEY: '/etc/outpost/key.pem',
      },
    });
    expect(c).toEqual({
      ...defaultConfig,
      dataDir: join(dir, 'env-data'),
      host: '127.0.0.1',
      httpPort: 0,
      mqttPort: 1883,
      hostname: ['a.example', '10.0.0.5', 'b'],
      insecurePlainMqtt: 1884,
      database: 'postgres://outpost@db/outpost',
      broker: 'mqtts://broker.example:8883',
      brokerUsername: 'srv',
      brokerPassword: 'pw',
      logLevel: 'debug',
      commandTtl: 120,
      tlsCert: '/etc/outpost/cert.pem',
      tlsKey: '/etc/outpost/key.pem',
    });
  });

  it('ignores environment variables outside OUTPOST_*', () => {
    expect(load({ env: { HTTP_PORT: 'x', PORT: '1', outpost_http_port: '5' } }).httpPort).toBe(8443);
  });
});

describe('errors name the bad key', () => {
  it('unknown key in the file', () => {
    expect(failure({ configFile: configFile({ httpPrt: 1 }) }).message).toContain("unknown field 'httpPrt'");
  });

  it('a __proto__ key in the file is an unknown field, not a prototype', () => {
    const c = failure({ configFile: configFile('{"__proto__": {"httpPort": 1}}') });
    expect(c.message).toContain("unknown field '__proto__'");
  });

  it.each([
    ['httpPort as string', { httpPort: 'x' }, '/httpPort'],
    ['httpPort 70000', { httpPort: 70000 }, '/httpPort'],
    ['negative mqttPort', { mqttPort: -1 }, '/mqttPort'],
    ['fractional httpPort', { httpPort: 80.5 }, '/httpPort'],
    ['insecurePlainMqtt as string', { insecurePlainMqtt: 'on' }, '/insecurePlainMqtt'],
    ['insecurePlainMqtt 70000', { insecurePlainMqtt: 70000 }, '/insecurePlainMqtt'],
    ['hostname as string', { hostname: 'a.example' }, '/hostname'],
    ['hostname with a space', { hostname: ['a b'] }, '/hostname/0'],
    ['hostname with a slash', { hostname: ['a/b'] }, '/hostname/0'],
    ['unknown log level', { logLevel: 'verbose' }, '/logLevel'],
    ['commandTtl 0', { commandTtl: 0 }, '/commandTtl'],
    ['missedHeartbeats 1', { missedHeartbeats: 1 }, '/missedHeartbeats'],
    ['empty dataDir', { dataDir: '' }, '/dataDir'],
    ['brokerPassword as number', { brokerPassword: 1234 }, '/brokerPassword'],
  ])('%s in the file', (_label, content, key) => {
    expect(failure({ configFile: configFile(content) }).message).toContain(key);
  });

  it.each(['abc', '-1', '1.5', '8443 ', '0x50', '1e3'])('OUTPOST_HTTP_PORT=%j', (value) => {
    expect(failure({ env: { OUTPOST_HTTP_PORT: value } }).message).toContain('OUTPOST_HTTP_PORT');
  });

  it('OUTPOST_MQTT_PORT=70000 is named by its key', () => {
    expect(failure({ env: { OUTPOST_MQTT_PORT: '70000' } }).message).toContain('mqttPort');
  });

  it('OUTPOST_COMMAND_TTL=soon', () => {
    expect(failure({ env: { OUTPOST_COMMAND_TTL: 'soon' } }).message).toContain('OUTPOST_COMMAND_TTL');
  });

  it('a flag out of range', () => {
    expect(failure({ httpPort: 65536 }).message).toContain('/httpPort');
  });

  it('a missing explicit config file', () => {
    const path = join(dir, 'nope.json');
    expect(failure({ configFile: path }).message).toBe(`config file not found: ${path}`);
    expect(failure({ env: { OUTPOST_SERVER_CONFIG: path } }).message).toContain('config file not found');
  });

  it('invalid JSON in the file names the file', () => {
    const path = configFile('{ "httpPort": 8443, }');
    const msg = failure({ configFile: path }).message;
    expect(msg).toContain(path);
    expect(msg).toContain('not valid JSON');
  });

  it.each(['[]', 'null', '"x"', '42'])('a file holding %s is not an object', (content) => {
    expect(failure({ configFile: configFile(content) }).message).toContain('must hold a JSON object');
  });

  it('tlsCert without tlsKey, and the reverse', () => {
    for (const content of [{ tlsCert: '/c.pem' }, { tlsKey: '/k.pem' }]) {
      const msg = failure({ configFile: configFile(content) }).message;
      expect(msg).toContain('tlsCert');
      expect(msg).toContain('tlsKey');
    }
    expect(load({ env: { OUTPOST_TLS_CERT: '/c.pem' }, tlsKey: '/k.pem' })).toMatchObject({
      tlsCert: '/c.pem',
      tlsKey: '/k.pem',
    });
  });

  it.each(['http://broker', 'broker.example:1883', 'mqtt:/x', 'tcp://broker', 'Embedded', ' embedded'])(
    'bad broker %j',
    (broker) => {
      expect(failure({ broker }).message).toContain('/broker');
    },
  );

  it.each(['mqtt://broker', 'mqtts://broker:8883', 'ws://broker/mqtt', 'wss://broker/mqtt', 'embedded'])(
    'accepts broker %j',
    (broker) => {
      expect(load({ broker }).broker).toBe(broker);
    },
  );

  it.each(['mysql://db', 'sqlite:./x.db', 'postgres:/db', 'SQLite', 'file.db'])('bad database %j', (database) => {
    expect(failure({ database }).message).toContain('/database');
  });

  it.each(['sqlite', 'postgres://u:p@db:5432/outpost', 'postgresql://db/outpost'])(
    'accepts database %j',
    (database) => {
      expect(load({ database }).database).toBe(database);
    },
  );

  it('does not echo a broker password in a broker URL error', () => {
    const msg = failure({ broker: 'http://admin:hunter2@broker' }).message;
    expect(msg).not.toContain('hunter2');
  });
});

describe('result', () => {
  it('is frozen, hostname list included', () => {
    const c = load({ hostname: ['a.example'] });
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.hostname)).toBe(true);
    expect(() => {
      (c as { httpPort: number }).httpPort = 1;
    }).toThrow(TypeError);
    expect(() => (c.hostname as string[]).push('b')).toThrow(TypeError);
  });

  it("does not share the caller's hostname array nor change the defaults", () => {
    const names = ['a.example'];
    const c = load({ hostname: names });
    names.push('b.example');
    expect(c.hostname).toEqual(['a.example']);
    expect(defaultConfig.hostname).toEqual([]);
    expect(defaultConfig.dataDir).toBe('./outpost-data');
  });

  it('dataDir is resolved to an absolute path', () => {
    const rel = load({ dataDir: 'some/data' }).dataDir;
    expect(isAbsolute(rel)).toBe(true);
    expect(rel).toBe(resolve(process.cwd(), 'some/data'));
    expect(load({ dataDir: '/srv/outpost/' }).dataDir).toBe('/srv/outpost');
    expect(load({ configFile: configFile({ dataDir: 'x/../y' }) }).dataDir).toBe(resolve('y'));
  });
});
