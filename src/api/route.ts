import type { FastifyInstance, RawReplyDefaultExpression, RawRequestDefaultExpression, RawServerDefault } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Logger } from '../observability/index.js';

/** The Fastify instance with zod schemas as the type provider. */
export type App = FastifyInstance<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, Logger, ZodTypeProvider>;

/**
 * A group of routes, built from the services it serves (`keyRoutes(keys)`, `deploymentRoutes({ … })`):
 * a route never finds its service missing at request time.
 */
export type RoutePlugin = (app: App) => void;
