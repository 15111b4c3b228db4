/**
 * Port forwards (docs/forward.md): each forwarded TCP connection is one WebSocket
 * from the client and one `forward/open` byte stream to the device, relayed by the
 * stream service, so any number run side by side over the device's one link. This
 * service opens the stream, relays it, and writes the audit trail: `forward.open`
 * (who, device, target) when the device is asked, `forward.close` (how it ended,
 * bytes each way, duration) when it is over.
 */
import type { ForwardOpenResult } from '@outpost/protocol';
import type { Actor } from '../actor.js';
import type { Logger } from '../log.js';
import type { AuditService } from './audit.js';
import type { DeviceStream, RelaySocket, StreamService } from './streams.js';

export interface OpenForward {
  device: string;
  actor: Actor;
  ip: string | null;
  /** As the device resolves it. */
  host: string;
  port: number;
}

/** How long to wait, once the stream ended, for the device's account of the connection. */
const RESULT_WAIT_MS = 10_000;

const hostPort = (host: string, port: number) => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);

export class ForwardService {
  constructor(
    private readonly streams: StreamService,
    private readonly audit: AuditService,
    private readonly log: Logger,
  ) {}

  /**
   * Opens `forward/open` on the device and relays it to `socket` until it ends. Errors
   * before the stream exists (offline, not found, refused by the stream service) are
   * audited and thrown; the device's own refusal (E_DENIED, E_NOT_FOUND) reaches the
   * client as the stream's error and is audited with the close.
   */
  async open(socket: RelaySocket, req: OpenForward): Promise<void> {
    const target = hostPort(req.host, req.port);
    let stream: DeviceStream;
    try {
      stream = await this.streams.open({
        device: req.device,
        actor: req.actor,
        command: 'forward/open',
        args: { host: req.host, port: req.port },
      });
    } catch (err) {
      await this.#audit(req, 'forward.open', target, null, { device: req.device, host: req.host, port: req.port }, err);
      throw err;
    }
    try {
      await this.#relay(socket, req, stream, target);
    } catch (err) {
      stream.abort('E_INTERNAL', 'the server could not relay the forward');
      throw err;
    }
  }

  async #relay(socket: RelaySocket, req: OpenForward, stream: DeviceStream, target: string): Promise<void> {
    const started = Date.now();
    await this.#audit(req, 'forward.open', target, stream.deviceId, {
      host: req.host,
      port: req.port,
      commandId: stream.command.id,
      sid: stream.sid,
    });
    const log = this.log.child({ sid: stream.sid, deviceId: stream.deviceId, target });
    log.info({ actor: req.actor.name }, 'forward opened');
    // Counted here as well: when the device never answers, this is the only count there is.
    let relayedFromTarget = 0;
    // The client may have left while the device was asked: a relay on a closed socket would wait for
    // a close that already happened. (Checked in the same tick as the relay starts listening.)
    if (socket.readyState !== socket.OPEN) {
      stream.abort('E_OFFLINE', 'the client disconnected before the stream was open');
    } else {
      await stream.relay(socket, {
        onDeviceData: (bytes) => {
          relayedFromTarget += bytes.length;
        },
      });
    }
    const streamError = await stream.closed;
    const final = await Promise.race([
      stream.result,
      new Promise<null>((r) => setTimeout(() => r(null), RESULT_WAIT_MS).unref()),
    ]);
    const result = final?.status === 'succeeded' ? (final.result as ForwardOpenResult) : null;
    const error = result
      ? null
      : (final?.error ?? streamError?.toBody() ?? { code: 'E_TIMEOUT', message: 'no answer from the device' });
    const details = {
      host: req.host,
      port: req.port,
      commandId: stream.command.id,
      sid: stream.sid,
      reason: result?.reason ?? null,
      address: result?.address ?? null,
      bytesToTarget: result?.bytesToTarget ?? null,
      bytesFromTarget: result?.bytesFromTarget ?? relayedFromTarget,
      durationMs: Date.now() - started,
      ...(error ? { error: error.message } : {}),
    };
    await this.#audit(req, 'forward.close', target, stream.deviceId, details, error);
    log.info({ ...details, code: error?.code }, 'forward closed');
  }

  async #audit(
    req: OpenForward,
    action: 'forward.open' | 'forward.close',
    target: string,
    deviceId: string | null,
    details: Record<string, unknown>,
    error?: unknown,
  ): Promise<void> {
    const code =
      error && typeof error === 'object' && typeof (error as { code?: unknown }).code === 'string'
        ? (error as { code: string }).code
        : error
          ? 'E_INTERNAL'
          : null;
    try {
      await this.audit.record({
        actor: req.actor,
        ip: req.ip,
        action,
        target,
        deviceId,
        result: code ? 'error' : 'ok',
        errorCode: code,
        details,
      });
    } catch (err) {
      this.log.error({ err, action }, 'audit write failed');
    }
  }
}
