import { auditMigrations } from '../audit/index.js';
import { benchMigrations } from '../bench/index.js';
import { keyMigrations } from '../auth/index.js';
import { clusterMigrations } from '../cluster/index.js';
import { deploymentMigrations, logMigrations } from '../deployments/index.js';
import { eventMigrations } from '../events/index.js';
import { gatewayMigrations } from '../gateway/index.js';
import { modelMigrations } from '../models/index.js';
import type { CatapultMigration } from '../store/index.js';
import { slurmClusterMigrations, slurmReplicaMigrations } from '../slurm/index.js';
import { taskMigrations } from '../tasks/index.js';

/**
 * Every domain's migrations. Names sort in the order they run; each domain owns a range
 * (0001-0099 foundation, 0100 tasks, 0200 cluster, 0300 deployments, 0400 gateway, 0500 bench, 0600 model intake, 0700 slurm).
 */
export function allMigrations(): Record<string, CatapultMigration> {
  const all = { ...keyMigrations, ...eventMigrations, ...auditMigrations, ...taskMigrations, ...clusterMigrations, ...modelMigrations, ...deploymentMigrations, ...logMigrations, ...gatewayMigrations, ...benchMigrations, ...slurmClusterMigrations, ...slurmReplicaMigrations };
  return Object.fromEntries(Object.entries(all).sort(([a], [b]) => a.localeCompare(b)));
}
