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
  CATAPULT_NOT_READY: {
    status: 503,
    title: 'Not ready',
    hint: 'The store is unreachable or migrations have not run; check the server log.',
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
