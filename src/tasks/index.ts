export { TaskEngine, type TaskEngineOptions, type TaskResources } from './engine.js';
export {
  DEFAULT_BACKOFF,
  ENGINE_FAILURE_CODES,
  type FailureDisposition,
  TaskFailure,
  type TaskFailureOptions,
  backoffDelay,
  dispositionOf,
  isTaskFailure,
  toTaskError,
} from './failure.js';
export { type HandlerRegistration, type TaskContext, type TaskHandler, TaskHandlers } from './handlers.js';
export { type StopResult, WorkerPool, type WorkerPoolOptions } from './pool.js';
export { taskMigrations } from './schema.js';
export { EngineTransport, type HeartbeatResult, type OutcomeResult, type TaskTransport } from './transport.js';
export {
  type BackoffPolicy,
  type ClaimOptions,
  type ClaimedTask,
  type EnqueueInput,
  type EnqueueResult,
  type InTransaction,
  type Lease,
  type QueueStats,
  TASK_STATES,
  type Task,
  type TaskError,
  type TaskFilter,
  type TaskState,
} from './types.js';
export { taskErrorSchema, taskLeaseSchema, taskSchema } from './apiSchemas.js';
