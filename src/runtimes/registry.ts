import { CatapultError } from '../errors/index.js';
import { onnxRuntime, simulatorRuntime } from './builtin.js';
import { customRuntime } from './custom.js';
import type { ModelFormat } from './formats.js';
import { TEMPLATE_RUNTIMES } from './templates.js';
import type { RuntimeDefinition } from './types.js';

const RUNTIMES: readonly RuntimeDefinition[] = [onnxRuntime, simulatorRuntime, ...TEMPLATE_RUNTIMES, customRuntime];
const BY_NAME = new Map(RUNTIMES.map((r) => [r.name, r]));

/** Every runtime Catapult knows, built-ins first. */
export function listRuntimes(): readonly RuntimeDefinition[] {
  return RUNTIMES;
}

/** The runtime called `name`; an unknown name is CATAPULT_RUNTIME_UNKNOWN listing the known ones. */
export function getRuntime(name: string): RuntimeDefinition {
  const r = BY_NAME.get(name);
  if (!r) {
    const known = RUNTIMES.map((x) => x.name);
    throw new CatapultError('CATAPULT_RUNTIME_UNKNOWN', `Unknown runtime '${name}'; known runtimes: ${known.join(', ')}`, { runtime: name, known });
  }
  return r;
}

/**
 * Runtimes that serve a model format, specialists (fewest formats) first: llama.cpp before vLLM for
 * GGUF. `custom` can serve anything and is not listed.
 */
export function runtimesForFormat(format: ModelFormat): RuntimeDefinition[] {
  const fits = RUNTIMES.filter((r) => r.formats !== 'any' && r.formats.includes(format));
  return fits.sort((a, b) => (a.formats as readonly ModelFormat[]).length - (b.formats as readonly ModelFormat[]).length);
}
