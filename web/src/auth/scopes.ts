import type { Schemas } from '../api/client';

export type Scope = Schemas['ApiKey']['scopes'][number];

/**
 * What each scope grants, as src/auth/keys.ts decides it on the server: admin everything; deploy
 * and bench include read. The console only uses this to hide what the server would refuse anyway
 * (the server stays the authority), so a drift here shows a button that answers 403, never more.
 */
const GRANTS: Record<Scope, readonly Scope[]> = {
  admin: ['admin', 'deploy', 'bench', 'read', 'infer', 'gateway'],
  deploy: ['deploy', 'read'],
  bench: ['bench', 'read'],
  read: ['read'],
  infer: ['infer'],
  gateway: ['gateway', 'read'],
};

export const ALL_SCOPES: readonly Scope[] = ['admin', 'deploy', 'bench', 'read', 'infer', 'gateway'];

export const SCOPE_HELP: Record<Scope, string> = {
  admin: 'everything, including keys and the audit log',
  deploy: 'create and change models and deployments',
  bench: 'run benchmarks and evaluations',
  read: 'read everything except keys and the audit log',
  infer: 'the data-plane gateway only',
  gateway: 'what a standalone gateway needs',
};

function isScope(s: string): s is Scope {
  return (ALL_SCOPES as readonly string[]).includes(s);
}

export function hasScope(scopes: readonly string[], required: Scope): boolean {
  return scopes.some((s) => isScope(s) && GRANTS[s].includes(required));
}
