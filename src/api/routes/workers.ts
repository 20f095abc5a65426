import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import {
  type ClusterService,
  DEFAULT_JOIN_TOKEN_TTL_SECONDS,
  JOIN_PRINCIPAL_PREFIX,
  REPLICA_STATES,
  WORKER_STATES,
  agentAssignmentsResponseSchema,
  assignmentSchema,
  createJoinTokenBodySchema,
  heartbeatBodySchema,
  heartbeatResponseSchema,
  joinTokenSchema,
  registerBodySchema,
  WorkerPerformance,
  registerResponseSchema,
  workerPerformanceSchema,
  workerSchema,
} from '../../cluster/index.js';
import { CatapultError } from '../../errors/index.js';
import type { Clock } from '../../util/index.js';
import { actorOf, bearer } from '../auth.js';
import type { RoutePlugin } from '../route.js';
import { errorResponses, idParams, queryBool } from '../schemas.js';

/** The longest an agent's assignment long-poll is held open. */
const MAX_WAIT_SECONDS = 60;

/** An agent may act only on its own worker; admin keys may act on any (operators, tests). */
function assertSelf(req: FastifyRequest, workerId: string): void {
  const p = req.principal;
  if (p?.kind === 'agent' && p.agentId !== workerId) {
    throw new CatapultError('CATAPULT_AGENT_MISMATCH', `This agent credential belongs to worker ${p.agentId}, not ${workerId}.`, {
      workerId,
      agentId: p.agentId,
    });
  }
}

/**
 * Workers, join tokens and assignments for operators; registration, heartbeats and assignment
 * long-polls for agents. Agent routes carry `config: { agent: true }`, so agent credentials reach
 * them and nothing else.
 */
/** A worker as the API shows it: the cluster's view plus its GPU use over the last minutes. */
const workerViewSchema = workerSchema.extend({ performance: workerPerformanceSchema });

export function clusterRoutes(cluster: ClusterService, clock: Clock): RoutePlugin {
  return (app) => {
    const performance = new WorkerPerformance();
    const withPerformance = <W extends { id: string }>(w: W) => ({ ...w, performance: performance.view(w.id, clock.now()) });
    // ── Workers ──────────────────────────────────────────────────────────────
    app.get(
      '/api/v1/workers',
      {
        config: { scope: 'read' },
        schema: {
          tags: ['workers'],
          summary: 'List workers with their GPUs, free memory and replicas',
          querystring: z.strictObject({ state: z.enum(WORKER_STATES).optional() }),
          response: { 200: z.object({ items: z.array(workerViewSchema) }), ...errorResponses },
        },
      },
      (req) => ({ items: cluster.listWorkers(req.query.state ? { state: req.query.state } : {}).map(withPerformance) }),
    );

    app.get(
      '/api/v1/workers/:id',
      {
        config: { scope: 'read' },
        schema: { tags: ['workers'], summary: 'Get a worker by id or name, with its GPU use over the last minutes', params: idParams, response: { 200: workerViewSchema, ...errorResponses } },
      },
      (req) => withPerformance(cluster.getWorker(req.params.id)),
    );

    app.post(
      '/api/v1/workers/:id/cordon',
      {
        config: { scope: 'admin' },
        schema: { tags: ['workers'], summary: 'Stop placing new replicas on a worker', params: idParams, response: { 200: workerSchema, ...errorResponses } },
      },
      (req) => cluster.cordon(req.params.id),
    );

    app.post(
      '/api/v1/workers/:id/uncordon',
      {
        config: { scope: 'admin' },
        schema: { tags: ['workers'], summary: 'Make a worker schedulable again (ends a drain)', params: idParams, response: { 200: workerSchema, ...errorResponses } },
      },
      (req) => cluster.uncordon(req.params.id),
    );

    app.post(
      '/api/v1/workers/:id/drain',
      {
        config: { scope: 'admin' },
        schema: {
          tags: ['workers'],
          summary: 'Cordon a worker and move its replicas elsewhere; those that fit nowhere stay until they can move',
          params: idParams,
          response: { 200: workerSchema, ...errorResponses },
        },
      },
      (req) => cluster.drain(req.params.id),
    );

    app.delete(
      '/api/v1/workers/:id',
      {
        config: { scope: 'admin' },
        schema: {
          tags: ['workers'],
          summary: 'Remove a worker and revoke its agent credential',
          description: 'A live worker that still runs replicas is refused (409) unless `force=true`, which moves them elsewhere at once.',
          params: idParams,
          querystring: z.strictObject({ force: queryBool.optional() }),
          response: { 200: workerSchema, ...errorResponses },
        },
      },
      (req) => cluster.removeWorker(req.params.id, { force: req.query.force ?? false }),
    );

    // ── Join tokens ──────────────────────────────────────────────────────────
    app.post(
      '/api/v1/join-tokens',
      {
        config: { scope: 'admin' },
        schema: {
          tags: ['workers'],
          summary: 'Create a join token for agents; the secret is returned once',
          body: createJoinTokenBodySchema,
          response: { 201: z.object({ token: joinTokenSchema, secret: z.string() }), ...errorResponses },
        },
      },
      async (req, reply) => {
        const { name, expiresAt, expiresInSeconds, maxUses } = req.body;
        // Not naming an expiry gets the default lifetime; only an explicit `expiresAt: null` never expires.
        const at = expiresInSeconds
          ? clock.now() + expiresInSeconds * 1000
          : expiresAt === undefined
            ? clock.now() + DEFAULT_JOIN_TOKEN_TTL_SECONDS * 1000
            : expiresAt;
        const created = await cluster.createJoinToken({ ...(name ? { name } : {}), expiresAt: at, maxUses: maxUses ?? null }, actorOf(req).id);
        return reply.code(201).send(created);
      },
    );

    app.get(
      '/api/v1/join-tokens',
      {
        config: { scope: 'admin' },
        schema: {
          tags: ['workers'],
          summary: 'List join tokens',
          querystring: z.strictObject({ includeRevoked: queryBool.optional() }),
          response: { 200: z.object({ items: z.array(joinTokenSchema) }), ...errorResponses },
        },
      },
      async (req) => ({ items: await cluster.listJoinTokens({ includeRevoked: req.query.includeRevoked ?? false }) }),
    );

    app.delete(
      '/api/v1/join-tokens/:id',
      {
        config: { scope: 'admin' },
        schema: { tags: ['workers'], summary: 'Revoke a join token', params: idParams, response: { 200: joinTokenSchema, ...errorResponses } },
      },
      (req) => cluster.revokeJoinToken(req.params.id),
    );

    // ── Assignments (read-only here; deployments create them through ClusterService) ──
    app.get(
      '/api/v1/assignments',
      {
        config: { scope: 'read' },
        schema: {
          tags: ['workers'],
          summary: 'List replica assignments: where each replica runs, its state, and why a pending one is not placed',
          querystring: z.strictObject({
            owner: z.string().max(200).optional(),
            workerId: z.string().max(200).optional(),
            state: z.enum(REPLICA_STATES).optional(),
          }),
          response: { 200: z.object({ items: z.array(assignmentSchema) }), ...errorResponses },
        },
      },
      (req) => ({
        items: cluster.listAssignments({
          ...(req.query.owner ? { owner: req.query.owner } : {}),
          ...(req.query.workerId ? { workerId: req.query.workerId } : {}),
          ...(req.query.state ? { state: req.query.state } : {}),
        }),
      }),
    );

    app.get(
      '/api/v1/assignments/:id',
      {
        config: { scope: 'read' },
        schema: { tags: ['workers'], summary: 'Get one replica assignment', params: idParams, response: { 200: assignmentSchema, ...errorResponses } },
      },
      (req) => cluster.getAssignment(req.params.id),
    );

    // ── Agents ───────────────────────────────────────────────────────────────
    app.post(
      '/api/v1/agents/register',
      {
        config: { agent: true },
        schema: {
          tags: ['agents'],
          summary: 'Register an agent: `Bearer <join token>` buys a credential (returned once); `Bearer <agent credential>` re-registers and keeps the worker id',
          body: registerBodySchema,
          response: { 200: registerResponseSchema, ...errorResponses },
        },
      },
      (req) => {
        const p = req.principal!;
        const secret = bearer(req)!;
        if (p.kind === 'key') return cluster.register(req.body, { adminKeyId: p.key.id });
        return cluster.register(req.body, p.agentId.startsWith(JOIN_PRINCIPAL_PREFIX) ? { joinToken: secret } : { credential: secret });
      },
    );

    app.post(
      '/api/v1/agents/:id/heartbeat',
      {
        config: { agent: true, audit: false },
        schema: {
          tags: ['agents'],
          summary: "Report GPUs, running replicas and cached models; liveness is judged by the server's receive time",
          params: idParams,
          body: heartbeatBodySchema,
          response: { 200: heartbeatResponseSchema, ...errorResponses },
        },
      },
      async (req) => {
        assertSelf(req, req.params.id);
        const answer = await cluster.heartbeat(req.params.id, req.body);
        performance.record(req.params.id, clock.now(), req.body);
        return answer;
      },
    );

    app.get(
      '/api/v1/agents/:id/assignments',
      {
        config: { agent: true, stream: true },
        schema: {
          tags: ['agents'],
          summary: 'The replicas this agent should run; long-polls up to `wait` seconds while `version` is current',
          params: idParams,
          querystring: z.strictObject({
            wait: z.coerce.number().int().min(0).max(MAX_WAIT_SECONDS).default(0).describe('Seconds to wait for a change'),
            version: z.string().max(100).optional().describe('The version the agent already has'),
          }),
          response: { 200: agentAssignmentsResponseSchema, ...errorResponses },
        },
      },
      async (req, reply) => {
        assertSelf(req, req.params.id);
        const abort = new AbortController();
        const onClose = () => abort.abort();
        reply.raw.on('close', onClose);
        try {
          return await cluster.waitForAssignments(req.params.id, req.query.version, req.query.wait * 1000, abort.signal);
        } finally {
          reply.raw.off('close', onClose);
        }
      },
    );
  };
}
