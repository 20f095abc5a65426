import { isDeepStrictEqual } from 'node:util';
import { type ReplicaSpec, replicaGeneration } from '../cluster/index.js';
import type { Logger } from '../observability/index.js';
import type { EventLog } from '../events/index.js';
import { CatapultError } from '../errors/index.js';
import type { ModelService } from '../models/index.js';
import type { CatapultMigration, Store } from '../store/index.js';
import { fromJson, tables, toJson } from '../store/index.js';
import { type Clock, newId } from '../util/index.js';
import { type DeploymentSpec, type DeploymentSpecInput, type DeploymentUpdate, applyDeploymentUpdate, deploymentSpecSchema } from './spec.js';
import type { Condition, Deployment, DeploymentState, ReplicaView } from './types.js';

/** What deployments need to know about a runtime. */
export interface RuntimeInfo {
  name: string;
  protocol: 'openai' | 'kserve-v2' | 'http';
  requiresModel: boolean;
  /** Model formats it serves, or 'any'. */
  formats: readonly string[] | 'any';
  resources: { gpu: 'none' | 'optional' | 'required'; cpu: number; memoryBytes: number };
  readinessTimeoutMs: number;
  /** The protocol replicas speak with these options, when options can change it (the `custom` runtime's `protocol`). */
  protocolFor?(options: Record<string, unknown>): 'openai' | 'kserve-v2' | 'http';
}

export interface RuntimeCatalog {
  get(name: string): RuntimeInfo | undefined;
  names(): string[];
}

/** The slice of an assignment (a replica slot in the cluster) that deployments read. */
export interface AssignmentView {
  id: string;
  owner: string;
  spec: Record<string, unknown>;
  workerId: string | null;
  gpuIndices: number[];
  desired: 'run' | 'stop';
  state: string;
  message: string | null;
  explanation: unknown;
  endpoint?: string | null;
  createdAt: number;
}

/**
 * Where deployments' replicas run. The cluster manager (agents on workers) implements it today; a
 * Slurm or Kubernetes backend would implement the same three calls. Contract:
 * - `createAssignment` records one replica slot and tries to place it at once. It resolves with the
 *   replica whether or not it was placed: an unplaced one has `workerId: null` and an `explanation`
 *   (`{ summary, reasons }`) saying why, and the placer keeps retrying it as capacity changes.
 *   `allowCpuFallback` is the deployment's own setting: a replica that asks for GPUs is never
 *   placed without them unless it is true.
 * - `removeAssignment` asks the replica to stop (`desired: 'stop'`); it keeps its resources until it
 *   has stopped, then disappears from `listAssignments`. Removing one twice is harmless.
 * - `listAssignments` is synchronous and cheap (the reconciler calls it every pass); `state` is
 *   `pending | assigned | starting | ready | draining | stopped | failed`, and `endpoint` is the
 *   replica's base URL once it serves. A `failed` replica holds no resources.
 */
export interface ReplicaPlacer {
  createAssignment(input: {
    /** The deployment id; `listAssignments({ owner })` finds its replicas. */
    owner: string;
    /** What the replica runs; handed to the worker as is. */
    spec: ReplicaSpec;
    resources: { cpu: number; memoryBytes: number; gpus: { count?: number | null; memoryBytes: number; vendor?: 'nvidia' | 'amd' | null; type?: string | null } | null };
    /** Label selectors a worker must match. */
    selectors: Record<string, string>;
    policy: 'binpack' | 'spread';
    allowCpuFallback: boolean;
    /** `name:version` of the model, for placement affinity with workers that have it cached. */
    modelKey: string | null;
    /** The deployment's placement (backend, cluster, Slurm settings) and container, for backends other than agents. */
    placement?: Record<string, unknown>;
  }): Promise<AssignmentView>;
  /** Refuses a placement its backend cannot take (unknown cluster, a partition Slurm refuses), before anything is stored. */
  checkPlacement?(input: { placement: Record<string, unknown>; cpu: number; memoryBytes: number; gpus: number }): Promise<void>;
  removeAssignment(id: string): Promise<unknown>;
  listAssignments(filter: { owner?: string }): AssignmentView[];
}

export interface RouteReplica {
  id: string;
  url: string;
  ready: boolean;
}

export interface DeploymentRoute {
  id: string;
  kind: 'deployment';
  name: string;
  aliases: string[];
  protocol: 'openai' | 'kserve-v2' | 'http';
  replicas: RouteReplica[];
}

/** Tells the data plane where a deployment's ready replicas are. */
export interface RoutePublisher {
  upsert(route: DeploymentRoute): Promise<unknown>;
  remove(id: string): Promise<unknown>;
}

interface DeploymentsTable {
  id: string;
  name: string;
  model_id: string | null;
  runtime: string;
  spec: string;
  generation: number;
  state: string;
  reason: string | null;
  conditions: string;
  deleting: number;
  created_at: number;
  updated_at: number;
}
interface DeploymentTables {
  deployments: DeploymentsTable;
}

export const deploymentMigrations: Record<string, CatapultMigration> = {
  '0310_deployments': {
    async up({ db, t }) {
      await db.schema
        .createTable('deployments')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('model_id', 'text')
        .addColumn('runtime', 'text', (c) => c.notNull())
        .addColumn('spec', t.json, (c) => c.notNull())
        .addColumn('generation', t.int, (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('reason', 'text')
        .addColumn('conditions', t.json, (c) => c.notNull())
        .addColumn('deleting', t.int, (c) => c.notNull())
        .addColumn('created_at', t.ms, (c) => c.notNull())
        .addColumn('updated_at', t.ms, (c) => c.notNull())
        .execute();
    },
  },
};

export interface DeploymentServiceDeps {
  store: Store;
  events: EventLog;
  clock: Clock;
  log: Logger;
  models: ModelService;
  runtimes: RuntimeCatalog;
  placer: ReplicaPlacer;
  routes?: RoutePublisher;
  /** Base URL of the data-plane gateway, for the deployment's `urls`. */
  gatewayUrl: string;
}

const DEFAULT_MEMORY = 512 * 2 ** 20;

/**
 * Deployments: the desired state (spec) of a served model, and the reconciler that makes the cluster
 * match it — scaling, rolling replacement (a new replica is ready before an old one stops), and
 * reporting why replicas cannot be placed or keep failing.
 */
export class DeploymentService {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private readonly published = new Map<string, string>();

  constructor(private readonly d: DeploymentServiceDeps) {
    d.models.setUsage(async (modelId) => {
      const rows = await tables<DeploymentTables>(d.store.db).selectFrom('deployments').select('name').where('model_id', '=', modelId).execute();
      return rows.map((r) => r.name);
    });
  }

  /** Where clients reach the gateway, once it is listening (its port may have been chosen at start). */
  setGatewayUrl(url: string): void {
    this.d.gatewayUrl = url;
  }

  /** Where clients reach the gateway. */
  get gatewayUrl(): string {
    return this.d.gatewayUrl;
  }

  /** Starts the reconcile loop. */
  start(intervalMs = 500): void {
    this.timer = setInterval(() => this.kick(), intervalMs);
    this.timer.unref();
    this.kick();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** Runs a reconcile pass soon (coalesced). */
  kick(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this.reconcileAll();
        } while (this.again);
      } catch (err) {
        this.d.log.error({ err }, 'deployment reconcile failed');
      } finally {
        this.running = undefined;
      }
    })();
  }

  /** Waits for the current reconcile pass (tests). */
  async settle(): Promise<void> {
    while (this.running) await this.running;
  }

  async create(input: DeploymentSpecInput): Promise<Deployment> {
    const parsed = deploymentSpecSchema.safeParse(input);
    if (!parsed.success) {
      const errors = parsed.error.issues.map((i) => ({ path: ['body', ...i.path].join('/'), message: i.message }));
      throw new CatapultError('CATAPULT_VALIDATION_FAILED', `Invalid deployment: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`, { errors });
    }
    const spec = parsed.data;
    const runtime = this.runtime(spec.runtime);
    const modelId = await this.checkModel(spec, runtime);
    this.checkResources(spec, runtime);
    await this.checkPlacement(spec, runtime);
    const now = this.d.clock.now();
    const row: DeploymentsTable = {
      id: newId('dep'),
      name: spec.name,
      model_id: modelId,
      runtime: spec.runtime,
      spec: toJson(spec),
      generation: 1,
      state: 'pending',
      reason: 'waiting for its first reconcile',
      conditions: toJson([]),
      deleting: 0,
      created_at: now,
      updated_at: now,
    };
    await this.d.store.write(async (trx) => {
      const db = tables<DeploymentTables>(trx);
      const clash = await db.selectFrom('deployments').select('id').where('name', '=', spec.name).executeTakeFirst();
      if (clash) {
        throw new CatapultError('CATAPULT_DEPLOYMENT_EXISTS', `A deployment named ${spec.name} already exists (${clash.id}).`, { id: clash.id });
      }
      await db.insertInto('deployments').values(row).execute();
      await this.d.events.append(trx, {
        type: 'deployment.created',
        subject: { kind: 'deployment', id: row.id },
        data: { name: spec.name, runtime: spec.runtime, replicas: spec.replicas },
      });
    });
    this.d.events.kick();
    this.kick();
    return this.view(row);
  }

  async list(): Promise<Deployment[]> {
    const rows = await tables<DeploymentTables>(this.d.store.db).selectFrom('deployments').selectAll().orderBy('name').execute();
    return rows.map((r) => this.view(r));
  }

  /** By id or name. */
  async get(ref: string): Promise<Deployment> {
    return this.view(await this.row(ref));
  }

  async update(ref: string, change: DeploymentUpdate): Promise<Deployment> {
    const current = await this.row(ref);
    if (current.deleting) throw new CatapultError('CATAPULT_CONFLICT', `Deployment ${current.name} is being deleted.`);
    const spec = fromJson<DeploymentSpec>(current.spec, {} as DeploymentSpec);
    const next = applyDeploymentUpdate(spec, change);
    this.checkResources(next, this.runtime(next.runtime));
    if (change.placement !== undefined || change.resources !== undefined || change.container !== undefined) await this.checkPlacement(next, this.runtime(next.runtime));
    // Only a change to what a replica runs needs new replicas; a replica count does not.
    const { replicas: _a, ...before } = spec;
    const { replicas: _b, ...after } = next;
    const rolls = !isDeepStrictEqual(before, after);
    const now = this.d.clock.now();
    const generation = rolls ? current.generation + 1 : current.generation;
    await this.d.store.write(async (trx) => {
      await tables<DeploymentTables>(trx)
        .updateTable('deployments')
        .set({ spec: toJson(next), generation, updated_at: now })
        .where('id', '=', current.id)
        .execute();
      await this.d.events.append(trx, {
        type: 'deployment.updated',
        subject: { kind: 'deployment', id: current.id },
        data: { name: current.name, generation, replicas: next.replicas, rolling: rolls },
      });
    });
    this.d.events.kick();
    this.kick();
    return this.get(current.id);
  }

  /** Stops every replica, then forgets the deployment. */
  async delete(ref: string): Promise<Deployment> {
    const current = await this.row(ref);
    if (!current.deleting) {
      await this.d.store.write(async (trx) => {
        await tables<DeploymentTables>(trx)
          .updateTable('deployments')
          .set({ deleting: 1, updated_at: this.d.clock.now() })
          .where('id', '=', current.id)
          .execute();
        await this.d.events.append(trx, { type: 'deployment.deleting', subject: { kind: 'deployment', id: current.id }, data: { name: current.name } });
      });
      this.d.events.kick();
    }
    this.kick();
    return this.view({ ...current, deleting: 1 });
  }

  /** The row of a deployment named by id or name; 404 when there is none. */
  private async row(ref: string): Promise<DeploymentsTable> {
    const db = tables<DeploymentTables>(this.d.store.db);
    const row =
      (await db.selectFrom('deployments').selectAll().where('id', '=', ref).executeTakeFirst()) ??
      (await db.selectFrom('deployments').selectAll().where('name', '=', ref).executeTakeFirst());
    if (!row) throw new CatapultError('CATAPULT_DEPLOYMENT_NOT_FOUND', `No deployment '${ref}'.`, { ref });
    return row;
  }

  private runtime(name: string): RuntimeInfo {
    const rt = this.d.runtimes.get(name);
    if (!rt) {
      throw new CatapultError('CATAPULT_VALIDATION_FAILED', `Unknown runtime '${name}'. Known runtimes: ${this.d.runtimes.names().join(', ')}.`, {
        errors: [{ path: 'body/runtime', message: `unknown runtime '${name}'; known: ${this.d.runtimes.names().join(', ')}` }],
      });
    }
    return rt;
  }

  private async checkModel(spec: DeploymentSpec, runtime: RuntimeInfo): Promise<string | null> {
    if (!spec.model) {
      if (runtime.requiresModel) {
        throw new CatapultError('CATAPULT_VALIDATION_FAILED', `Runtime ${runtime.name} serves a model file: give \`model\`.`, {
          errors: [{ path: 'body/model', message: `required by runtime ${runtime.name}` }],
        });
      }
      return null;
    }
    const model = await this.d.models.find(spec.model);
    if (!model) {
      throw new CatapultError('CATAPULT_VALIDATION_FAILED', `No model '${spec.model}' is registered. Register it with POST /api/v1/models first.`, {
        errors: [{ path: 'body/model', message: `no model '${spec.model}'` }],
      });
    }
    if (runtime.formats !== 'any' && !runtime.formats.includes(model.format)) {
      throw new CatapultError('CATAPULT_VALIDATION_FAILED', `Runtime ${runtime.name} serves ${runtime.formats.join(', ')}; model ${model.name} is ${model.format}.`, {
        errors: [{ path: 'body/runtime', message: `does not serve ${model.format} models` }],
      });
    }
    this.d.models.assertDeployable(model);
    return model.id;
  }

  private checkResources(spec: DeploymentSpec, runtime: RuntimeInfo): void {
    if (runtime.resources.gpu === 'required' && !spec.resources.gpus) {
      throw new CatapultError('CATAPULT_VALIDATION_FAILED', `Runtime ${runtime.name} needs GPUs: set resources.gpus.`, {
        errors: [{ path: 'body/resources/gpus', message: `runtime ${runtime.name} requires GPUs` }],
      });
    }
  }

  private async checkPlacement(spec: DeploymentSpec, runtime: RuntimeInfo): Promise<void> {
    if (!spec.placement.backend || spec.placement.backend === 'agents' || !this.d.placer.checkPlacement) return;
    await this.d.placer.checkPlacement({
      placement: { ...spec.placement, container: spec.container ?? null },
      cpu: spec.resources.cpu ?? runtime.resources.cpu,
      memoryBytes: spec.resources.memory ?? (runtime.resources.memoryBytes || DEFAULT_MEMORY),
      gpus: spec.resources.gpus ? (spec.resources.gpus.count ?? 1) : 0,
    });
  }

  private async reconcileAll(): Promise<void> {
    const rows = await tables<DeploymentTables>(this.d.store.db).selectFrom('deployments').selectAll().execute();
    for (const row of rows) {
      try {
        await this.reconcileOne(row);
      } catch (err) {
        this.d.log.error({ err, deployment: row.name }, 'reconcile of deployment failed');
      }
    }
  }

  private async reconcileOne(row: DeploymentsTable): Promise<void> {
    const spec = fromJson<DeploymentSpec>(row.spec, {} as DeploymentSpec);
    const desired = row.deleting ? 0 : spec.replicas;
    const running = this.d.placer.listAssignments({ owner: row.id }).filter((a) => a.desired === 'run');
    const gen = (a: AssignmentView) => replicaGeneration(a.spec);
    const current = running.filter((a) => gen(a) === row.generation);
    const old = running.filter((a) => gen(a) !== row.generation);
    const ready = (a: AssignmentView) => a.state === 'ready';

    if (old.length > 0 && desired > 0) {
      // Rolling replacement: at most one replica more than desired, and an old one stops only once
      // enough replicas are ready without it.
      if (current.length < desired && current.length + old.length < desired + 1) {
        await this.d.placer.createAssignment(await this.assignmentInput(row, spec));
      }
      const readyCurrent = current.filter(ready).length;
      const byPriority = [...old].sort((a, b) => Number(ready(a)) - Number(ready(b)));
      let remaining = old.length;
      for (const a of byPriority) {
        if (readyCurrent + remaining - 1 >= desired || !ready(a)) {
          await this.d.placer.removeAssignment(a.id);
          remaining--;
        } else break;
      }
    } else if (old.length > 0) {
      for (const a of old) await this.d.placer.removeAssignment(a.id);
    }
    if (current.length < desired && old.length === 0) {
      for (let i = current.length; i < desired; i++) await this.d.placer.createAssignment(await this.assignmentInput(row, spec));
    } else if (current.length > desired) {
      // Scale down: not-ready replicas go first, then the newest.
      const victims = [...current].sort((a, b) => Number(ready(a)) - Number(ready(b)) || b.createdAt - a.createdAt).slice(0, current.length - desired);
      for (const a of victims) await this.d.placer.removeAssignment(a.id);
    }

    const after = this.d.placer.listAssignments({ owner: row.id });
    if (row.deleting && after.length === 0) {
      await this.d.routes?.remove(row.id);
      this.published.delete(row.id);
      await this.d.store.write(async (trx) => {
        await tables<DeploymentTables>(trx).deleteFrom('deployments').where('id', '=', row.id).execute();
        await this.d.events.append(trx, { type: 'deployment.deleted', subject: { kind: 'deployment', id: row.id }, data: { name: row.name } });
      });
      this.d.events.kick();
      return;
    }
    await this.publishRoute(row, spec, after);
    const { state, reason, conditions } = deriveState(row, desired, after, this.d.clock.now(), fromJson<Condition[]>(row.conditions, []));
    if (state !== row.state || reason !== row.reason) {
      const failedNow = after.filter((a) => a.state === 'failed' && a.desired === 'run');
      await this.d.store.write(async (trx) => {
        await tables<DeploymentTables>(trx)
          .updateTable('deployments')
          .set({ state, reason, conditions: toJson(conditions), updated_at: this.d.clock.now() })
          .where('id', '=', row.id)
          .execute();
        await this.d.events.append(trx, {
          type: 'deployment.state_changed',
          subject: { kind: 'deployment', id: row.id },
          data: {
            name: row.name,
            from: row.state,
            to: state,
            reason,
            // The last words of a failing replica belong with the state change they caused.
            ...(failedNow.length > 0 ? { failedReplicas: failedNow.map((a) => ({ id: a.id, message: a.message })) } : {}),
          },
        });
      });
      this.d.events.kick();
    }
  }

  private async publishRoute(row: DeploymentsTable, spec: DeploymentSpec, assignments: AssignmentView[]): Promise<void> {
    if (!this.d.routes) return;
    const runtime = this.d.runtimes.get(row.runtime);
    const protocol = runtime?.protocolFor?.(spec.options) ?? runtime?.protocol ?? 'http';
    const route: DeploymentRoute = {
      id: row.id,
      kind: 'deployment',
      name: spec.servedModelName ?? row.name,
      aliases: [`md-${row.id}`, ...(spec.servedModelName && spec.servedModelName !== row.name ? [row.name] : [])],
      protocol,
      replicas: assignments
        .filter((a) => a.endpoint)
        .map((a) => ({ id: a.id, url: a.endpoint!, ready: a.state === 'ready' && a.desired === 'run' })),
    };
    const key = JSON.stringify(route);
    if (this.published.get(row.id) === key) return;
    await this.d.routes.upsert(route);
    this.published.set(row.id, key);
  }

  private async assignmentInput(row: DeploymentsTable, spec: DeploymentSpec): Promise<Parameters<ReplicaPlacer['createAssignment']>[0]> {
    const runtime = this.runtime(spec.runtime);
    const model = row.model_id ? await this.d.models.find(row.model_id) : undefined;
    const replica: ReplicaSpec = {
      deploymentId: row.id,
      deploymentName: row.name,
      generation: row.generation,
      runtime: spec.runtime,
      modelPath: model?.path ?? '',
      modelName: spec.servedModelName ?? row.name,
      args: spec.args,
      env: spec.env,
      options: spec.options,
      readinessTimeoutMs: spec.readinessTimeoutSeconds ? spec.readinessTimeoutSeconds * 1000 : null,
      ...(spec.limits?.memory ? { limits: { memoryBytes: spec.limits.memory } } : {}),
    };
    const gpus = spec.resources.gpus;
    return {
      owner: row.id,
      spec: replica,
      resources: {
        cpu: spec.resources.cpu ?? runtime.resources.cpu,
        memoryBytes: spec.resources.memory ?? (runtime.resources.memoryBytes || DEFAULT_MEMORY),
        gpus: gpus
          ? {
              count: gpus.count ?? null,
              memoryBytes: gpus.memory ?? (model ? await this.modelGpuMemory(model.id, spec) : 0),
              vendor: gpus.vendor ?? null,
              type: gpus.type ?? null,
            }
          : null,
      },
      selectors: spec.placement.selectors,
      policy: spec.placement.policy,
      // An explicit GPU request is never downgraded to CPU unless the deployment itself says so: a
      // runtime that can run without GPUs does not make a replica that asked for them fine on a CPU.
      allowCpuFallback: spec.placement.allowCpuFallback,
      modelKey: model ? `${model.name}:${model.version}` : null,
      ...(spec.placement.backend && spec.placement.backend !== 'agents' ? { placement: { ...spec.placement, container: spec.container ?? null } } : {}),
    };
  }

  /**
   * GPU memory one replica needs when the deployment does not say: the analyzer's estimate at the
   * context length and concurrency its options name (`maxModelLen`/`contextLength`, `maxNumSeqs`/
   * `concurrency`), or the model's size when it has no descriptor.
   */
  private async modelGpuMemory(modelId: string, spec: DeploymentSpec): Promise<number> {
    const o = (spec.options ?? {});
    const num = (...keys: string[]) => keys.map((k) => o[k]).find((v): v is number => typeof v === 'number');
    const estimate = await this.d.models.estimate(modelId, { contextLength: num('maxModelLen', 'contextLength', 'ctxSize'), concurrency: num('maxNumSeqs', 'concurrency', 'parallel') });
    if (estimate) return estimate.totalBytes;
    return (await this.d.models.get(modelId)).sizeBytes;
  }

  private view(row: DeploymentsTable): Deployment {
    const spec = fromJson<DeploymentSpec>(row.spec, {} as DeploymentSpec);
    const runtime = this.d.runtimes.get(row.runtime);
    const protocol = runtime?.protocolFor?.(spec.options) ?? runtime?.protocol ?? 'http';
    const assignments = this.d.placer.listAssignments({ owner: row.id });
    const items: ReplicaView[] = assignments.map((a) => ({
      id: a.id,
      generation: replicaGeneration(a.spec),
      workerId: a.workerId,
      state: a.state,
      desired: a.desired,
      gpuIndices: a.gpuIndices,
      url: a.endpoint ?? null,
      message: a.message,
      explanation: a.explanation,
    }));
    const served = spec.servedModelName ?? row.name;
    const gw = this.d.gatewayUrl.replace(/\/$/, '');
    const urls: Record<string, string> =
      protocol === 'openai'
        ? { openai: `${gw}/v1`, model: served }
        : protocol === 'kserve-v2'
          ? { 'kserve-v2': `${gw}/v2/models/${served}/infer`, predict: `${gw}/v2/models/md-${row.id}/infer` }
          : { http: `${gw}/v2/models/md-${row.id}` };
    return {
      id: row.id,
      name: row.name,
      modelId: row.model_id,
      runtime: row.runtime,
      protocol,
      spec,
      generation: row.generation,
      state: row.state as DeploymentState,
      reason: row.deleting ? 'deleting: stopping its replicas' : row.reason,
      conditions: fromJson<Condition[]>(row.conditions, []),
      replicas: {
        desired: row.deleting ? 0 : spec.replicas,
        ready: items.filter((i) => i.state === 'ready' && i.desired === 'run').length,
        total: items.length,
        items,
      },
      urls,
      createdAt: Number(row.created_at),
      updatedAt: Number(row.updated_at),
    };
  }
}

/** The deployment's state from its replicas (pure). */
export function deriveState(
  row: Pick<DeploymentsTable, 'generation' | 'deleting'>,
  desired: number,
  assignments: AssignmentView[],
  now: number,
  previous: Condition[],
): { state: DeploymentState; reason: string; conditions: Condition[] } {
  const running = assignments.filter((a) => a.desired === 'run');
  const ready = running.filter((a) => a.state === 'ready').length;
  const unplaced = running.filter((a) => a.workerId === null);
  const failed = running.filter((a) => a.state === 'failed');
  const current = running.filter((a) => replicaGeneration(a.spec) === row.generation);
  const rolling = running.length !== current.length;
  let state: DeploymentState;
  let reason: string;
  if (desired === 0) {
    state = 'stopped';
    reason = assignments.length > 0 ? `stopping ${assignments.length} replica(s)` : row.deleting ? 'deleting' : 'scaled to zero';
  } else if (ready >= desired && !rolling) {
    state = 'active';
    reason = `${ready}/${desired} replicas ready`;
  } else if (ready > 0) {
    state = 'degraded';
    reason = rolling
      ? `rolling out generation ${row.generation}: ${ready}/${desired} replicas ready`
      : `${ready}/${desired} replicas ready${failed.length ? `; ${failed.length} failed: ${firstLine(failed[0]!.message)}` : ''}${unplaced.length ? `; ${unplaced.length} not placed` : ''}`;
  } else if (failed.length > 0 && failed.length === running.length) {
    state = 'failed';
    reason = `all replicas failed: ${firstLine(failed[0]!.message)}`;
  } else if (unplaced.length > 0) {
    state = 'scheduling';
    const why = (unplaced[0]!.explanation as { summary?: string } | null)?.summary;
    reason = `${unplaced.length} replica(s) cannot be placed${why ? `: ${why}` : ''}`;
  } else if (running.length > 0) {
    state = 'provisioning';
    reason = `${running.length} replica(s) starting`;
  } else {
    state = 'pending';
    reason = 'no replicas yet';
  }
  const cond = (type: Condition['type'], status: Condition['status'], r: string, message: string): Condition => {
    const prev = previous.find((c) => c.type === type);
    return { type, status, reason: r, message, since: prev && prev.status === status ? prev.since : now };
  };
  const conditions: Condition[] = [
    cond('Scheduled', unplaced.length === 0 ? 'True' : 'False', unplaced.length === 0 ? 'AllPlaced' : 'Unschedulable', unplaced.length === 0 ? 'every replica is placed' : reason),
    cond('Ready', ready >= desired && desired > 0 ? 'True' : 'False', ready >= desired ? 'ReplicasReady' : 'ReplicasNotReady', `${ready}/${desired} ready`),
    cond('Progressing', rolling || running.length !== desired ? 'True' : 'False', rolling ? 'RollingUpdate' : 'Steady', rolling ? reason : 'replica count matches'),
  ];
  return { state, reason, conditions };
}

function firstLine(message: string | null): string {
  return (message ?? 'no message').split('\n')[0] ?? '';
}
