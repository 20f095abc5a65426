import { describe, expect, it } from 'vitest';
import { tone } from './EventFeed';

describe('the live feed colours', () => {
  it('keeps red for what went wrong, not for a routine key revocation', () => {
    expect(tone('key.revoked')).toBeUndefined();
    expect(tone('deployment.deleted')).toBeUndefined();
    expect(tone('task.failed')).toBe('bad');
    expect(tone('benchmark.completed')).toBe('ok');
  });
});
