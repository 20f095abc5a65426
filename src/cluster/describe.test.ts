import { describe, expect, it } from 'vitest';
import { describeRequest } from './scheduler.js';

const GiB = 2 ** 30;

describe('a request in words, as explanations print it', () => {
  it('names whole GPUs without a memory figure when none was asked for', () => {
    expect(describeRequest({ cpu: 1, memoryBytes: GiB, gpus: { count: 2, memoryBytes: 0 } })).toBe('2 GPUs, 1 CPU core, 1.0 GiB memory');
    expect(describeRequest({ cpu: 2, memoryBytes: GiB, gpus: { count: 1, memoryBytes: 0 } })).toBe('1 GPU, 2 CPU cores, 1.0 GiB memory');
  });

  it('gives the free memory each GPU needs when it was asked for', () => {
    expect(describeRequest({ cpu: 1, memoryBytes: GiB, gpus: { count: 1, memoryBytes: 200 * GiB } })).toBe('1 GPU with 200.0 GiB free, 1 CPU core, 1.0 GiB memory');
    expect(describeRequest({ cpu: 1, memoryBytes: GiB, gpus: { count: 2, memoryBytes: 16 * GiB } })).toBe('2 GPUs with 16.0 GiB free each, 1 CPU core, 1.0 GiB memory');
  });
});
