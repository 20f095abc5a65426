import { LineCounter, isMap, isSeq, parseDocument, type Node } from 'yaml';
import { z } from 'zod';

/**
 * A benchmark recipe (seed 004's YAML recipes grown up): what to hit (`target`), with what requests
 * (`workload`), how hard (`load`), for how long (`stop`), from where (`clients`) and what counts as
 * good (`slo`). Durations are numbers of milliseconds or strings like `30s`, `2m`, `500ms`.
 */

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)$/;
const duration = z.union([z.number().nonnegative(), z.string().regex(DURATION, 'a duration like 500ms, 30s, 2m or 1h')]).transform((v) => {
  if (typeof v === 'number') return v;
  const m = DURATION.exec(v)!;
  const n = Number(m[1]);
  return n * ({ ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const)[m[2] as 'ms' | 's' | 'm' | 'h'];
});

const lengthDist = z.union([
  z.number().int().positive(),
  z.strictObject({ dist: z.literal('fixed'), value: z.number().int().positive() }),
  z.strictObject({ dist: z.literal('uniform'), min: z.number().int().positive(), max: z.number().int().positive() }),
  z.strictObject({ dist: z.literal('normal'), mean: z.number().positive(), stddev: z.number().nonnegative(), min: z.number().int().positive().optional(), max: z.number().int().positive().optional() }),
]);

const dataset = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('inline'),
    /** Prompts (LLM APIs), request bodies (http, kserve-v2) or {audio, text} items (asr). */
    items: z.array(z.unknown()).min(1),
  }),
  z.strictObject({ type: z.literal('jsonl'), path: z.string().min(1) }),
  z.strictObject({
    type: z.literal('synthetic'),
    inputTokens: lengthDist,
    outputTokens: lengthDist,
    count: z.number().int().positive().default(1000),
  }),
  z.strictObject({ type: z.literal('asr-manifest'), path: z.string().min(1), audioRoot: z.string().optional() }),
  z.strictObject({
    type: z.literal('hf-arrow'),
    path: z.string().min(1),
    audioColumn: z.string().default('audio'),
    textColumn: z.string().default('sentence'),
  }),
]);

/**
 * A model server to deploy before the load and tear down after it (seed 004's service, then clients).
 * The fields are a deployment's (src/deployments); the deployment is named after the benchmark.
 */
const service = z.strictObject({
  runtime: z.string().min(1),
  model: z.string().min(1).optional(),
  args: z.array(z.string()).default([]),
  env: z.record(z.string(), z.string()).default({}),
  options: z.record(z.string(), z.unknown()).default({}),
  resources: z.record(z.string(), z.unknown()).optional(),
  placement: z.record(z.string(), z.unknown()).optional(),
  replicas: z.number().int().positive().default(1),
  readinessTimeoutSeconds: z.number().int().positive().max(86_400).optional(),
  /**
   * Where its replicas run: agents, or Slurm jobs (`placement.cluster`, or the clients' cluster when
   * they run on Slurm, names the cluster). Kubernetes is refused with a clear message.
   */
  backend: z.enum(['agent', 'slurm', 'kubernetes']).default('agent'),
  /** Keep the deployment after the benchmark instead of deleting it. */
  keep: z.boolean().default(false),
});

const target = z
  .strictObject({
    deployment: z.string().min(1).optional(),
    endpoint: z.string().min(1).optional(),
    url: z
      .url()
      .refine((u) => !/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*@/i.test(u), {
        message: 'credentials in the URL would be shown to everyone who can read benchmarks; put them in target.headers (e.g. authorization: Basic …), which are kept secret',
      })
      .optional(),
    service: service.optional(),
    /** Extra request headers (for example an auth header for an external URL). */
    headers: z.record(z.string(), z.string()).default({}),
    /** Send through the gateway (default for deployments) or straight to the URL. */
    viaGateway: z.boolean().optional(),
  })
  .refine((t) => [t.deployment, t.endpoint, t.url, t.service].filter((x) => x !== undefined).length === 1, {
    message: 'give exactly one of deployment, endpoint, url or service',
  });

const load = z
  .strictObject({
    type: z.enum(['closed', 'constant', 'poisson', 'gamma', 'ramp']),
    /** closed: requests in flight at once. */
    concurrency: z.number().int().positive().optional(),
    /** constant, poisson, gamma: requests per second. */
    rate: z.number().positive().optional(),
    /** A sweep: one stage per value, run one after another. */
    rates: z.array(z.number().positive()).min(1).optional(),
    concurrencies: z.array(z.number().int().positive()).min(1).optional(),
    burstiness: z.number().positive().default(1),
    from: z.number().positive().optional(),
    to: z.number().positive().optional(),
    /** closed: start the clients' requests spread evenly over this long instead of all at once (k6's ramp-up); they then stay out of lockstep. */
    rampUp: duration.default(0),
    /** Cap on requests in flight for open-loop loads; arrivals beyond it are counted as dropped, not delayed. */
    maxInFlight: z.number().int().positive().default(10_000),
  })
  .superRefine((l, ctx) => {
    const need = (field: string, ok: boolean, why: string) => {
      if (!ok) ctx.addIssue({ code: 'custom', path: [field], message: why });
    };
    if (l.type === 'closed') need('concurrency', l.concurrency !== undefined || l.concurrencies !== undefined, 'a closed load needs concurrency (or concurrencies for a sweep)');
    if (l.type === 'constant' || l.type === 'poisson' || l.type === 'gamma')
      need('rate', l.rate !== undefined || l.rates !== undefined, `a ${l.type} load needs rate (or rates for a sweep)`);
    if (l.type === 'ramp') {
      need('from', l.from !== undefined, 'a ramp needs from (requests per second at the start)');
      need('to', l.to !== undefined, 'a ramp needs to (requests per second at the end)');
    }
  });

const stop = z
  .strictObject({
    duration: duration.optional(),
    requests: z.number().int().positive().optional(),
    /** Send the dataset this many times over (1: every item once, as an evaluation does). */
    epochs: z.number().int().positive().optional(),
    warmup: duration.default(0),
    cooldown: duration.default(0),
  })
  .refine((s) => s.duration !== undefined || s.requests !== undefined || s.epochs !== undefined, { message: 'give a duration, a request count or a number of epochs (passes over the dataset)' });

export const recipeSchema = z.strictObject({
  name: z.string().min(1).max(200),
  description: z.string().optional(),
  target,
  workload: z.strictObject({
    api: z.enum(['openai-chat', 'openai-completions', 'kserve-v2', 'asr-transcriptions', 'http']),
    /** The model name sent in requests; defaults to the target deployment's. */
    model: z.string().optional(),
    stream: z.boolean().default(true),
    /**
     * For `asr-transcriptions`: how the audio travels. `multipart` (OpenAI's form upload, field
     * `file`) or `json-base64` (`{ "audio": "<base64>", "model": "…" }`, seed 000's executor body).
     */
    audioEncoding: z.enum(['multipart', 'json-base64']).default('multipart'),
    dataset,
    /** For `http`: method and path. */
    method: z.enum(['GET', 'POST', 'PUT']).default('POST'),
    path: z.string().optional(),
    /** Stop generation at exactly the requested output length where the server supports it. */
    ignoreEos: z.boolean().default(true),
    /** Output tokens to ask for when a dataset item does not say (synthetic items always do). */
    maxTokens: z.number().int().positive().optional(),
    temperature: z.number().min(0).max(2).optional(),
    /** For `http`: extra request headers. */
    headers: z.record(z.string(), z.string()).default({}),
  }),
  load,
  stop,
  clients: z
    .strictObject({
      count: z.number().int().positive().max(1000).default(1),
      /** local: in this process; agents: one shard per agent; slurm: seed 004's command clients, one Slurm job each. */
      where: z.enum(['local', 'agents', 'slurm']).default('local'),
      /** slurm: the Slurm cluster (a registered one, by name) the client jobs run on. */
      cluster: z.string().min(1).optional(),
      /**
       * slurm: the command each client runs (seed 004's `benchmark_command`), through `bash -c`, with
       * SERVICE_NAME, SERVICE_HOSTNAME, SERVICE_PORT, SERVICE_URL and METRICS_FILE in its environment.
       */
      command: z.string().min(1).optional(),
      /** slurm: extra environment of the client jobs. */
      env: z.record(z.string(), z.string()).optional(),
      /** slurm: CPUs per client job (default 1). */
      cpus: z.number().int().positive().optional(),
      /** slurm: the client jobs' time limit (Slurm's format, e.g. `10` minutes or `1:00:00`); default the cluster's. */
      timeLimit: z.string().min(1).optional(),
    })
    .default({ count: 1, where: 'local' }),
  slo: z
    .strictObject({
      ttftMs: z.number().positive().optional(),
      tpotMs: z.number().positive().optional(),
      e2eMs: z.number().positive().optional(),
    })
    .default({}),
  seed: z.number().int().nonnegative().default(0),
  /** Per-request timeout. */
  timeout: duration.default(60_000),
})
  .superRefine((r, ctx) => {
    const issue = (path: PropertyKey[], message: string) => ctx.addIssue({ code: 'custom', path, message });
    const asr = r.workload.api === 'asr-transcriptions';
    const audioData = r.workload.dataset.type === 'asr-manifest' || r.workload.dataset.type === 'hf-arrow';
    if (audioData && !asr) issue(['workload', 'dataset', 'type'], `a ${r.workload.dataset.type} dataset holds audio: use it with api asr-transcriptions`);
    if (asr && (r.workload.dataset.type === 'synthetic' || r.workload.dataset.type === 'jsonl')) {
      issue(['workload', 'dataset', 'type'], 'asr-transcriptions needs audio: an asr-manifest, hf-arrow or inline [{audio, text}] dataset');
    }
    if (r.workload.dataset.type === 'synthetic' && !['openai-chat', 'openai-completions'].includes(r.workload.api)) {
      issue(['workload', 'dataset', 'type'], 'synthetic prompts are for openai-chat and openai-completions; give kserve-v2 and http requests inline or in JSONL');
    }
    if (r.load.type === 'ramp' && r.stop.duration === undefined) issue(['stop', 'duration'], 'a ramp needs a duration to ramp over');
    if (r.stop.duration !== undefined && r.stop.warmup + r.stop.cooldown >= r.stop.duration) {
      issue(['stop', 'warmup'], `warmup (${r.stop.warmup} ms) and cooldown (${r.stop.cooldown} ms) leave nothing of the ${r.stop.duration} ms to measure`);
    }
    const svc = r.target.service;
    if (svc?.backend === 'kubernetes') {
      issue(['target', 'service', 'backend'], 'the kubernetes backend is not available on this control plane yet; services run on agents (backend: agent) or Slurm (backend: slurm)');
    }
    if (svc?.backend === 'slurm' && typeof svc.placement?.cluster !== 'string' && r.clients.cluster === undefined) {
      issue(['target', 'service', 'placement'], 'a service on Slurm needs its cluster: placement.cluster (or clients.cluster when the clients run there too)');
    }
    if (r.clients.where === 'slurm') {
      if (r.clients.cluster === undefined) issue(['clients', 'cluster'], 'clients on Slurm need the cluster they run on (clients.cluster, a registered Slurm cluster)');
      if (r.clients.command === undefined) issue(['clients', 'command'], "clients on Slurm run a command (clients.command, seed 004's benchmark_command) with SERVICE_URL in its environment");
    } else {
      if (r.clients.command !== undefined) issue(['clients', 'command'], `a command runs only in clients on Slurm (where: slurm); ${r.clients.where} clients run Catapult's load engine`);
      if (r.clients.cluster !== undefined) issue(['clients', 'cluster'], `clients.cluster is for clients on Slurm (where: slurm), not ${r.clients.where}`);
    }
    const clients = r.clients.count;
    const perStage = r.load.concurrencies ?? (r.load.concurrency !== undefined ? [r.load.concurrency] : []);
    if (r.load.type === 'closed' && perStage.every((c) => c >= 1) && perStage.some((c) => c < clients)) {
      issue(['clients', 'count'], `${clients} clients cannot share a concurrency of ${Math.min(...perStage)}: each client needs at least one request in flight`);
    }
  });

export type Recipe = z.output<typeof recipeSchema>;
export type RecipeInput = z.input<typeof recipeSchema>;

/** One problem in a recipe: the path in the document, the line (1-based) when known, and what is wrong. */
export interface RecipeIssue {
  path: string;
  line: number | null;
  column: number | null;
  message: string;
}

export class RecipeError extends Error {
  readonly code = 'CATAPULT_RECIPE_INVALID';
  constructor(
    readonly issues: RecipeIssue[],
    readonly source?: string,
  ) {
    super(issues.map((i) => `${source ? `${source}:` : ''}${i.line ?? '?'}: ${i.path || '(top)'}: ${i.message}`).join('\n'));
    this.name = 'RecipeError';
  }
}

/**
 * The node a path points at, for its line number. When the path ends at a mapping or sequence, the
 * key's line is more useful than the line where the block's first entry starts.
 */
function nodeAt(root: Node | null, path: readonly PropertyKey[]): Node | null {
  let node: Node | null = root;
  let last: Node | null = root;
  for (const key of path) {
    let keyNode: Node | null = null;
    if (node && isMap(node)) {
      const pair = node.items.find((p) => (p.key as { value?: unknown } | null)?.value === key);
      keyNode = (pair?.key as Node | undefined) ?? null;
      node = (pair?.value as Node | undefined) ?? keyNode;
    } else if (node && isSeq(node) && typeof key === 'number') {
      node = (node.items[key] as Node | undefined) ?? null;
    } else {
      node = null;
    }
    if (!node) break;
    last = keyNode && (isMap(node) || isSeq(node)) ? keyNode : node;
  }
  return last;
}

/** Parses and validates a YAML (or JSON) recipe; every problem names its path and line. */
export function parseRecipe(text: string, source?: string): Recipe {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new RecipeError(
      doc.errors.map((e) => {
        const pos = e.linePos?.[0];
        return { path: '', line: pos?.line ?? null, column: pos?.col ?? null, message: e.message.split('\n')[0] ?? e.message };
      }),
      source,
    );
  }
  const data: unknown = doc.toJS();
  return validateRecipe(data, source, (path) => {
    const node = nodeAt(doc.contents, path);
    if (!node?.range) return { line: null, column: null };
    const pos = lineCounter.linePos(node.range[0]);
    return { line: pos.line, column: pos.col };
  });
}

/**
 * Command clients on Slurm send no load of Catapult's own: their recipe may leave out `workload`,
 * `load` and `stop`, which then take inert values (an `http` workload of one empty item, one request
 * per client) that the run does not use.
 */
function withCommandDefaults(data: unknown): unknown {
  if (!data || typeof data !== 'object' || Array.isArray(data)) return data;
  const d = data as Record<string, unknown>;
  const clients = d.clients as { where?: unknown; count?: unknown } | undefined;
  if (clients?.where !== 'slurm') return data;
  const count = typeof clients.count === 'number' && clients.count > 0 ? clients.count : 1;
  return {
    ...d,
    workload: d.workload ?? { api: 'http', stream: false, dataset: { type: 'inline', items: [{}] } },
    load: d.load ?? { type: 'closed', concurrency: count },
    stop: d.stop ?? { requests: count },
  };
}

/** Validates a recipe given as data (JSON bodies); `locate` maps a path to a source line when known. */
export function validateRecipe(
  data: unknown,
  source?: string,
  locate: (path: readonly PropertyKey[]) => { line: number | null; column: number | null } = () => ({ line: null, column: null }),
): Recipe {
  const parsed = recipeSchema.safeParse(withCommandDefaults(data));
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((issue) => {
    let path = issue.path;
    let message = issue.message;
    if (issue.code === 'unrecognized_keys') {
      path = [...issue.path, issue.keys[0]!];
      message = `unknown field(s) ${issue.keys.map((k) => `'${k}'`).join(', ')}`;
    }
    return { path: path.map(String).join('.'), ...locate(path), message };
  });
  throw new RecipeError(issues, source);
}

/**
 * The recipe format as JSON Schema (draft 2020-12), for editors: YAML language servers take it with
 * `# yaml-language-server: $schema=<url>`. Cross-field rules (a ramp needs a duration, ...) are
 * checked by Catapult only.
 */
export function recipeJsonSchema(): Record<string, unknown> {
  return { title: 'Catapult benchmark recipe', ...z.toJSONSchema(recipeSchema, { io: 'input', unrepresentable: 'any' }) };
}
