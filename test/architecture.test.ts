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

/**
 * The floors of the building: a domain may import only domains on floors below its own, so
 * foundations never learn about the systems built on them and no two domains depend on each other.
 * A new domain folder goes into this table, on the lowest floor whose imports it needs.
 */
const FLOORS: { floor: number; name: string; domains: string[]; why: string }[] = [
  { floor: 0, name: 'leaves', domains: ['errors', 'util', 'sse'], why: 'import no other domain: the error catalogue, small helpers, the SSE parser' },
  { floor: 1, name: 'core', domains: ['config', 'secrets'], why: 'settings, and sealing and redacting secrets, which everything above may need' },
  { floor: 2, name: 'observability', domains: ['observability'], why: 'logging (which redacts secrets) and metrics' },
  { floor: 3, name: 'adapters', domains: ['store', 'client'], why: 'the two doors to the outside: the database and the control-plane HTTP client' },
  { floor: 4, name: 'records', domains: ['events', 'audit'], why: 'durable records over the store: the event log, the audit log' },
  { floor: 5, name: 'state', domains: ['auth', 'tasks'], why: 'state machines over the store and events that the systems share: keys, the task engine' },
  { floor: 6, name: 'catalogue', domains: ['models'], why: 'the model catalogue; its intake (analyse, scan) runs as durable tasks' },
  { floor: 7, name: 'processes', domains: ['runtimes', 'supervisor'], why: 'how a model server is described and run as a process; no control-plane state' },
  { floor: 8, name: 'cluster', domains: ['cluster'], why: 'workers, assignments and placement; its ReplicaSpec is the wire contract deployments write' },
  { floor: 9, name: 'systems', domains: ['deployments', 'gateway'], why: 'the control plane’s serving systems, each on its own; they meet only in the composition root' },
  { floor: 10, name: 'benchmarks', domains: ['bench'], why: 'benchmarks drive deployments through the gateway and run as tasks' },
  { floor: 11, name: 'backends', domains: ['agent', 'slurm'], why: 'what runs replicas and shards on machines: the agent process and the Slurm backend' },
  { floor: 12, name: 'api', domains: ['api'], why: 'the HTTP face of every system below' },
  { floor: 13, name: 'composition', domains: ['server'], why: 'the composition root wires every system and starts the API' },
  { floor: 14, name: 'commands', domains: ['cli'], why: 'the catapult command starts servers and agents and talks to the API' },
];

const floorOf = new Map(FLOORS.flatMap((f) => f.domains.map((d) => [d, f] as const)));

/** Every relative import (static, re-export, or dynamic) of a file, with the domain it lands in. */
function importsOf(file: string): { spec: string; domain: string }[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|^import\s+)'(\.{1,2}\/[^']+)'/gm)].flatMap((m) => {
    const rel = relative(SRC, resolve(dirname(file), m[1]!));
    return rel.startsWith('..') ? [] : [{ spec: m[1]!, domain: rel.split('/')[0]! }];
  });
}

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

  it('puts every domain folder on a floor of the layering table', () => {
    const unknown = domains
      .filter((d) => !floorOf.has(d))
      .map((d) => `src/${d} is on no floor: add it to FLOORS in test/architecture.test.ts, on the lowest floor whose imports it needs`);
    expect(unknown).toEqual([]);
  });

  it('imports only domains on lower floors', () => {
    const violations: string[] = [];
    for (const file of walk(SRC)) {
      const own = relative(SRC, file).split('/')[0]!;
      const mine = floorOf.get(own);
      if (!mine) continue; // reported by the test above
      for (const { spec, domain } of importsOf(file)) {
        if (domain === own) continue;
        const theirs = floorOf.get(domain);
        if (theirs && theirs.floor < mine.floor) continue;
        violations.push(
          `${relative(ROOT, file)} imports ${spec}: ${own} is on floor ${mine.floor} (${mine.name}) and may import only lower floors, ` +
            (theirs ? `but ${domain} is on floor ${theirs.floor} (${theirs.name})` : `but ${domain} is on no floor`),
        );
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
