import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { LogController } from 'fastify';
import { jsonSchemaTransform, jsonSchemaTransformObject, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { Histogram } from 'prom-client';
import { CatapultError } from '../errors/index.js';
import { actorOf, createAuthHook } from './auth.js';
import { registerConsole } from './console.js';
import type { ApiDeps } from './context.js';
import { sendProblem } from './errors.js';
import type { App } from './route.js';
import { auditRoutes } from './routes/audit.js';
import { eventRoutes } from './routes/events.js';
import { keyRoutes } from './routes/keys.js';
import { systemRoutes } from './routes/system.js';

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Builds the control-plane HTTP API (not yet listening). */
export async function buildApi(deps: ApiDeps): Promise<App> {
  const { resources } = deps;
  const app = Fastify({
    loggerInstance: resources.log,
    bodyLimit: resources.config.bodyLimit,
    logController: new LogController({ disableRequestLogging: true }),
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    return503OnClosing: true,
    forceCloseConnections: true,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 500 },
    ajv: { customOptions: { removeAdditional: false } },
  }).withTypeProvider() as unknown as App;

  // JSON only: a text/plain body is an unsupported media type, not a string to validate.
  app.removeContentTypeParser('text/plain');
  // Many clients send `content-type: application/json` on a DELETE or POST without a body; that is no body, not bad JSON.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') {
      done(null, undefined);
      return;
    }
    void parseJson(req, text, done);
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler((err, req, reply) => sendProblem(err, req, reply));
  const webConsole = await registerConsole(app, { connectOrigins: () => deps.consoleConnectOrigins?.() ?? [] });
  app.setNotFoundHandler((req, reply) => {
    if (webConsole.fallback(req, reply)) return;
    sendProblem(new CatapultError('CATAPULT_ROUTE_NOT_FOUND', `No route ${req.method} ${req.url.split('?')[0]}.`), req, reply);
  });

  const duration = new Histogram({
    name: 'catapult_http_request_duration_seconds',
    help: 'Control-plane API request duration by method, route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [resources.metrics],
  });
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    duration.observe({ method: req.method, route, status: String(reply.statusCode) }, reply.elapsedTime / 1000);
  });

  app.addHook('onRequest', createAuthHook(deps.keys, deps.credentialResolvers ?? []));

  // The audit record is written before the response leaves, so an acknowledged change is always audited.
  app.addHook('onSend', async (req, reply, payload) => {
    if (!MUTATING.has(req.method) || !req.url.startsWith('/api/') || req.routeOptions.config.audit === false) return payload;
    const actor = actorOf(req);
    try {
      await deps.audit.record({
        actorId: actor.id,
        actorName: actor.name,
        method: req.method,
        path: req.url.split('?')[0] ?? req.url,
        route: req.routeOptions.url ?? null,
        status: reply.statusCode,
        requestId: req.id,
        ip: req.ip,
      });
    } catch (err) {
      req.log.error({ err }, 'could not write audit record');
    }
    return payload;
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Catapult control plane',
        version: '0.1.0',
        description:
          'Deploy models as endpoints, watch GPU machines, run benchmarks. Authenticate with `Authorization: Bearer <key>`; ' +
          'each operation names the scope it needs in `x-catapult-scope`. Errors are application/problem+json with a stable `code`.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
    transform: (doc) => {
      const out = jsonSchemaTransform(doc);
      const config = (doc.route as { config?: { scope?: string; agent?: boolean; stream?: boolean } }).config;
      const scope = config?.scope ?? (config?.agent ? 'agent' : undefined);
      const schema = out.schema as Record<string, unknown> | undefined;
      if (scope && schema && !schema.hide) {
        schema.security = [{ bearer: [] }];
        schema['x-catapult-scope'] = scope;
        if (config?.stream) schema['x-catapult-stream'] = true;
      }
      return out;
    },
    transformObject: jsonSchemaTransformObject,
  });
  await app.register(swaggerUi, { routePrefix: '/api/docs', staticCSP: true });
  app.get('/api/openapi.json', { schema: { hide: true } }, () => app.swagger());

  // The foundation's routes, then those of the systems the composition root runs.
  for (const register of [systemRoutes(resources), keyRoutes(deps.keys), auditRoutes(deps.audit), eventRoutes(resources), ...(deps.routes ?? [])]) register(app);

  return app;
}
