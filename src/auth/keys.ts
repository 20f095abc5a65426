import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { EventLog } from '../events/index.js';
import { CatapultError } from '../errors/index.js';
import type { CatapultMigration, Store } from '../store/index.js';
import { fromJson, tables, toJson } from '../store/index.js';
import { type Clock, newId } from '../util/index.js';

export const SCOPES = ['admin', 'deploy', 'bench', 'read', 'infer', 'gateway'] as const;
export type Scope = (typeof SCOPES)[number];

/**
 * Which scopes a key's scope grants. `admin` grants everything; `deploy` and `bench` include `read`
 * (you cannot manage what you cannot see); `infer` is the data plane only. `gateway` is the credential
 * of a standalone data-plane gateway: it reads routes with their upstream secrets, key hashes and the
 * event stream, and can change nothing, so a compromised gateway host cannot mint keys or deploy.
 */
const GRANTS: Record<Scope, readonly Scope[]> = {
  admin: SCOPES,
  deploy: ['deploy', 'read'],
  bench: ['bench', 'read'],
  read: ['read'],
  infer: ['infer'],
  gateway: ['gateway', 'read'],
};

export function hasScope(keyScopes: readonly Scope[], required: Scope): boolean {
  return keyScopes.some((s) => GRANTS[s].includes(required));
}

export const scopeSchema = z.enum(SCOPES);

/** What is known about a key; the secret itself is never stored or returned after creation. */
export const apiKeySchema = z
  .object({
    id: z.string(),
    name: z.string(),
    // The first characters of the secret, to recognise it in lists.
    prefix: z.string(),
    scopes: z.array(scopeSchema),
    // When set, `infer` is allowed only for these deployments (names or ids).
    deployments: z.array(z.string()).nullable(),
    // Requests per minute allowed on the data plane; null: unlimited.
    rateLimitRpm: z.number().nullable(),
    // Tokens per minute allowed on the data plane; null: unlimited.
    rateLimitTpm: z.number().nullable(),
    createdAt: z.number(),
    createdBy: z.string().nullable(),
    lastUsedAt: z.number().nullable(),
    expiresAt: z.number().nullable(),
    revokedAt: z.number().nullable(),
  })
  .meta({ id: 'ApiKey' });
export type ApiKey = z.infer<typeof apiKeySchema>;

/**
 * What a data-plane gateway needs to check a key in memory: the SHA-256 hash (never the secret), scopes,
 * deployment limits, rate limits and expiry.
 */
export interface KeyCredential {
  id: string;
  hash: string;
  scopes: Scope[];
  deployments: string[] | null;
  rateLimitRpm: number | null;
  rateLimitTpm: number | null;
  expiresAt: number | null;
}

export interface CreateKeyInput {
  name: string;
  scopes: Scope[];
  deployments?: string[] | null;
  rateLimitRpm?: number | null;
  rateLimitTpm?: number | null;
  expiresAt?: number | null;
}

interface ApiKeysTable {
  id: string;
  name: string;
  prefix: string;
  hash: string;
  scopes: string;
  deployments: string | null;
  rate_limit_rpm: number | null;
  rate_limit_tpm: number | null;
  created_at: number;
  created_by: string | null;
  last_used_at: number | null;
  expires_at: number | null;
  revoked_at: number | null;
}
interface KeyTables {
  api_keys: ApiKeysTable;
}

export const keyMigrations: Record<string, CatapultMigration> = {
  '0001_api_keys': {
    async up({ db, t }) {
      await db.schema
        .createTable('api_keys')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('prefix', 'text', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull().unique())
        .addColumn('scopes', t.json, (c) => c.notNull())
        .addColumn('deployments', t.json)
        .addColumn('rate_limit_rpm', t.int)
        .addColumn('rate_limit_tpm', t.int)
        .addColumn('created_at', t.ms, (c) => c.notNull())
        .addColumn('created_by', 'text')
        .addColumn('last_used_at', t.ms)
        .addColumn('expires_at', t.ms)
        .addColumn('revoked_at', t.ms)
        .execute();
    },
  },
};

const SECRET_PREFIX = 'cat_';

/** SHA-256 of the secret. Secrets carry 256 random bits, so a fast hash is enough (as with GitHub tokens). */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** A new secret: `cat_` and 32 random bytes in base64url (256 bits). */
export function generateSecret(): string {
  return SECRET_PREFIX + randomBytes(32).toString('base64url');
}

/** Constant-time comparison of two hex digests. */
export function sameHash(a: string, b: string): boolean {
  const ab = Buffer.from(a, 'hex');
  const bb = Buffer.from(b, 'hex');
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}

/** Issues, lists, revokes and checks API keys. */
export class KeyService {
  private readonly lastUsedWrites = new Map<string, number>();

  constructor(
    private readonly store: Store,
    private readonly events: EventLog,
    private readonly clock: Clock,
  ) {}

  /** Creates a key; the returned secret is shown once and never again. */
  async create(input: CreateKeyInput, createdBy: string | null): Promise<{ key: ApiKey; secret: string }> {
    const secret = generateSecret();
    const row: ApiKeysTable = {
      id: newId('key'),
      name: input.name,
      prefix: secret.slice(0, SECRET_PREFIX.length + 6),
      hash: hashSecret(secret),
      scopes: toJson([...new Set(input.scopes)]),
      deployments: input.deployments ? toJson(input.deployments) : null,
      rate_limit_rpm: input.rateLimitRpm ?? null,
      rate_limit_tpm: input.rateLimitTpm ?? null,
      created_at: this.clock.now(),
      created_by: createdBy,
      last_used_at: null,
      expires_at: input.expiresAt ?? null,
      revoked_at: null,
    };
    await this.store.write(async (trx) => {
      await tables<KeyTables>(trx).insertInto('api_keys').values(row).execute();
      await this.events.append(trx, {
        type: 'key.created',
        subject: { kind: 'key', id: row.id },
        data: { name: row.name, scopes: fromJson(row.scopes, []) },
      });
    });
    this.events.kick();
    return { key: toKey(row), secret };
  }

  async list(opts: { includeRevoked?: boolean } = {}): Promise<ApiKey[]> {
    let q = tables<KeyTables>(this.store.db).selectFrom('api_keys').selectAll();
    if (!opts.includeRevoked) q = q.where('revoked_at', 'is', null);
    const rows = await q.orderBy('created_at').orderBy('id').execute();
    return rows.map(toKey);
  }

  async get(id: string): Promise<ApiKey> {
    const row = await tables<KeyTables>(this.store.db).selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw new CatapultError('CATAPULT_KEY_NOT_FOUND', `No API key with id ${id}.`, { id });
    return toKey(row);
  }

  /** Revokes a key at once. Refuses to revoke the last active admin key, which would lock everyone out. */
  async revoke(id: string): Promise<ApiKey> {
    const now = this.clock.now();
    const key = await this.store.write(async (trx) => {
      const db = tables<KeyTables>(trx);
      const row = await db.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirst();
      if (!row) throw new CatapultError('CATAPULT_KEY_NOT_FOUND', `No API key with id ${id}.`, { id });
      if (row.revoked_at !== null) return toKey(row);
      const scopes = fromJson<Scope[]>(row.scopes, []);
      if (scopes.includes('admin')) {
        const active = await db.selectFrom('api_keys').select(['id', 'scopes', 'expires_at']).where('revoked_at', 'is', null).execute();
        const otherAdmins = active.filter(
          (k) => k.id !== id && fromJson<Scope[]>(k.scopes, []).includes('admin') && (k.expires_at === null || k.expires_at > now),
        );
        if (otherAdmins.length === 0) {
          throw new CatapultError('CATAPULT_KEY_LAST_ADMIN', `Key ${id} is the last active admin key; revoking it would lock everyone out.`, { id });
        }
      }
      await db.updateTable('api_keys').set({ revoked_at: now }).where('id', '=', id).execute();
      await this.events.append(trx, { type: 'key.revoked', subject: { kind: 'key', id }, data: { name: row.name } });
      return toKey({ ...row, revoked_at: now });
    });
    this.events.kick();
    return key;
  }

  /** The active key for a secret, or undefined when it is unknown, revoked or expired. */
  async authenticate(secret: string): Promise<ApiKey | undefined> {
    if (!secret.startsWith(SECRET_PREFIX) || secret.length > 200) return undefined;
    const hash = hashSecret(secret);
    const row = await tables<KeyTables>(this.store.db).selectFrom('api_keys').selectAll().where('hash', '=', hash).executeTakeFirst();
    if (!row || !sameHash(row.hash, hash)) return undefined;
    const now = this.clock.now();
    if (row.revoked_at !== null) return undefined;
    if (row.expires_at !== null && row.expires_at <= now) return undefined;
    this.touch(row.id, now);
    return toKey(row);
  }

  /** Every active (unrevoked, unexpired) key as a gateway checks it: hashes only. */
  async listCredentials(): Promise<KeyCredential[]> {
    const now = this.clock.now();
    const rows = await tables<KeyTables>(this.store.db).selectFrom('api_keys').selectAll().where('revoked_at', 'is', null).orderBy('id').execute();
    return rows.filter((r) => r.expires_at === null || Number(r.expires_at) > now).map(toCredential);
  }

  /** One active key as a gateway checks it, or undefined when it is unknown, revoked or expired. */
  async getCredential(id: string): Promise<KeyCredential | undefined> {
    const row = await tables<KeyTables>(this.store.db).selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row || row.revoked_at !== null || (row.expires_at !== null && Number(row.expires_at) <= this.clock.now())) return undefined;
    return toCredential(row);
  }

  /** Whether any active admin key exists (first start creates one when none does). */
  async hasActiveAdmin(): Promise<boolean> {
    const keys = await this.list();
    const now = this.clock.now();
    return keys.some((k) => k.scopes.includes('admin') && (k.expiresAt === null || k.expiresAt > now));
  }

  /** Records last use at most once a minute per key, off the request's critical path. */
  private touch(id: string, now: number): void {
    const last = this.lastUsedWrites.get(id) ?? 0;
    if (now - last < 60_000) return;
    this.lastUsedWrites.set(id, now);
    void tables<KeyTables>(this.store.db)
      .updateTable('api_keys')
      .set({ last_used_at: now })
      .where('id', '=', id)
      .execute()
      .catch(() => undefined);
  }
}

function toCredential(row: ApiKeysTable): KeyCredential {
  const key = toKey(row);
  return {
    id: key.id,
    hash: row.hash,
    scopes: key.scopes,
    deployments: key.deployments,
    rateLimitRpm: key.rateLimitRpm,
    rateLimitTpm: key.rateLimitTpm,
    expiresAt: key.expiresAt,
  };
}

function toKey(row: ApiKeysTable): ApiKey {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    scopes: fromJson<Scope[]>(row.scopes, []),
    deployments: row.deployments === null ? null : fromJson<string[]>(row.deployments, []),
    rateLimitRpm: row.rate_limit_rpm,
    rateLimitTpm: row.rate_limit_tpm,
    createdAt: Number(row.created_at),
    createdBy: row.created_by,
    lastUsedAt: row.last_used_at === null ? null : Number(row.last_used_at),
    expiresAt: row.expires_at === null ? null : Number(row.expires_at),
    revokedAt: row.revoked_at === null ? null : Number(row.revoked_at),
  };
}
