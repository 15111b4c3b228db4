/**
 * Commands: stored with who/when/args/outcome, published to the device over the
 * broker link, queued while it is offline, expired after their ttl, and finished
 * by the device's one response. Output chunks stream to watchers as they arrive.
 */
import {
  CommandResponse,
  check,
  commandSpec,
  type ErrorBody,
  isValidId,
  OutpostError,
  OutputChunk,
  parse,
  parseJson,
  topics,
} from '@outpost/protocol';
import { type Actor, actorRef, inScope } from '../actor.js';
import type { BrokerLink } from '../broker/link.js';
import type { Bus } from '../bus.js';
import type { Logger } from '../log.js';
import { newId } from '../secrets.js';
import type { Db } from '../store/db.js';
import type { CommandTable } from '../store/schema.js';
import { type CommandView, commandOutcome, FINAL, type NewCommand, toView } from './command-view.js';
import type { DeviceService } from './devices.js';
import { OutputBuffer, type StreamEvent } from './output.js';

export class CommandService {
  readonly output = new OutputBuffer<CommandView>();
  readonly #waiters = new Map<string, Set<(c: CommandView) => void>>();

  constructor(
    private readonly db: Db,
    private readonly devices: DeviceService,
    private readonly link: BrokerLink,
    bus: Bus,
    private readonly log: Logger,
    private readonly defaultTtl: number,
  ) {
    bus.on('device.online', (d) => {
      this.dispatchPending(d.id).catch((err: unknown) => log.error({ err, deviceId: d.id }, 'dispatch failed'));
    });
  }

  /**
   * Stores and sends a command. Commands that open a byte stream are refused unless
   * `opensStream` says the stream service is the caller (services/streams.ts).
   */
  async create(
    deviceRef: string,
    input: NewCommand,
    actor: Actor,
    opts: { opensStream?: boolean } = {},
  ): Promise<CommandView> {
    return (await this.#create(deviceRef, input, actor, null, opts.opensStream === true)).created;
  }

  /**
   * Creates the command and waits for it to finish (or `timeoutMs`): the waiter is in
   * place before the command is published, so even an instant answer is not missed.
   */
  async createAndWait(
    deviceRef: string,
    input: NewCommand,
    actor: Actor,
    timeoutMs: number,
  ): Promise<{ created: CommandView; final: CommandView }> {
    const { created, finished } = await this.#create(deviceRef, input, actor, timeoutMs, false);
    return { created, final: (await finished) ?? created };
  }

  async #create(
    deviceRef: string,
    input: NewCommand,
    actor: Actor,
    waitMs: number | null,
    forStream: boolean,
  ): Promise<{ created: CommandView; finished: Promise<CommandView> | null }> {
    const spec = commandSpec(input.capability, input.action);
    if (!spec) throw new OutpostError('E_BAD_ARGS', `unknown command '${input.capability}/${input.action}'`);
    if (spec.opensStream && !forStream) {
      throw new OutpostError(
        'E_BAD_ARGS',
        `'${input.capability}/${input.action}' opens a byte stream; use its own endpoint (e.g. the terminal)`,
      );
    }
    const args = parse(spec.args, input.args ?? {}, `args of ${input.capability}/${input.action}`);
    const device = await this.devices.resolve(deviceRef, actor);
    if (device.status !== 'accepted') {
      throw new OutpostError(
        'E_CONFLICT',
        `device ${device.id} is ${device.status}; only accepted devices take commands`,
      );
    }
    const now = Date.now();
    const ttl = input.ttl ?? this.defaultTtl;
    const online = device.online === 1;
    const row: CommandTable = {
      id: newId('c'),
      device_id: device.id,
      capability: input.capability,
      action: input.action,
      args: JSON.stringify(args),
      // Stored as sent when the device is online (published right below; if that publish is
      // lost, the command is re-sent when the device next comes online, like any sent one).
      status: online ? 'sent' : 'queued',
      ttl,
      created_at: now,
      created_by: actorRef(actor),
      sent_at: online ? now : null,
      started_at: null,
      finished_at: null,
      expires_at: now + ttl * 1000,
      duration_ms: null,
      result: null,
      error: null,
    };
    await this.db.insertInto('commands').values(row).execute();
    this.log.info(
      { commandId: row.id, deviceId: device.id, command: `${row.capability}/${row.action}`, actor: row.created_by },
      'command created',
    );
    const created = toView(row);
    const finished = waitMs === null ? null : this.#waitForEnd(row.id, waitMs, created);
    if (online) await this.send(row);
    return { created, finished };
  }

  /**
   * Cancels a command (docs/protocol.md §Cancelling a command): a queued one never reaches
   * the device and fails at once; a sent or running one is stopped by the device through
   * `command/cancel` (awaited up to `timeoutMs`) and then ends with its own response.
   */
  async cancel(id: string, actor: Actor, timeoutMs = 15_000): Promise<{ cancelled: boolean; command: CommandView }> {
    const target = await this.get(id, actor);
    if (FINAL.has(target.status)) throw new OutpostError('E_CONFLICT', `command ${target.id} has already finished`);
    if (target.status === 'queued') {
      const row = await this.db.selectFrom('commands').selectAll().where('id', '=', target.id).executeTakeFirst();
      if (row?.status === 'queued') {
        await this.#finishWith(row, {
          code: 'E_CONFLICT',
          message: `cancelled by ${actorRef(actor)} before it was sent`,
        });
        return { cancelled: true, command: await this.get(target.id) };
      }
    }
    const device = await this.devices.resolve(target.deviceId, actor);
    if (device.online !== 1) {
      throw new OutpostError('E_OFFLINE', `device ${device.id} is offline; cancel again when it is back`);
    }
    const { final } = await this.createAndWait(
      device.id,
      { capability: 'command', action: 'cancel', args: { id: target.id } },
      actor,
      timeoutMs,
    );
    const { cancelled } = commandOutcome(final) as { cancelled: boolean };
    return { cancelled, command: await this.get(target.id) };
  }

  /** A command, if the actor may see its device (E_NOT_FOUND otherwise, so ids do not leak). */
  async get(id: string, actor?: Actor): Promise<CommandView> {
    const row = isValidId(id)
      ? await this.db.selectFrom('commands').selectAll().where('id', '=', id).executeTakeFirst()
      : undefined;
    const device = row && actor ? await this.devices.row(row.device_id) : undefined;
    if (!row || (actor && (!device || !inScope(actor, JSON.parse(device.tags) as string[])))) {
      throw new OutpostError('E_NOT_FOUND', `command '${id.slice(0, 80)}' not found`);
    }
    return toView(row);
  }

  async listForDevice(deviceRef: string, actor?: Actor, limit = 100): Promise<CommandView[]> {
    const device = await this.devices.resolve(deviceRef, actor);
    const rows = await this.db
      .selectFrom('commands')
      .selectAll()
      .where('device_id', '=', device.id)
      .orderBy('created_at', 'desc')
      .limit(limit)
      .execute();
    return rows.map(toView);
  }

  /** Resolves when the command is final, or with its current state after `timeoutMs`. */
  async waitFor(id: string, timeoutMs: number): Promise<CommandView> {
    const current = await this.get(id);
    if (FINAL.has(current.status)) return current;
    return this.#waitForEnd(id, timeoutMs, current);
  }

  #waitForEnd(id: string, timeoutMs: number, current: CommandView): Promise<CommandView> {
    return new Promise((resolve) => {
      const set = this.#waiters.get(id) ?? new Set();
      this.#waiters.set(id, set);
      const done = (c: CommandView) => {
        clearTimeout(timer);
        set.delete(done);
        resolve(c);
      };
      const timer = setTimeout(() => {
        set.delete(done);
        this.get(id).then(resolve, () => resolve(current));
      }, timeoutMs);
      set.add(done);
    });
  }

  /** Streams output (replayed from `after`) and the final command; ends at once for finished commands. */
  async stream(id: string, after: number, listener: (e: StreamEvent<CommandView>) => void): Promise<() => void> {
    const current = await this.get(id);
    if (FINAL.has(current.status) && !this.output.has(id)) {
      listener({ type: 'end', command: current });
      return () => {};
    }
    return this.output.subscribe(id, after, listener);
  }

  async #finish(row: CommandTable, set: Partial<CommandTable>): Promise<void> {
    const res = await this.db
      .updateTable('commands')
      .set(set)
      .where('id', '=', row.id)
      .where('status', 'not in', [...FINAL])
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) !== 1) return; // a duplicate response: the first one won
    const view = toView({ ...row, ...set });
    this.log.info(
      { commandId: row.id, deviceId: row.device_id, status: view.status, durationMs: view.durationMs },
      'command finished',
    );
    this.output.end(row.id, view);
    const waiters = this.#waiters.get(row.id);
    if (waiters) {
      this.#waiters.delete(row.id);
      for (const w of waiters) w(view);
    }
  }

  /** Publishes the command; a queued one becomes sent (the changed fields are returned). */
  private async send(row: CommandTable): Promise<Partial<CommandTable>> {
    const payload = JSON.stringify({
      id: row.id,
      args: JSON.parse(row.args) as unknown,
      ttl: row.ttl,
      ts: row.created_at,
    });
    await this.link.publish(topics.command(row.device_id, row.capability, row.action), payload, { qos: 1 });
    if (row.status === 'queued') {
      const now = Date.now();
      await this.db
        .updateTable('commands')
        .set({ status: 'sent', sent_at: now })
        .where('id', '=', row.id)
        .where('status', '=', 'queued')
        .execute();
      return { status: 'sent', sent_at: now };
    }
    return {};
  }

  /**
   * Sends what waits for a device that just came online: queued commands, and
   * sent/running ones again (the agent's journal makes a re-delivery harmless).
   */
  async dispatchPending(deviceId: string): Promise<void> {
    const now = Date.now();
    const rows = await this.db
      .selectFrom('commands')
      .selectAll()
      .where('device_id', '=', deviceId)
      .where('status', 'in', ['queued', 'sent', 'running'])
      .orderBy('created_at', 'asc')
      .execute();
    for (const row of rows) {
      if (row.status === 'queued' && row.expires_at <= now) continue; // the sweeper expires it
      await this.send(row);
    }
  }

  async onResult(deviceId: string, commandId: string, payload: Buffer): Promise<void> {
    const row = await this.db.selectFrom('commands').selectAll().where('id', '=', commandId).executeTakeFirst();
    if (!row || row.device_id !== deviceId) {
      this.log.warn({ deviceId, commandId }, 'response for an unknown command ignored');
      return;
    }
    if (FINAL.has(row.status)) return;
    let response: CommandResponse;
    try {
      response = parseJson(CommandResponse, payload, 'command response');
      if (response.id !== commandId) throw new OutpostError('E_BAD_ARGS', 'response id does not match its topic');
    } catch (err) {
      this.log.warn({ deviceId, commandId, err: (err as Error).message }, 'malformed command response');
      await this.#finishWith(row, { code: 'E_INTERNAL', message: 'device sent a malformed response' });
      return;
    }
    if (!response.ok) {
      await this.#finishWith(row, response.error);
      return;
    }
    const spec = commandSpec(row.capability, row.action);
    if (spec && !check(spec.result, response.data)) {
      this.log.warn({ deviceId, commandId }, 'device result does not match the schema');
      await this.#finishWith(row, {
        code: 'E_INTERNAL',
        message: 'device returned a result that does not match the protocol',
      });
      return;
    }
    const now = Date.now();
    await this.#finish(row, {
      status: 'succeeded',
      finished_at: now,
      duration_ms: now - (row.sent_at ?? row.created_at),
      result: JSON.stringify(response.data),
    });
  }

  async #finishWith(row: CommandTable, error: ErrorBody): Promise<void> {
    const now = Date.now();
    const body = error.details === undefined ? { code: error.code, message: error.message } : error;
    await this.#finish(row, {
      status: 'failed',
      finished_at: now,
      duration_ms: now - (row.sent_at ?? row.created_at),
      error: JSON.stringify(body),
    });
  }

  #running = new Set<string>();

  async onOutput(deviceId: string, commandId: string, payload: Buffer): Promise<void> {
    let chunk: OutputChunk;
    try {
      chunk = parseJson(OutputChunk, payload, 'output chunk');
    } catch (err) {
      this.log.warn({ deviceId, commandId, err: (err as Error).message }, 'malformed output chunk dropped');
      return;
    }
    if (chunk.id !== commandId) return;
    if (!this.#running.has(commandId)) {
      const row = await this.db
        .selectFrom('commands')
        .select(['device_id', 'status'])
        .where('id', '=', commandId)
        .executeTakeFirst();
      if (!row || row.device_id !== deviceId || FINAL.has(row.status)) return;
      this.#running.add(commandId);
      await this.db
        .updateTable('commands')
        .set({ status: 'running', started_at: Date.now() })
        .where('id', '=', commandId)
        .where('status', 'in', ['queued', 'sent'])
        .execute();
    }
    this.output.push(commandId, { seq: chunk.seq, stream: chunk.stream, data: chunk.data });
  }

  /**
   * Deletes finished commands (with their args, results and errors) that finished
   * before `before` (epoch ms); unfinished ones are never touched. Returns how many.
   */
  async prune(before: number): Promise<number> {
    const res = await this.db
      .deleteFrom('commands')
      .where('status', 'in', [...FINAL])
      .where('finished_at', '<', before)
      .executeTakeFirst();
    const n = Number(res.numDeletedRows);
    if (n > 0) this.log.info({ deleted: n, before: new Date(before).toISOString() }, 'old commands pruned');
    return n;
  }

  /** Expires queued commands past their ttl and forgets old output buffers. */
  async sweep(): Promise<void> {
    const now = Date.now();
    const expired = await this.db
      .selectFrom('commands')
      .selectAll()
      .where('status', '=', 'queued')
      .where('expires_at', '<=', now)
      .execute();
    for (const row of expired) {
      await this.#finish(row, {
        status: 'expired',
        finished_at: now,
        error: JSON.stringify({ code: 'E_EXPIRED', message: 'device did not come online before the command expired' }),
      });
    }
    this.output.sweep(now);
    for (const id of this.#running) if (!this.output.has(id)) this.#running.delete(id);
  }
}
