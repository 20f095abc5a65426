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
