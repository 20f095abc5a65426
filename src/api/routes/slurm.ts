import { z } from 'zod';
import {
  type SlurmClusterService,
  clusterReportSchema,
  createSlurmClusterSchema,
  slurmClusterSchema,
  updateSlurmClusterSchema,
} from '../../slurm/index.js';

import type { RoutePlugin } from '../route.js';
import { errorResponses, idParams } from '../schemas.js';

/** Slurm clusters reached over SSH. Private keys go in and never come out. */
export function slurmRoutes(clusters: SlurmClusterService): RoutePlugin {
  return (app) => {
    app.post(
      '/api/v1/slurm-clusters',
      {
        config: { scope: 'admin' },
        schema: {
          tags: ['slurm'],
          summary: 'Add a Slurm cluster reached over SSH (its private key is kept on the server and never returned)',
          body: createSlurmClusterSchema,
          response: { 201: slurmClusterSchema, ...errorResponses },
        },
      },
      async (req, reply) => reply.code(201).send(await clusters.create(req.body)),
    );
    app.get(
      '/api/v1/slurm-clusters',
      {
        config: { scope: 'read' },
        schema: { tags: ['slurm'], summary: 'List Slurm clusters', response: { 200: z.object({ items: z.array(slurmClusterSchema) }), ...errorResponses } },
      },
      async () => ({ items: await clusters.list() }),
    );
    app.get(
      '/api/v1/slurm-clusters/:id',
      {
        config: { scope: 'read' },
        schema: { tags: ['slurm'], summary: 'One Slurm cluster by id or name', params: idParams, response: { 200: slurmClusterSchema, ...errorResponses } },
      },
      async (req) => clusters.get(req.params.id),
    );
    app.patch(
      '/api/v1/slurm-clusters/:id',
      {
        config: { scope: 'admin' },
        schema: {
          tags: ['slurm'],
          summary: 'Change the fields named; the others stay as they are',
          params: idParams,
          body: updateSlurmClusterSchema,
          response: { 200: slurmClusterSchema, ...errorResponses },
        },
      },
      async (req) => clusters.update(req.params.id, req.body),
    );
    app.delete(
      '/api/v1/slurm-clusters/:id',
      {
        config: { scope: 'admin' },
        schema: { tags: ['slurm'], summary: 'Forget a Slurm cluster (refused while deployments run on it)', params: idParams, response: { 200: slurmClusterSchema, ...errorResponses } },
      },
      async (req) => clusters.delete(req.params.id),
    );
    app.post(
      '/api/v1/slurm-clusters/:id/test',
      {
        config: { scope: 'admin' },
        schema: {
          tags: ['slurm'],
          summary: 'Connect over SSH and report the Slurm version, nodes (with GPUs from GRES) and partitions',
          params: idParams,
          response: { 200: clusterReportSchema, ...errorResponses },
        },
      },
      async (req) => clusters.test(req.params.id),
    );
  };
}
