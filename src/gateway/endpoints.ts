import { z } from 'zod';
import { CatapultError } from '../errors/index.js';
import type { EventLog } from '../events/index.js';
import type { CatapultMigration, Store } from '../store/index.js';
import { tables } from '../store/index.js';
import { type Clock, newId } from '../util/index.js';
import type { SecretBox } from '../secrets/index.js';
import type { RouteRegistry } from './registry.js';
import { ROUTE_PROTOCOLS, type RouteInput, routeNameSchema, upstreamUrlSchema } from './types.js';

interface EndpointsTable {
  id: string;
  name: string;
  url: string;
  protocol: string;
  upstream_model: string | null;
  description: string | null;
  auth_header_name: string | null;
  /** The auth header's value, sealed by the SecretBox (in clear in rows of older versions): returned by no API, sent only to the upstream by gateways. */
  auth_header_value: string | null;
  created_at: number;
  created_by: string | null;
}

interface EndpointTables {
  gateway_endpoints: EndpointsTable;
}

export const endpointMigrations: Record<string, CatapultMigration> = {
  '0410_endpoints': {
    async up({ db, t }) {
      await db.schema
        .createTable('gateway_endpoints')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('url', 'text', (c) => c.notNull())
        .addColumn('protocol', 'text', (c) => c.notNull())
        .addColumn('upstream_model', 'text')
        .addColumn('description', 'text')
        .addColumn('auth_header_name', 'text')
        .addColumn('auth_header_value', 'text')
        .addColumn('created_at', t.ms, (c) => c.notNull())
        .addColumn('created_by', 'text')
        .execute();
    },
  },
};

export const createEndpointSchema = z.strictObject({
  name: routeNameSchema.describe('The name clients use: the `model` field, or `{name}` in /v2/models/{name}'),
  url: upstreamUrlSchema.describe('Base URL of the inference server, e.g. http://gpu-node-1:26007; the gateway appends the request path (/v1/..., /v2/...)'),
  protocol: z.enum(ROUTE_PROTOCOLS).default('openai').describe('What the server speaks: openai, kserve-v2 or http'),
  upstreamModel: z.string().min(1).max(200).optional().describe('The model name the server itself expects, when it differs from `name`'),
  description: z.string().max(1000).optional(),
  authHeader: z
    .string()
    .min(1)
    .max(8192)
    .regex(/^[^\r\n]*$/, 'one line')
    .optional()
    .describe('Value of the header gateways send to the server (e.g. "Bearer sk-..."); stored as a secret and never returned'),
  authHeaderName: z
    .string()
    .regex(/^[A-Za-z0-9-]{1,100}$/)
    .optional()
    .describe('Header that carries `authHeader`; default Authorization'),
});
export type CreateEndpointInput = z.input<typeof createEndpointSchema>;

/** An external inference server as the API shows it: never its auth header's value. */
export interface Endpoint {
  id: string;
  name: string;
  url: string;
  protocol: (typeof ROUTE_PROTOCOLS)[number];
  upstreamModel: string | null;
  description: string | null;
  /** The header that carries the secret, when there is one. */
  authHeaderName: string | null;
  hasAuth: boolean;
  createdAt: number;
  createdBy: string | null;
}

export const endpointSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    url: z.string(),
    protocol: z.enum(ROUTE_PROTOCOLS),
    upstreamModel: z.string().nullable(),
    description: z.string().nullable(),
    authHeaderName: z.string().nullable(),
    hasAuth: z.boolean(),
    createdAt: z.number(),
    createdBy: z.string().nullable(),
  })
  .meta({ id: 'Endpoint' });

function toEndpoint(row: EndpointsTable): Endpoint {
  return {
    id: row.id,
    name: row.name,
    url: row.url,
    protocol: row.protocol as Endpoint['protocol'],
    upstreamModel: row.upstream_model,
    description: row.description,
    authHeaderName: row.auth_header_name,
    hasAuth: row.auth_header_value !== null,
    createdAt: Number(row.created_at),
    createdBy: row.created_by,
  };
}

/** The route of an endpoint: one replica that is always ready (its health is the outside world's). */
function endpointRoute(row: EndpointsTable, box: SecretBox): RouteInput {
  return {
    id: row.id,
    kind: 'endpoint',
    name: row.name,
    aliases: [],
    protocol: row.protocol as RouteInput['protocol'],
    replicas: [{ id: row.id, url: row.url, ready: true }],
    ...(row.upstream_model ? { upstreamModel: row.upstream_model } : {}),
    ...(row.auth_header_value !== null ? { upstreamHeaders: { [(row.auth_header_name ?? 'authorization').toLowerCase()]: box.open(row.auth_header_value) } } : {}),
  };
}

/**
 * External inference servers registered without a deployment (seed 000's production endpoints).
 * Each is published to the route registry in the same transaction, so the gateway serves it like a
 * deployment, with the auth header added on the way out.
 */
export class EndpointService {
  constructor(
    private readonly store: Store,
    private readonly events: EventLog,
    private readonly clock: Clock,
    private readonly routes: RouteRegistry,
    /** Seals auth header values at rest. */
    private readonly box: SecretBox,
  ) {}

  async create(input: CreateEndpointInput, createdBy: string | null): Promise<Endpoint> {
    const parsed = createEndpointSchema.parse(input);
    const row: EndpointsTable = {
      id: newId('ep'),
      name: parsed.name,
      url: parsed.url.replace(/\/+$/, ''),
      protocol: parsed.protocol,
      upstream_model: parsed.upstreamModel ?? null,
      description: parsed.description ?? null,
      auth_header_name: parsed.authHeader !== undefined ? (parsed.authHeaderName ?? 'Authorization') : null,
      auth_header_value: this.box.sealNullable(parsed.authHeader ?? null),
      created_at: this.clock.now(),
      created_by: createdBy,
    };
    await this.store.write(async (trx) => {
      const db = tables<EndpointTables>(trx);
      const clash = await db.selectFrom('gateway_endpoints').select('id').where('name', '=', row.name).executeTakeFirst();
      if (clash) throw new CatapultError('CATAPULT_ENDPOINT_EXISTS', `An endpoint named '${row.name}' already exists (${clash.id}).`, { id: clash.id });
      await db.insertInto('gateway_endpoints').values(row).execute();
      await this.routes.upsertIn(trx, endpointRoute(row, this.box));
      await this.events.append(trx, {
        type: 'endpoint.created',
        subject: { kind: 'endpoint', id: row.id },
        data: { name: row.name, url: row.url, protocol: row.protocol },
      });
    });
    this.events.kick();
    return toEndpoint(row);
  }

  async list(): Promise<Endpoint[]> {
    const rows = await tables<EndpointTables>(this.store.db).selectFrom('gateway_endpoints').selectAll().orderBy('name').execute();
    return rows.map(toEndpoint);
  }

  /** By id or name. */
  async get(idOrName: string): Promise<Endpoint> {
    return toEndpoint(await this.row(this.store.db, idOrName));
  }

  /**
   * Where an endpoint is and how to call it, its auth header included: for Catapult's own clients
   * (benchmarks) that call the server directly. Never for an API answer.
   */
  async upstream(idOrName: string): Promise<{ id: string; name: string; url: string; protocol: Endpoint['protocol']; model: string; headers: Record<string, string> }> {
    const row = await this.row(this.store.db, idOrName);
    return {
      id: row.id,
      name: row.name,
      url: row.url,
      protocol: row.protocol as Endpoint['protocol'],
      model: row.upstream_model ?? row.name,
      headers: row.auth_header_value !== null ? { [(row.auth_header_name ?? 'authorization').toLowerCase()]: this.box.open(row.auth_header_value) } : {},
    };
  }

  /** Deletes an endpoint and its route; the gateway stops serving it as soon as it sees the event. */
  async delete(idOrName: string): Promise<Endpoint> {
    const row = await this.store.write(async (trx) => {
      const found = await this.row(trx, idOrName);
      await tables<EndpointTables>(trx).deleteFrom('gateway_endpoints').where('id', '=', found.id).execute();
      await this.routes.removeIn(trx, found.id);
      await this.events.append(trx, { type: 'endpoint.deleted', subject: { kind: 'endpoint', id: found.id }, data: { name: found.name } });
      return found;
    });
    this.events.kick();
    return toEndpoint(row);
  }

  /** Seals auth headers that rows of older versions hold in clear (at startup); returns how many. */
  async sealStored(): Promise<number> {
    return this.store.write(async (trx) => {
      const db = tables<EndpointTables>(trx);
      const rows = await db.selectFrom('gateway_endpoints').select(['id', 'auth_header_value']).where('auth_header_value', 'is not', null).where('auth_header_value', 'not like', 'enc:%').execute();
      for (const row of rows) await db.updateTable('gateway_endpoints').set({ auth_header_value: this.box.seal(row.auth_header_value!) }).where('id', '=', row.id).execute();
      return rows.length;
    });
  }

  private async row(db: Store['db'], idOrName: string): Promise<EndpointsTable> {
    const row = await tables<EndpointTables>(db)
      .selectFrom('gateway_endpoints')
      .selectAll()
      .where((eb) => eb.or([eb('id', '=', idOrName), eb('name', '=', idOrName)]))
      .executeTakeFirst();
    if (!row) throw new CatapultError('CATAPULT_ENDPOINT_NOT_FOUND', `No endpoint with id or name '${idOrName}'.`, { id: idOrName });
    return row;
  }
}
