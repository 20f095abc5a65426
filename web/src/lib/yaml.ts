import { LineCounter, type Node, isMap, isNode, isScalar, isSeq, parseDocument, stringify } from 'yaml';

/** A problem at a place in a YAML text; line and column are 1-based, null when unknown. */
export interface Issue {
  path: string;
  line: number | null;
  column: number | null;
  message: string;
}

/** Parses YAML (or JSON); syntax errors come back with their lines instead of throwing. */
export function parseYaml(text: string): { value: unknown; issues: Issue[] } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length > 0) {
    return {
      value: undefined,
      issues: doc.errors.map((e) => {
        const pos = lineCounter.linePos(e.pos[0]);
        return { path: '', line: pos.line, column: pos.col, message: e.message.split('\n')[0] ?? e.message };
      }),
    };
  }
  return { value: doc.toJS() as unknown, issues: [] };
}

/**
 * The line of the node a path points at (`resources.cpu`, `body/replicas`, `args.2`), for placing
 * a server's field error in the editor. The key's line when the path ends at a block.
 */
export function lineOf(text: string, path: string): { line: number; column: number } | null {
  const segments = path
    .replace(/^\/?body(?=[/.]|$)/, '')
    .split(/[/.]/)
    .filter(Boolean);
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter });
  let node: unknown = doc.contents;
  let at: Node | null = doc.contents;
  for (const seg of segments) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === seg);
      if (!pair) break;
      at = (pair.key as Node | null) ?? at;
      node = pair.value;
    } else if (isSeq(node)) {
      const item: unknown = node.items[Number(seg)];
      if (!isNode(item)) break;
      at = item;
      node = item;
    } else break;
  }
  if (isScalar(node)) at = node;
  const range = at?.range;
  if (!range) return null;
  const pos = lineCounter.linePos(range[0]);
  return { line: pos.line, column: pos.col };
}

export function toYaml(value: unknown): string {
  return stringify(value, { lineWidth: 0 });
}
