import { z } from 'zod';
import type { StatusSection } from '../context.js';
import type { RoutePlugin } from '../route.js';
import { errorResponses } from '../schemas.js';

const counts = z.record(z.string(), z.number());

/**
 * The sections the built-in domains contribute, documented so clients (the web console among them)
 * get real types. Every section is optional, since a server may run without a domain, and the
 * object is loose, so a domain may add a section before it is described here.
 */
const clusterStatusSchema = z
  .looseObject({
    workers: z.object({ total: z.number(), byState: counts, cordoned: z.number(), withFakeGpus: z.number() }).optional(),
    gpus: z
      .object({
        total: z.number(),
        fake: z.number(),
        memoryTotalBytes: z.number(),
        memoryFreeBytes: z.number().describe('Free on ready, uncordoned workers: what new replicas can use'),
        items: z.array(
          z.object({
            workerId: z.string(),
            worker: z.string(),
            workerState: z.string(),
            vendor: z.string(),
            index: z.number(),
            name: z.string(),
            fake: z.boolean(),
            memoryTotalBytes: z.number(),
            memoryUsedBytes: z.number(),
            memoryReservedBytes: z.number(),
            memoryFreeBytes: z.number(),
            utilizationPercent: z.number().nullable(),
            temperatureC: z.number().nullable(),
          }),
        ),
        truncated: z.boolean(),
      })
      .optional(),
    replicas: z
      .object({
        total: z.number(),
        byState: counts,
        stopping: z.number(),
        unschedulable: z.array(z.object({ id: z.string(), owner: z.string(), reason: z.string() })),
      })
      .optional(),
    queues: z
      .array(z.object({ queue: z.string(), pending: z.number(), running: z.number(), dead: z.number(), concurrency: z.number().nullable() }))
      .optional(),
  })
  .meta({ id: 'ClusterStatus' });

export const clusterStatusRoutes = (statusSections: Record<string, StatusSection>): RoutePlugin => (app) => {
  app.get(
    '/api/v1/cluster/status',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['cluster'],
        summary: 'Cluster overview: workers, GPUs, replicas and queues',
        response: { 200: clusterStatusSchema, ...errorResponses },
      },
    },
    async () => {
      const out: Record<string, unknown> = {};
      for (const [name, section] of Object.entries(statusSections)) out[name] = await section();
      // The sections are typed by their domains; the response schema checks them on the way out.
      return out;
    },
  );

  app.get(
    '/api/v1/whoami',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['keys'],
        summary: 'The calling key: its name and scopes',
        response: {
          200: z.object({ id: z.string(), name: z.string(), scopes: z.array(z.string()) }),
          ...errorResponses,
        },
      },
    },
    (req) => {
      const p = req.principal!;
      return p.kind === 'key' ? { id: p.key.id, name: p.key.name, scopes: p.key.scopes } : { id: p.agentId, name: p.name, scopes: [] };
    },
  );
};
