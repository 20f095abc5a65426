import { z } from 'zod';
import { checkContext, gpuVisibilityEnv, parseRuntimeOptions } from './common.js';
import type { RuntimeBuildContext, RuntimeDefinition, RuntimeLaunch } from './types.js';

/**
 * Templates for inference engines Catapult does not ship: each builds the exact command line the
 * engine documents, runnable wherever the engine is installed (a host, a Slurm node, a container).
 */

const GiB = 1024 * 1024 * 1024;
const positiveInt = z.coerce.number().int().min(1);

function launch(def: RuntimeDefinition, ctx: RuntimeBuildContext, argv: string[]): RuntimeLaunch {
  return {
    argv: [...argv, ...(ctx.args ?? [])],
    env: gpuVisibilityEnv(ctx),
    protocol: def.protocol,
    healthPath: def.healthPath,
    readinessTimeoutMs: def.readinessTimeoutMs,
  };
}

/** Tensor parallelism defaults to one shard per assigned GPU. */
function shards(ctx: RuntimeBuildContext, explicit: number | undefined): string {
  return String(explicit ?? Math.max(1, ctx.gpus.length));
}

const vllmOptions = z.strictObject({
  executable: z.string().min(1).default('vllm'),
  tensorParallelSize: positiveInt.optional(),
  maxModelLen: positiveInt.optional(),
  gpuMemoryUtilization: z.coerce.number().gt(0).max(1).optional(),
  dtype: z.string().min(1).optional(),
});

/** vLLM: `vllm serve <model> --host --port --served-model-name --tensor-parallel-size`. */
export const vllmRuntime: RuntimeDefinition = {
  name: 'vllm',
  kind: 'template',
  description: 'vLLM OpenAI-compatible server (`vllm serve`)',
  protocol: 'openai',
  healthPath: '/health',
  readinessTimeoutMs: 20 * 60_000,
  resources: { gpu: 'required', cpu: 4, memoryBytes: 16 * GiB },
  formats: ['huggingface', 'safetensors', 'gguf'],
  requiresModel: true,
  extraPorts: [],
  executable: 'vllm',
  options: vllmOptions,
  buildCommand(ctx) {
    checkContext(vllmRuntime, ctx);
    const o = parseRuntimeOptions(vllmRuntime.name, vllmOptions, ctx.options);
    return launch(vllmRuntime, ctx, [
      o.executable,
      'serve',
      ctx.modelPath,
      '--host',
      ctx.host,
      '--port',
      String(ctx.port),
      '--served-model-name',
      ctx.modelName,
      '--tensor-parallel-size',
      shards(ctx, o.tensorParallelSize),
      ...(o.maxModelLen !== undefined ? ['--max-model-len', String(o.maxModelLen)] : []),
      ...(o.gpuMemoryUtilization !== undefined ? ['--gpu-memory-utilization', String(o.gpuMemoryUtilization)] : []),
      ...(o.dtype !== undefined ? ['--dtype', o.dtype] : []),
    ]);
  },
};

const tgiOptions = z.strictObject({
  executable: z.string().min(1).default('text-generation-launcher'),
  numShard: positiveInt.optional(),
  maxInputTokens: positiveInt.optional(),
  maxTotalTokens: positiveInt.optional(),
  quantize: z.string().min(1).optional(),
  dtype: z.enum(['float16', 'bfloat16']).optional(),
});

/** Hugging Face TGI: `text-generation-launcher --model-id --hostname --port --num-shard`. */
export const tgiRuntime: RuntimeDefinition = {
  name: 'tgi',
  kind: 'template',
  description: 'Hugging Face Text Generation Inference (`text-generation-launcher`), OpenAI-compatible Messages API',
  protocol: 'openai',
  healthPath: '/health',
  readinessTimeoutMs: 20 * 60_000,
  resources: { gpu: 'required', cpu: 4, memoryBytes: 16 * GiB },
  formats: ['huggingface', 'safetensors'],
  requiresModel: true,
  extraPorts: [],
  executable: 'text-generation-launcher',
  options: tgiOptions,
  buildCommand(ctx) {
    checkContext(tgiRuntime, ctx);
    const o = parseRuntimeOptions(tgiRuntime.name, tgiOptions, ctx.options);
    return launch(tgiRuntime, ctx, [
      o.executable,
      '--model-id',
      ctx.modelPath,
      '--hostname',
      ctx.host,
      '--port',
      String(ctx.port),
      '--num-shard',
      shards(ctx, o.numShard),
      ...(o.maxInputTokens !== undefined ? ['--max-input-tokens', String(o.maxInputTokens)] : []),
      ...(o.maxTotalTokens !== undefined ? ['--max-total-tokens', String(o.maxTotalTokens)] : []),
      ...(o.quantize !== undefined ? ['--quantize', o.quantize] : []),
      ...(o.dtype !== undefined ? ['--dtype', o.dtype] : []),
    ]);
  },
};

const llamacppOptions = z.strictObject({
  executable: z.string().min(1).default('llama-server'),
  gpuLayers: z.coerce.number().int().min(0).optional(),
  ctxSize: z.coerce.number().int().min(0).optional(),
  parallel: positiveInt.optional(),
});

/** llama.cpp: `llama-server -m <gguf> --host --port -ngl --alias`. All layers go to the GPUs when any are assigned. */
export const llamacppRuntime: RuntimeDefinition = {
  name: 'llamacpp',
  kind: 'template',
  description: 'llama.cpp server (`llama-server`) for GGUF models, OpenAI-compatible',
  protocol: 'openai',
  healthPath: '/health',
  readinessTimeoutMs: 10 * 60_000,
  resources: { gpu: 'optional', cpu: 4, memoryBytes: 4 * GiB },
  formats: ['gguf'],
  requiresModel: true,
  extraPorts: [],
  executable: 'llama-server',
  options: llamacppOptions,
  buildCommand(ctx) {
    checkContext(llamacppRuntime, ctx);
    const o = parseRuntimeOptions(llamacppRuntime.name, llamacppOptions, ctx.options);
    return launch(llamacppRuntime, ctx, [
      o.executable,
      '-m',
      ctx.modelPath,
      '--host',
      ctx.host,
      '--port',
      String(ctx.port),
      '-ngl',
      String(o.gpuLayers ?? (ctx.gpus.length > 0 ? 999 : 0)),
      '--alias',
      ctx.modelName,
      ...(o.ctxSize !== undefined ? ['-c', String(o.ctxSize)] : []),
      ...(o.parallel !== undefined ? ['-np', String(o.parallel)] : []),
    ]);
  },
};

const sglangOptions = z.strictObject({
  python: z.string().min(1).default('python3'),
  tensorParallelSize: positiveInt.optional(),
  memFractionStatic: z.coerce.number().gt(0).max(1).optional(),
  contextLength: positiveInt.optional(),
});

/** SGLang: `python3 -m sglang.launch_server --model-path --host --port --tp --served-model-name`. */
export const sglangRuntime: RuntimeDefinition = {
  name: 'sglang',
  kind: 'template',
  description: 'SGLang server (`python -m sglang.launch_server`), OpenAI-compatible',
  protocol: 'openai',
  healthPath: '/health',
  readinessTimeoutMs: 20 * 60_000,
  resources: { gpu: 'required', cpu: 4, memoryBytes: 16 * GiB },
  formats: ['huggingface', 'safetensors', 'gguf'],
  requiresModel: true,
  extraPorts: [],
  executable: 'python3',
  options: sglangOptions,
  buildCommand(ctx) {
    checkContext(sglangRuntime, ctx);
    const o = parseRuntimeOptions(sglangRuntime.name, sglangOptions, ctx.options);
    return launch(sglangRuntime, ctx, [
      o.python,
      '-m',
      'sglang.launch_server',
      '--model-path',
      ctx.modelPath,
      '--host',
      ctx.host,
      '--port',
      String(ctx.port),
      '--tp',
      shards(ctx, o.tensorParallelSize),
      '--served-model-name',
      ctx.modelName,
      ...(o.memFractionStatic !== undefined ? ['--mem-fraction-static', String(o.memFractionStatic)] : []),
      ...(o.contextLength !== undefined ? ['--context-length', String(o.contextLength)] : []),
    ]);
  },
};

const tritonOptions = z.strictObject({
  executable: z.string().min(1).default('tritonserver'),
  modelControlMode: z.enum(['none', 'poll', 'explicit']).optional(),
  /** With modelControlMode explicit: the models to load at start (default: the deployment's model name). */
  loadModels: z.array(z.string().min(1)).optional(),
});

/**
 * NVIDIA Triton: `tritonserver --model-repository <dir> --http-port --grpc-port --metrics-port`. The
 * gRPC and metrics endpoints are switched off unless the backend assigns them ports.
 */
export const tritonRuntime: RuntimeDefinition = {
  name: 'triton',
  kind: 'template',
  description: 'NVIDIA Triton Inference Server (`tritonserver`) on a model repository, KServe v2 protocol',
  protocol: 'kserve-v2',
  healthPath: '/v2/health/ready',
  readinessTimeoutMs: 10 * 60_000,
  resources: { gpu: 'optional', cpu: 2, memoryBytes: 4 * GiB },
  formats: ['triton-repository'],
  requiresModel: true,
  extraPorts: ['grpc', 'metrics'],
  executable: 'tritonserver',
  options: tritonOptions,
  buildCommand(ctx) {
    checkContext(tritonRuntime, ctx);
    const o = parseRuntimeOptions(tritonRuntime.name, tritonOptions, ctx.options);
    const grpc = ctx.ports?.grpc;
    const metrics = ctx.ports?.metrics;
    const load = o.modelControlMode === 'explicit' ? (o.loadModels ?? [ctx.modelName]) : [];
    return launch(tritonRuntime, ctx, [
      o.executable,
      '--model-repository',
      ctx.modelPath,
      '--http-address',
      ctx.host,
      '--http-port',
      String(ctx.port),
      ...(grpc !== undefined ? ['--grpc-address', ctx.host, '--grpc-port', String(grpc)] : ['--allow-grpc', 'false']),
      ...(metrics !== undefined ? ['--metrics-port', String(metrics)] : ['--allow-metrics', 'false']),
      ...(o.modelControlMode !== undefined ? ['--model-control-mode', o.modelControlMode] : []),
      ...load.flatMap((m) => ['--load-model', m]),
    ]);
  },
};

export const TEMPLATE_RUNTIMES: readonly RuntimeDefinition[] = [vllmRuntime, tgiRuntime, llamacppRuntime, sglangRuntime, tritonRuntime];
