import type { RuntimeCatalog, RuntimeInfo } from '../deployments/index.js';
import { RUNTIME_PROTOCOLS, type RuntimeProtocol, detectModelFormat as detect, getRuntime, listRuntimes, runtimesForFormat } from '../runtimes/index.js';

/** The runtimes module, as deployments see it. */
export const runtimeCatalog: RuntimeCatalog = {
  get(name: string): RuntimeInfo | undefined {
    let rt;
    try {
      rt = getRuntime(name);
    } catch {
      return undefined;
    }
    return {
      name: rt.name,
      protocol: rt.protocol,
      requiresModel: rt.requiresModel,
      formats: rt.formats,
      resources: rt.resources,
      readinessTimeoutMs: rt.readinessTimeoutMs,
      // A runtime whose options name a protocol (custom) serves that one.
      protocolFor: (options) =>
        rt.kind === 'custom' && typeof options.protocol === 'string' && (RUNTIME_PROTOCOLS as readonly string[]).includes(options.protocol) ? (options.protocol as RuntimeProtocol) : rt.protocol,
    };
  },
  names: () => listRuntimes().map((r) => r.name),
};

/** The runtime to serve a model format with when none is named (seed 003's shape). */
export function runtimeForFormat(format: string): string | undefined {
  try {
    return runtimesForFormat(format as Parameters<typeof runtimesForFormat>[0])[0]?.name;
  } catch {
    return undefined;
  }
}

/** The registry's format detector: the format, why, and the file that decided it (inside a directory given). */
export async function detectModelFormat(path: string): Promise<{ format: string; evidence: string; path: string }> {
  const d = await detect(path);
  return { format: d.format, evidence: d.evidence, path: d.path };
}
