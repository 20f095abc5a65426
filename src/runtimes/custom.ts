import { z } from 'zod';
import { checkContext, gpuVisibilityEnv, parseRuntimeOptions } from './common.js';
import { RUNTIME_PROTOCOLS, type RuntimeBuildContext, type RuntimeDefinition } from './types.js';

export const customOptionsSchema = z.strictObject({
  /** Program and arguments, run directly without a shell; placeholders are substituted. */
  command: z.array(z.string()).min(1, 'command needs at least the program to run'),
  protocol: z.enum(RUNTIME_PROTOCOLS).default('http'),
  healthPath: z.string().startsWith('/', 'healthPath must start with /').default('/health'),
  readinessTimeoutMs: z.coerce.number().int().min(1000).default(120_000),
  env: z.record(z.string(), z.string()).default({}),
});
export type CustomRuntimeOptions = z.infer<typeof customOptionsSchema>;

/** `{port}`, `{host}`, `{model}` (model path), `{modelName}` and `{gpus}` (comma-separated indices). */
export function substitutePlaceholders(text: string, ctx: RuntimeBuildContext): string {
  const values: Record<string, string> = {
    port: String(ctx.port),
    host: ctx.host,
    model: ctx.modelPath,
    modelName: ctx.modelName,
    gpus: ctx.gpus.join(','),
  };
  // Anything else in braces (JSON in an argument, say) is left as it is.
  return text.replace(/\{(port|host|model|modelName|gpus)\}/g, (_, key: string) => values[key]!);
}

/** `custom`: any command that serves HTTP on the port it is given. */
export const customRuntime: RuntimeDefinition = {
  name: 'custom',
  kind: 'custom',
  description: 'Any command (argv, no shell) that serves HTTP; {port}, {host}, {model}, {modelName} and {gpus} are substituted',
  protocol: 'http',
  healthPath: '/health',
  readinessTimeoutMs: 120_000,
  resources: { gpu: 'optional', cpu: 1, memoryBytes: 1024 * 1024 * 1024 },
  formats: 'any',
  requiresModel: false,
  extraPorts: [],
  options: customOptionsSchema,
  buildCommand(ctx) {
    checkContext(customRuntime, ctx);
    const o = parseRuntimeOptions(customRuntime.name, customOptionsSchema, ctx.options);
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(o.env)) env[k] = substitutePlaceholders(v, ctx);
    return {
      argv: [...o.command, ...(ctx.args ?? [])].map((a) => substitutePlaceholders(a, ctx)),
      // The GPU assignment wins over the command's own env, so replicas never share GPUs by mistake.
      env: { ...env, ...gpuVisibilityEnv(ctx) },
      protocol: o.protocol,
      healthPath: o.healthPath,
      readinessTimeoutMs: o.readinessTimeoutMs,
    };
  },
};
