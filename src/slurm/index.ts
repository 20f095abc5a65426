export { type ExecOptions, type ExecResult, SshCommunicator, type SshTarget, fingerprint, shellQuote } from './communicator.js';
export {
  type ClusterReport,
  type CommandRunner,
  SQUEUE_ALL,
  type SlurmJob,
  type SlurmNode,
  type SlurmPartition,
  TERMINAL_STATES,
  describeCluster,
  gpusInGres,
  parseScontrolLine,
  parseSqueue,
  sbatch,
  sbatchTestOnly,
  scancel,
  showJob,
  squeueAll,
} from './slurm.js';
export {
  type ContainerSpec,
  type JobResources,
  PICK_PORT,
  PORT_PLACEHOLDER,
  type ServiceEndpoint,
  clientScript,
  portWord,
  replicaScript,
  sbatchHeader,
  serviceEnv,
} from './scripts.js';
export {
  type CreateSlurmClusterInput,
  SLURM_CLUSTER_NAME,
  type SlurmCluster,
  SlurmClusterService,
  type UpdateSlurmClusterInput,
  clusterReportSchema,
  createSlurmClusterSchema,
  slurmClusterMigrations,
  slurmClusterSchema,
  updateSlurmClusterSchema,
} from './clusters.js';
export { BackendPlacer, JOB_PREFIX, type SlurmPlacement, SlurmPlacer, type SlurmPlacerDeps, type SlurmReplica, slurmReplicaMigrations } from './placer.js';
export { type ClientRecord, type CommandClientSpec, runCommandClients } from './clients.js';
