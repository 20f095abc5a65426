import type { FastifyRequest } from 'fastify';
import type { KeyService } from '../auth/index.js';
import { hasScope } from '../auth/index.js';
import { CatapultError } from '../errors/index.js';
import type { CredentialResolver, Principal } from './context.js';

/** The secret from `Authorization: Bearer <secret>`, or undefined. */
export function bearer(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (!header) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m?.[1];
}

/**
 * Authenticates and authorises a request against its route's declared scope. Runs before the body
 * is parsed, so an unauthenticated caller learns nothing about the route's schema.
 */
export function createAuthHook(keys: KeyService, resolvers: CredentialResolver[]) {
  return async (request: FastifyRequest): Promise<void> => {
    const { scope, agent } = request.routeOptions.config;
    if (!scope && !agent) return;
    const secret = bearer(request);
    if (!secret) {
      throw new CatapultError('CATAPULT_UNAUTHENTICATED', 'This route needs an API key: send `Authorization: Bearer <key>`.');
    }
    let principal: Principal | undefined;
    const key = await keys.authenticate(secret);
    if (key) principal = { kind: 'key', key };
    for (const resolve of resolvers) {
      if (principal) break;
      principal = await resolve(secret);
    }
    if (!principal) {
      throw new CatapultError('CATAPULT_UNAUTHENTICATED', 'The API key is unknown, revoked or expired.');
    }
    request.principal = principal;
    if (principal.kind === 'agent') {
      if (!agent) {
        throw new CatapultError('CATAPULT_FORBIDDEN', 'Agent credentials may call only the agent routes.', { requiredScope: scope ?? null });
      }
      return;
    }
    // Agent routes are also open to admin keys, for operators and tests.
    const required = scope ?? 'admin';
    if (!hasScope(principal.key.scopes, required)) {
      throw new CatapultError(
        'CATAPULT_FORBIDDEN',
        `This route needs the '${required}' scope; key ${principal.key.prefix}… has ${principal.key.scopes.join(', ') || 'no scopes'}.`,
        { requiredScope: required },
      );
    }
  };
}

/** The principal's display name for audit records. */
export function actorOf(request: FastifyRequest): { id: string | null; name: string | null } {
  const p = request.principal;
  if (!p) return { id: null, name: null };
  return p.kind === 'key' ? { id: p.key.id, name: p.key.name } : { id: p.agentId, name: `agent:${p.name}` };
}
