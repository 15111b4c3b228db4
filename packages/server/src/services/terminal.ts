/**
 * Terminal sessions (docs/terminal.md): opens `terminal/open` on a device through the
 * stream service, relays it to the user's WebSocket, keeps one `terminal_sessions` row per
 * session (who, device, start, end, exit), writes `terminal.open` / `terminal.end` audit
 * entries, and records the session as an asciicast v2 file unless recording is off.
 */
import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  type api,
  check,
  DEFAULT_TERM,
  isValidId,
  OutpostError,
  TerminalControl,
  type TerminalOpenResult,
} from '@outpost/protocol';
import { type Actor, actorRef, inScope } from '../actor.js';
import type { Logger } from '../log.js';
import type { Db } from '../store/db.js';
import type { TerminalSessionTable } from '../store/schema.js';
import type { AuditService } from './audit.js';
import type { DeviceService } from './devices.js';
import { AsciicastRecorder } from './recording.js';
import type { DeviceStream, RelaySocket, StreamService } from './streams.js';
import { iso } from './time.js';

export type TerminalSessionView = api.TerminalSession;

export interface OpenTerminal {
  device: string;
  actor: Actor;
  ip: string | null;
  cols: number;
  rows: number;
  term?: string | undefined;
  command?: string[] | undefined;
}

function toView(r: TerminalSessionTable): TerminalSessionView {
  return {
    id: r.id,
    deviceId: r.device_id,
    commandId: r.command_id,
    user: r.actor,
    userName: r.actor_name,
    startedAt: iso(r.started_at) ?? '',
    endedAt: iso(r.ended_at),
    cols: r.cols,
    rows: r.rows,
    term: r.term,
    command: r.command === null ? null : (JSON.parse(r.command) as string[]),
    exitCode: r.exit_code,
    signal: r.signal,
    reason: r.reason,
    durationMs: r.ended_at === null ? null : r.ended_at - r.started_at,
    recorded: r.recording !== null,
    recordingBytes: Number(r.recording_bytes),
  };
}

export class TerminalService {
  readonly #dir: string;

  constructor(
    private readonly db: Db,
    private readonly streams: StreamService,
    private readonly devices: DeviceService,
    private readonly audit: AuditService,
    private readonly log: Logger,
    private readonly options: { dataDir: string; recording: boolean },
  ) {
    this.#dir = join(options.dataDir, 'recordings');
  }

  /**
   * Opens a terminal on the device and relays it to `socket` until it ends. Errors before
   * the session exists (offline, not found) are thrown; later ones end the relay.
   */
  async open(socket: RelaySocket, req: OpenTerminal): Promise<void> {
    const term = req.term ?? DEFAULT_TERM;
    const stream = await this.streams.open({
      device: req.device,
      actor: req.actor,
      command: 'terminal/open',
      args: { cols: req.cols, rows: req.rows, term, ...(req.command ? { command: req.command } : {}) },
    });
    try {
      await this.#run(socket, req, stream, term);
    } catch (err) {
      stream.abort('E_INTERNAL', 'the server could not run the terminal session');
      throw err;
    }
  }

  async #run(socket: RelaySocket, req: OpenTerminal, stream: DeviceStream, term: string): Promise<void> {
    const started = Date.now();
    let recorder: AsciicastRecorder | null = null;
    let recording: string | null = null;
    if (this.options.recording) {
      try {
        mkdirSync(this.#dir, { recursive: true, mode: 0o700 });
        recording = `${stream.sid}.cast`;
        recorder = new AsciicastRecorder(join(this.#dir, recording), {
          cols: req.cols,
          rows: req.rows,
          term,
          title: `${req.actor.name} on ${stream.deviceId}`,
          command: req.command ?? null,
        });
      } catch (err) {
        this.log.error({ err, sid: stream.sid }, 'cannot record the terminal session');
        recording = null;
      }
    }
    const row: TerminalSessionTable = {
      id: stream.sid,
      device_id: stream.deviceId,
      command_id: stream.command.id,
      actor: actorRef(req.actor),
      actor_name: req.actor.name,
      started_at: started,
      ended_at: null,
      cols: req.cols,
      rows: req.rows,
      term,
      command: req.command ? JSON.stringify(req.command) : null,
      exit_code: null,
      signal: null,
      reason: null,
      recording,
      recording_bytes: 0,
    };
    await this.db.insertInto('terminal_sessions').values(row).execute();
    await this.audit.record({
      actor: req.actor,
      ip: req.ip,
      action: 'terminal.open',
      target: stream.sid,
      deviceId: stream.deviceId,
      result: 'ok',
      details: { commandId: stream.command.id, cols: req.cols, rows: req.rows, command: req.command ?? null },
    });
    this.log.info({ sid: stream.sid, deviceId: stream.deviceId, actor: row.actor }, 'terminal session started');

    await stream.relay(socket, {
      onDeviceData: (bytes) => recorder?.output(bytes),
      onClientControl: (value) => {
        if (check(TerminalControl, value)) recorder?.resize(value.cols, value.rows);
      },
    });
    const streamError = await stream.closed;
    // The command's result arrives after the stream ended; wait a little for it.
    const final = await Promise.race([
      stream.result,
      new Promise<null>((r) => setTimeout(() => r(null), 10_000).unref()),
    ]);
    const result = final?.status === 'succeeded' ? (final.result as TerminalOpenResult) : null;
    const ended = Date.now();
    const bytes = recorder ? await recorder.close() : 0;
    const reason = result?.reason ?? final?.error?.code ?? streamError?.code ?? 'closed';
    await this.db
      .updateTable('terminal_sessions')
      .set({
        ended_at: ended,
        exit_code: result?.exitCode ?? null,
        signal: result?.signal ?? null,
        reason,
        recording_bytes: bytes,
      })
      .where('id', '=', stream.sid)
      .execute();
    await this.audit.record({
      actor: req.actor,
      ip: req.ip,
      action: 'terminal.end',
      target: stream.sid,
      deviceId: stream.deviceId,
      result: result ? 'ok' : 'error',
      errorCode: result ? null : (final?.error?.code ?? streamError?.code ?? 'E_INTERNAL'),
      // `exitStatus`, not `exitCode`: the audit log redacts keys that look like secrets (…code).
      details: {
        exitStatus: result?.exitCode ?? null,
        signal: result?.signal ?? null,
        reason,
        durationMs: ended - started,
      },
    });
    this.log.info(
      { sid: stream.sid, deviceId: stream.deviceId, reason, exitCode: result?.exitCode },
      'terminal session ended',
    );
  }

  /** Sessions, newest first, of devices the actor may see. */
  async list(actor: Actor, filter: api.TerminalSessionQuery = {}): Promise<TerminalSessionView[]> {
    let q = this.db
      .selectFrom('terminal_sessions')
      .selectAll()
      .orderBy('started_at', 'desc')
      .limit(filter.limit ?? 100);
    if (filter.device) {
      const d = await this.devices.resolve(filter.device, actor);
      q = q.where('device_id', '=', d.id);
    }
    const rows = await q.execute();
    const visible: TerminalSessionView[] = [];
    for (const r of rows) if (await this.#visible(actor, r.device_id)) visible.push(toView(r));
    return visible;
  }

  /** The recording file of a session (E_NOT_FOUND when there is none or the device is out of scope). */
  async recording(id: string, actor: Actor): Promise<{ path: string; size: number; session: TerminalSessionView }> {
    const row = isValidId(id)
      ? await this.db.selectFrom('terminal_sessions').selectAll().where('id', '=', id).executeTakeFirst()
      : undefined;
    if (!row || !(await this.#visible(actor, row.device_id))) {
      throw new OutpostError('E_NOT_FOUND', `terminal session '${id.slice(0, 80)}' not found`);
    }
    if (!row.recording) throw new OutpostError('E_NOT_FOUND', `terminal session ${id} was not recorded`);
    const path = join(this.#dir, row.recording);
    try {
      return { path, size: statSync(path).size, session: toView(row) };
    } catch {
      throw new OutpostError('E_NOT_FOUND', `the recording of terminal session ${id} is gone`);
    }
  }

  async #visible(actor: Actor, deviceId: string): Promise<boolean> {
    const device = await this.devices.row(deviceId);
    // A deleted device's sessions stay visible to unscoped admins only.
    if (!device) return actor.scopes.every((s) => s.length === 0);
    return inScope(actor, JSON.parse(device.tags) as string[]);
  }
}
