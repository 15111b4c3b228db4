/**
 * Broker access control in one place (docs/protocol.md §Topics, §Connecting).
 * Pure decisions over a connected principal; the embedded broker's Aedes hooks
 * and (later) the external broker's ACL generator both use these rules.
 */
import { MAX_PAYLOAD_BYTES, parseTopic, topics } from '@outpost/protocol';

export type Principal =
  | { kind: 'server' }
  | { kind: 'device'; deviceId: string; status: 'pending' | 'accepted' | 'rejected' | 'revoked' }
  | { kind: 'enrolling'; nonce: string };

export type Decision = { ok: true } | { ok: false; reason: string };

const allow: Decision = { ok: true };
const deny = (reason: string): Decision => ({ ok: false, reason });

export function canPublish(p: Principal, topic: string, payloadBytes: number, retain: boolean): Decision {
  if (p.kind === 'server') return allow;
  if (payloadBytes > MAX_PAYLOAD_BYTES) return deny(`payload of ${payloadBytes} bytes exceeds ${MAX_PAYLOAD_BYTES}`);
  const t = parseTopic(topic);
  if (!t) return deny('not an Outpost topic');
  if (t.direction !== 'device') return deny('devices may not publish server-to-device topics');
  if (p.kind === 'enrolling') {
    return t.kind === 'enroll' && t.nonce === p.nonce && t.phase === 'req' && !retain
      ? allow
      : deny('enrolling clients may only send their enrollment request');
  }
  if (t.kind === 'enroll' || t.deviceId !== p.deviceId) return deny("another device's topic");
  if (t.kind === 'status') return allow;
  if (retain) return deny('only status may be retained');
  if (p.status !== 'accepted') return deny(`device is ${p.status}`);
  return allow;
}

export function canSubscribe(p: Principal, filter: string): Decision {
  if (p.kind === 'server') return allow;
  if (p.kind === 'enrolling') {
    return filter === topics.enrollResponse(p.nonce)
      ? allow
      : deny('enrolling clients may only subscribe to their response');
  }
  if (p.status !== 'accepted') return deny(`device is ${p.status}`);
  // The agent's two wildcard filters are allowed exactly; anything else must be a concrete own topic.
  if (topics.agentSubscriptions(p.deviceId).includes(filter)) return allow;
  if (filter.includes('+') || filter.includes('#'))
    return deny('wildcard subscriptions are limited to the agent filters');
  const t = parseTopic(filter);
  if (!t || t.kind === 'enroll' || t.deviceId !== p.deviceId) return deny("another device's topic");
  return t.direction === 'server' ? allow : deny('devices subscribe only to server-to-device topics');
}
