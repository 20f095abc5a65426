/** One field a request got wrong, as a problem document lists it. */
export interface FieldError {
  path: string;
  message: string;
}

/**
 * An error answer from the control plane (its problem+json read into fields), or no answer at all
 * (status 0, code `UNREACHABLE`). The CLI, the agent and a standalone gateway all see this one type.
 */
export class ApiError extends Error {
  constructor(
    /** The HTTP status; 0 when the server could not be reached. */
    readonly status: number,
    /** The catalogue code (`CATAPULT_…`), or `HTTP_<status>` when the answer was not a problem document. */
    readonly code: string,
    /** The problem's detail, or the status text when it had none. */
    readonly detail: string,
    readonly hint?: string,
    readonly errors?: FieldError[],
  ) {
    super(detail);
    this.name = 'ApiError';
  }

  /** The server could not be reached, is overloaded or failed: worth retrying as it is. */
  get transient(): boolean {
    return this.status === 0 || this.status >= 500 || this.status === 429;
  }
}

/** Reads an error answer's body into an ApiError: a problem document's fields, or the status alone. */
export function problemError(status: number, statusText: string, text: string): ApiError {
  let p: { code?: unknown; detail?: unknown; hint?: unknown; errors?: unknown } = {};
  try {
    const parsed = JSON.parse(text) as unknown;
    if (parsed && typeof parsed === 'object') p = parsed;
  } catch {
    // not a problem document
  }
  return new ApiError(
    status,
    typeof p.code === 'string' ? p.code : `HTTP_${status}`,
    typeof p.detail === 'string' ? p.detail : statusText,
    typeof p.hint === 'string' ? p.hint : undefined,
    Array.isArray(p.errors) ? (p.errors as FieldError[]) : undefined,
  );
}

export interface ClientOptions {
  /** The control plane's base URL, e.g. http://cp:8080 (a trailing slash is dropped). */
  baseUrl: string;
  /** Bearer credential sent with every request; may be changed later (`client.bearer = …`). */
  bearer?: string;
  fetch?: typeof fetch;
  /** Limit for each request; none by default (long-polls set their own through the server). */
  timeoutMs?: number;
  /** The message of the UNREACHABLE error, for callers that tell the user what to do about it. */
  unreachable?: (baseUrl: string, cause: string) => string;
}

export interface RequestOptions {
  signal?: AbortSignal;
  /** Answer undefined instead of throwing when the server answers 404. */
  notFoundAsUndefined?: boolean;
}

interface Payload {
  body: NonNullable<RequestInit['body']>;
  contentType: string;
}

/**
 * The one HTTP client of the control-plane API. It sends the bearer credential, turns an unreachable
 * server or an error answer into an ApiError, and leaves retries and long-polls to its callers.
 */
export class ControlPlaneClient {
  readonly baseUrl: string;
  bearer: string | undefined;
  private readonly fetchImpl: typeof fetch;

  constructor(private readonly opts: ClientOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.bearer = opts.bearer;
    this.fetchImpl = opts.fetch ?? fetch;
  }

  /** Sends a JSON body (if any) and reads the JSON answer (undefined when it is empty). */
  async json<T>(method: string, path: string, body?: unknown, options: RequestOptions = {}): Promise<T> {
    const payload = body === undefined ? undefined : { body: JSON.stringify(body), contentType: 'application/json' };
    const text = await this.send(method, path, payload, options, 'application/json');
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** A request whose answer is text (downloads: CSV, JSONL). */
  text(method: string, path: string, options: RequestOptions = {}): Promise<string> {
    return this.send(method, path, undefined, options).then((t) => t ?? '');
  }

  /** Sends a raw body (a string, bytes or a stream) with its content type; reads the JSON answer. */
  async raw<T>(method: string, path: string, payload: Payload, options: RequestOptions = {}): Promise<T> {
    const text = await this.send(method, path, payload, options, 'application/json');
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** Sends a request and returns the answer's text (undefined on a 404 the caller accepts). */
  private async send(method: string, path: string, payload: Payload | undefined, options: RequestOptions, accept?: string): Promise<string | undefined> {
    const signals = [options.signal, this.opts.timeoutMs !== undefined ? AbortSignal.timeout(this.opts.timeoutMs) : undefined].filter(
      (s): s is AbortSignal => s !== undefined,
    );
    const signal = signals.length > 1 ? AbortSignal.any(signals) : signals[0];
    let res: Response;
    try {
      res = await this.fetchImpl(this.baseUrl + path, {
        method,
        headers: {
          ...(accept ? { accept } : {}),
          ...(this.bearer ? { authorization: `Bearer ${this.bearer}` } : {}),
          ...(payload ? { 'content-type': payload.contentType } : {}),
        },
        // A streamed body (an upload) needs half-duplex; a string does not mind it.
        ...(payload ? { body: payload.body, duplex: 'half' } : {}),
        ...(signal ? { signal } : {}),
      });
    } catch (err) {
      // A caller's abort or a timeout is not an unreachable server: let it through as it is.
      if (signal?.aborted) throw err;
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      const message = this.opts.unreachable?.(this.baseUrl, cause) ?? `cannot reach ${this.baseUrl} (${cause})`;
      throw new ApiError(0, 'UNREACHABLE', message);
    }
    if (res.status === 404 && options.notFoundAsUndefined) {
      await res.body?.cancel();
      return undefined;
    }
    const text = await res.text();
    if (!res.ok) throw problemError(res.status, res.statusText, text);
    return text;
  }
}
