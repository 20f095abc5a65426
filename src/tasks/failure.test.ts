import { describe, expect, it } from 'vitest';
import { ENGINE_FAILURE_CODES, TaskFailure, backoffDelay, dispositionOf, isTaskFailure, toTaskError } from './index.js';

describe('task failures', () => {
  it('records a TaskFailure with its code and retryability, keeping the cause on the error', () => {
    const cause = new Error('ECONNRESET');
    const failure = new TaskFailure('ENDPOINT_UNREACHABLE', 'gpu-node-1 did not answer', { cause });
    expect(failure.cause).toBe(cause);
    expect(toTaskError(failure)).toEqual({ code: 'ENDPOINT_UNREACHABLE', message: 'gpu-node-1 did not answer', retryable: true });
    expect(toTaskError(TaskFailure.nonRetryable('BAD_INPUT', 'no dataset'))).toMatchObject({ retryable: false });
  });

  it('treats anything else a handler throws as a retryable handler error', () => {
    expect(toTaskError(new TypeError('x is undefined'))).toEqual({ code: ENGINE_FAILURE_CODES.handlerError, message: 'x is undefined', retryable: true });
    expect(toTaskError('plain string')).toMatchObject({ code: 'TASK_HANDLER_ERROR', message: 'plain string' });
    expect(toTaskError({ code: 'FROM_AGENT', message: 'reported over HTTP', retryable: false })).toEqual({
      code: 'FROM_AGENT',
      message: 'reported over HTTP',
      retryable: false,
    });
    expect(toTaskError(new Error('x'.repeat(5000))).message.length).toBeLessThan(2100);
  });

  it('recognises a failure by its brand, not its class, so two copies of the module agree', () => {
    const copy = Object.assign(new Error('from another copy'), { [Symbol.for('catapult.TaskFailure')]: true, code: 'X', retryable: false });
    expect(isTaskFailure(copy)).toBe(true);
    expect(isTaskFailure(new Error('plain'))).toBe(false);
  });

  it('sends a failure to retry, dead or cancelled, cancellation first', () => {
    const retryable = { code: 'E', message: 'm', retryable: true };
    expect(dispositionOf({ error: retryable, attempts: 1, maxAttempts: 3, cancelRequested: false })).toBe('retry');
    expect(dispositionOf({ error: retryable, attempts: 3, maxAttempts: 3, cancelRequested: false })).toBe('dead');
    expect(dispositionOf({ error: { ...retryable, retryable: false }, attempts: 1, maxAttempts: 3, cancelRequested: false })).toBe('dead');
    expect(dispositionOf({ error: retryable, attempts: 3, maxAttempts: 3, cancelRequested: true })).toBe('cancelled');
  });

  it('doubles the backoff per attempt up to the cap', () => {
    const policy = { baseMs: 100, maxMs: 1000 };
    const full = () => 1;
    expect([1, 2, 3, 4, 5, 6].map((a) => backoffDelay(a, policy, full))).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(backoffDelay(3, policy, () => 0)).toBe(200);
  });
});
