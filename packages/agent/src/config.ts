/**
 * Agent configuration: command-line flags, then `OUTPOST_AGENT_*` environment
 * variables, then the JSON config file, then defaults. Every source is validated
 * at the edge; errors name the flag, variable or key and never echo a secret.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { check, DEFAULT_HEARTBEAT_SECONDS, OutpostError, parse } from '@outpost/protocol';
import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { DEFAULT_FORWARD_ALLOW, MAX_FORWARD_RULES, parseForwardRules } from './forward-targets.js';
import { isLogLevel, LOG_LEVELS, type LogLevel } from './log.js';
import { DEFAULT_AGENT_LOG_BYTES, DEFAULT_APP_LOG_BYTES } from './log-ring.js';

export const DEFAULT_STATE_DIR = '/var/lib/outpost';
export const DEFAULT_CONFIG_FILE = '/etc/outpost/agent.json';
export const DEFAULT_EXEC_CONCURRENCY = 8;
/** Seconds a byte stream waits for a lost link to come back (docs/protocol.md §Byte streams). */
export const DEFAULT_STREAM_GRACE = 60;
/** Seconds of silence after which a terminal is closed (docs/terminal.md). */
export const DEFAULT_TERMINAL_IDLE_TIMEOUT = 3600;
/** Seconds an interrupted upload's partial file waits to be resumed before it is removed (docs/files.md): 7 days. */
export const DEFAULT_UPLOAD_PART_TTL = 7 * 86400;

/** How an enrolled device proves who it is: a secret password, or a client certificate (docs/protocol.md §Connecting). */
export type AgentAuth = 'secret' | 'certificate';
export const AGENT_AUTH_MODES: readonly AgentAuth[] = ['secret', 'certificate'];

/** The resolved, frozen configuration the agent core runs with. */
export interface AgentConfig {
  /** Broker URL; may be absent when `identity.json` already names the server. */
  server?: string;
  /** File holding the CA certificate(s) that sign the server's TLS certificate. */
  ca?: string;
  enrollToken?: string;
  stateDir: string;
  /** Heartbeat (telemetry) interval in seconds. */
  heartbeat: number;
  logLevel: LogLevel;
  execConcurrency: number;
  /** Allows plain `mqtt://` and `ws://` (tests, labs). */
  allowInsecure: boolean;
  /** MQTT protocol version: 4 is 3.1.1, 5 is MQTT 5. */
  protocolVersion: 4 | 5;
  /** The credential to ask for at enrollment; an enrolled device keeps the one in its identity. */
  auth: AgentAuth;
  /** Seconds byte streams (terminals, forwards, transfers) survive a lost link before they are aborted. */
  streamGrace: number;
  /** Program a terminal runs (default: the terminal user's login shell, else /bin/sh; docs/terminal.md). */
  terminalShell?: string;
  /** User a terminal runs as (default: the agent's own user; switching needs root). */
  terminalUser?: string;
  /** Seconds a terminal may see no input or output before it is closed; 0 = never. */
  terminalIdleTimeout: number;
  /** Run as `powerCommand reboot|shutdown` by power actions instead of the system's commands (docs/processes-services-power.md). */
  powerCommand?: string;
  /** `HOST:PORTS` rules for `forward/open` targets (forward-targets.ts); default localhost only. */
  forwardAllow: readonly string[];
  /** Absolute directories file actions may touch (docs/files.md); default `<stateDir>/files` and `/tmp`. */
  fileRoots: readonly string[];
  /** Absolute directories `logs/*` may read `file:` sources under (docs/apps-and-logs.md); default /var/log and `<stateDir>/logs`. */
  logRoots: readonly string[];
  /** Byte cap of the in-memory ring of the agent's own log records. */
  agentLogBytes: number;
  /** Byte cap of each supervised app's output ring. */
  appLogBytes: number;
  /** Seconds an interrupted upload's partial file is kept without activity before it is removed; 0 = forever. */
  uploadPartTtl: number;
}

/** A configuration problem the user must fix: printed as one line, exit code 2. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

const strict = { additionalProperties: false } as const;

/** The config file (`/etc/outpost/agent.json`): every key optional, unknown keys refused. */
export const ConfigFile = Type.Object(
  {
    server: Type.Optional(Type.String({ minLength: 1, maxLength: 2048 })),
    ca: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
    enrollToken: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
    stateDir: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
    heartbeat: Type.Optional(Type.Integer({ minimum: 1, maximum: 3600 })),
    logLevel: Type.Optional(Type.Unsafe<LogLevel>({ type: 'string', enum: [...LOG_LEVELS] })),
    execConcurrency: Type.Optional(Type.Integer({ minimum: 1, maximum: 256 })),
    allowInsecure: Type.Optional(Type.Boolean()),
    protocolVersion: Type.Optional(Type.Unsafe<4 | 5>({ type: 'integer', enum: [4, 5] })),
    auth: Type.Optional(Type.Unsafe<AgentAuth>({ type: 'string', enum: [...AGENT_AUTH_MODES] })),
    streamGrace: Type.Optional(Type.Integer({ minimum: 1, maximum: 86400 })),
    terminalShell: Type.Optional(Type.String({ minLength: 2, maxLength: 4096, pattern: '^/[^\\u0000]*$' })),
    terminalUser: Type.Optional(Type.String({ minLength: 1, maxLength: 32, pattern: '^[a-z_][a-z0-9_-]*[$]?$' })),
    terminalIdleTimeout: Type.Optional(Type.Integer({ minimum: 0, maximum: 7 * 86400 })),
    powerCommand: Type.Optional(Type.String({ minLength: 2, maxLength: 4096, pattern: '^/[^\\u0000]*$' })),
    forwardAllow: Type.Optional(Type.Array(Type.String({ maxLength: 300 }), { maxItems: MAX_FORWARD_RULES })),
    fileRoots: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 4096, pattern: '^/' }), { maxItems: 64 }),
    ),
    logRoots: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 4096, pattern: '^/' }), { maxItems: 64 }),
    ),
    agentLogBytes: Type.Optional(Type.Integer({ minimum: 16 * 1024, maximum: 64 * 1024 * 1024 })),
    appLogBytes: Type.Optional(Type.Integer({ minimum: 16 * 1024, maximum: 16 * 1024 * 1024 })),
    uploadPartTtl: Type.Optional(Type.Integer({ minimum: 0, maximum: 365 * 86400 })),
  },
  strict,
);
export type ConfigFile = Static<typeof ConfigFile>;
type Key = keyof ConfigFile;

/** `list`: comma-separated in a flag or variable, a JSON array in the file. */
type Kind = 'string' | 'int' | 'bool' | 'list';
interface Field {
  key: Key;
  kind: Kind;
  flag?: string;
  env: string;
  /** What a valid value looks like, for error messages. */
  hint: string;
}

/** Every setting with its flag and variable (also what `--help` lists, usage.ts). */
export const fields: Field[] = [
  { key: 'server', kind: 'string', flag: 'server', env: 'OUTPOST_AGENT_SERVER', hint: 'a URL' },
  { key: 'ca', kind: 'string', flag: 'ca', env: 'OUTPOST_AGENT_CA', hint: 'a file path' },
  { key: 'enrollToken', kind: 'string', flag: 'enroll', env: 'OUTPOST_AGENT_ENROLL_TOKEN', hint: 'a token' },
  { key: 'stateDir', kind: 'string', flag: 'state-dir', env: 'OUTPOST_AGENT_STATE_DIR', hint: 'a directory' },
  { key: 'heartbeat', kind: 'int', flag: 'heartbeat', env: 'OUTPOST_AGENT_HEARTBEAT', hint: 'seconds, 1 to 3600' },
  { key: 'logLevel', kind: 'string', flag: 'log-level', env: 'OUTPOST_AGENT_LOG_LEVEL', hint: LOG_LEVELS.join('|') },
  { key: 'execConcurrency', kind: 'int', env: 'OUTPOST_AGENT_EXEC_CONCURRENCY', hint: 'an integer, 1 to 256' },
  {
    key: 'allowInsecure',
    kind: 'bool',
    flag: 'allow-insecure',
    env: 'OUTPOST_AGENT_ALLOW_INSECURE',
    hint: 'true|false',
  },
  { key: 'protocolVersion', kind: 'int', env: 'OUTPOST_AGENT_MQTT_VERSION', hint: '4 (MQTT 3.1.1) or 5' },
  { key: 'auth', kind: 'string', flag: 'auth', env: 'OUTPOST_AGENT_AUTH', hint: AGENT_AUTH_MODES.join('|') },
  { key: 'streamGrace', kind: 'int', env: 'OUTPOST_AGENT_STREAM_GRACE', hint: 'seconds, 1 to 86400' },
  {
    key: 'terminalShell',
    kind: 'string',
    flag: 'terminal-shell',
    env: 'OUTPOST_AGENT_TERMINAL_SHELL',
    hint: 'an absolute path to a program',
  },
  {
    key: 'terminalUser',
    kind: 'string',
    flag: 'terminal-user',
    env: 'OUTPOST_AGENT_TERMINAL_USER',
    hint: 'a user name',
  },
  {
    key: 'terminalIdleTimeout',
    kind: 'int',
    env: 'OUTPOST_AGENT_TERMINAL_IDLE_TIMEOUT',
    hint: 'seconds, 0 (never) to 604800',
  },
  {
    key: 'powerCommand',
    kind: 'string',
    flag: 'power-command',
    env: 'OUTPOST_AGENT_POWER_COMMAND',
    hint: 'an absolute path to a program',
  },
  {
    key: 'forwardAllow',
    kind: 'list',
    flag: 'forward-allow',
    env: 'OUTPOST_AGENT_FORWARD_ALLOW',
    hint: 'comma-separated HOST:PORT rules',
  },
  {
    key: 'fileRoots',
    kind: 'list',
    flag: 'file-roots',
    env: 'OUTPOST_AGENT_FILE_ROOTS',
    hint: 'comma-separated absolute directories',
  },
  {
    key: 'logRoots',
    kind: 'list',
    flag: 'log-roots',
    env: 'OUTPOST_AGENT_LOG_ROOTS',
    hint: 'comma-separated absolute directories',
  },
  { key: 'agentLogBytes', kind: 'int', env: 'OUTPOST_AGENT_LOG_BYTES', hint: 'bytes, 16384 to 67108864' },
  { key: 'appLogBytes', kind: 'int', env: 'OUTPOST_AGENT_APP_LOG_BYTES', hint: 'bytes, 16384 to 16777216' },
  {
    key: 'uploadPartTtl',
    kind: 'int',
    env: 'OUTPOST_AGENT_UPLOAD_PART_TTL',
    hint: 'seconds, 0 (keep forever) to 31536000',
  },
];

/** Where `file:` log sources may be read when `logRoots` is not set: the system's logs and the agent's own. */
export function defaultLogRoots(stateDir: string): string[] {
  return ['/var/log', join(stateDir, 'logs')];
}

/** Where file actions may work when `fileRoots` is not set: the agent's own data folder and /tmp. */
export function defaultFileRoots(stateDir: string): string[] {
  return [join(stateDir, 'files'), '/tmp'];
}

/** File roots must be plain absolute paths: no `..`, no NUL (the files capability resolves symlinks itself). */
function checkFileRoots(roots: readonly string[], label: string): void {
  for (const r of roots) {
    if (!r.startsWith('/') || r.includes('\0') || r.split('/').includes('..')) {
      throw new ConfigError(
        `invalid ${label}: ${JSON.stringify(r.slice(0, 200))} is not an absolute path without '..'`,
      );
    }
  }
}

/** Checks port-forwarding rules where they were read; the message names the source and the rule. */
function checkForwardAllow(rules: readonly string[], label: string): void {
  try {
    parseForwardRules(rules);
  } catch (err) {
    throw new ConfigError(`invalid ${label}: ${(err as Error).message}`);
  }
}

export type CliAction = { action: 'help' } | { action: 'version' } | { action: 'run'; config: AgentConfig };

function parseFlags(argv: string[]): { values: Record<string, string | boolean | undefined> } {
  const options: Record<string, { type: 'string' | 'boolean' }> = {
    config: { type: 'string' },
    help: { type: 'boolean' },
    version: { type: 'boolean' },
  };
  for (const f of fields) if (f.flag) options[f.flag] = { type: f.kind === 'bool' ? 'boolean' : 'string' };
  try {
    const { values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false });
    return { values: values as Record<string, string | boolean | undefined> };
  } catch (err) {
    // parseArgs' messages name the option and never contain a value.
    throw new ConfigError((err as Error).message.split('\n')[0] ?? 'invalid arguments');
  }
}

/** Turns a string from a flag or variable into the field's type, or throws naming `label`. */
function convert(field: Field, raw: string | boolean, label: string): unknown {
  if (typeof raw === 'boolean') return raw;
  let value: unknown = raw;
  if (field.kind === 'int') value = /^\d{1,9}$/.test(raw.trim()) ? Number(raw.trim()) : Number.NaN;
  if (field.kind === 'list') value = raw.trim() === '' ? [] : raw.split(',').map((r) => r.trim());
  if (field.kind === 'bool') {
    const v = raw.trim().toLowerCase();
    value = ['1', 'true', 'yes', 'on'].includes(v) ? true : ['0', 'false', 'no', 'off', ''].includes(v) ? false : raw;
  }
  const schema = ConfigFile.properties[field.key] as TSchema;
  if (!check(schema, value)) {
    // Never echo the value of a token: it is a credential.
    const shown = field.key === 'enrollToken' ? '' : ` (got ${JSON.stringify(raw).slice(0, 80)})`;
    throw new ConfigError(`invalid ${label}: expected ${field.hint}${shown}`);
  }
  if (field.key === 'forwardAllow') checkForwardAllow(value as string[], label);
  if (field.key === 'fileRoots') checkFileRoots(value as string[], label);
  if (field.key === 'logRoots') checkFileRoots(value as string[], label);
  return value;
}

/** Reads and validates the config file; a missing default file is fine, a missing explicit one is not. */
export function loadConfigFile(path: string, explicit: boolean): ConfigFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !explicit) return {};
    throw new ConfigError(`cannot read config file ${path}: ${code ?? 'error'}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ConfigError(`invalid config file ${path}: malformed JSON`);
  }
  try {
    return parse(ConfigFile, json, `config file ${path}`);
  } catch (err) {
    throw new ConfigError(err instanceof OutpostError ? err.message : `invalid config file ${path}`);
  }
}

/**
 * Checks the server URL: a scheme the agent speaks, TLS unless insecure is allowed, no
 * credentials, and mqtts:// for certificate authentication.
 */
export function checkServerUrl(server: string, allowInsecure: boolean, auth: AgentAuth = 'secret'): void {
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new ConfigError(`invalid server URL: ${JSON.stringify(server.slice(0, 200))}`);
  }
  const scheme = url.protocol.replace(/:$/, '');
  if (!['mqtts', 'wss', 'mqtt', 'ws'].includes(scheme)) {
    throw new ConfigError(`invalid server URL: scheme must be mqtts:// or wss:// (got ${scheme}://)`);
  }
  if ((scheme === 'mqtt' || scheme === 'ws') && !allowInsecure) {
    throw new ConfigError(`refusing plain-text ${scheme}:// without --allow-insecure; use mqtts:// or wss://`);
  }
  if (url.username || url.password) throw new ConfigError('invalid server URL: it must not contain credentials');
  if (!url.hostname) throw new ConfigError('invalid server URL: no host');
  // The WebSocket endpoint shares the HTTPS port, which never asks for client certificates (browsers would prompt).
  if (auth === 'certificate' && scheme !== 'mqtts') {
    throw new ConfigError(
      `certificate authentication works only over mqtts:// (got ${scheme}://): the WebSocket endpoint does not take client certificates; use mqtts://host:8883 or --auth secret`,
    );
  }
}

/** Resolves flags > environment > config file > defaults into a frozen AgentConfig. */
export function resolveConfig(argv: string[], env: NodeJS.ProcessEnv): CliAction {
  const { values } = parseFlags(argv);
  if (values.help) return { action: 'help' };
  if (values.version) return { action: 'version' };

  const flagPath = typeof values.config === 'string' ? values.config : undefined;
  const envPath = env.OUTPOST_AGENT_CONFIG || undefined;
  const filePath = flagPath ?? envPath ?? DEFAULT_CONFIG_FILE;
  const merged: ConfigFile = { ...loadConfigFile(filePath, flagPath !== undefined || envPath !== undefined) };
  const set = merged as Record<Key, unknown>;
  if (merged.forwardAllow) checkForwardAllow(merged.forwardAllow, `config file ${filePath}: forwardAllow`);
  if (merged.fileRoots) checkFileRoots(merged.fileRoots, `config file ${filePath}: fileRoots`);
  if (merged.logRoots) checkFileRoots(merged.logRoots, `config file ${filePath}: logRoots`);

  for (const f of fields) {
    const fromEnv = env[f.env];
    if (fromEnv !== undefined && fromEnv !== '') set[f.key] = convert(f, fromEnv, f.env);
  }
  for (const f of fields) {
    const fromFlag = f.flag ? values[f.flag] : undefined;
    if (fromFlag !== undefined) set[f.key] = convert(f, fromFlag, `--${f.flag}`);
  }

  const config: AgentConfig = {
    stateDir: merged.stateDir ?? DEFAULT_STATE_DIR,
    heartbeat: merged.heartbeat ?? DEFAULT_HEARTBEAT_SECONDS,
    logLevel: isLogLevel(merged.logLevel) ? merged.logLevel : 'info',
    execConcurrency: merged.execConcurrency ?? DEFAULT_EXEC_CONCURRENCY,
    allowInsecure: merged.allowInsecure ?? false,
    protocolVersion: merged.protocolVersion ?? 4,
    auth: merged.auth ?? 'secret',
    streamGrace: merged.streamGrace ?? DEFAULT_STREAM_GRACE,
    terminalIdleTimeout: merged.terminalIdleTimeout ?? DEFAULT_TERMINAL_IDLE_TIMEOUT,
    forwardAllow: Object.freeze([...(merged.forwardAllow ?? DEFAULT_FORWARD_ALLOW)]),
    fileRoots: Object.freeze([...(merged.fileRoots ?? defaultFileRoots(merged.stateDir ?? DEFAULT_STATE_DIR))]),
    logRoots: Object.freeze([...(merged.logRoots ?? defaultLogRoots(merged.stateDir ?? DEFAULT_STATE_DIR))]),
    agentLogBytes: merged.agentLogBytes ?? DEFAULT_AGENT_LOG_BYTES,
    appLogBytes: merged.appLogBytes ?? DEFAULT_APP_LOG_BYTES,
    uploadPartTtl: merged.uploadPartTtl ?? DEFAULT_UPLOAD_PART_TTL,
  };
  if (merged.server !== undefined) config.server = merged.server;
  if (merged.terminalShell !== undefined) config.terminalShell = merged.terminalShell;
  if (merged.terminalUser !== undefined) config.terminalUser = merged.terminalUser;
  if (merged.ca !== undefined) config.ca = merged.ca;
  if (merged.powerCommand !== undefined) config.powerCommand = merged.powerCommand;
  if (merged.enrollToken !== undefined) config.enrollToken = merged.enrollToken;
  if (config.server !== undefined) checkServerUrl(config.server, config.allowInsecure, config.auth);
  return { action: 'run', config: Object.freeze(config) };
}

/** Fills defaults for an in-process agent (tests, simulator): same rules as the CLI, no files read. */
export function agentConfig(partial: Partial<AgentConfig> & { stateDir: string }): AgentConfig {
  const config: AgentConfig = {
    heartbeat: DEFAULT_HEARTBEAT_SECONDS,
    logLevel: 'info',
    execConcurrency: DEFAULT_EXEC_CONCURRENCY,
    allowInsecure: false,
    protocolVersion: 4,
    auth: 'secret',
    streamGrace: DEFAULT_STREAM_GRACE,
    terminalIdleTimeout: DEFAULT_TERMINAL_IDLE_TIMEOUT,
    forwardAllow: DEFAULT_FORWARD_ALLOW,
    fileRoots: defaultFileRoots(partial.stateDir),
    logRoots: defaultLogRoots(partial.stateDir),
    agentLogBytes: DEFAULT_AGENT_LOG_BYTES,
    appLogBytes: DEFAULT_APP_LOG_BYTES,
    uploadPartTtl: DEFAULT_UPLOAD_PART_TTL,
    ...partial,
  };
  if (config.server !== undefined) checkServerUrl(config.server, config.allowInsecure, config.auth);
  checkForwardAllow(config.forwardAllow, 'forwardAllow');
  checkFileRoots(config.fileRoots, 'fileRoots');
  checkFileRoots(config.logRoots, 'logRoots');
  return Object.freeze(config);
}
