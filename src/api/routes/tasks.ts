import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { CatapultError } from '../../errors/index.js';
import { TASK_STATES, type Lease, type Task, type TaskEngine, taskLeaseSchema as leaseSchema, taskSchema } from '../../tasks/index.js';
import type { RoutePlugin } from '../route.js';
import { errorResponses, idParams } from '../schemas.js';

const name = z.string().min(1).max(200);

const listQuery = z.strictObject({
  queue: name.optional(),
  state: z.enum(TASK_STATES).optional(),
  kind: name.optional(),
  limit: z.coerce.number().int().min(1).max(500).optional().describe('Page size, default 100'),
  cursor: name.optional().describe('`nextCursor` from the previous page'),
});


/** Identifies one attempt held by the caller; `worker` must match the one named at claim. */
const heldBody = {
  leaseId: z.string().min(1).max(200).describe('`lease.id` from the claim'),
  worker: name.optional().describe('The worker name given at claim, if any'),
};

const claimBody = z.strictObject({
  queues: z.array(name).min(1).max(50).describe('Queues the agent subscribes to'),
  kinds: z.array(name).min(1).max(200).optional().describe('Only tasks of these kinds (the ones the agent can run)'),
  limit: z.number().int().min(1).max(100).default(1),
  leaseMs: z.number().int().min(1_000).max(3_600_000).optional().describe('Lease length; heartbeat well within it'),
  worker: name.optional().describe('Tells apart several workers of one agent'),
});

const heartbeatBody = z.strictObject({ ...heldBody, leaseMs: z.number().int().min(1_000).max(3_600_000).optional() });
const completeBody = z.strictObject({ ...heldBody, result: z.unknown().optional() });
const failBody = z.strictObject({
  ...heldBody,
  error: z.strictObject({
    code: z.string().min(1).max(200),
    message: z.string().max(10_000),
    retryable: z.boolean().default(true).describe('false: no retry can fix it; the task goes to dead'),
    retryAfterMs: z.number().int().min(0).max(86_400_000).optional().describe('Overrides the backoff before the next attempt'),
  }),
});
const releaseBody = z.strictObject(heldBody);

/**
 * The lease owner for a caller: an agent's own id, or the admin key's (operators and tests), plus
 * the worker name, so one caller cannot act on another's leases.
 */
function ownerOf(req: FastifyRequest, worker: string | undefined): string {
  const p = req.principal!;
  // A join token may register a worker and nothing more; only a joined agent takes work.
  if (p.kind === 'agent' && p.agentId.startsWith('join:')) {
    throw new CatapultError('CATAPULT_FORBIDDEN', 'A join token can only register an agent; use the credential the agent received when it joined.', {
      requiredScope: 'agent',
    });
  }
  const base = p.kind === 'agent' ? `agent:${p.agentId}` : `key:${p.key.id}`;
  return worker ? `${base}/${worker}` : base;
}

function heldLease(req: FastifyRequest, taskId: string, body: { leaseId: string; worker?: string | undefined }): Lease {
  // expiresAt is not part of the proof; the store checks task id, lease id and owner.
  return { taskId, leaseId: body.leaseId, owner: ownerOf(req, body.worker), expiresAt: 0 };
}

const submitBody = z.strictObject({
  queue: name.describe('The queue agents claim it from'),
  kind: name.describe('What to do; agents claiming the queue name the kinds they run'),
  payload: z.unknown().optional().describe("The task's input, as JSON"),
  priority: z.number().int().min(-1_000_000).max(1_000_000).default(0).describe('Higher runs first'),
  maxAttempts: z.number().int().min(1).max(100).optional().describe('Default 5'),
  delayMs: z.number().int().min(0).max(30 * 86_400_000).optional().describe('Run no earlier than this many ms from now'),
  idempotencyKey: name.optional().describe('Unique per queue: submitting the same key again returns the task that has it'),
});

/** Task submission, list, detail, cancel and retry for people; claim, heartbeat and outcome routes for remote agents. */
export const taskRoutes = (tasks: TaskEngine, internalTaskKinds: () => { kind: string; queue: string }[] = () => []): RoutePlugin => (app) => {
  app.post(
    '/api/v1/tasks',
    {
      config: { scope: 'deploy' },
      schema: {
        tags: ['tasks'],
        summary: 'Submit a task for agents to run, with a priority',
        description:
          'The task waits in `queue` until an agent claiming that queue and kind takes it, highest priority first, then oldest. ' +
          'Kinds the control plane runs itself (benchmark runs) are started through their own APIs and refused here. ' +
          'With an idempotencyKey already used in the queue, the existing task comes back with 200 instead of 201.',
        body: submitBody,
        response: { 201: taskSchema, 200: taskSchema, ...errorResponses },
      },
    },
    async (req, reply) => {
      const internal = internalTaskKinds().find((k) => k.kind === req.body.kind || k.queue === req.body.queue);
      if (internal) {
        throw new CatapultError('CATAPULT_VALIDATION_FAILED', `Tasks of kind '${internal.kind}' on queue '${internal.queue}' are Catapult's own; start them through their API.`, {
          errors: [{ path: internal.kind === req.body.kind ? 'body/kind' : 'body/queue', message: 'reserved for the control plane' }],
        });
      }
      const { queue, kind, payload, priority, maxAttempts, delayMs, idempotencyKey } = req.body;
      const { task, created } = await tasks.enqueue({
        queue,
        kind,
        payload: payload ?? null,
        priority,
        ...(maxAttempts !== undefined ? { maxAttempts } : {}),
        ...(delayMs !== undefined ? { delayMs } : {}),
        ...(idempotencyKey !== undefined ? { idempotencyKey } : {}),
      });
      return reply.code(created ? 201 : 200).send(task);
    },
  );

  app.get(
    '/api/v1/tasks',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['tasks'],
        summary: 'List tasks, newest first, filtered by queue, state and kind',
        querystring: listQuery,
        response: { 200: z.object({ items: z.array(taskSchema), nextCursor: z.string().nullable() }), ...errorResponses },
      },
    },
    async (req) => tasks.list(req.query),
  );

  app.get(
    '/api/v1/tasks/:id',
    {
      config: { scope: 'read' },
      schema: { tags: ['tasks'], summary: 'Get a task', params: idParams, response: { 200: taskSchema, ...errorResponses } },
    },
    async (req): Promise<Task> => tasks.get(req.params.id),
  );

  app.post(
    '/api/v1/tasks/:id/cancel',
    {
      config: { scope: 'deploy' },
      schema: {
        tags: ['tasks'],
        summary: 'Cancel a task: at once if waiting, through its handler if running',
        description:
          'A queued or failed (waiting to retry) task is cancelled at once. A running task records the request; its worker learns it ' +
          'at the next heartbeat and the task ends `cancelled` when the handler stops (or `succeeded` if it finished first).',
        params: idParams,
        response: { 200: taskSchema, ...errorResponses },
      },
    },
    async (req) => tasks.cancel(req.params.id),
  );

  app.post(
    '/api/v1/tasks/:id/retry',
    {
      config: { scope: 'deploy' },
      schema: {
        tags: ['tasks'],
        summary: 'Retry a dead task with a fresh set of attempts',
        params: idParams,
        response: { 200: taskSchema, ...errorResponses },
      },
    },
    async (req) => tasks.retry(req.params.id),
  );

  // Agent routes: machine traffic whose outcome the task itself records, so not in the audit log.
  app.post(
    '/api/v1/agents/tasks/claim',
    {
      config: { agent: true, audit: false },
      schema: {
        tags: ['agents'],
        summary: 'Claim due tasks from subscribed queues',
        description: 'Returns up to `limit` tasks, highest priority first, each with a lease to present on heartbeat, complete, fail or release.',
        body: claimBody,
        response: { 200: z.object({ tasks: z.array(z.object({ task: taskSchema, lease: leaseSchema })) }), ...errorResponses },
      },
    },
    async (req) => {
      const { queues, kinds, limit, leaseMs, worker } = req.body;
      const claimed = await tasks.claim({ owner: ownerOf(req, worker), queues, ...(kinds ? { kinds } : {}), limit, ...(leaseMs ? { leaseMs } : {}) });
      return { tasks: claimed.map((c) => ({ task: c.task, lease: { id: c.lease.leaseId, owner: c.lease.owner, expiresAt: c.lease.expiresAt } })) };
    },
  );

  app.post(
    '/api/v1/agents/tasks/:id/heartbeat',
    {
      config: { agent: true, audit: false },
      schema: {
        tags: ['agents'],
        summary: 'Extend a task lease; says whether the task was cancelled',
        description: 'When `cancelled` is true, stop the work and report it with /fail: the task then ends cancelled.',
        params: idParams,
        body: heartbeatBody,
        response: { 200: z.object({ cancelled: z.boolean(), leaseExpiresAt: z.number() }), ...errorResponses },
      },
    },
    async (req) => {
      const beat = await tasks.heartbeat(heldLease(req, req.params.id, req.body), req.body.leaseMs ? { leaseMs: req.body.leaseMs } : {});
      return { cancelled: beat.cancelRequested, leaseExpiresAt: beat.expiresAt };
    },
  );

  app.post(
    '/api/v1/agents/tasks/:id/complete',
    {
      config: { agent: true, audit: false },
      schema: { tags: ['agents'], summary: 'Report a held task succeeded', params: idParams, body: completeBody, response: { 200: taskSchema, ...errorResponses } },
    },
    async (req) => {
      await tasks.complete(heldLease(req, req.params.id, req.body), req.body.result);
      return tasks.get(req.params.id);
    },
  );

  app.post(
    '/api/v1/agents/tasks/:id/fail',
    {
      config: { agent: true, audit: false },
      schema: {
        tags: ['agents'],
        summary: 'Report a held task failed; it retries, dies or ends cancelled',
        params: idParams,
        body: failBody,
        response: { 200: taskSchema, ...errorResponses },
      },
    },
    async (req) => tasks.fail(heldLease(req, req.params.id, req.body), req.body.error),
  );

  app.post(
    '/api/v1/agents/tasks/:id/release',
    {
      config: { agent: true, audit: false },
      schema: {
        tags: ['agents'],
        summary: 'Give a held task back to its queue without spending the attempt (agent shutting down)',
        params: idParams,
        body: releaseBody,
        response: { 200: taskSchema, ...errorResponses },
      },
    },
    async (req) => tasks.release(heldLease(req, req.params.id, req.body)),
  );
};
