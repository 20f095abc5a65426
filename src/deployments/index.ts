export {
  type AssignmentView,
  DeploymentService,
  type DeploymentServiceDeps,
  type DeploymentRoute,
  type ReplicaPlacer,
  type RoutePublisher,
  type RouteReplica,
  type RuntimeCatalog,
  type RuntimeInfo,
  deploymentMigrations,
  deriveState,
} from './service.js';
export { MODEL_DEPLOYMENT_ANNOTATION, type ModelDeploymentInput, modelDeploymentSchema, seedModelPath, seedToSpec, toSeedResponse } from './seed003.js';
export {
  DEPLOYMENT_NAME,
  type DeploymentSpec,
  type DeploymentSpecInput,
  type DeploymentUpdate,
  deploymentSpecSchema,
  deploymentUpdateSchema,
} from './spec.js';
export {
  type Condition,
  DEPLOYMENT_STATES,
  type Deployment,
  type DeploymentState,
  type DeploymentView,
  type ReplicaSpec,
  type ReplicaView,
  deploymentSchema,
  replicaViewSchema,
} from './types.js';
export { type LogLine, ReplicaLogs, logMigrations } from './logs.js';
