import { dtypeBytes } from './analyze.js';
import type { ModelDescriptor } from './descriptor.js';

/** GPU memory one replica of a model needs, and its parts, so people can check the sum. */
export interface ResourceEstimate {
  weightsBytes: number;
  /** 2 (K and V) × layers × KV heads × head dim × bytes per element; 0 for models without attention layers. */
  kvBytesPerToken: number;
  contextLength: number;
  concurrency: number;
  /** kvBytesPerToken × contextLength × concurrency. */
  kvCacheBytes: number;
  /** Working buffers: 10% of the weights plus hidden-size activations for the tokens in flight. */
  activationBytes: number;
  /** CUDA context and runtime allocations, a fixed allowance. */
  runtimeOverheadBytes: number;
  /** weights + KV cache + activations + runtime overhead. */
  totalBytes: number;
  /** GPUs needed when each has `gpuMemoryBytes` (90% usable); null when no GPU size was given. */
  minGpus: number | null;
  gpuMemoryBytes: number | null;
}

export interface EstimateOptions {
  /** Tokens of context per sequence; defaults to the model's maximum positions. */
  contextLength?: number;
  /** Sequences served at once; defaults to 1. */
  concurrency?: number;
  gpuMemoryBytes?: number;
}

export const RUNTIME_OVERHEAD_BYTES = 512 * 1024 * 1024;
const MAX_ACTIVATION_TOKENS = 2048;

export function estimateResources(d: ModelDescriptor, opts: EstimateOptions = {}): ResourceEstimate {
  const a = d.architecture;
  const contextLength = Math.max(0, Math.floor(opts.contextLength ?? a?.maxPositions ?? d.gguf?.contextLength ?? 0));
  const concurrency = Math.max(1, Math.floor(opts.concurrency ?? 1));
  const elem = d.gguf ? 2 : dtypeBytes(a?.dtype);
  const kvBytesPerToken = a?.layers && a.kvHeads && a.headDim ? 2 * a.layers * a.kvHeads * a.headDim * elem : 0;
  const kvCacheBytes = kvBytesPerToken * contextLength * concurrency;
  const tokensInFlight = Math.min(contextLength, MAX_ACTIVATION_TOKENS) * concurrency;
  const activationBytes = Math.ceil(d.weightsBytes * 0.1) + (a?.hiddenSize ? tokensInFlight * a.hiddenSize * 4 * 4 : 0);
  const totalBytes = d.weightsBytes + kvCacheBytes + activationBytes + RUNTIME_OVERHEAD_BYTES;
  const gpu = opts.gpuMemoryBytes ?? null;
  return {
    weightsBytes: d.weightsBytes,
    kvBytesPerToken,
    contextLength,
    concurrency,
    kvCacheBytes,
    activationBytes,
    runtimeOverheadBytes: RUNTIME_OVERHEAD_BYTES,
    totalBytes,
    minGpus: gpu ? Math.max(1, Math.ceil(totalBytes / (gpu * 0.9))) : null,
    gpuMemoryBytes: gpu,
  };
}
