import { z } from 'zod';
import { checkContext, defaultCatapultCommand, gpuVisibilityEnv, parseRuntimeOptions } from './common.js';
import { simulatorOptionsSchema, simulatorOptionsToArgs } from './simulator/options.js';
import type { RuntimeBuildContext, RuntimeDefinition, RuntimeLaunch } from './types.js';

const MiB = 1024 * 1024;

export const onnxOptionsSchema = z.strictObject({
  threads: z.coerce.number().int().min(0).default(0).describe('onnxruntime intra-op threads (0: one per core)'),
  workers: z.coerce.number().int().min(1).max(256).default(1).describe('server processes sharing the port, each with the model loaded'),
  executionProvider: z.enum(['cpu', 'cuda']).default('cpu').describe('cpu everywhere; cuda needs onnxruntime-node CUDA binaries'),
  maxBodyBytes: z.coerce.number().int().min(1024).optional().describe('largest request body, in bytes (default 64 MiB)'),
});
export type OnnxRuntimeOptions = z.infer<typeof onnxOptionsSchema>;

function catapult(ctx: RuntimeBuildContext): string[] {
  return ctx.catapultCommand && ctx.catapultCommand.length > 0 ? [...ctx.catapultCommand] : defaultCatapultCommand();
}

/** `onnx`: Catapult's own Open Inference Protocol server over onnxruntime-node, started as `catapult runtime onnx`. */
export const onnxRuntime: RuntimeDefinition = {
  name: 'onnx',
  kind: 'builtin',
  description: 'ONNX models on onnxruntime-node, served on the KServe v2 / Open Inference Protocol (CPU; CUDA optional)',
  protocol: 'kserve-v2',
  healthPath: '/v2/health/ready',
  readinessTimeoutMs: 30_000,
  resources: { gpu: 'optional', cpu: 1, memoryBytes: 256 * MiB },
  formats: ['onnx'],
  // With workers > 1 the deployment should ask for as many cores; the hint stays at the default of one.
  requiresModel: true,
  extraPorts: [],
  options: onnxOptionsSchema,
  buildCommand(ctx): RuntimeLaunch {
    checkContext(onnxRuntime, ctx);
    const o = parseRuntimeOptions(onnxRuntime.name, onnxOptionsSchema, ctx.options);
    const argv = [
      ...catapult(ctx),
      'runtime',
      'onnx',
      '--model',
      ctx.modelPath,
      '--model-name',
      ctx.modelName,
      '--host',
      ctx.host,
      '--port',
      String(ctx.port),
      ...(o.threads > 0 ? ['--threads', String(o.threads)] : []),
      ...(o.workers > 1 ? ['--workers', String(o.workers)] : []),
      ...(o.executionProvider !== 'cpu' ? ['--execution-provider', o.executionProvider] : []),
      ...(o.maxBodyBytes !== undefined ? ['--max-body-bytes', String(o.maxBodyBytes)] : []),
      ...(ctx.args ?? []),
    ];
    return { argv, env: gpuVisibilityEnv(ctx), protocol: onnxRuntime.protocol, healthPath: onnxRuntime.healthPath, readinessTimeoutMs: onnxRuntime.readinessTimeoutMs };
  },
};

/** `simulator`: an OpenAI-compatible LLM with configured timing, started as `catapult runtime simulator`. */
export const simulatorRuntime: RuntimeDefinition = {
  name: 'simulator',
  kind: 'builtin',
  description: 'OpenAI-compatible LLM simulator with configurable TTFT, inter-token latency, lengths and concurrency, and vLLM metrics',
  protocol: 'openai',
  healthPath: '/health',
  readinessTimeoutMs: 15_000,
  // A simulator mostly waits on timers; a quarter core lets a laptop run several next to real models.
  resources: { gpu: 'none', cpu: 0.25, memoryBytes: 128 * MiB },
  formats: 'any',
  requiresModel: false,
  extraPorts: [],
  options: simulatorOptionsSchema,
  buildCommand(ctx): RuntimeLaunch {
    checkContext(simulatorRuntime, ctx);
    const o = parseRuntimeOptions(simulatorRuntime.name, simulatorOptionsSchema, ctx.options);
    const argv = [
      ...catapult(ctx),
      'runtime',
      'simulator',
      '--model-name',
      ctx.modelName,
      '--host',
      ctx.host,
      '--port',
      String(ctx.port),
      ...simulatorOptionsToArgs(o),
      ...(ctx.args ?? []),
    ];
    return { argv, env: gpuVisibilityEnv(ctx), protocol: simulatorRuntime.protocol, healthPath: simulatorRuntime.healthPath, readinessTimeoutMs: simulatorRuntime.readinessTimeoutMs };
  },
};
