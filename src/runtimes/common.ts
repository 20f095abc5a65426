import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import type { z } from 'zod';
import { CatapultError, type FieldError } from '../errors/index.js';
import { packageInfo } from '../util/index.js';
import type { RuntimeBuildContext, RuntimeDefinition } from './types.js';

/**
 * The environment that shows a replica exactly its GPUs. An empty list hides every GPU, so a CPU
 * replica on a GPU machine cannot take one by accident.
 */
export function gpuVisibilityEnv(ctx: Pick<RuntimeBuildContext, 'gpus' | 'gpuVendor'>): Record<string, string> {
  const list = ctx.gpus.join(',');
  return (ctx.gpuVendor ?? 'nvidia') === 'amd' ? { HIP_VISIBLE_DEVICES: list } : { CUDA_VISIBLE_DEVICES: list };
}

/** Validates `ctx.options` against a runtime's schema; bad options are a 400 listing each problem. */
export function parseRuntimeOptions<T>(runtime: string, schema: z.ZodType<T>, options: Record<string, unknown> | undefined): T {
  const parsed = schema.safeParse(options ?? {});
  if (parsed.success) return parsed.data;
  const errors: FieldError[] = parsed.error.issues.map((issue) => {
    const path = ['options', ...issue.path.map(String)].join('/');
    if (issue.code === 'unrecognized_keys') {
      return { path, message: `unknown option(s) ${issue.keys.map((k) => `'${k}'`).join(', ')} for runtime ${runtime}` };
    }
    return { path, message: issue.message };
  });
  throw new CatapultError(
    'CATAPULT_RUNTIME_OPTIONS_INVALID',
    `Invalid options for runtime ${runtime}: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`,
    { runtime, errors },
  );
}

/** Checks the parts of the context every runtime relies on. */
export function checkContext(def: Pick<RuntimeDefinition, 'name' | 'requiresModel' | 'extraPorts'>, ctx: RuntimeBuildContext): void {
  const errors: FieldError[] = [];
  if (!Number.isInteger(ctx.port) || ctx.port < 1 || ctx.port > 65535) errors.push({ path: 'port', message: `must be a port number from 1 to 65535, got ${ctx.port}` });
  if (def.requiresModel && !ctx.modelPath) errors.push({ path: 'modelPath', message: `runtime ${def.name} needs a model path` });
  if (!ctx.modelName) errors.push({ path: 'modelName', message: 'must not be empty' });
  for (const g of ctx.gpus) if (!Number.isInteger(g) || g < 0) errors.push({ path: 'gpus', message: `GPU indices are non-negative integers, got ${g}` });
  for (const name of def.extraPorts) {
    const p = ctx.ports?.[name];
    if (p !== undefined && (!Number.isInteger(p) || p < 1 || p > 65535)) errors.push({ path: `ports/${name}`, message: `must be a port number, got ${p}` });
  }
  if (errors.length > 0) {
    throw new CatapultError(
      'CATAPULT_RUNTIME_OPTIONS_INVALID',
      `Cannot build the ${def.name} command: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`,
      { runtime: def.name, errors },
    );
  }
}

/**
 * How built-in runtimes run by default: this Node binary and this installation's runtime entry point
 * (main.ts), which takes the same `runtime …` arguments as the `catapult` command. Compiled code
 * starts the compiled entry; code running from the TypeScript sources (tests, tsx) starts the source
 * entry through tsx, so nothing has to be built first.
 */
export function defaultCatapultCommand(): string[] {
  const root = packageInfo().root;
  // tsx is named by absolute URL: the replica's working directory is its own, not the repository.
  const tsx = pathToFileURL(join(root, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
  if (import.meta.url.endsWith('.ts')) return [process.execPath, '--import', tsx, join(root, 'src', 'runtimes', 'main.ts')];
  return [process.execPath, join(root, 'dist', 'src', 'runtimes', 'main.js')];
}
