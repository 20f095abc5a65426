import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers/cli.js';

const SRC = join(ROOT, 'src');

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.ts') ? [p] : [];
  });
}

const domains = readdirSync(SRC).filter((d) => statSync(join(SRC, d)).isDirectory());

describe('module boundaries', () => {
  it('imports another domain only through its index.ts', () => {
    const violations: string[] = [];
    for (const file of walk(SRC)) {
      const own = relative(SRC, file).split('/')[0];
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/from\s+'(\.{1,2}\/[^']+)'/g)) {
        const target = resolve(dirname(file), m[1]!);
        const rel = relative(SRC, target);
        if (rel.startsWith('..')) continue; // test helpers and the like
        const [domain, ...rest] = rel.split('/');
        if (domain === own) continue;
        if (rest.join('/') !== 'index.js') violations.push(`${relative(ROOT, file)} imports ${m[1]}`);
      }
    }
    expect(violations).toEqual([]);
  });

  it('has no import cycles between source files', () => {
    const graph = new Map<string, string[]>();
    for (const file of walk(SRC).filter((f) => !f.endsWith('.test.ts'))) {
      const text = readFileSync(file, 'utf8');
      const deps: string[] = [];
      // Type-only imports vanish at run time and cannot form a cycle that matters.
      for (const m of text.matchAll(/^import\s+(?!type\s)[^;]*?from\s+'(\.{1,2}\/[^']+)'/gms)) {
        const target = resolve(dirname(file), m[1]!).replace(/\.js$/, '.ts');
        if (target.startsWith(SRC)) deps.push(target);
      }
      for (const m of text.matchAll(/^export\s+(?!type\s)[^;]*?from\s+'(\.{1,2}\/[^']+)'/gms)) {
        const target = resolve(dirname(file), m[1]!).replace(/\.js$/, '.ts');
        if (target.startsWith(SRC)) deps.push(target);
      }
      graph.set(file, deps);
    }
    const cycles: string[] = [];
    const state = new Map<string, 'visiting' | 'done'>();
    const stack: string[] = [];
    const visit = (node: string) => {
      state.set(node, 'visiting');
      stack.push(node);
      for (const next of graph.get(node) ?? []) {
        if (state.get(next) === 'visiting') {
          cycles.push(stack.slice(stack.indexOf(next)).concat(next).map((f) => relative(ROOT, f)).join(' -> '));
        } else if (!state.has(next)) visit(next);
      }
      stack.pop();
      state.set(node, 'done');
    };
    for (const node of graph.keys()) if (!state.has(node)) visit(node);
    expect(cycles).toEqual([]);
  });

  it('gives every domain folder an index.ts and a README.md', () => {
    const missing = domains.flatMap((d) =>
      ['index.ts', 'README.md'].filter((f) => {
        try {
          statSync(join(SRC, d, f));
          return false;
        } catch {
          return true;
        }
      }).map((f) => `src/${d}/${f}`),
    );
    expect(missing).toEqual([]);
  });
});
