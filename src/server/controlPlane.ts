import { join } from 'node:path';
import { type ApiDeps, type App, benchmarkRoutes, buildApi, clusterRoutes, clusterStatusRoutes, deploymentRoutes, gatewayRoutes, modelRoutes, slurmRoutes, taskRoutes } from '../api/index.js';
import { AuditLog } from '../audit/index.js';
import { BenchmarkService } from '../bench/index.js';
import { KeyService } from '../auth/index.js';
import { ClusterService } from '../cluster/index.js';
import type { Config } from '../config/index.js';
import { DeploymentService, ReplicaLogs } from '../deployments/index.js';
import { EventLog } from '../events/index.js';
import { EndpointService, RouteRegistry } from '../gateway/index.js';
import { ModelService } from '../models/index.js';
import { type Logger, createMetricsRegistry } from '../observability/index.js';
import { detectModelFormat, runtimeCatalog, runtimeForFormat } from './runtimes.js';
import { loadSecretBox } from '../secrets/index.js';
import { BackendPlacer, SlurmClusterService, SlurmPlacer, runCommandClients } from '../slurm/index.js';
import { Store } from '../store/index.js';
import { EngineTransport, TaskEngine, TaskHandlers, WorkerPool } from '../tasks/index.js';
import { type Clock, explainListenError, systemClock } from '../util/index.js';
import { allMigrations } from './migrations.js';
import type { Resources } from './resources.js';

export interface ControlPlane {
  config: Config;
  store: Store;
  events: EventLog;
  keys: KeyService;
  audit: AuditLog;
  cluster: ClusterService;
  /** Where deployments and endpoints are served; gateways follow it. */
  routeRegistry: RouteRegistry;
  endpoints: EndpointService;
  models: ModelService;
  deployments: DeploymentService;
  /** Benchmarks and evaluations. */
  benchmarks: BenchmarkService;
  /** Slurm clusters reached over SSH, and the replicas placed there as jobs. */
  slurmClusters: SlurmClusterService;
  slurm: SlurmPlacer;
  /** The durable task engine (queues, leases, retries). */
  tasks: TaskEngine;
  /** Runs control-plane task handlers in this process. */
  taskPool: WorkerPool;
  api: App;
  /** The API's base URL once listening. */
  url: string;
  close(): Promise<void>;
}

export interface ControlPlaneOptions {
  config: Config;
  log: Logger;
  clock?: Clock;
  /** Listen on apiHost:apiPort; false builds the API without listening (for inject tests). */
  listen?: boolean;
  /**
   * Registers extra task handlers (tests, embedders) next to the domains' own; called before the
   * worker pool starts, which then freezes the registry.
   */
  registerTasks?: (handlers: TaskHandlers) => void;
}

/** Control-plane task handlers running at once in one server. */
const TASK_CONCURRENCY = 4;

/** The SQLite file for a data dir, when no database URL is configured. */
export function sqliteFile(config: Config): string {
  return join(config.dataDir, 'catapult.db');
}

/** Opens the store, applies migrations, wires the systems together and starts the API. */
export async function startControlPlane(opts: ControlPlaneOptions): Promise<ControlPlane> {
  const { config, log } = opts;
  const clock = opts.clock ?? systemClock;
  // Before the store: the key file, and the data dir (0700) when this creates it.
  const secrets = loadSecretBox({ secretKey: config.secretKey, dataDir: config.dataDir });
  const store = new Store({ databaseUrl: config.databaseUrl, sqliteFile: sqliteFile(config), migrations: allMigrations() });
  try {
    const applied = await store.migrate();
    if (applied.length > 0) log.info({ applied, store: store.description }, 'migrations applied');
  } catch (err) {
    await store.close();
    throw err;
  }
  const metrics = createMetricsRegistry();
  const events = new EventLog(store, clock, config.eventPollMs);
  const keys = new KeyService(store, events, clock);
  const audit = new AuditLog(store, clock);
  // Before the other domains, so each can enqueue work and register its task handlers (each kind
  // exactly once) as it is wired; the pool starts, and freezes the registry, once all are in.
  const tasks = new TaskEngine({ store, clock, events, metrics, log });
  const taskHandlers = new TaskHandlers();
  const cluster = new ClusterService({ config, store, clock, log, events, metrics });
  await cluster.start();
  const routeRegistry = new RouteRegistry(store, events, clock, secrets);
  const endpoints = new EndpointService(store, events, clock, routeRegistry, secrets);
  const models = new ModelService(store, events, clock, detectModelFormat);
  models.registerTasks(tasks, taskHandlers);
  models.artifactsDir = join(config.dataDir, 'artifacts');
  models.secrets = secrets;
  const replicaLogs = new ReplicaLogs(store, clock);
  const slurmClusters = new SlurmClusterService({ store, events, clock, secrets });
  let kickDeployments = (): void => undefined;
  const slurm = new SlurmPlacer({ store, clock, log, clusters: slurmClusters, logs: replicaLogs, onChange: () => kickDeployments() });
  slurmClusters.addUsage((name) => Promise.resolve(slurm.ownersOn(name)));
  await slurm.start();
  const deployments = new DeploymentService({
    store,
    events,
    clock,
    log,
    models,
    runtimes: runtimeCatalog,
    placer: new BackendPlacer(cluster, slurm),
    routes: routeRegistry,
    gatewayUrl: `http://${config.gatewayHost === '0.0.0.0' ? '127.0.0.1' : config.gatewayHost}:${config.gatewayPort}`,
  });
  kickDeployments = () => deployments.kick();
  const benchmarks = new BenchmarkService({
    store,
    events,
    clock,
    log,
    tasks,
    dataDir: config.dataDir,
    deployments,
    endpoints,
    keys,
    readyAgents: () => cluster.listWorkers({ state: 'ready' }).length,
    gatewayUrl: () => deployments.gatewayUrl,
    secrets,
    slurm: {
      serviceJobs: (deploymentId) =>
        slurm
          .list()
          .filter((r) => r.owner === deploymentId)
          .map((r) => ({
            replica: r.id,
            cluster: r.cluster,
            jobId: r.jobId,
            state: r.state,
            jobState: r.jobState,
            hostname: r.node,
            url: r.endpoint,
            submittedAt: r.submittedAt,
            startedAt: r.startedAt,
            readyAt: r.readyAt,
          })),
      runClients: async (req) => {
        const cluster = await slurmClusters.get(req.cluster);
        const comm = await slurmClusters.session(req.cluster);
        return runCommandClients({
          comm,
          cluster,
          benchmarkId: req.benchmarkId,
          service: req.service,
          clients: req.clients,
          collectDir: req.collectDir,
          signal: req.signal,
          onProgress: req.onProgress,
        });
      },
    },
  });
  // Secrets stored in clear by older versions are sealed once, here, before anything reads them.
  const sealed = (await endpoints.sealStored()) + (await routeRegistry.sealStored()) + (await benchmarks.sealStored());
  if (sealed > 0) log.info({ sealed }, 'secrets stored in clear by an older version encrypted');
  benchmarks.registerTasks(taskHandlers);
  opts.registerTasks?.(taskHandlers);
  const taskPool = new WorkerPool(new EngineTransport(tasks, store), { clock, log }, { handlers: taskHandlers, concurrency: TASK_CONCURRENCY });
  const resources: Resources = { config, store, clock, log, events, metrics };
  const deps: ApiDeps = {
    resources,
    keys,
    audit,
    credentialResolvers: [(secret) => cluster.resolveCredential(secret)],
    routes: [
      clusterStatusRoutes({ ...cluster.statusSections(), queues: () => tasks.queueStats() }),
      taskRoutes(tasks, () => taskHandlers.kinds().map((kind) => ({ kind, queue: taskHandlers.get(kind)!.queue }))),
      clusterRoutes(cluster, clock),
      gatewayRoutes(routeRegistry, endpoints, { events, keys }),
      modelRoutes({ models }),
      deploymentRoutes({ deployments, models, replicaLogs, events, runtimeForFormat }),
      benchmarkRoutes(benchmarks),
      slurmRoutes(slurmClusters),
    ],
    consoleConnectOrigins: () => [deployments.gatewayUrl],
  };
  const api = await buildApi(deps);
  let url = '';
  if (opts.listen !== false) {
    const address = await api.listen({ host: config.apiHost, port: config.apiPort }).catch(async (err: unknown) => {
      await api.close().catch(() => undefined);
      throw await explainListenError(err, { what: 'The control-plane API', host: config.apiHost, port: config.apiPort, choose: '--api-port P (CATAPULT_API_PORT)' });
    });
    url = address.replace('0.0.0.0', '127.0.0.1').replace('[::]', '127.0.0.1');
  } else {
    await api.ready();
  }
  await taskPool.start();
  await models.resume();
  const watchers = config.modelWatchDirs
    .split(',')
    .map((d) => d.trim())
    .filter(Boolean)
    .map((dir) => models.watchFolder(dir, { stableMs: config.modelWatchStableMs, pollMs: Math.max(200, Math.min(2000, config.modelWatchStableMs / 2)) }));
  deployments.start();
  benchmarks.start();
  return {
    config,
    store,
    events,
    keys,
    audit,
    cluster,
    routeRegistry,
    endpoints,
    models,
    deployments,
    benchmarks,
    slurmClusters,
    slurm,
    tasks,
    taskPool,
    api,
    url,
    async close() {
      await api.close();
      for (const w of watchers) await w.stop();
      // Local benchmark runs end first (keeping what they recorded), so the task pool need not wait for them.
      await benchmarks.stop();
      await deployments.stop();
      await slurm.stop();
      slurmClusters.close();
      await taskPool.stop({ deadlineMs: 10_000 });
      await cluster.stop();
      events.close();
      await store.close();
    },
  };
}
