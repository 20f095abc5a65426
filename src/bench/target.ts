import { request } from 'undici';
import type { Deployment } from '../deployments/index.js';
import type { Recipe } from './recipe.js';
import type { BenchRows } from './rows.js';
import type { WorkloadApi } from './engine.js';

/** Where a run's requests go, as resolved from its recipe. */
export interface ResolvedTarget {
  kind: 'deployment' | 'endpoint' | 'url' | 'service';
  /** The deployment, endpoint or URL the recipe named. */
  ref: string;
  baseUrl: string;
  /** Secrets included; never shown. */
  headers: Record<string, string>;
  /** The model name requests carry (may be filled in by the preflight). */
  model: string | null;
  /** The deployment behind it, when there is one. */
  deploymentId: string | null;
  viaGateway: boolean;
}

export class PreflightError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PreflightError';
  }
}

function describeFailure(err: unknown): string {
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  return e.cause?.code ?? e.code ?? e.cause?.message ?? e.message ?? String(err);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Checks, before any load is sent, that the target answers: one light request for the workload's
 * API (the model list for OpenAI APIs, the model's readiness for KServe v2, the base URL for plain
 * HTTP). A refused connection, a refused credential or a model that is not ready stops the run here
 * with a reason, and nothing is sent. A credential the gateway has not seen yet (a run key just
 * created) is retried for a few seconds. Fills in the model name from /v1/models when none was given.
 */
export async function preflight(target: ResolvedTarget, api: WorkloadApi, signal?: AbortSignal): Promise<{ model: string | null }> {
  const base = target.baseUrl.replace(/\/+$/, '');
  const path = api === 'kserve-v2' ? `/v2/models/${encodeURIComponent(target.model ?? '')}/ready` : api === 'http' ? '' : '/v1/models';
  const url = `${base}${path}` || base;
  const deadline = Date.now() + 10_000;
  for (;;) {
    let status: number;
    let text: string;
    try {
      const res = await request(url, { method: 'GET', headers: target.headers, headersTimeout: 10_000, bodyTimeout: 10_000, ...(signal ? { signal } : {}) });
      status = res.statusCode;
      text = await res.body.text();
    } catch (err) {
      if (signal?.aborted) throw err;
      throw new PreflightError(`cannot reach ${url} (${describeFailure(err)}); no load was sent`);
    }
    if ((status === 401 || status === 403) && target.viaGateway && Date.now() < deadline) {
      // The gateway learns of the run's key through the event stream; give it a moment.
      await sleep(200);
      continue;
    }
    if (status === 401 || status === 403) {
      throw new PreflightError(`${url} refused the credentials (HTTP ${status}): ${text.slice(0, 200)}; check the endpoint's auth header or the recipe's target.headers`);
    }
    if (api === 'kserve-v2' && status !== 200) {
      if (Date.now() < deadline && status === 503) {
        await sleep(200);
        continue;
      }
      throw new PreflightError(`model ${target.model ?? '?'} is not ready at ${url} (HTTP ${status}): ${text.slice(0, 200)}`);
    }
    let model = target.model;
    if ((api === 'openai-chat' || api === 'openai-completions' || api === 'asr-transcriptions') && model === null) {
      try {
        const list = JSON.parse(text) as { data?: { id?: string }[] };
        model = list.data?.[0]?.id ?? null;
      } catch {
        model = null;
      }
      if (model === null) throw new PreflightError(`no model name: the recipe gives none (workload.model) and ${url} lists none (HTTP ${status})`);
    }
    return { model };
  }
}

/** Resolves the recipe's target to a URL and headers; deploys a `service` and mints the run's gateway key as needed. */
export async function resolveTarget(rows: BenchRows, id: string, recipe: Recipe, signal: AbortSignal): Promise<ResolvedTarget> {
  const t = recipe.target;
  const model = recipe.workload.model ?? null;
  if (t.url) return { kind: 'url', ref: t.url, baseUrl: t.url.replace(/\/+$/, ''), headers: { ...t.headers }, model, deploymentId: null, viaGateway: false };
  if (t.endpoint) {
    const ep = await rows.d.endpoints.upstream(t.endpoint);
    if (t.viaGateway) {
      const headers = await runKey(rows, id, ep.id);
      return { kind: 'endpoint', ref: t.endpoint, baseUrl: rows.d.gatewayUrl(), headers: { ...t.headers, ...headers }, model: model ?? ep.name, deploymentId: null, viaGateway: true };
    }
    return { kind: 'endpoint', ref: t.endpoint, baseUrl: ep.url, headers: { ...t.headers, ...ep.headers }, model: model ?? ep.model, deploymentId: null, viaGateway: false };
  }
  let deployment: Deployment;
  if (t.service) {
    deployment = await deployService(rows, id, recipe, signal);
  } else {
    deployment = await rows.d.deployments.get(t.deployment!);
  }
  if (deployment.replicas.ready === 0) {
    throw new PreflightError(`deployment ${deployment.name} has no ready replica (${deployment.state}${deployment.reason ? `: ${deployment.reason}` : ''})`);
  }
  const served = deployment.spec.servedModelName ?? deployment.name;
  if (t.viaGateway === false) {
    const replica = deployment.replicas.items.find((r) => r.state === 'ready' && r.desired === 'run' && r.url);
    if (!replica?.url) throw new PreflightError(`deployment ${deployment.name} has no ready replica with a URL`);
    return { kind: t.service ? 'service' : 'deployment', ref: deployment.name, baseUrl: replica.url, headers: { ...t.headers }, model: model ?? served, deploymentId: deployment.id, viaGateway: false };
  }
  const headers = await runKey(rows, id, deployment.id);
  return { kind: t.service ? 'service' : 'deployment', ref: deployment.name, baseUrl: rows.d.gatewayUrl(), headers: { ...t.headers, ...headers }, model: model ?? served, deploymentId: deployment.id, viaGateway: true };
}

/** An `infer` key for this run only, limited to its target, revoked when the run ends. */
export async function runKey(rows: BenchRows, id: string, routeId: string): Promise<Record<string, string>> {
  const { key, secret } = await rows.d.keys.create({ name: `benchmark ${id}`, scopes: ['infer'], deployments: [routeId], expiresAt: rows.d.clock.now() + 7 * 86_400_000 }, null);
  const headers = { authorization: `Bearer ${secret}` };
  await rows.patch(id, { run_key_id: key.id, target_headers: rows.d.secrets.sealJson(headers) });
  return headers;
}

export async function deployService(rows: BenchRows, id: string, recipe: Recipe, signal: AbortSignal): Promise<Deployment> {
  const s = recipe.target.service!;
  const name = `bench-${id.slice(-10).toLowerCase()}`;
  await rows.setState(id, 'preparing', `deploying service ${name} (${s.runtime})`);
  const created = await rows.d.deployments.create({
    name,
    runtime: s.runtime,
    ...(s.model ? { model: s.model } : {}),
    replicas: s.replicas,
    args: s.args,
    env: s.env,
    options: s.options,
    ...(s.resources ? { resources: s.resources } : {}),
    ...(s.backend === 'slurm'
      ? { placement: { ...s.placement, backend: 'slurm', cluster: s.placement?.cluster ?? recipe.clients.cluster } }
      : s.placement
        ? { placement: s.placement }
        : {}),
    ...(s.readinessTimeoutSeconds ? { readinessTimeoutSeconds: s.readinessTimeoutSeconds } : {}),
  });
  await rows.patch(id, { service_deployment_id: created.id, target_ref: name });
  const deadline = rows.d.clock.now() + (s.readinessTimeoutSeconds ?? 600) * 1000 + 30_000;
  for (;;) {
    if (signal.aborted) throw new Error(String((signal.reason as Error | undefined)?.message ?? 'cancelled'));
    const d = await rows.d.deployments.get(created.id);
    if (d.state === 'active') return d;
    if (d.state === 'failed') throw new PreflightError(`service ${name} failed to start: ${d.reason ?? 'no reason given'}`);
    if (rows.d.clock.now() > deadline) throw new PreflightError(`service ${name} was not active in time (${d.state}: ${d.reason ?? ''})`);
    await rows.heartbeatRow(id);
    await new Promise((r) => setTimeout(r, 200));
  }
}
