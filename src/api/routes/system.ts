import { CatapultError } from '../../errors/index.js';
import type { ApiResources } from '../context.js';
import type { RoutePlugin } from '../route.js';

/** Liveness, readiness and Prometheus metrics: public, outside /api/v1. */
export const systemRoutes = (resources: ApiResources): RoutePlugin => (app) => {
  app.get('/health', { schema: { hide: true } }, () => ({ status: 'ok' }));

  app.get('/ready', { schema: { hide: true } }, async () => {
    try {
      await resources.store.ping();
    } catch (err) {
      throw new CatapultError('CATAPULT_NOT_READY', 'The store is unreachable.', { store: resources.store.description }, { cause: err });
    }
    const { pending } = await resources.store.migrationStatus();
    if (pending.length > 0) {
      throw new CatapultError('CATAPULT_NOT_READY', `Migrations not applied: ${pending.join(', ')}.`, { pending });
    }
    return { status: 'ready', store: resources.store.dialect };
  });

  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => {
    const body = await resources.metrics.metrics();
    return reply.type(resources.metrics.contentType).send(body);
  });
};
