import { type KeyService, apiKeySchema, scopeSchema } from '../../auth/index.js';
import { z } from 'zod';
import { actorOf } from '../auth.js';
import type { RoutePlugin } from '../route.js';
import { errorResponses, idParams, queryBool } from '../schemas.js';

const createKeyBody = z.strictObject({
  name: z.string().trim().min(1).max(100).describe('A label that says who or what uses the key'),
  scopes: z.array(scopeSchema).min(1).max(5),
  deployments: z.array(z.string().min(1).max(200)).max(1000).nullable().optional().describe('Limit `infer` to these deployments'),
  rateLimitRpm: z.number().int().positive().nullable().optional().describe('Data-plane requests per minute'),
  rateLimitTpm: z.number().int().positive().nullable().optional().describe('Data-plane tokens per minute'),
  expiresAt: z.number().int().positive().nullable().optional().describe('Epoch milliseconds after which the key stops working'),
});

export const keyRoutes = (keys: KeyService): RoutePlugin => (app) => {
  app.get(
    '/api/v1/keys',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['keys'],
        summary: 'List API keys',
        querystring: z.strictObject({ includeRevoked: queryBool.optional() }),
        response: { 200: z.object({ items: z.array(apiKeySchema) }), ...errorResponses },
      },
    },
    async (req) => ({ items: await keys.list({ includeRevoked: req.query.includeRevoked ?? false }) }),
  );

  app.post(
    '/api/v1/keys',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['keys'],
        summary: 'Create an API key; the secret is returned once',
        body: createKeyBody,
        response: { 201: z.object({ key: apiKeySchema, secret: z.string() }), ...errorResponses },
      },
    },
    async (req, reply) => {
      const created = await keys.create(req.body, actorOf(req).id);
      return reply.code(201).send(created);
    },
  );

  app.get(
    '/api/v1/keys/:id',
    {
      config: { scope: 'admin' },
      schema: { tags: ['keys'], summary: 'Get an API key', params: idParams, response: { 200: apiKeySchema, ...errorResponses } },
    },
    async (req) => keys.get(req.params.id),
  );

  app.delete(
    '/api/v1/keys/:id',
    {
      config: { scope: 'admin' },
      schema: { tags: ['keys'], summary: 'Revoke an API key', params: idParams, response: { 200: apiKeySchema, ...errorResponses } },
    },
    async (req) => keys.revoke(req.params.id),
  );
};
