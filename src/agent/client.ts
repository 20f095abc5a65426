import type { AgentAssignment, HeartbeatBody, HeartbeatResponse, RegisterBody, RegisterResponse } from '../cluster/index.js';

/** An error answer from the control plane (problem+json), or no answer at all (status 0). */
export class ServerError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ServerError';
  }

  /** The server could not be reached or answered 5xx/503: worth retrying as it is. */
  get transient(): boolean {
    return this.status === 0 || this.status >= 500 || this.status === 429;
  }
}

/** The agent's side of the agent protocol (register, heartbeat, assignment long-poll). */
export class AgentClient {
  /** The join token while joining, the agent credential afterwards. */
  bearer: string | undefined;

  constructor(
    readonly baseUrl: string,
    private readonly fetchImpl: typeof fetch = fetch,
  ) {}

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
  claimTasks(body: { queues: string[]; kinds: string[]; limit: number; leaseMs: number; worker?: string }, signal?: AbortSignal): Promise<{ tasks: { task: { id: string; kind: string; payload: unknown; attempts: number }; lease: { id: string; owner: string; expiresAt: number } }[] }> {
    return this.request('POST', '/api/v1/agents/tasks/claim', body, signal);
  }

  heartbeatTask(taskId: string, body: { leaseId: string; worker?: string; leaseMs?: number }, signal?: AbortSignal): Promise<{ cancelled: boolean; leaseExpiresAt: number }> {
    return this.request('POST', `/api/v1/agents/tasks/${encodeURIComponent(taskId)}/heartbeat`, body, signal);
  }

  completeTask(taskId: string, body: { leaseId: string; worker?: string; result?: unknown }): Promise<unknown> {
    return this.request('POST', `/api/v1/agents/tasks/${encodeURIComponent(taskId)}/complete`, body);
  }

  failTask(taskId: string, body: { leaseId: string; worker?: string; error: { code: string; message: string; retryable: boolean } }): Promise<unknown> {
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
    return this.send('PUT', path, { body: body as NonNullable<RequestInit['body']>, contentType });
  }

  private request<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    return this.send<T>(method, path, body === undefined ? undefined : { body: JSON.stringify(body), contentType: 'application/json' }, signal);
  }

  /** Sends a request; an unreachable server or an error answer becomes a ServerError. */
  private async send<T>(method: string, path: string, payload?: { body: NonNullable<RequestInit['body']>; contentType: string }, signal?: AbortSignal): Promise<T> {
    let res: Response;
    try {
      res = await this.fetchImpl(this.baseUrl + path, {
        method,
        headers: {
          ...(this.bearer ? { authorization: `Bearer ${this.bearer}` } : {}),
          ...(payload ? { 'content-type': payload.contentType } : {}),
        },
        // A streamed body (an upload) needs half-duplex; a string does not mind it.
        ...(payload ? { body: payload.body, duplex: 'half' } : {}),
        ...(signal ? { signal } : {}),
      });
    } catch (err) {
      if (signal?.aborted) throw err;
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      throw new ServerError(0, 'UNREACHABLE', `cannot reach ${this.baseUrl} (${cause})`);
    }
    const text = await res.text();
    let data: unknown;
    try {
      data = text ? JSON.parse(text) : undefined;
    } catch {
      data = undefined;
    }
    if (!res.ok) {
      const p = (data ?? {}) as { code?: string; detail?: string };
      throw new ServerError(res.status, p.code ?? `HTTP_${res.status}`, p.detail ?? res.statusText);
    }
    return data as T;
  }
}
