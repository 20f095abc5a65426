import type { ApiKey, KeyService, Scope } from '../auth/index.js';
import type { AuditLog } from '../audit/index.js';
import type { Config } from '../config/index.js';
import type { EventLog } from '../events/index.js';
import type { Logger, Registry } from '../observability/index.js';
import type { DeploymentService, ReplicaLogs } from '../deployments/index.js';
import type { ModelService } from '../models/index.js';
import type { Store } from '../store/index.js';
import type { TaskEngine } from '../tasks/index.js';
import type { App } from './route.js';
import type { Clock } from '../util/index.js';

/** The shared resources every system receives explicitly (no DI container). */
export interface Resources {
  config: Config;
  store: Store;
  clock: Clock;
  log: Logger;
  events: EventLog;
  metrics: Registry;
}

/** A named part of `/api/v1/cluster/status`, contributed by a domain (workers, GPUs, queues, ...). */
export type StatusSection = () => Promise<unknown>;

/** Who is calling: an API key, or (for agent routes) an agent credential. */
export type Principal =
  | { kind: 'key'; key: ApiKey }
  | { kind: 'agent'; agentId: string; name: string };

/**
 * Checks a bearer secret that is not an API key (agent credentials, for example). Returns the
 * principal or undefined. Registered by the domains that issue such credentials.
 */
export type CredentialResolver = (secret: string) => Promise<Principal | undefined>;

export interface ApiDeps {
  resources: Resources;
  keys: KeyService;
  audit: AuditLog;
  /** Extra sections for /api/v1/cluster/status. */
  statusSections?: Record<string, StatusSection>;
  /** Extra credential kinds accepted on routes that allow them. */
  credentialResolvers?: CredentialResolver[];
  models?: ModelService;
  deployments?: DeploymentService;
  replicaLogs?: ReplicaLogs;
  /** Runtime names with what they serve, for choosing one from a model format. */
  runtimeForFormat?: (format: string) => string | undefined;
  /** The durable task engine: task routes and the agents' claim/heartbeat/complete routes. */
  tasks?: TaskEngine;
  /** Task kinds this control plane runs itself (its own work, started through its own APIs), with their queues. */
  internalTaskKinds?: () => { kind: string; queue: string }[];
  /** Route plugins contributed by later domains. */
  routes?: ((app: App, deps: ApiDeps) => void)[];
}

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
  interface FastifyContextConfig {
    /** The scope a route requires; undefined: public. */
    scope?: Scope;
    /** Whether agent credentials may call this route (and nothing else). */
    agent?: boolean;
    /** The route streams or long-polls (SSE, log follow, assignment waits): it may hold the connection open. */
    stream?: boolean;
    /** false: mutating calls are not written to the audit log (agent heartbeats: telemetry, not changes by a person). */
    audit?: boolean;
  }
}
