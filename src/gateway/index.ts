import type { CatapultMigration } from '../store/index.js';
import { endpointMigrations } from './endpoints.js';
import { routeMigrations } from './registry.js';

export { type AffinityGuard, choose, cost, hash32 } from './balancer.js';
export {
  type CreateEndpointInput,
  type Endpoint,
  EndpointService,
  createEndpointSchema,
  endpointSchema,
} from './endpoints.js';
export { RouteRegistry, viewRoute } from './registry.js';
export { type Gateway, type GatewayOptions, gatewayOptionsFromConfig, startGateway } from './server.js';
export { type RemoteSourceOptions, type RouteSource, type SourceStatus, inProcessSource, remoteSource } from './source.js';
export { RoutingTable } from './table.js';
export {
  AFFINITY_MODES,
  type AffinityMode,
  GATEWAY_EVENT_TYPES,
  ROUTE_KINDS,
  ROUTE_PROTOCOLS,
  type Route,
  type RouteInput,
  type RouteKind,
  type RouteProtocol,
  type RouteReplica,
  type RouteView,
  keyCredentialSchema,
  routeInputSchema,
  routeViewSchema,
} from './types.js';

/** The gateway domain's tables: routes (0400) and external endpoints (0410). */
export const gatewayMigrations: Record<string, CatapultMigration> = { ...routeMigrations, ...endpointMigrations };
