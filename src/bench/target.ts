import { request } from 'undici';
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
