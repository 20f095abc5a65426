import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';

/** Which error format a path speaks: OpenAI's `{"error":{...}}` on /v1, the Open Inference Protocol's `{"error":"..."}` elsewhere. */
export type ErrorFormat = 'openai' | 'oip';

/** A data-plane error, in the words each protocol's clients expect. */
export interface GatewayError {
  status: number;
  message: string;
  /** OpenAI `type`. */
  type: 'invalid_request_error' | 'authentication_error' | 'permission_error' | 'not_found_error' | 'rate_limit_error' | 'server_error';
  /** OpenAI `code`: stable, for clients to match on. */
  code: string;
  param?: string | null;
  headers?: OutgoingHttpHeaders;
}

export function sendJson(res: ServerResponse, status: number, body: string, headers?: OutgoingHttpHeaders): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

export function sendError(res: ServerResponse, format: ErrorFormat, err: GatewayError, requestId: string): void {
  const body =
    format === 'openai'
      ? JSON.stringify({ error: { message: err.message, type: err.type, param: err.param ?? null, code: err.code } })
      : JSON.stringify({ error: err.message });
  sendJson(res, err.status, body, { 'x-request-id': requestId, ...err.headers });
}

export const errors = {
  unauthenticated: (message: string): GatewayError => ({
    status: 401,
    message,
    type: 'authentication_error',
    code: 'invalid_api_key',
    headers: { 'www-authenticate': 'Bearer' },
  }),
  forbidden: (message: string, code = 'permission_denied'): GatewayError => ({ status: 403, message, type: 'permission_error', code }),
  badRequest: (message: string, code: string, param: string | null = null): GatewayError => ({ status: 400, message, type: 'invalid_request_error', code, param }),
  modelNotFound: (model: string): GatewayError => ({
    status: 404,
    message: `The model '${model}' does not exist or you do not have access to it.`,
    type: 'invalid_request_error',
    code: 'model_not_found',
    param: 'model',
  }),
  notFound: (message: string): GatewayError => ({ status: 404, message, type: 'not_found_error', code: 'not_found' }),
  methodNotAllowed: (method: string, path: string, allow: string): GatewayError => ({
    status: 405,
    message: `Method ${method} is not allowed on ${path}; use ${allow}.`,
    type: 'invalid_request_error',
    code: 'method_not_allowed',
    headers: { allow },
  }),
  tooLarge: (limit: number): GatewayError => ({
    status: 413,
    message: `The request body exceeds the gateway's limit of ${limit} bytes.`,
    type: 'invalid_request_error',
    code: 'request_too_large',
    headers: { connection: 'close' },
  }),
  rateLimited: (message: string, retryAfterS: number): GatewayError => ({
    status: 429,
    message,
    type: 'rate_limit_error',
    code: 'rate_limit_exceeded',
    headers: { 'retry-after': String(retryAfterS) },
  }),
  unavailable: (message: string, code = 'no_ready_replica'): GatewayError => ({ status: 503, message, type: 'server_error', code, headers: { 'retry-after': '1' } }),
  badGateway: (message: string): GatewayError => ({ status: 502, message, type: 'server_error', code: 'upstream_error' }),
  gatewayTimeout: (message: string): GatewayError => ({ status: 504, message, type: 'server_error', code: 'upstream_timeout' }),
};
