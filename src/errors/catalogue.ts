/**
 * The one catalogue of errors Catapult reports. Each has a stable code (clients and tests match on it,
 * never on message text), an HTTP status, a title, and a hint that tells the user what to do.
 */
export const CATALOGUE = {
  CATAPULT_VALIDATION_FAILED: {
    status: 400,
    title: 'Request failed validation',
    hint: 'Fix the fields listed in `errors` and send the request again; /api/docs shows every field.',
  },
  CATAPULT_MALFORMED_JSON: {
    status: 400,
    title: 'Request body is not valid JSON',
    hint: 'Send a JSON document with Content-Type: application/json.',
  },
  CATAPULT_UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    title: 'Unsupported content type',
    hint: 'Send the body as application/json.',
  },
  CATAPULT_BODY_TOO_LARGE: {
    status: 413,
    title: 'Request body too large',
    hint: 'Send a smaller body, or raise CATAPULT_BODY_LIMIT on the server.',
  },
  CATAPULT_UNAUTHENTICATED: {
    status: 401,
    title: 'Missing or invalid API key',
    hint: 'Send `Authorization: Bearer <key>` with a valid, unrevoked key. `catapult keys create` makes one.',
  },
  CATAPULT_FORBIDDEN: {
    status: 403,
    title: 'API key lacks the required scope',
    hint: 'Use a key that has the scope named in `requiredScope`, or ask an admin to create one.',
  },
  CATAPULT_ROUTE_NOT_FOUND: {
    status: 404,
    title: 'No such route',
    hint: 'Check the method and path; /api/docs lists every route.',
  },
  CATAPULT_NOT_FOUND: {
    status: 404,
    title: 'Resource not found',
    hint: 'Check the id; list the resources to see which exist.',
  },
  CATAPULT_KEY_NOT_FOUND: {
    status: 404,
    title: 'API key not found',
    hint: 'List keys with `catapult keys ls` or GET /api/v1/keys.',
  },
  CATAPULT_CONFLICT: {
    status: 409,
    title: 'Conflicts with the current state',
    hint: 'Read the resource again and retry with its current state.',
  },
  CATAPULT_KEY_LAST_ADMIN: {
    status: 409,
    title: 'Cannot revoke the last admin key',
    hint: 'Create another admin key first, then revoke this one.',
  },
  CATAPULT_TASK_NOT_FOUND: {
    status: 404,
    title: 'Task not found',
    hint: 'List tasks with GET /api/v1/tasks (filter by queue, state or kind).',
  },
  CATAPULT_TASK_NOT_CANCELLABLE: {
    status: 409,
    title: 'Task cannot be cancelled',
    hint: 'Only queued, failed (waiting to retry) or running tasks can be cancelled; this one has already finished.',
  },
  CATAPULT_TASK_NOT_RETRYABLE: {
    status: 409,
    title: 'Task cannot be retried',
    hint: 'Only dead tasks can be retried; a failed task retries by itself after its backoff.',
  },
  CATAPULT_TASK_LEASE_LOST: {
    status: 409,
    title: 'Task lease no longer held',
    hint: 'Stop working on the task: its lease expired and it was reclaimed, or it was finished, released or cancelled. Claim new work.',
  },
  CATAPULT_RATE_LIMITED: {
    status: 429,
    title: 'Too many requests',
    hint: 'Wait for the number of seconds in Retry-After, then retry.',
  },
  CATAPULT_EVENT_CURSOR_INVALID: {
    status: 400,
    title: 'Invalid event cursor',
    hint: 'Last-Event-ID and ?since must be a non-negative integer sequence number from a previous event.',
  },
  CATAPULT_SLURM_CLUSTER_NOT_FOUND: {
    status: 404,
    title: 'Slurm cluster not found',
    hint: 'List clusters with `catapult slurm ls` or GET /api/v1/slurm-clusters; add one with `catapult slurm add`.',
  },
  CATAPULT_SLURM_CLUSTER_EXISTS: {
    status: 409,
    title: 'A Slurm cluster with this name exists',
    hint: 'Pick another name, or change the existing cluster with PATCH /api/v1/slurm-clusters/{name}.',
  },
  CATAPULT_SLURM_CLUSTER_IN_USE: {
    status: 409,
    title: 'Slurm cluster in use',
    hint: 'Delete or move the deployments placed on this cluster (listed in `deployments`) first.',
  },
  CATAPULT_SLURM_HOST_KEY_MISMATCH: {
    status: 502,
    title: 'SSH host key does not match',
    hint: "The login node presented a host key other than the cluster's `hostKey`. Verify it out of band (ssh-keyscan, your admins) and update `hostKey` only if the change is expected.",
  },
  CATAPULT_SLURM_AUTH_FAILED: {
    status: 502,
    title: 'SSH login refused',
    hint: "Check the cluster's `user` and `privateKey`: the key's public half must be in the user's authorized_keys on the login node.",
  },
  CATAPULT_SLURM_UNREACHABLE: {
    status: 502,
    title: 'Slurm login node unreachable',
    hint: "Check the cluster's `host`, `port` (and `jump` host), and that the login node accepts SSH from the control plane.",
  },
  CATAPULT_SLURM_CONNECTION_LOST: {
    status: 502,
    title: 'SSH connection to the cluster dropped',
    hint: 'Catapult reconnects with backoff; retry the request.',
  },
  CATAPULT_SLURM_COMMAND_TIMEOUT: {
    status: 504,
    title: 'Command on the cluster timed out',
    hint: 'The login node or slurmctld is slow or stuck; retry, or check `squeue` on the cluster.',
  },
  CATAPULT_SLURM_COMMAND_FAILED: {
    status: 502,
    title: 'Slurm command failed on the cluster',
    hint: 'Read `detail` for Slurm\'s own message; check that Slurm commands work for this user on the login node.',
  },
  CATAPULT_SLURM_SUBMIT_REFUSED: {
    status: 422,
    title: 'Slurm refused the job',
    hint: "Slurm's own words are in `detail` (unknown partition, more GPUs than a node has, a time limit the partition refuses, …); change the deployment's resources or the cluster's partition/time.",
  },
  CATAPULT_WORKER_NOT_FOUND: {
    status: 404,
    title: 'Worker not found',
    hint: 'List workers with `catapult workers ls` or GET /api/v1/workers; workers are named by id or name.',
  },
  CATAPULT_WORKER_NAME_TAKEN: {
    status: 409,
    title: 'Another live worker has this name',
    hint: 'Start the agent with a different --name, or remove the other worker once it is offline (`catapult workers rm`).',
  },
  CATAPULT_WORKER_BUSY: {
    status: 409,
    title: 'Worker still runs replicas',
    hint: 'Drain it first (`catapult workers drain`), wait until it is offline, or remove it with --force to move its replicas now.',
  },
  CATAPULT_JOIN_TOKEN_INVALID: {
    status: 401,
    title: 'Join token invalid',
    hint: 'The join token is unknown, revoked, expired or used up; create a new one with `catapult join-token create`.',
  },
  CATAPULT_JOIN_TOKEN_NOT_FOUND: {
    status: 404,
    title: 'Join token not found',
    hint: 'List join tokens with GET /api/v1/join-tokens.',
  },
  CATAPULT_AGENT_MISMATCH: {
    status: 403,
    title: 'Agent credential belongs to another worker',
    hint: 'An agent may act only on its own worker id; check the agent data directory holds this worker’s credential.',
  },
  CATAPULT_ASSIGNMENT_NOT_FOUND: {
    status: 404,
    title: 'Assignment not found',
    hint: 'List assignments with GET /api/v1/assignments; stopped assignments are removed once their agent confirms.',
  },
  CATAPULT_RUNTIME_UNKNOWN: {
    status: 400,
    title: 'Unknown runtime',
    hint: 'Use one of the runtimes listed in `known` (built in: onnx, simulator; templates: vllm, tgi, llamacpp, sglang, triton; or custom).',
  },
  CATAPULT_RUNTIME_OPTIONS_INVALID: {
    status: 400,
    title: 'Runtime options are invalid',
    hint: 'Fix the options listed in `errors`; src/runtimes/README.md lists every option of each runtime.',
  },
  CATAPULT_NOT_READY: {
    status: 503,
    title: 'Not ready',
    hint: 'The store is unreachable or migrations have not run; check the server log.',
  },
  CATAPULT_MODEL_NOT_FOUND: {
    status: 404,
    title: 'Model not found',
    hint: 'List models with `catapult models ls` or GET /api/v1/models; refer to one by id, name or name:version.',
  },
  CATAPULT_MODEL_EXISTS: {
    status: 409,
    title: 'Model version already registered',
    hint: 'Register it under a new version, or delete the old registration first.',
  },
  CATAPULT_MODEL_IN_USE: {
    status: 409,
    title: 'Model is used by deployments',
    hint: 'Delete the deployments listed in `deployments` first.',
  },
  CATAPULT_MODEL_SOURCE_NOT_FOUND: {
    status: 400,
    title: 'Model source does not exist',
    hint: 'Give a path (or file:// URI) that exists on the control-plane machine.',
  },
  CATAPULT_MODEL_SOURCE_UNSUPPORTED: {
    status: 400,
    title: 'Model source kind not supported',
    hint: 'Give a local path or file:// URI; copy remote models to local storage first.',
  },
  CATAPULT_MODEL_NOT_ANALYSED: {
    status: 409,
    title: 'Model not analysed yet',
    hint: 'Intake (analyse, then scan) runs after registration; watch `state` on GET /api/v1/models/{id}, or rescan with POST /api/v1/models/{id}/scan.',
  },
  CATAPULT_MODEL_UNSAFE: {
    status: 409,
    title: 'Model failed its security scan',
    hint: 'Read the findings at GET /api/v1/models/{id}/scan. If you trust the model, an admin may override with POST /api/v1/models/{id}/override (audited).',
  },
  CATAPULT_MODEL_NOT_SCANNED: {
    status: 409,
    title: 'Model has not passed a security scan',
    hint: 'Only models in state `scanned` deploy. Wait for intake, fix the error shown and rescan, or ask an admin to override (audited).',
  },
  CATAPULT_DEPLOYMENT_NOT_FOUND: {
    status: 404,
    title: 'Deployment not found',
    hint: 'List deployments with `catapult deployments ls` or GET /api/v1/deployments; refer to one by id or name.',
  },
  CATAPULT_DEPLOYMENT_EXISTS: {
    status: 409,
    title: 'A deployment with this name exists',
    hint: 'Choose another name, or update the existing deployment with PATCH /api/v1/deployments/{id}.',
  },
  CATAPULT_GATEWAY_ROUTE_NOT_FOUND: {
    status: 404,
    title: 'Route not found',
    hint: 'List routes with GET /api/v1/routes; a route has the id of its deployment or endpoint.',
  },
  CATAPULT_GATEWAY_ROUTE_NAME_TAKEN: {
    status: 409,
    title: 'Another deployment or endpoint already serves this name',
    hint: 'Pick another name (or served model name), or delete the route named in `routeId` first.',
  },
  CATAPULT_GATEWAY_ROUTE_INVALID: {
    status: 400,
    title: 'Route is invalid',
    hint: 'Fix the fields listed in `errors`; src/gateway/README.md describes the route shape.',
  },
  CATAPULT_ENDPOINT_NOT_FOUND: {
    status: 404,
    title: 'Endpoint not found',
    hint: 'List endpoints with GET /api/v1/endpoints; refer to one by id or name.',
  },
  CATAPULT_ENDPOINT_EXISTS: {
    status: 409,
    title: 'An endpoint with this name already exists',
    hint: 'Choose another name, or delete the existing endpoint (DELETE /api/v1/endpoints/{id}) first.',
  },
  CATAPULT_RECIPE_INVALID: {
    status: 400,
    title: 'Benchmark recipe is invalid',
    hint: 'Fix the fields listed in `errors` (each names its path and line); examples/bench/ has working recipes.',
  },
  CATAPULT_DATASET_INVALID: {
    status: 400,
    title: 'Benchmark dataset is invalid',
    hint: 'Fix the dataset file or entry named in `where`; src/bench/README.md describes the dataset formats.',
  },
  CATAPULT_BENCHMARK_NOT_FOUND: {
    status: 404,
    title: 'Benchmark not found',
    hint: 'List benchmarks with `catapult bench ls` or GET /api/v1/benchmarks.',
  },
  CATAPULT_BENCHMARK_TARGET_NOT_FOUND: {
    status: 404,
    title: "The benchmark's target does not exist",
    hint: 'Name an existing deployment (GET /api/v1/deployments) or endpoint (GET /api/v1/endpoints), or give a url.',
  },
  CATAPULT_BENCHMARK_FINISHED: {
    status: 409,
    title: 'The benchmark has already finished',
    hint: 'Only pending, preparing or running benchmarks can be cancelled; start a new one instead.',
  },
  CATAPULT_BENCHMARK_NOT_FINISHED: {
    status: 409,
    title: 'The benchmark is still running',
    hint: 'Cancel it first (POST /api/v1/benchmarks/{id}/cancel), then delete it once it has ended.',
  },
  CATAPULT_BENCHMARK_SHARD_NOT_HELD: {
    status: 409,
    title: 'This agent does not hold the benchmark shard',
    hint: 'Claim the shard task first; an agent may only read and report the shards it holds.',
  },
  CATAPULT_SECRET_KEY_MISMATCH: {
    status: 500,
    title: 'A stored secret cannot be decrypted with this server\'s secret key',
    hint: 'Start every server that shares the database with the same secretKey (CATAPULT_SECRET_KEY), or copy <dataDir>/secret.key from the server that stored the secret.',
  },
  CATAPULT_INTERNAL: {
    status: 500,
    title: 'Internal error',
    hint: 'This is a bug in Catapult. The server log has the details under this request id.',
  },
} as const satisfies Record<string, { status: number; title: string; hint: string }>;

export type ErrorCode = keyof typeof CATALOGUE;

/** One invalid field: where it is and what is wrong with it. */
export interface FieldError {
  /** JSON-pointer-like location, e.g. `body/replicas` or `query/limit`. */
  path: string;
  message: string;
}

/** An error with a catalogue code; the API renders it as application/problem+json. */
export class CatapultError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly title: string;
  readonly hint: string;
  readonly extra: Record<string, unknown>;

  constructor(code: ErrorCode, detail?: string, extra: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    const entry = CATALOGUE[code];
    super(detail ?? entry.title, options);
    this.name = 'CatapultError';
    this.code = code;
    this.status = entry.status;
    this.title = entry.title;
    this.hint = entry.hint;
    this.extra = extra;
  }
}

/** True for any object carrying a catalogue code; checks the code, not the class, so copies of the module agree. */
export function isCatapultError(err: unknown): err is CatapultError {
  return (
    typeof err === 'object' &&
    err !== null &&
    'code' in err &&
    typeof err.code === 'string' &&
    err.code in CATALOGUE &&
    'status' in err
  );
}

/** The application/problem+json body (RFC 9457) for an error. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  code: ErrorCode;
  detail: string;
  hint: string;
  instance?: string;
  requestId?: string;
  errors?: FieldError[];
  [extra: string]: unknown;
}

export function toProblem(err: CatapultError, instance?: string, requestId?: string): Problem {
  return {
    type: `https://catapult.dev/errors/${err.code}`,
    title: err.title,
    status: err.status,
    code: err.code,
    detail: err.message,
    hint: err.hint,
    ...(instance ? { instance } : {}),
    ...(requestId ? { requestId } : {}),
    ...err.extra,
  };
}
