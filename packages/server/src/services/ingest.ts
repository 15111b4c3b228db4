/**
 * Routes every message the server receives from the broker to the service that
 * owns it. A bad message is logged and dropped; it never throws past here.
 */
import {
  DeviceStatus,
  EnrollRequest,
  MAX_PAYLOAD_BYTES,
  type ParsedTopic,
  parseJson,
  parseTopic,
  Telemetry,
  topics,
} from '@outpost/protocol';
import type { BrokerLink } from '../broker/link.js';
import type { Logger } from '../log.js';
import type { CommandService } from './commands.js';
import type { DeviceService } from './devices.js';
import type { EnrollmentService } from './enrollment.js';
import type { MetricsService } from './metrics.js';
import type { StreamService } from './streams.js';

export function startIngest(deps: {
  link: BrokerLink;
  devices: DeviceService;
  commands: CommandService;
  enrollment: EnrollmentService;
  /** Stores telemetry's metrics samples (docs/metrics.md); without it they are only validated. */
  metrics?: MetricsService;
  /** Byte-stream frames (`tty/{sid}/out`); without it they are dropped. */
  streams?: StreamService;
  log: Logger;
}): void {
  const { link, devices, commands, enrollment, log } = deps;

  /** Every message but stream frames, which the handler below routes itself. */
  async function handle(t: Exclude<ParsedTopic, { kind: 'tty' }>, payload: Buffer): Promise<void> {
    switch (t.kind) {
      case 'status': {
        if (payload.length === 0) return; // retained status cleared by the server
        const s = parseJson(DeviceStatus, payload, 'status');
        if (s.online) await devices.markOnline(t.deviceId, s.facts, s.heartbeat);
        else await devices.markOffline(t.deviceId, 'last will or clean shutdown');
        return;
      }
      case 'telemetry': {
        // A malformed sample (docs/metrics.md) rejects the whole message: logged, nothing changes.
        const sample = parseJson(Telemetry, payload, 'telemetry');
        await devices.touch(t.deviceId);
        if (sample.metrics) await deps.metrics?.ingest(t.deviceId, sample.metrics);
        return;
      }
      case 'result':
        await commands.onResult(t.deviceId, t.commandId, payload);
        return;
      case 'output':
        await commands.onOutput(t.deviceId, t.commandId, payload);
        return;
      case 'events':
        log.info({ deviceId: t.deviceId, event: payload.toString('utf8').slice(0, 2000) }, 'device event');
        return;
      case 'enroll': {
        const req = parseJson(EnrollRequest, payload, 'enrollment request');
        if (req.nonce !== t.nonce) return;
        const res = await enrollment.enroll(req.token, req.facts, req.publicKey);
        await link.publish(topics.enrollResponse(t.nonce), JSON.stringify(res), { qos: 1 });
        return;
      }
    }
  }

  link.onMessage((topic, payload) => {
    const t = parseTopic(topic);
    if (t?.direction !== 'device') return;
    if (payload.length > MAX_PAYLOAD_BYTES) {
      log.warn({ topic, bytes: payload.length }, 'oversized message dropped');
      return;
    }
    if (t.kind === 'tty') {
      // Binary frames, not JSON, on a keystroke's path: routed at once by (device, sid), no promise.
      deps.streams?.handleFrame(t.deviceId, t.sessionId, payload);
      return;
    }
    handle(t, payload).catch((err: unknown) => {
      const e = err as { code?: string; message?: string };
      if (e.code === 'E_BAD_ARGS')
        log.warn({ topic: topic.slice(0, 200), err: e.message }, 'malformed device message dropped');
      else log.error({ topic: topic.slice(0, 200), err }, 'device message handling failed');
    });
  });
}
