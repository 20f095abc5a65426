import type { KeyCredential } from '../auth/index.js';
import { RateWindow } from './limits.js';
import type { Route } from './types.js';
import type { Upstream, UpstreamSet } from './upstream.js';

/** One replica of a route as the balancer sees it. */
export interface Member {
  id: string;
  upstream: Upstream;
}

/** A route in the in-memory table. Replaced (not mutated) on every update, so a request holds a consistent view. */
export interface TableRoute {
  route: Route;
  /** Replicas the control plane says are ready: the only ones that receive traffic. */
  ready: Member[];
  /** Every replica with a URL, ready or not (for releasing their upstreams). */
  members: Member[];
  /** Names and aliases this route answers to. */
  names: string[];
}

/** A key as the data plane checks it, with its rate-limit windows. */
export interface KeyEntry {
  id: string;
  hash: string;
  /** `infer` (or `admin`) among its scopes. */
  canInfer: boolean;
  /** Route names or ids it may infer on; null: all. */
  deployments: Set<string> | null;
  expiresAt: number | null;
  rpm: RateWindow | null;
  tpm: RateWindow | null;
}

/**
 * The gateway's routing table and key cache: everything a request needs, in memory. Written only by
 * the route source (snapshot, then events); read by every request without locks or I/O. Its size is
 * bounded by what the control plane holds (routes, replicas, active keys), never by traffic.
 */
export class RoutingTable {
  private readonly byId = new Map<string, TableRoute>();
  private readonly byName = new Map<string, TableRoute>();
  private readonly keysByHash = new Map<string, KeyEntry>();
  private readonly keysById = new Map<string, KeyEntry>();
  /** Sequence number of the newest event applied. */
  seq = 0;
  /** Whether a first snapshot has been loaded. */
  loaded = false;
  /** Called after any change of routes (for gauges). */
  onChange: (() => void) | undefined;

  constructor(private readonly upstreams: UpstreamSet) {}

  /** The route a client names (served name, alias, or id). */
  lookup(name: string): TableRoute | undefined {
    return this.byName.get(name) ?? this.byId.get(name);
  }

  routes(): IterableIterator<TableRoute> {
    return this.byId.values();
  }

  get routeCount(): number {
    return this.byId.size;
  }

  get keyCount(): number {
    return this.keysById.size;
  }

  key(hash: string): KeyEntry | undefined {
    return this.keysByHash.get(hash);
  }

  /** Applies a route version; an older or equal version than the one held is ignored. */
  applyRoute(route: Route, force = false): boolean {
    const old = this.byId.get(route.id);
    if (old && !force && old.route.seq >= route.seq) return false;
    const reuse = new Map<string, Member>();
    for (const m of old?.members ?? []) reuse.set(`${m.id}\n${m.upstream.url}`, m);
    const initial = averageEwma(old?.members ?? []);
    const members: Member[] = [];
    const ready: Member[] = [];
    const seen = new Set<string>();
    for (const r of route.replicas) {
      const k = `${r.id}\n${r.url}`;
      if (seen.has(k)) continue;
      seen.add(k);
      let m = reuse.get(k);
      if (m) reuse.delete(k);
      else m = { id: r.id, upstream: this.upstreams.acquire(r.url, initial) };
      members.push(m);
      if (r.ready) ready.push(m);
    }
    // Replicas gone from the route stop receiving traffic now; their in-flight requests still finish.
    for (const m of reuse.values()) this.upstreams.release(m.upstream);
    const names = [...new Set([route.name, ...route.aliases])];
    const entry: TableRoute = { route, ready, members, names };
    if (old) for (const n of old.names) if (this.byName.get(n) === old) this.byName.delete(n);
    this.byId.set(route.id, entry);
    for (const n of names) this.byName.set(n, entry);
    this.onChange?.();
    return true;
  }

  /** Removes a route; with `seq`, only when the version held is older than the deletion. */
  removeRoute(id: string, seq?: number): boolean {
    const old = this.byId.get(id);
    if (!old || (seq !== undefined && old.route.seq > seq)) return false;
    this.byId.delete(id);
    for (const n of old.names) if (this.byName.get(n) === old) this.byName.delete(n);
    for (const m of old.members) this.upstreams.release(m.upstream);
    this.onChange?.();
    return true;
  }

  /** Makes the table hold exactly these routes (a fresh snapshot), keeping replica state where URLs stay. */
  replaceRoutes(routes: Route[]): void {
    const keep = new Set(routes.map((r) => r.id));
    for (const id of [...this.byId.keys()]) if (!keep.has(id)) this.removeRoute(id);
    for (const r of routes) {
      const old = this.byId.get(r.id);
      if (!old || old.route.seq !== r.seq || old.route.updatedAt !== r.updatedAt) this.applyRoute(r, true);
    }
  }

  setKey(cred: KeyCredential): void {
    const old = this.keysById.get(cred.id);
    const entry: KeyEntry = {
      id: cred.id,
      hash: cred.hash,
      canInfer: cred.scopes.includes('infer') || cred.scopes.includes('admin'),
      deployments: cred.deployments ? new Set(cred.deployments) : null,
      expiresAt: cred.expiresAt,
      rpm: cred.rateLimitRpm ? (old?.rpm?.limit === cred.rateLimitRpm ? old.rpm : new RateWindow(cred.rateLimitRpm)) : null,
      tpm: cred.rateLimitTpm ? (old?.tpm?.limit === cred.rateLimitTpm ? old.tpm : new RateWindow(cred.rateLimitTpm)) : null,
    };
    if (old && old.hash !== entry.hash) this.keysByHash.delete(old.hash);
    this.keysById.set(entry.id, entry);
    this.keysByHash.set(entry.hash, entry);
  }

  removeKey(id: string): void {
    const old = this.keysById.get(id);
    if (!old) return;
    this.keysById.delete(id);
    this.keysByHash.delete(old.hash);
  }

  replaceKeys(creds: KeyCredential[]): void {
    const keep = new Set(creds.map((c) => c.id));
    for (const id of [...this.keysById.keys()]) if (!keep.has(id)) this.removeKey(id);
    for (const c of creds) this.setKey(c);
  }

  /** Releases every upstream (on shutdown). */
  clear(): void {
    for (const id of [...this.byId.keys()]) this.removeRoute(id);
    this.keysByHash.clear();
    this.keysById.clear();
  }
}

function averageEwma(members: Member[]): number | undefined {
  if (members.length === 0) return undefined;
  const now = performance.now();
  let sum = 0;
  for (const m of members) sum += m.upstream.latency(now);
  return sum / members.length;
}
