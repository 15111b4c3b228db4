/**
 * Topic builders and the one topic parser. Every device topic lives under
 * `outpost/v1/d/{deviceId}/` (docs/protocol.md §Topics); ids are validated so a
 * topic can never be widened with `+`, `#` or `/`.
 */
import { TOPIC_PREFIX } from './version.js';

/** Ids of devices, commands, sessions and enrollment nonces: no `/ + # .`, 1–64 chars. */
export const ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$';
const idRe = new RegExp(ID_PATTERN);
/** Capability and action names: lowercase words. */
export const NAME_PATTERN = '^[a-z][a-z0-9-]{0,31}$';
const nameRe = new RegExp(NAME_PATTERN);

export function isValidId(id: unknown): id is string {
  return typeof id === 'string' && idRe.test(id);
}
export function isValidName(name: unknown): name is string {
  return typeof name === 'string' && nameRe.test(name);
}

function assertId(id: string, what: string): string {
  if (!isValidId(id)) throw new TypeError(`invalid ${what}: ${JSON.stringify(id).slice(0, 80)}`);
  return id;
}

export const deviceRoot = (deviceId: string): string => `${TOPIC_PREFIX}/d/${assertId(deviceId, 'device id')}`;

export const topics = {
  command: (deviceId: string, capability: string, action: string): string => {
    if (!isValidName(capability) || !isValidName(action)) throw new TypeError('invalid capability or action');
    return `${deviceRoot(deviceId)}/cmd/${capability}/${action}`;
  },
  result: (deviceId: string, commandId: string): string =>
    `${deviceRoot(deviceId)}/res/${assertId(commandId, 'command id')}`,
  output: (deviceId: string, commandId: string): string =>
    `${deviceRoot(deviceId)}/out/${assertId(commandId, 'command id')}`,
  status: (deviceId: string): string => `${deviceRoot(deviceId)}/status`,
  telemetry: (deviceId: string): string => `${deviceRoot(deviceId)}/telemetry`,
  events: (deviceId: string): string => `${deviceRoot(deviceId)}/events`,
  tty: (deviceId: string, sessionId: string, dir: 'in' | 'out'): string =>
    `${deviceRoot(deviceId)}/tty/${assertId(sessionId, 'session id')}/${dir}`,
  /** What an agent subscribes to: every command and terminal input addressed to it. */
  agentSubscriptions: (deviceId: string): string[] => [
    `${deviceRoot(deviceId)}/cmd/#`,
    `${deviceRoot(deviceId)}/tty/+/in`,
  ],
  enrollRequest: (nonce: string): string => `${TOPIC_PREFIX}/enroll/${assertId(nonce, 'nonce')}/req`,
  enrollResponse: (nonce: string): string => `${TOPIC_PREFIX}/enroll/${assertId(nonce, 'nonce')}/res`,
};

/** Filters the server subscribes to (prefixed with `$share/outpost/` when replicas share traffic). */
export const serverSubscriptions = [
  `${TOPIC_PREFIX}/d/+/res/+`,
  `${TOPIC_PREFIX}/d/+/out/+`,
  `${TOPIC_PREFIX}/d/+/status`,
  `${TOPIC_PREFIX}/d/+/telemetry`,
  `${TOPIC_PREFIX}/d/+/events`,
  `${TOPIC_PREFIX}/d/+/tty/+/out`,
  `${TOPIC_PREFIX}/enroll/+/req`,
];

/** Who may publish a topic kind: `device` (device → server) or `server` (server → device). */
export type Direction = 'device' | 'server';

export type ParsedTopic =
  | { kind: 'command'; deviceId: string; capability: string; action: string; direction: 'server' }
  | { kind: 'result'; deviceId: string; commandId: string; direction: 'device' }
  | { kind: 'output'; deviceId: string; commandId: string; direction: 'device' }
  | { kind: 'status'; deviceId: string; direction: 'device' }
  | { kind: 'telemetry'; deviceId: string; direction: 'device' }
  | { kind: 'events'; deviceId: string; direction: 'device' }
  | { kind: 'tty'; deviceId: string; sessionId: string; stream: 'in' | 'out'; direction: Direction }
  | { kind: 'enroll'; nonce: string; phase: 'req' | 'res'; direction: Direction };

const MAX_TOPIC_LENGTH = 256;
const PREFIX = `${TOPIC_PREFIX}/`;
/** Levels of TOPIC_PREFIX: a topic's own levels start at this index. */
const P = TOPIC_PREFIX.split('/').length;

/**
 * Parses a concrete topic (no wildcards) into what it addresses, or null when it
 * is not an Outpost topic. Used by the broker's ACL and by both ends' routers.
 */
export function parseTopic(topic: string): ParsedTopic | null {
  if (typeof topic !== 'string' || topic.length > MAX_TOPIC_LENGTH || !topic.startsWith(PREFIX)) return null;
  // On every message's path (the broker's ACL, both ends' routers): one split, no other copies.
  const parts = topic.split('/');
  const scope = parts[P];
  const id = parts[P + 1];
  const kind = parts[P + 2];
  const a = parts[P + 3];
  const b = parts[P + 4];
  if (scope === 'enroll') {
    if (!isValidId(id) || (kind !== 'req' && kind !== 'res') || a !== undefined) return null;
    return { kind: 'enroll', nonce: id, phase: kind, direction: kind === 'req' ? 'device' : 'server' };
  }
  if (scope !== 'd' || !isValidId(id) || parts.length > P + 5) return null;
  switch (kind) {
    case 'cmd':
      if (!isValidName(a) || !isValidName(b)) return null;
      return { kind: 'command', deviceId: id, capability: a, action: b, direction: 'server' };
    case 'res':
    case 'out':
      if (!isValidId(a) || b !== undefined) return null;
      return kind === 'res'
        ? { kind: 'result', deviceId: id, commandId: a, direction: 'device' }
        : { kind: 'output', deviceId: id, commandId: a, direction: 'device' };
    case 'status':
    case 'telemetry':
    case 'events':
      if (a !== undefined) return null;
      return { kind, deviceId: id, direction: 'device' };
    case 'tty':
      if (!isValidId(a) || (b !== 'in' && b !== 'out')) return null;
      return { kind: 'tty', deviceId: id, sessionId: a, stream: b, direction: b === 'in' ? 'server' : 'device' };
    default:
      return null;
  }
}
