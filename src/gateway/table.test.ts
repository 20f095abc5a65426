import { afterEach, describe, expect, it } from 'vitest';
import { RoutingTable } from './table.js';
import type { Route } from './types.js';
import { UpstreamSet } from './upstream.js';

function route(seq: number, replicas: [string, string, boolean][], extra: Partial<Route> = {}): Route {
  return {
    id: 'dep_1',
    kind: 'deployment',
    name: 'llama',
    aliases: ['md-dep_1'],
    protocol: 'openai',
    replicas: replicas.map(([id, url, ready]) => ({ id, url, ready })),
    seq,
    updatedAt: seq,
    ...extra,
  };
}

describe('the in-memory routing table', () => {
  const upstreams = new UpstreamSet({ connectTimeoutMs: 100, responseTimeoutMs: 1000, initialEwmaMs: 1, tauMs: 10_000 });
  afterEach(async () => {
    await upstreams.closeAll();
  });

  it('answers to the name, the aliases and the id, and keeps only ready replicas in rotation', () => {
    const t = new RoutingTable(upstreams);
    t.applyRoute(route(5, [['a', 'http://127.0.0.1:1', true], ['b', 'http://127.0.0.1:2', false]]));
    for (const name of ['llama', 'md-dep_1', 'dep_1']) expect(t.lookup(name)?.route.seq).toBe(5);
    expect(t.lookup('llama')!.ready.map((m) => m.id)).toEqual(['a']);
    expect(upstreams.size).toBe(2);
  });

  it('never rolls a route back to an older version, and ignores a deletion older than what it holds', () => {
    const t = new RoutingTable(upstreams);
    t.applyRoute(route(7, [['a', 'http://127.0.0.1:1', true]]));
    expect(t.applyRoute(route(6, [['z', 'http://127.0.0.1:9', true]]))).toBe(false);
    expect(t.lookup('llama')!.ready[0]!.id).toBe('a');
    expect(t.removeRoute('dep_1', 6)).toBe(false);
    expect(t.removeRoute('dep_1', 8)).toBe(true);
    expect(t.lookup('llama')).toBeUndefined();
    expect(upstreams.size).toBe(0);
  });

  it('keeps a replica’s load and latency across updates, and releases replicas that leave', () => {
    const t = new RoutingTable(upstreams);
    t.applyRoute(route(1, [['a', 'http://127.0.0.1:1', true], ['b', 'http://127.0.0.1:2', true]]));
    const a = t.lookup('llama')!.ready[0]!.upstream;
    a.ewmaMs = 42;
    a.outstanding = 3;
    t.applyRoute(route(2, [['a', 'http://127.0.0.1:1', true], ['c', 'http://127.0.0.1:3', true]]));
    const entry = t.lookup('llama')!;
    expect(entry.ready[0]!.upstream).toBe(a);
    // A new replica starts from the route's average latency rather than looking free.
    expect(entry.ready[1]!.upstream.ewmaMs).toBeGreaterThan(1);
    expect([...upstreams.all()].map((u) => u.url).sort()).toEqual(['http://127.0.0.1:1', 'http://127.0.0.1:3']);
  });

  it('drops names a route no longer has and replaces keys and routes from a snapshot', () => {
    const t = new RoutingTable(upstreams);
    t.applyRoute(route(1, [], { aliases: ['old'] }));
    t.applyRoute(route(2, [], { aliases: ['new'] }));
    expect(t.lookup('old')).toBeUndefined();
    expect(t.lookup('new')).toBeDefined();
    t.setKey({ id: 'k1', hash: 'h1', scopes: ['infer'], deployments: null, rateLimitRpm: 10, rateLimitTpm: null, expiresAt: null });
    t.setKey({ id: 'k2', hash: 'h2', scopes: ['read'], deployments: ['llama'], rateLimitRpm: null, rateLimitTpm: null, expiresAt: null });
    const rpm = t.key('h1')!.rpm;
    t.replaceKeys([{ id: 'k1', hash: 'h1', scopes: ['infer'], deployments: null, rateLimitRpm: 10, rateLimitTpm: null, expiresAt: null }]);
    expect(t.key('h2')).toBeUndefined();
    expect(t.key('h1')!.rpm).toBe(rpm);
    expect(t.key('h1')!.canInfer).toBe(true);
    t.replaceRoutes([]);
    expect(t.routeCount).toBe(0);
  });
});
