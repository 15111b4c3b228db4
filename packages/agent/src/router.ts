/**
 * The command router (docs/protocol.md §Commands): validates each message on
 * `cmd/{capability}/{action}`, runs every command id at most once through the
 * journal, streams `out/{id}` chunks and publishes exactly one `res/{id}`. No
 * message, however malformed, may throw out of here.
 */
import {
  CommandRequest,
  type CommandRequest as CommandRequestT,
  type CommandResponse,
  check,
  commandSpec,
  type ErrorBody,
  isValidId,
  MAX_PAYLOAD_BYTES,
  OutpostError,
  parse,
  parseJson,
  parseTopic,
  type StreamDuplex,
  topics,
} from '@outpost/protocol';
import { createCommandCapability } from './capabilities/command.js';
import { type Capability, CommandCancelled, type CommandContext, type OutputStream } from './capabilities/index.js';
import type { AgentConfig } from './config.js';
import type { CommandJournal } from './journal.js';
import type { Logger } from './log.js';
import type { AgentStreams } from './streams.js';

/** Output chunks larger than this are split (before base64). */
export const MAX_CHUNK_BYTES = 64 * 1024;
const MAX_MESSAGE_CHARS = 4096;
/** Ids cancelled before they arrived, refused if they come later: how many, and for how long. */
const MAX_CANCELLED_AHEAD = 1000;
const CANCELLED_AHEAD_MS = 3600 * 1000;

/** Sends a payload; QoS 1 messages are queued by the connection while offline. */
export type Publish = (topic: string, payload: string, qos: 0 | 1) => void;

export interface RouterOptions {
  deviceId: string;
  capabilities: readonly Capability[];
  journal: CommandJournal;
  publish: Publish;
  log: Logger;
  config: AgentConfig;
  /** Byte streams for `ctx.openStream` (absent: actions that open one answer E_UNSUPPORTED). */
  streams?: AgentStreams;
}

interface Running {
  controller: AbortController;
  done: Promise<void>;
}

const failure = (id: string, code: ErrorBody['code'], message: string): CommandResponse => ({
  id,
  ok: false,
  error: { code, message: message.slice(0, MAX_MESSAGE_CHARS) },
});

export class CommandRouter {
  private readonly capabilities = new Map<string, Capability>();
  private readonly running = new Map<string, Running>();
  /** Cancelled before they arrived (id → when): answered E_CONFLICT instead of run. */
  private readonly cancelledAhead = new Map<string, number>();
  private closing = false;

  constructor(private readonly options: RouterOptions) {
    for (const c of options.capabilities) this.capabilities.set(c.name, c);
    // Part of the command protocol, not an optional capability: every agent can cancel.
    this.capabilities.set('command', createCommandCapability({ cancel: (id) => this.cancel(id) }));
  }

  /**
   * Stops a running command: aborts its signal with a CommandCancelled reason and lets
   * it answer as it ends. An id not seen yet is remembered and refused when it comes
   * (a cancel may overtake its command); a finished one is left alone (false).
   */
  cancel(commandId: string): boolean {
    const running = this.running.get(commandId);
    if (running) {
      if (!running.controller.signal.aborted) running.controller.abort(new CommandCancelled());
      return true;
    }
    if (this.options.journal.lookup(commandId)) return false;
    const now = Date.now();
    for (const [id, at] of this.cancelledAhead) {
      if (now - at < CANCELLED_AHEAD_MS && this.cancelledAhead.size < MAX_CANCELLED_AHEAD) break;
      this.cancelledAhead.delete(id); // oldest first (insertion order)
    }
    this.cancelledAhead.set(commandId, now);
    return true;
  }

  get runningCount(): number {
    return this.running.size;
  }

  /** Handles one MQTT message. Never throws; a bad message is answered or logged and dropped. */
  handle(topic: string, payload: Buffer): void {
    try {
      this.dispatch(topic, payload).catch((err: unknown) => {
        this.options.log.error('command handling failed', { topic, err });
      });
    } catch (err) {
      this.options.log.error('command handling failed', { topic, err });
    }
  }

  /** Aborts running commands and waits (at most `timeoutMs`) for their responses to be published. */
  async shutdown(timeoutMs: number): Promise<void> {
    this.closing = true;
    const pending = [...this.running.values()];
    for (const r of pending) r.controller.abort(new Error('agent stopping'));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled(pending.map((r) => r.done)),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
  }

  private async dispatch(topic: string, payload: Buffer): Promise<void> {
    const { log, deviceId } = this.options;
    const parsed = parseTopic(topic);
    if (parsed?.kind !== 'command' || parsed.deviceId !== deviceId) {
      // tty/+/in is subscribed for terminal sessions, which this agent does not offer yet.
      log.debug('ignoring message on a topic the agent does not handle', { topic });
      return;
    }
    if (this.closing) {
      log.info('agent stopping; command left for re-delivery', { topic });
      return;
    }
    if (payload.length > MAX_PAYLOAD_BYTES) {
      const id = leadingId(payload);
      log.warn('command payload too large', { topic, bytes: payload.length, commandId: id });
      if (id && !this.replay(id)) this.send(failure(id, 'E_TOO_LARGE', 'command payload too large'));
      return;
    }
    let request: CommandRequestT;
    try {
      request = parseJson(CommandRequest, payload, 'command');
    } catch (err) {
      const id = salvageId(payload);
      const message = err instanceof OutpostError ? err.message : 'invalid command';
      log.warn('malformed command', { topic, commandId: id, reason: message });
      if (id && !this.replay(id)) this.send(failure(id, 'E_BAD_ARGS', message));
      return;
    }
    const { id } = request;
    if (this.replay(id)) return;
    await this.run(parsed.capability, parsed.action, request);
  }

  /**
   * At-most-once (docs/protocol.md §Commands): for an id already in the journal,
   * re-sends its stored response, or does nothing while it is still running.
   */
  private replay(id: string): boolean {
    const entry = this.options.journal.lookup(id);
    if (!entry) return false;
    if (entry.state === 'running') {
      this.options.log.debug('command already running; ignoring re-delivery', { commandId: id });
    } else {
      this.options.log.info('command already done; sending its response again', { commandId: id });
      this.send(entry.response ?? failure(id, 'E_EXPIRED', 'the result of this command is no longer kept'));
    }
    return true;
  }

  private async run(capabilityName: string, actionName: string, request: CommandRequestT): Promise<void> {
    const { id } = request;
    const { journal, log: baseLog, deviceId, config } = this.options;
    const log = baseLog.child({ commandId: id, command: `${capabilityName}/${actionName}` });
    const spec = commandSpec(capabilityName, actionName);
    const capability = this.capabilities.get(capabilityName);
    const handler =
      capability && Object.hasOwn(capability.actions, actionName) ? capability.actions[actionName] : undefined;
    if (!spec || !handler) {
      log.info('unsupported command');
      return this.finish(failure(id, 'E_UNSUPPORTED', `unsupported command: ${capabilityName}/${actionName}`));
    }
    let args: unknown;
    try {
      args = parse(spec.args, request.args, 'args');
    } catch (err) {
      log.info('command args rejected', { reason: (err as Error).message });
      return this.finish(failure(id, 'E_BAD_ARGS', (err as Error).message));
    }
    if (this.cancelledAhead.delete(id)) {
      log.info('command was cancelled before it arrived; not run');
      return this.finish(failure(id, 'E_CONFLICT', 'command was cancelled before it started'));
    }
    // Read-only commands may run twice harmlessly: no journal, no disk writes (at-most-once is for side effects).
    const journaled = spec.readOnly !== true;
    try {
      if (journaled) journal.markRunning(id);
    } catch (err) {
      // Without a durable `running` mark the command could run twice: do not run it.
      log.error('cannot write the command journal; command not run', { err });
      this.send(failure(id, 'E_INTERNAL', 'the device could not record the command'));
      return;
    }

    const controller = new AbortController();
    let finished = false;
    let seq = 0;
    const outTopic = topics.output(deviceId, id);
    const emit = (stream: OutputStream, chunk: Buffer): void => {
      if (finished) return;
      for (let off = 0; off < chunk.length; off += MAX_CHUNK_BYTES) {
        const data = chunk.subarray(off, off + MAX_CHUNK_BYTES).toString('base64');
        this.options.publish(outTopic, JSON.stringify({ id, seq: seq++, stream, data }), 1);
      }
    };
    const opened: StreamDuplex[] = [];
    const openStream = (sid: string, opts?: { window?: number }): StreamDuplex => {
      const streams = this.options.streams;
      if (!streams) throw new OutpostError('E_UNSUPPORTED', 'this agent has no byte streams');
      if (finished) throw new OutpostError('E_CONFLICT', 'the command has ended');
      const stream = streams.open(sid, opts);
      opened.push(stream);
      return stream;
    };
    controller.signal.addEventListener('abort', () => {
      for (const s of opened) if (!s.destroyed) s.abort('E_OFFLINE', 'the agent is stopping');
    });
    const ctx: CommandContext = { commandId: id, emit, signal: controller.signal, log, config, openStream };
    const done = (async () => {
      const started = Date.now();
      log.debug('command started');
      let response: CommandResponse;
      try {
        const data = (await handler(args, ctx)) ?? null;
        if (check(spec.result, data)) {
          response = { id, ok: true, data };
        } else {
          log.error('capability returned a result that does not match its schema');
          response = failure(id, 'E_INTERNAL', 'internal error');
        }
      } catch (err) {
        if (err instanceof OutpostError) {
          response = { id, ok: false, error: clipBody(err.toBody()) };
        } else {
          log.error('command failed unexpectedly', { err });
          response = failure(id, 'E_INTERNAL', 'internal error');
        }
      }
      finished = true;
      // A stream outlives its command only by mistake: abort it so the peer is not left waiting.
      for (const s of opened) {
        if (!s.destroyed && !s.endpoint.closed) s.abort('E_INTERNAL', 'the command ended before its stream');
      }
      if (Buffer.byteLength(JSON.stringify(response)) > MAX_PAYLOAD_BYTES) {
        log.warn('command result too large to send');
        response = failure(id, 'E_TOO_LARGE', 'command result too large to send');
      }
      const ms = Date.now() - started;
      log.info('command finished', response.ok ? { ok: true, ms } : { ok: false, code: response.error.code, ms });
      if (journaled) this.finish(response);
      else this.send(response);
    })();
    this.running.set(id, { controller, done });
    try {
      await done;
    } finally {
      this.running.delete(id);
    }
  }

  /** Journals the final response, then publishes it. */
  private finish(response: CommandResponse): void {
    try {
      this.options.journal.markDone(response.id, response);
    } catch (err) {
      this.options.log.error('cannot write the command journal', { commandId: response.id, err });
    }
    this.send(response);
  }

  private send(response: CommandResponse): void {
    this.options.publish(topics.result(this.options.deviceId, response.id), JSON.stringify(response), 1);
  }
}

function clipBody(body: ErrorBody): ErrorBody {
  return body.message.length > MAX_MESSAGE_CHARS
    ? { ...body, message: body.message.slice(0, MAX_MESSAGE_CHARS) }
    : body;
}

/** The id of a message that failed validation, when it has a usable one (to answer E_BAD_ARGS). */
function salvageId(payload: Buffer): string | undefined {
  try {
    const value: unknown = JSON.parse(payload.toString('utf8'));
    const id = typeof value === 'object' && value !== null ? (value as { id?: unknown }).id : undefined;
    return isValidId(id) ? id : undefined;
  } catch {
    return undefined;
  }
}

/** The id of an oversized message, read only from its first bytes and only when it comes first. */
function leadingId(payload: Buffer): string | undefined {
  const m = /^\s*\{\s*"id"\s*:\s*"([A-Za-z0-9][A-Za-z0-9_-]{0,63})"/.exec(payload.subarray(0, 128).toString('utf8'));
  return m?.[1];
}
