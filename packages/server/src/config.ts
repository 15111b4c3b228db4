/**
 * Server configuration: defaults < config file < OUTPOST_* environment < flags,
 * validated once at start (messages name the bad key) and frozen.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { OutpostError, parse } from '@outpost/protocol';
import { type Static, Type } from '@sinclair/typebox';
import { DEFAULT_METRICS_RETENTION, MetricsRetentionSchema, resolveRetention } from './metrics-retention.js';

const Port = Type.Integer({ minimum: 0, maximum: 65535 });

export const ServerConfigSchema = Type.Object(
  {
    dataDir: Type.String({ minLength: 1 }),
    /** Address every listener binds to. */
    host: Type.String({ minLength: 1 }),
    httpPort: Port,
    mqttPort: Port,
    /** Extra names and addresses for the server certificate (localhost and 127.0.0.1 are always in). */
    hostname: Type.Array(Type.String({ minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9.:-]+$' }), { maxItems: 32 }),
    /** Port of a plain-HTTP API listener, bound to 127.0.0.1 only; off (null) unless asked for. */
    insecureHttp: Type.Union([Port, Type.Null()]),
    /** Port of a plain-text MQTT listener; off (null) unless asked for. */
    insecurePlainMqtt: Type.Union([Port, Type.Null()]),
    /** `sqlite` (file in dataDir) or a `postgres://` URL. */
    database: Type.String({ minLength: 1 }),
    /** `embedded`, or an external broker URL (mqtt://, mqtts://, ws://, wss://). */
    broker: Type.String({ minLength: 1 }),
    brokerUsername: Type.Union([Type.String(), Type.Null()]),
    brokerPassword: Type.Union([Type.String(), Type.Null()]),
    /** CA file (PEM) to trust for an external broker's TLS certificate. */
    brokerCa: Type.Union([Type.String(), Type.Null()]),
    logLevel: Type.Unsafe<'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent'>({
      type: 'string',
      enum: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'],
    }),
    /** Seconds a command may wait for an offline device before it expires. */
    commandTtl: Type.Integer({ minimum: 1, maximum: 7 * 24 * 3600 }),
    /** Days a finished command (args, result, error) is kept; older ones are deleted hourly. */
    commandRetentionDays: Type.Integer({ minimum: 1, maximum: 3650 }),
    /** A device is marked offline after this many missed heartbeats. */
    missedHeartbeats: Type.Integer({ minimum: 2, maximum: 100 }),
    /** A browser session ends after this many idle seconds... */
    sessionIdle: Type.Integer({ minimum: 60, maximum: 30 * 86400 }),
    /** ...and at the latest this many seconds after login. */
    sessionMax: Type.Integer({ minimum: 300, maximum: 90 * 86400 }),
    tlsCert: Type.Union([Type.String(), Type.Null()]),
    tlsKey: Type.Union([Type.String(), Type.Null()]),
    /** Seconds byte streams (terminals, forwards, transfers) wait for a device that went offline. */
    streamGrace: Type.Integer({ minimum: 1, maximum: 86400 }),
    /** Record terminal sessions as asciicast files in `<dataDir>/recordings` (docs/terminal.md). */
    terminalRecording: Type.Boolean(),
    /** How long metrics are kept per tier, in seconds (docs/metrics.md §Retention). */
    metricsRetention: MetricsRetentionSchema,
  },
  { additionalProperties: false },
);
export type ServerConfig = Readonly<Static<typeof ServerConfigSchema>>;

export const defaultConfig: ServerConfig = {
  dataDir: './outpost-data',
  host: '0.0.0.0',
  httpPort: 8443,
  mqttPort: 8883,
  hostname: [],
  insecurePlainMqtt: null,
  insecureHttp: null,
  database: 'sqlite',
  broker: 'embedded',
  brokerUsername: null,
  brokerPassword: null,
  brokerCa: null,
  logLevel: 'info',
  commandTtl: 3600,
  commandRetentionDays: 30,
  missedHeartbeats: 3,
  sessionIdle: 30 * 60,
  sessionMax: 12 * 3600,
  tlsCert: null,
  tlsKey: null,
  streamGrace: 60,
  terminalRecording: true,
  metricsRetention: DEFAULT_METRICS_RETENTION,
};

/** Options a caller (the CLI) passes; undefined means "not given". */
export type ServerOptions = { [K in keyof ServerConfig]?: ServerConfig[K] | undefined } & {
  configFile?: string | undefined;
  env?: NodeJS.ProcessEnv;
};

type Raw = Record<string, unknown>;

const envKeys: Record<string, keyof ServerConfig> = {
  OUTPOST_DATA_DIR: 'dataDir',
  OUTPOST_HOST: 'host',
  OUTPOST_HTTP_PORT: 'httpPort',
  OUTPOST_MQTT_PORT: 'mqttPort',
  OUTPOST_HOSTNAME: 'hostname',
  OUTPOST_INSECURE_PLAIN_MQTT: 'insecurePlainMqtt',
  OUTPOST_INSECURE_HTTP: 'insecureHttp',
  OUTPOST_DATABASE: 'database',
  OUTPOST_BROKER: 'broker',
  OUTPOST_BROKER_USERNAME: 'brokerUsername',
  OUTPOST_BROKER_PASSWORD: 'brokerPassword',
  OUTPOST_BROKER_CA: 'brokerCa',
  OUTPOST_LOG_LEVEL: 'logLevel',
  OUTPOST_COMMAND_TTL: 'commandTtl',
  OUTPOST_COMMAND_RETENTION_DAYS: 'commandRetentionDays',
  OUTPOST_MISSED_HEARTBEATS: 'missedHeartbeats',
  OUTPOST_SESSION_IDLE: 'sessionIdle',
  OUTPOST_SESSION_MAX: 'sessionMax',
  OUTPOST_TLS_CERT: 'tlsCert',
  OUTPOST_TLS_KEY: 'tlsKey',
  OUTPOST_STREAM_GRACE: 'streamGrace',
  OUTPOST_TERMINAL_RECORDING: 'terminalRecording',
};
const numericKeys = new Set<keyof ServerConfig>([
  'httpPort',
  'mqttPort',
  'insecurePlainMqtt',
  'commandTtl',
  'commandRetentionDays',
  'missedHeartbeats',
  'streamGrace',
]);
const booleanKeys = new Set<keyof ServerConfig>(['terminalRecording']);

function fromEnv(env: NodeJS.ProcessEnv): Raw {
  const out: Raw = {};
  for (const [name, key] of Object.entries(envKeys)) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    if (key === 'hostname')
      out[key] = value
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
    else if (booleanKeys.has(key)) {
      if (!/^(true|false|1|0)$/.test(value))
        throw new OutpostError('E_BAD_ARGS', `invalid ${name}: expected true or false`);
      out[key] = value === 'true' || value === '1';
    } else if (numericKeys.has(key)) {
      if (!/^\d+$/.test(value)) throw new OutpostError('E_BAD_ARGS', `invalid ${name}: expected a whole number`);
      out[key] = Number(value);
    } else out[key] = value;
  }
  return out;
}

function fromFile(path: string, explicit: boolean): Raw {
  if (!existsSync(path)) {
    if (explicit) throw new OutpostError('E_BAD_ARGS', `config file not found: ${path}`);
    return {};
  }
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new OutpostError('E_BAD_ARGS', `config file ${path} is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new OutpostError('E_BAD_ARGS', `config file ${path} must hold a JSON object`);
  }
  return value as Raw;
}

function defined(o: Raw): Raw {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

/** Merges and validates; throws E_BAD_ARGS naming the offending key. */
export function loadConfig(options: ServerOptions = {}): ServerConfig {
  const { configFile, env = process.env, ...flags } = options;
  const envRaw = fromEnv(env);
  const file = configFile ?? env.OUTPOST_SERVER_CONFIG;
  const fileRaw = file ? fromFile(resolve(file), true) : {};
  const merged = { ...defaultConfig, ...fileRaw, ...envRaw, ...defined(flags as Raw) };
  // Per tier, not per object: a file setting only `raw` keeps the default minute and hour.
  merged.metricsRetention = resolveRetention([
    fileRaw.metricsRetention,
    env.OUTPOST_METRICS_RETENTION || undefined,
    (flags as Raw).metricsRetention,
  ]);
  const config = parse(ServerConfigSchema, merged, 'configuration');
  if ((config.tlsCert === null) !== (config.tlsKey === null)) {
    throw new OutpostError('E_BAD_ARGS', 'invalid configuration: tlsCert and tlsKey must be given together');
  }
  if (config.broker !== 'embedded' && !/^(mqtts?|wss?):\/\//.test(config.broker)) {
    throw new OutpostError('E_BAD_ARGS', "invalid configuration: /broker: expected 'embedded' or an mqtt(s)/ws(s) URL");
  }
  if (config.database !== 'sqlite' && !/^postgres(ql)?:\/\//.test(config.database)) {
    throw new OutpostError('E_BAD_ARGS', "invalid configuration: /database: expected 'sqlite' or a postgres:// URL");
  }
  return Object.freeze({
    ...config,
    dataDir: resolve(config.dataDir),
    hostname: Object.freeze([...config.hostname]),
  }) as ServerConfig;
}
