import { ApiError, ControlPlaneClient } from '../client/index.js';
import type { AgentAssignment, HeartbeatBody, HeartbeatResponse, RegisterBody, RegisterResponse } from '../cluster/index.js';

/** The agent's name for the control-plane error (an answer, or none at all: status 0). */
export { ApiError as ServerError };

/** The agent's side of the agent protocol (register, heartbeat, assignment long-poll). */
export class AgentClient {
  private readonly http: ControlPlaneClient;

  constructor(
    readonly baseUrl: string,
    fetchImpl: typeof fetch = fetch,
  ) {
    this.http = new ControlPlaneClient({ baseUrl, fetch: fetchImpl });
  }

  /** The join token while joining, the agent credential afterwards. */
  get bearer(): string | undefined {
    return this.http.bearer;
  }
  set bearer(value: string | undefined) {
    this.http.bearer = value;
  }

  register(body: RegisterBody): Promise<RegisterResponse> {
    return this.request<RegisterResponse>('POST', '/api/v1/agents/register', body);
  }

  heartbeat(workerId: string, body: HeartbeatBody, signal?: AbortSignal): Promise<HeartbeatResponse> {
    return this.request<HeartbeatResponse>('POST', `/api/v1/agents/${encodeURIComponent(workerId)}/heartbeat`, body, signal);
  }

  assignments(workerId: string, version: string | undefined, waitSeconds: number, signal?: AbortSignal): Promise<{ version: string; items: AgentAssignment[] }> {
    const q = new URLSearchParams({ wait: String(waitSeconds) });
    if (version) q.set('version', version);
    return this.request('GET', `/api/v1/agents/${encodeURIComponent(workerId)}/assignments?${q.toString()}`, undefined, signal);
  }

  /** Ships replicas' new output lines. */
  logs(workerId: string, batches: { replicaId: string; deploymentId: string; lines: string[] }[], signal?: AbortSignal): Promise<{ accepted: number }> {
    return this.request('POST', `/api/v1/agents/${encodeURIComponent(workerId)}/logs`, { batches }, signal);
  }

  /** Claims up to `limit` due tasks of the given kinds (the task engine's agent protocol). */
  claimTasks(body: { queues: string[]; kinds?: string[]; limit: number; leaseMs: number; worker?: string }, signal?: AbortSignal): Promise<{ tasks: { task: { id: string; kind: string; payload: unknown; attempts: number }; lease: { id: string; owner: string; expiresAt: number } }[] }> {
    return this.request('POST', '/api/v1/agents/tasks/claim', body, signal);
  }

  heartbeatTask(taskId: string, body: { leaseId: string; worker?: string; leaseMs?: number }, signal?: AbortSignal): Promise<{ cancelled: boolean; leaseExpiresAt: number }> {
    return this.request('POST', `/api/v1/agents/tasks/${encodeURIComponent(taskId)}/heartbeat`, body, signal);
  }

  completeTask(taskId: string, body: { leaseId: string; worker?: string; result?: unknown }): Promise<unknown> {
    return this.request('POST', `/api/v1/agents/tasks/${encodeURIComponent(taskId)}/complete`, body);
  }

  failTask(taskId: string, body: { leaseId: string; worker?: string; error: { code: string; message: string; retryable: boolean; retryAfterMs?: number } }): Promise<unknown> {
    return this.request('POST', `/api/v1/agents/tasks/${encodeURIComponent(taskId)}/fail`, body);
  }

  releaseTask(taskId: string, body: { leaseId: string; worker?: string }): Promise<unknown> {
    return this.request('POST', `/api/v1/agents/tasks/${encodeURIComponent(taskId)}/release`, body);
  }

  /** GET/POST on any agent route (benchmark shards). */
  call<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    return this.request<T>(method, path, body, signal);
  }

  /** PUTs a file as a raw body. */
  upload(path: string, contentType: string, body: AsyncIterable<Uint8Array> | Uint8Array): Promise<unknown> {
    return this.http.raw('PUT', path, { body: body as NonNullable<RequestInit['body']>, contentType });
  }

  private request<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    return this.http.json<T>(method, path, body, signal ? { signal } : {});
  }
}
