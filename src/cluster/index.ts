export {
  type AgentPrincipal,
  type ClusterOptions,
  type ClusterResources,
  ClusterService,
  JOIN_PRINCIPAL_PREFIX,
  type RegisterAuth,
  displayState,
} from './service.js';
export { type LivenessFacts, type LivenessPolicy, judgeSilence, notReadyAfterMs, offlineAfterMs, onHeartbeat } from './liveness.js';
export {
  type PlacementDecision,
  PlacementPlanner,
  type SnapshotGpu,
  type WorkerSnapshot,
  describeRequest,
  gpuFreeBytes,
  gpuMatchesType,
  placeReplica,
  placementRequest,
  planPlacements,
} from './scheduler.js';
export {
  type CreateJoinTokenBody,
  type HeartbeatBody,
  type HeartbeatResponse,
  type RegisterBody,
  type RegisterResponse,
  DEFAULT_JOIN_TOKEN_TTL_SECONDS,
  agentAssignmentSchema,
  agentAssignmentsResponseSchema,
  assignmentInputSchema,
  assignmentSchema,
  capacitySchema,
  createJoinTokenBodySchema,
  explanationSchema,
  gpuSchema,
  heartbeatBodySchema,
  heartbeatResponseSchema,
  joinTokenSchema,
  labelsSchema,
  registerBodySchema,
  registerResponseSchema,
  replicaGeneration,
  replicaSpecSchema,
  type ReplicaSpec,
  resourceRequestSchema,
  workerNameSchema,
  workerSchema,
} from './protocol.js';
export { type PerformanceSample, WorkerPerformance, type WorkerPerformanceView, workerPerformanceSchema } from './performance.js';
export { clusterMigrations } from './tables.js';
export { AGENT_CREDENTIAL_PREFIX, type CreateJoinTokenInput, JOIN_TOKEN_PREFIX } from './tokens.js';
export * from './types.js';
