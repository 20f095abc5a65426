import type { AuditLog } from '../../audit/index.js';
import { z } from 'zod';
import type { RoutePlugin } from '../route.js';
import { errorResponses } from '../schemas.js';

const auditRecord = z
  .object({
    seq: z.number(),
    ts: z.number(),
    actorId: z.string().nullable(),
    actorName: z.string().nullable(),
    method: z.string(),
    path: z.string(),
    route: z.string().nullable(),
    status: z.number(),
    requestId: z.string(),
    ip: z.string(),
  })
  .meta({ id: 'AuditRecord' });

export const auditRoutes = (audit: AuditLog): RoutePlugin => (app) => {
  app.get(
    '/api/v1/audit',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['audit'],
        summary: 'Audit log of mutating calls, newest first',
        querystring: z.strictObject({
          limit: z.coerce.number().int().min(1).max(1000).default(100),
          before: z.coerce.number().int().min(0).optional().describe('Only records with a smaller seq (paging)'),
          actor: z.string().max(200).optional().describe('Key or agent id'),
          method: z.enum(['POST', 'PUT', 'PATCH', 'DELETE']).optional(),
        }),
        response: { 200: z.object({ items: z.array(auditRecord) }), ...errorResponses },
      },
    },
    async (req) => ({
      items: await audit.list({
        limit: req.query.limit,
        ...(req.query.before !== undefined ? { before: req.query.before } : {}),
        ...(req.query.actor ? { actorId: req.query.actor } : {}),
        ...(req.query.method ? { method: req.query.method } : {}),
      }),
    }),
  );
};
