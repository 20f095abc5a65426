import { z } from 'zod';
import type { ApiDeps } from '../context.js';
import type { App } from '../route.js';
import { errorResponses } from '../schemas.js';

export function clusterStatusRoutes(app: App, { statusSections = {} }: ApiDeps): void {
  app.get(
    '/api/v1/cluster/status',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['cluster'],
        summary: 'Cluster overview: workers, GPUs, replicas and queues',
        response: { 200: z.record(z.string(), z.unknown()), ...errorResponses },
      },
    },
    async () => {
      const out: Record<string, unknown> = {};
      for (const [name, section] of Object.entries(statusSections)) out[name] = await section();
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
}
