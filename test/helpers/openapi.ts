/** Walks the OpenAPI document a control plane publishes. */
export interface Operation {
  method: string;
  /** OpenAPI path with `{param}` placeholders. */
  path: string;
  scope: string | undefined;
  stream: boolean;
  op: any;
}

export function operations(doc: any): Operation[] {
  const out: Operation[] = [];
  for (const [path, item] of Object.entries<any>(doc.paths ?? {})) {
    for (const method of ['get', 'post', 'put', 'patch', 'delete']) {
      const op = item[method];
      if (!op) continue;
      out.push({ method: method.toUpperCase(), path, scope: op['x-catapult-scope'], stream: op['x-catapult-stream'] === true, op });
    }
  }
  return out;
}

/** The path with every `{param}` replaced. */
export function fillPath(path: string, value = 'x'): string {
  return path.replace(/\{[^}]+\}/g, () => encodeURIComponent(value));
}
