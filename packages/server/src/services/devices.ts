/** Devices: the record, its lifecycle (pending → accepted → revoked/rejected), presence and facts. */
import { type api, type DeviceFacts, isValidId, OutpostError } from '@outpost/protocol';
import { type Actor, inScope } from '../actor.js';
import type { Bus } from '../bus.js';
import type { Logger } from '../log.js';
import type { Db } from '../store/db.js';
import type { DeviceTable } from '../store/schema.js';
import { metricsSummary, NO_METRICS } from './metrics-series.js';
import { iso } from './time.js';

export type DeviceStatusName = api.DeviceStatusName;

/** A device as the API shows it. */
export type DeviceView = api.Device;

export function toView(row: DeviceTable): DeviceView {
  return {
    id: row.id,
    name: row.name,
    status: row.status as DeviceStatusName,
    online: row.online === 1,
    tags: JSON.parse(row.tags) as string[],
    hostname: row.hostname,
    os: row.os,
    kernel: row.kernel,
    arch: row.arch,
    agentVersion: row.agent_version,
    macs: JSON.parse(row.macs) as string[],
    ips: JSON.parse(row.ips) as string[],
    heartbeat: row.heartbeat,
    firstSeen: iso(row.first_seen),
    lastSeen: iso(row.last_seen),
    onlineSince: iso(row.online_since),
    enrolledAt: iso(row.enrolled_at) ?? '',
    metrics: metricsSummary(row),
  };
}

export type DeviceFilter = api.DeviceListQuery;

export class DeviceService {
  constructor(
    private readonly db: Db,
    private readonly bus: Bus,
    private readonly log: Logger,
  ) {}

  /** Devices the actor may see (all of them without an actor: server-internal use). */
  async list(filter: DeviceFilter = {}, actor?: Actor): Promise<DeviceView[]> {
    let q = this.db.selectFrom('devices').selectAll().orderBy('enrolled_at', 'asc');
    if (filter.status) q = q.where('status', '=', filter.status);
    if (filter.online !== undefined) q = q.where('online', '=', filter.online ? 1 : 0);
    const rows = await q.execute();
    const views = rows.map(toView).filter((d) => !actor || inScope(actor, d.tags));
    return filter.tag ? views.filter((d) => d.tags.includes(filter.tag as string)) : views;
  }

  async row(id: string): Promise<DeviceTable | undefined> {
    if (!isValidId(id)) return undefined;
    return this.db.selectFrom('devices').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /**
   * Finds a device by id, or by name when exactly one device the actor can see has
   * it. A device outside the actor's scope is E_NOT_FOUND, never E_DENIED, so ids do not leak.
   */
  async resolve(ref: string, actor?: Actor): Promise<DeviceTable> {
    const visible = (d: DeviceTable) => !actor || inScope(actor, JSON.parse(d.tags) as string[]);
    const byId = await this.row(ref);
    if (byId && visible(byId)) return byId;
    const byName = (
      await this.db.selectFrom('devices').selectAll().where('name', '=', ref).limit(100).execute()
    ).filter(visible);
    if (byName.length === 1 && byName[0]) return byName[0];
    if (byName.length > 1) throw new OutpostError('E_CONFLICT', `more than one device is named '${ref}'; use its id`);
    throw new OutpostError('E_NOT_FOUND', `device '${ref.slice(0, 80)}' not found`);
  }

  async get(ref: string, actor?: Actor): Promise<DeviceView> {
    return toView(await this.resolve(ref, actor));
  }

  async create(input: {
    id: string;
    name: string;
    status: DeviceStatusName;
    secretHash: string;
    /** Set for a device that authenticates with a client certificate. */
    certFingerprint?: string | null;
    tags: string[];
    facts: DeviceFacts;
    enrollmentTokenId: string;
  }): Promise<DeviceView> {
    const now = Date.now();
    const row: DeviceTable = {
      id: input.id,
      name: input.name,
      status: input.status,
      secret_hash: input.secretHash,
      tags: JSON.stringify(input.tags),
      ...factColumns(input.facts),
      online: 0,
      online_since: null,
      first_seen: null,
      last_seen: null,
      heartbeat: null,
      enrolled_at: now,
      enrollment_token_id: input.enrollmentTokenId,
      cert_fingerprint: input.certFingerprint ?? null,
      ...NO_METRICS,
    };
    await this.db.insertInto('devices').values(row).execute();
    return toView(row);
  }

  async setStatus(ref: string, status: DeviceStatusName, actor?: Actor): Promise<DeviceView> {
    const row = await this.resolve(ref, actor);
    const from = row.status as DeviceStatusName;
    if (from === status) return toView(row);
    if (from === 'revoked') throw new OutpostError('E_CONFLICT', `device ${row.id} is revoked; enroll it again`);
    await this.db.updateTable('devices').set({ status }).where('id', '=', row.id).execute();
    this.log.info({ deviceId: row.id, from, to: status }, 'device status changed');
    // Any change of standing takes effect at once: the agent reconnects and the broker re-checks it.
    this.bus.emit('device.disconnect', row.id);
    const view = toView({ ...row, status });
    this.bus.emit('device.changed', view);
    return view;
  }

  async update(
    ref: string,
    patch: { name?: string | undefined; tags?: string[] | undefined },
    actor?: Actor,
  ): Promise<DeviceView> {
    const row = await this.resolve(ref, actor);
    const set: Partial<DeviceTable> = {};
    if (patch.name !== undefined) set.name = patch.name;
    if (patch.tags !== undefined) set.tags = JSON.stringify([...new Set(patch.tags)].sort());
    if (Object.keys(set).length > 0) await this.db.updateTable('devices').set(set).where('id', '=', row.id).execute();
    const view = toView({ ...row, ...set });
    this.bus.emit('device.changed', view);
    return view;
  }

  async remove(ref: string, actor?: Actor): Promise<DeviceTable> {
    const row = await this.resolve(ref, actor);
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('presence').where('device_id', '=', row.id).execute();
      await trx.deleteFrom('commands').where('device_id', '=', row.id).execute();
      await trx.deleteFrom('devices').where('id', '=', row.id).execute();
    });
    this.log.info({ deviceId: row.id }, 'device deleted');
    this.bus.emit('device.disconnect', row.id);
    this.bus.emit('device.deleted', row.id);
    return row;
  }

  async presence(ref: string, actor?: Actor, limit = 200): Promise<{ online: boolean; at: string }[]> {
    const row = await this.resolve(ref, actor);
    const rows = await this.db
      .selectFrom('presence')
      .select(['online', 'at'])
      .where('device_id', '=', row.id)
      .orderBy('at', 'desc')
      .orderBy('id', 'desc')
      .limit(limit)
      .execute();
    return rows.map((r) => ({ online: r.online === 1, at: new Date(r.at).toISOString() }));
  }

  /** The agent announced itself online (retained status) with fresh facts. */
  async markOnline(id: string, facts: DeviceFacts | undefined, heartbeat: number | undefined): Promise<void> {
    const row = await this.row(id);
    if (!row) return;
    const now = Date.now();
    const set: Partial<DeviceTable> = { last_seen: now, first_seen: row.first_seen ?? now };
    if (facts) Object.assign(set, factColumns(facts));
    if (heartbeat) set.heartbeat = heartbeat;
    if (row.online !== 1) {
      set.online = 1;
      set.online_since = now;
    }
    await this.db.updateTable('devices').set(set).where('id', '=', id).execute();
    if (row.online !== 1) {
      await this.db.insertInto('presence').values({ device_id: id, online: 1, at: now }).execute();
      this.log.info({ deviceId: id }, 'device online');
    }
    // Re-announce even when already online: after a broker restart the queue must be re-sent.
    this.bus.emit('device.online', toView({ ...row, ...set }));
  }

  async markOffline(id: string, reason: string): Promise<void> {
    const row = await this.row(id);
    if (row?.online !== 1) return;
    const now = Date.now();
    await this.db.updateTable('devices').set({ online: 0, online_since: null }).where('id', '=', id).execute();
    await this.db.insertInto('presence').values({ device_id: id, online: 0, at: now }).execute();
    this.log.info({ deviceId: id, reason }, 'device offline');
    this.bus.emit('device.offline', id);
  }

  /**
   * A heartbeat: the device is connected now. One the server had marked offline while its link
   * stayed up (missed heartbeats after a stall of the server's event loop or a step of its clock)
   * comes back online here, with what waits for it sent, instead of staying offline until it
   * reconnects. Only accepted devices can publish heartbeats (the broker's ACL).
   */
  async touch(id: string): Promise<void> {
    const res = await this.db
      .updateTable('devices')
      .set({ last_seen: Date.now() })
      .where('id', '=', id)
      .where('online', '=', 1)
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) === 0) await this.markOnline(id, undefined, undefined);
  }

  /** Marks offline every device whose heartbeats stopped without a last will (e.g. a half-open TCP link). */
  async sweepSilent(missedHeartbeats: number, defaultHeartbeat: number): Promise<void> {
    const now = Date.now();
    // Only accepted devices send heartbeats; the others rely on their last will alone.
    const rows = await this.db
      .selectFrom('devices')
      .select(['id', 'last_seen', 'heartbeat'])
      .where('online', '=', 1)
      .where('status', '=', 'accepted')
      .execute();
    for (const r of rows) {
      const limit = missedHeartbeats * (r.heartbeat ?? defaultHeartbeat) * 1000;
      if (r.last_seen !== null && now - r.last_seen > limit) await this.markOffline(r.id, 'missed heartbeats');
    }
  }
}

function factColumns(
  f: DeviceFacts,
): Pick<DeviceTable, 'hostname' | 'os' | 'kernel' | 'arch' | 'agent_version' | 'macs' | 'ips'> {
  return {
    hostname: f.hostname,
    os: f.os,
    kernel: f.kernel,
    arch: f.arch,
    agent_version: f.agentVersion,
    macs: JSON.stringify(f.macs),
    ips: JSON.stringify(f.ips),
  };
}
