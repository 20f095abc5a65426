import { randomBytes } from 'node:crypto';
import { hashSecret, sameHash } from '../auth/index.js';
import { CatapultError } from '../errors/index.js';
import type { EventLog } from '../events/index.js';
import type { AnyDb, Store } from '../store/index.js';
import { tables } from '../store/index.js';
import { type Clock, newId } from '../util/index.js';
import { type ClusterTables, type JoinTokensTable, joinTokenFromRow } from './tables.js';
import type { JoinToken } from './types.js';

/** Join tokens start with this; agent credentials with AGENT_CREDENTIAL_PREFIX. Neither looks like an API key (`cat_`). */
export const JOIN_TOKEN_PREFIX = 'catjoin_';
export const AGENT_CREDENTIAL_PREFIX = 'catagent_';

export function generateJoinToken(): string {
  return JOIN_TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

export function generateAgentCredential(): string {
  return AGENT_CREDENTIAL_PREFIX + randomBytes(32).toString('base64url');
}

export interface CreateJoinTokenInput {
  name?: string;
  expiresAt?: number | null;
  maxUses?: number | null;
}

/** Issues, lists and revokes join tokens; `consume` spends one use inside a registration's transaction. */
export class JoinTokens {
  constructor(
    private readonly store: Store,
    private readonly events: EventLog,
    private readonly clock: Clock,
  ) {}

  async create(input: CreateJoinTokenInput, createdBy: string | null): Promise<{ token: JoinToken; secret: string }> {
    const secret = generateJoinToken();
    const row: JoinTokensTable = {
      id: newId('jtk'),
      name: input.name ?? 'join token',
      prefix: secret.slice(0, JOIN_TOKEN_PREFIX.length + 6),
      hash: hashSecret(secret),
      created_at: this.clock.now(),
      created_by: createdBy,
      expires_at: input.expiresAt ?? null,
      max_uses: input.maxUses ?? null,
      uses: 0,
      last_used_at: null,
      revoked_at: null,
    };
    await this.store.write(async (trx) => {
      await tables<ClusterTables>(trx).insertInto('join_tokens').values(row).execute();
      await this.events.append(trx, {
        type: 'join_token.created',
        subject: { kind: 'join_token', id: row.id },
        data: { name: row.name, expiresAt: row.expires_at, maxUses: row.max_uses },
      });
    });
    this.events.kick();
    return { token: joinTokenFromRow(row), secret };
  }

  async list(opts: { includeRevoked?: boolean } = {}): Promise<JoinToken[]> {
    let q = tables<ClusterTables>(this.store.db).selectFrom('join_tokens').selectAll();
    if (!opts.includeRevoked) q = q.where('revoked_at', 'is', null);
    const rows = await q.orderBy('created_at').orderBy('id').execute();
    return rows.map(joinTokenFromRow);
  }

  async revoke(id: string): Promise<JoinToken> {
    const now = this.clock.now();
    const token = await this.store.write(async (trx) => {
      const db = tables<ClusterTables>(trx);
      const row = await db.selectFrom('join_tokens').selectAll().where('id', '=', id).executeTakeFirst();
      if (!row) throw new CatapultError('CATAPULT_JOIN_TOKEN_NOT_FOUND', `No join token with id ${id}.`, { id });
      if (row.revoked_at !== null) return joinTokenFromRow(row);
      await db.updateTable('join_tokens').set({ revoked_at: now }).where('id', '=', id).execute();
      await this.events.append(trx, { type: 'join_token.revoked', subject: { kind: 'join_token', id }, data: { name: row.name } });
      return joinTokenFromRow({ ...row, revoked_at: now });
    });
    this.events.kick();
    return token;
  }

  /** The token a secret names, usable or not (registration then says why it is not). */
  async find(secret: string): Promise<JoinToken | undefined> {
    if (!secret.startsWith(JOIN_TOKEN_PREFIX) || secret.length > 200) return undefined;
    const hash = hashSecret(secret);
    const row = await tables<ClusterTables>(this.store.db).selectFrom('join_tokens').selectAll().where('hash', '=', hash).executeTakeFirst();
    return row && sameHash(row.hash, hash) ? joinTokenFromRow(row) : undefined;
  }

  /**
   * Spends one use of a token inside the caller's transaction; throws CATAPULT_JOIN_TOKEN_INVALID when
   * it is unknown, revoked, expired or used up (one message for all, so a caller cannot probe which).
   */
  async consume(trx: AnyDb, secret: string): Promise<JoinToken> {
    const invalid = () => new CatapultError('CATAPULT_JOIN_TOKEN_INVALID', 'The join token is unknown, revoked, expired or used up.');
    if (!secret.startsWith(JOIN_TOKEN_PREFIX) || secret.length > 200) throw invalid();
    const hash = hashSecret(secret);
    const db = tables<ClusterTables>(trx);
    const row = await this.store.lockRows(db.selectFrom('join_tokens').selectAll().where('hash', '=', hash)).executeTakeFirst();
    const now = this.clock.now();
    if (!row || !sameHash(row.hash, hash) || !usable(row, now)) throw invalid();
    await db
      .updateTable('join_tokens')
      .set({ uses: Number(row.uses) + 1, last_used_at: now })
      .where('id', '=', row.id)
      .execute();
    return joinTokenFromRow({ ...row, uses: Number(row.uses) + 1, last_used_at: now });
  }
}

function usable(row: JoinTokensTable, now: number): boolean {
  if (row.revoked_at !== null) return false;
  if (row.expires_at !== null && Number(row.expires_at) <= now) return false;
  return row.max_uses === null || Number(row.uses) < Number(row.max_uses);
}
