import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError } from 'fastify-type-provider-zod';
import { CatapultError, type FieldError, isCatapultError, toProblem } from '../errors/index.js';

const PROBLEM_TYPE = 'application/problem+json; charset=utf-8';

/** Maps Fastify's own errors (parsing, limits) to catalogue codes. */
function fromFastifyError(err: FastifyError): CatapultError | undefined {
  switch (err.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new CatapultError('CATAPULT_MALFORMED_JSON', `The request body is not valid JSON: ${err.message}`);
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new CatapultError('CATAPULT_BODY_TOO_LARGE', err.message);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new CatapultError('CATAPULT_UNSUPPORTED_MEDIA_TYPE', err.message);
    default:
      break;
  }
  if (err.name === 'SyntaxError' || err.message.includes('JSON')) {
    if ((err.statusCode ?? 500) < 500) return new CatapultError('CATAPULT_MALFORMED_JSON', err.message);
  }
  if (err.statusCode === 413) return new CatapultError('CATAPULT_BODY_TOO_LARGE', err.message);
  if (err.statusCode === 415) return new CatapultError('CATAPULT_UNSUPPORTED_MEDIA_TYPE', err.message);
  if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) {
    return new CatapultError('CATAPULT_VALIDATION_FAILED', err.message);
  }
  return undefined;
}

function validationErrors(err: FastifyError): FieldError[] {
  const where = (err as { validationContext?: string }).validationContext ?? 'body';
  if (hasZodFastifySchemaValidationErrors(err)) {
    return err.validation.map((v) => {
      const params = v.params as { keys?: string[] } | undefined;
      const path = v.instancePath === '/' ? where : `${where}${v.instancePath}`;
      if (v.keyword === 'unrecognized_keys' && params?.keys) {
        return { path, message: `unknown field(s) ${params.keys.map((k) => `'${k}'`).join(', ')}; remove them (see /api/docs for the fields this route takes)` };
      }
      return { path, message: v.message ?? 'invalid' };
    });
  }
  return (err.validation ?? []).map((v) => ({ path: `${where}${v.instancePath}`, message: v.message ?? 'invalid' }));
}

export function toCatapultError(err: unknown): CatapultError {
  if (isCatapultError(err)) return err;
  const fe = err as FastifyError;
  if (fe && typeof fe === 'object' && Array.isArray(fe.validation)) {
    const errors = validationErrors(fe);
    const summary = errors.map((e) => `${e.path}: ${e.message}`).join('; ');
    return new CatapultError('CATAPULT_VALIDATION_FAILED', `Invalid request: ${summary}`, { errors });
  }
  if (fe && typeof fe === 'object' && typeof fe.message === 'string') {
    const mapped = fromFastifyError(fe);
    if (mapped) return mapped;
  }
  return new CatapultError('CATAPULT_INTERNAL', 'An unexpected error occurred.', {}, { cause: err });
}

/** Renders any error as application/problem+json; 5xx are logged with their stack. */
export function sendProblem(err: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const ce = toCatapultError(err);
  if (ce.status >= 500) {
    request.log.error({ err: isResponseSerializationError(err) ? { message: err.message, cause: err.cause.issues } : err }, 'request failed');
  }
  if (ce.code === 'CATAPULT_UNAUTHENTICATED') void reply.header('www-authenticate', 'Bearer realm="catapult"');
  const retryAfter = ce.extra.retryAfterSeconds;
  if (typeof retryAfter === 'number') void reply.header('retry-after', String(Math.ceil(retryAfter)));
  return reply.code(ce.status).type(PROBLEM_TYPE).send(toProblem(ce, request.url.split('?')[0], request.id));
}
