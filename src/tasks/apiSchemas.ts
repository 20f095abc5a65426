import { z } from 'zod';
import { TASK_STATES } from './types.js';

// What the API answers about tasks, as schemas: the OpenAPI document and the console's types come from them.

export const taskErrorSchema = z.object({ code: z.string(), message: z.string(), retryable: z.boolean() }).meta({ id: 'TaskError' });

export const taskSchema = z
  .object({
    id: z.string(),
    queue: z.string(),
    kind: z.string(),
    payload: z.unknown(),
    priority: z.number().describe('Higher runs first'),
    state: z.enum(TASK_STATES),
    attempts: z.number().describe('Attempts started so far, including a running one'),
    maxAttempts: z.number(),
    runAt: z.number().describe('Epoch ms before which the task is not claimed (delay, retry backoff)'),
    lease: z.object({ owner: z.string(), expiresAt: z.number() }).nullable().describe('Who holds the running task, and until when'),
    cancelRequestedAt: z.number().nullable(),
    idempotencyKey: z.string().nullable(),
    result: z.unknown(),
    error: taskErrorSchema.nullable().describe('The most recent failure, if any'),
    createdAt: z.number(),
    updatedAt: z.number(),
    startedAt: z.number().nullable().describe('Start of the latest attempt'),
    finishedAt: z.number().nullable(),
  })
  .meta({ id: 'Task' });

export const taskLeaseSchema = z.object({ id: z.string(), owner: z.string(), expiresAt: z.number() }).meta({ id: 'TaskLease' });
