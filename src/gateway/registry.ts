import { CatapultError } from '../errors/index.js';
import type { EventLog } from '../events/index.js';
import type { AnyDb, CatapultMigration, Store } from '../store/index.js';
import { fromJson, tables, toJson } from '../store/index.js';
import { type SecretBox, redactHeaders } from '../secrets/index.js';
import type { Clock } from '../util/index.js';
import { type Route, type RouteInput, type RouteView, routeInputSchema } from './types.js';

interface GatewayRoutesTable {
  id: string;
  kind: string;
  name: string;
  protocol: string;
  /** The route without its secrets, as JSON. */
  data: string;
  /** Upstream headers as JSON sealed by the SecretBox (plain JSON in rows of older versions), or null. Kept apart so no read path shows them by accident. */
  secrets: string | null;
  seq: number;
  updated_at: number;
}

interface GatewayRouteNamesTable {
  name: string;
  route_id: string;
}

interface RouteTables {
  gateway_routes: GatewayRoutesTable;
  gateway_route_names: GatewayRouteNamesTable;
}

export const routeMigrations: Record<string, CatapultMigration> = {
  '0400_gateway_routes': {
    async up({ db, t }) {
      await db.schema
        .createTable('gateway_routes')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('protocol', 'text', (c) => c.notNull())
        .addColumn('data', t.json, (c) => c.notNull())
        .addColumn('secrets', t.json)
        .addColumn('seq', t.ms, (c) => c.notNull())
        .addColumn('updated_at', t.ms, (c) => c.notNull())
        .execute();
      // One row per name or alias: the primary key makes "two routes answer to one name" impossible.
      await db.schema
        .createTable('gateway_route_names')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('route_id', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('gateway_route_names_route').on('gateway_route_names').column('route_id').execute();
    },
  },
};

/** The stored, secret-free part of a route, in a fixed key order so equal routes serialise equally. */
type RouteData = Omit<Route, 'seq' | 'updatedAt' | 'upstreamHeaders'>;

function routeData(r: ReturnType<typeof routeInputSchema.parse>): RouteData {
  return {
    id: r.id,
    kind: r.kind,
    name: r.name,
    aliases: r.aliases,
    protocol: r.protocol,
    replicas: r.replicas.map((x) => ({ id: x.id, url: x.url, ready: x.ready })),
    ...(r.upstreamModel !== undefined ? { upstreamModel: r.upstreamModel } : {}),
    ...(r.affinity !== undefined ? { affinity: r.affinity } : {}),
  };
}

function toRoute(row: GatewayRoutesTable, box: SecretBox): Route {
  const data = fromJson<RouteData>(row.data, {} as RouteData);
  const secrets = box.openJson<Record<string, string> | null>(row.secrets, null);
  return { ...data, ...(secrets ? { upstreamHeaders: secrets } : {}), seq: Number(row.seq), updatedAt: Number(row.updated_at) };
}

/** A route as read APIs show it: upstream headers in clear (`withSecrets`, gateway principals only) or redacted. */
export function viewRoute(route: Route, withSecrets: boolean): RouteView {
  const { upstreamHeaders, ...rest } = route;
  const has = upstreamHeaders !== undefined && Object.keys(upstreamHeaders).length > 0;
  if (!has) return { ...rest, hasUpstreamHeaders: false };
  if (withSecrets) return { ...rest, hasUpstreamHeaders: true, upstreamHeaders };
  return { ...rest, hasUpstreamHeaders: true, upstreamHeaders: redactHeaders(upstreamHeaders), upstreamHeadersRedacted: true };
}

/**
 * The control plane's record of where each deployment and external endpoint is served: one row per
 * route, and for every change a `route.updated` or `route.deleted` event in the same transaction.
 * Gateways load a snapshot and then follow those events, so the data plane never reads this table
 * on a request.
 *
 * Events carry the route without its upstream headers (the event stream is readable with the `read`
 * scope); `hasUpstreamHeaders: true` tells a gateway to fetch the secret part with its own credential.
 */
export class RouteRegistry {
  constructor(
    private readonly store: Store,
    private readonly events: EventLog,
    private readonly clock: Clock,
    /** Seals upstream headers at rest (the `secrets` column). */
    private readonly box: SecretBox,
  ) {}

  /**
   * Creates or replaces a route and publishes `route.updated`. An identical route is left alone (no
   * event), so reconcilers may call this on every pass. Throws CATAPULT_GATEWAY_ROUTE_INVALID for a
   * malformed route and CATAPULT_GATEWAY_ROUTE_NAME_TAKEN when another route answers to one of its names.
   */
  async upsert(input: RouteInput): Promise<Route> {
    const out = await this.store.write((trx) => this.upsertIn(trx, input));
    this.events.kick();
    return out;
  }

  /** As `upsert`, inside the caller's transaction; the caller must `events.kick()` after commit. */
  async upsertIn(trx: AnyDb, input: RouteInput): Promise<Route> {
    const parsed = routeInputSchema.safeParse(input);
    if (!parsed.success) {
      const errors = parsed.error.issues.map((i) => ({ path: i.path.map(String).join('/'), message: i.message }));
      throw new CatapultError('CATAPULT_GATEWAY_ROUTE_INVALID', `Route ${String((input as { id?: unknown }).id)} is invalid: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`, {
        errors,
      });
    }
    const r = parsed.data;
    const data = routeData(r);
    const dataJson = toJson(data);
    const plainSecrets = r.upstreamHeaders && Object.keys(r.upstreamHeaders).length > 0 ? toJson(r.upstreamHeaders) : null;
    const db = tables<RouteTables>(trx);
    const existing = await db.selectFrom('gateway_routes').selectAll().where('id', '=', r.id).executeTakeFirst();
    // Sealing is randomised, so equal secrets are compared in clear.
    if (existing && existing.data === dataJson && this.box.openNullable(existing.secrets) === plainSecrets) return toRoute(existing, this.box);
    const secrets = this.box.sealNullable(plainSecrets);

    const now = this.clock.now();
    // The append comes first: on Postgres it takes the event log's lock, so the name check below
    // cannot race another writer's (the rollback on a taken name removes the event too).
    const seq = await this.events.append(trx, {
      type: 'route.updated',
      subject: { kind: 'route', id: r.id },
      data: { ...data, hasUpstreamHeaders: secrets !== null, updatedAt: now },
    });
    const names = [...new Set([r.name, ...r.aliases])];
    const taken = await db.selectFrom('gateway_route_names').selectAll().where('name', 'in', names).where('route_id', '!=', r.id).execute();
    if (taken.length > 0) {
      const t = taken[0]!;
      throw new CatapultError('CATAPULT_GATEWAY_ROUTE_NAME_TAKEN', `The name '${t.name}' is already served by ${t.route_id}.`, {
        name: t.name,
        routeId: t.route_id,
      });
    }
    const row: GatewayRoutesTable = { id: r.id, kind: r.kind, name: r.name, protocol: r.protocol, data: dataJson, secrets, seq, updated_at: now };
    if (existing) {
      await db.updateTable('gateway_routes').set(row).where('id', '=', r.id).execute();
    } else {
      await db.insertInto('gateway_routes').values(row).execute();
    }
    await db.deleteFrom('gateway_route_names').where('route_id', '=', r.id).execute();
    await db
      .insertInto('gateway_route_names')
      .values(names.map((name) => ({ name, route_id: r.id })))
      .execute();
    return toRoute(row, this.box);
  }

  /** Deletes a route and publishes `route.deleted`; false when there was none. */
  async remove(id: string): Promise<boolean> {
    const out = await this.store.write((trx) => this.removeIn(trx, id));
    if (out) this.events.kick();
    return out;
  }

  /** As `remove`, inside the caller's transaction; the caller must `events.kick()` after commit. */
  async removeIn(trx: AnyDb, id: string): Promise<boolean> {
    const db = tables<RouteTables>(trx);
    const existing = await db.selectFrom('gateway_routes').select(['id', 'name', 'kind']).where('id', '=', id).executeTakeFirst();
    if (!existing) return false;
    await db.deleteFrom('gateway_routes').where('id', '=', id).execute();
    await db.deleteFrom('gateway_route_names').where('route_id', '=', id).execute();
    await this.events.append(trx, { type: 'route.deleted', subject: { kind: 'route', id }, data: { id, name: existing.name, kind: existing.kind } });
    return true;
  }

  /** One route with its secrets, or undefined. */
  async get(id: string): Promise<Route | undefined> {
    const row = await tables<RouteTables>(this.store.db).selectFrom('gateway_routes').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toRoute(row, this.box) : undefined;
  }

  /** Every route with its secrets, by name. */
  async list(): Promise<Route[]> {
    const rows = await tables<RouteTables>(this.store.db).selectFrom('gateway_routes').selectAll().orderBy('name').execute();
    return rows.map((row) => toRoute(row, this.box));
  }

  /**
   * Every route, and a sequence number to follow events from without a gap. The number is read
   * before the rows, so the rows include at least every change up to it; replaying a change the rows
   * already hold is harmless because each route carries the `seq` of its own version.
   */
  async snapshot(): Promise<{ seq: number; items: Route[] }> {
    const seq = await this.events.latestSeq();
    return { seq, items: await this.list() };
  }

  /** Seals upstream headers that rows of older versions hold in clear (at startup); returns how many. */
  async sealStored(): Promise<number> {
    return this.store.write(async (trx) => {
      const db = tables<RouteTables>(trx);
      const rows = await db.selectFrom('gateway_routes').select(['id', 'secrets']).where('secrets', 'is not', null).where('secrets', 'not like', 'enc:%').execute();
      for (const row of rows) await db.updateTable('gateway_routes').set({ secrets: this.box.seal(row.secrets!) }).where('id', '=', row.id).execute();
      return rows.length;
    });
  }
}
