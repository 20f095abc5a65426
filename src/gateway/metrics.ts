import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { RoutingTable } from './table.js';
import type { UpstreamSet } from './upstream.js';

/** Label for requests that matched no route (never the client's string: labels stay bounded). */
export const NO_DEPLOYMENT = 'none';

type Child<T extends { labels(...v: string[]): unknown }> = ReturnType<T['labels']>;

/**
 * The gateway's Prometheus metrics. Labels are bounded: `deployment` is a route's served name (or
 * `none`), `route` one of a fixed set of API paths, `status` an HTTP status.
 */
export class GatewayMetrics {
  readonly requests: Counter<'deployment' | 'route' | 'status'>;
  readonly duration: Histogram<'deployment' | 'route'>;
  readonly ttft: Histogram<'deployment'>;
  readonly tokens: Counter<'deployment' | 'direction'>;
  readonly upstreamErrors: Counter<'deployment' | 'kind'>;
  readonly retries: Counter<'deployment' | 'reason'>;
  readonly ejections: Counter<'deployment'>;
  readonly affinity: Counter<'deployment' | 'outcome'>;
  readonly rateLimited: Counter<'limit'>;
  private readonly children = new Map<string, unknown>();

  constructor(registry: Registry, table: RoutingTable, upstreams: UpstreamSet, streamConnected: () => boolean) {
    const registers = [registry];
    this.requests = new Counter({
      name: 'catapult_gateway_requests_total',
      help: 'Data-plane requests by deployment, API route and HTTP status (499: the client went away)',
      labelNames: ['deployment', 'route', 'status'] as const,
      registers,
    });
    this.duration = new Histogram({
      name: 'catapult_gateway_request_duration_seconds',
      help: 'Time from request received to response finished, by deployment and API route',
      labelNames: ['deployment', 'route'] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registers,
    });
    this.ttft = new Histogram({
      name: 'catapult_gateway_ttft_seconds',
      help: 'Time to first token (first body byte) of streamed responses',
      labelNames: ['deployment'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.tokens = new Counter({
      name: 'catapult_gateway_tokens_total',
      help: 'Tokens by deployment and direction (in: prompt, out: completion), from usage or estimated from stream events',
      labelNames: ['deployment', 'direction'] as const,
      registers,
    });
    this.upstreamErrors = new Counter({
      name: 'catapult_gateway_upstream_errors_total',
      help: 'Failed upstream attempts by kind (connect, reset, timeout, status_5xx, aborted_mid_response)',
      labelNames: ['deployment', 'kind'] as const,
      registers,
    });
    this.retries = new Counter({
      name: 'catapult_gateway_retries_total',
      help: 'Requests sent again to another replica, by reason',
      labelNames: ['deployment', 'reason'] as const,
      registers,
    });
    this.ejections = new Counter({
      name: 'catapult_gateway_ejections_total',
      help: 'Replicas ejected for consecutive failures',
      labelNames: ['deployment'] as const,
      registers,
    });
    this.affinity = new Counter({
      name: 'catapult_gateway_affinity_total',
      help: 'Affinity decisions: hit (preferred replica used) or overflow (dropped because loads drifted apart)',
      labelNames: ['deployment', 'outcome'] as const,
      registers,
    });
    this.rateLimited = new Counter({
      name: 'catapult_gateway_rate_limited_total',
      help: 'Requests refused with 429 by per-key limits',
      labelNames: ['limit'] as const,
      registers,
    });
    new Gauge({
      name: 'catapult_gateway_routes',
      help: 'Routes in the routing table',
      registers,
      collect() {
        this.set(table.routeCount);
      },
    });
    new Gauge({
      name: 'catapult_gateway_replicas',
      help: 'Distinct replica URLs in the routing table, and how many are ejected',
      labelNames: ['state'] as const,
      registers,
      collect() {
        let ejected = 0;
        const now = performance.now();
        for (const u of upstreams.all()) if (u.isEjected(now)) ejected++;
        this.set({ state: 'total' }, upstreams.size);
        this.set({ state: 'ejected' }, ejected);
      },
    });
    new Gauge({
      name: 'catapult_gateway_outstanding_requests',
      help: 'Requests in flight to replicas',
      registers,
      collect() {
        let n = 0;
        for (const u of upstreams.all()) n += u.outstanding;
        this.set(n);
      },
    });
    new Gauge({
      name: 'catapult_gateway_keys',
      help: 'Active API keys in the key cache',
      registers,
      collect() {
        this.set(table.keyCount);
      },
    });
    new Gauge({
      name: 'catapult_gateway_table_seq',
      help: 'Sequence number of the newest control-plane event applied to the routing table',
      registers,
      collect() {
        this.set(table.seq);
      },
    });
    new Gauge({
      name: 'catapult_gateway_control_plane_connected',
      help: '1 while the event stream from the control plane is connected; 0 while serving from the last known table',
      registers,
      collect() {
        this.set(streamConnected() ? 1 : 0);
      },
    });
  }

  /** A labelled child, cached: prom-client hashes label objects on every call otherwise. */
  private child<T>(key: string, make: () => T): T {
    let c = this.children.get(key) as T | undefined;
    if (c === undefined) {
      // Bounded by routes × API routes × statuses; a table change may leave old names behind until restart.
      c = make();
      this.children.set(key, c);
    }
    return c;
  }

  request(deployment: string, route: string, status: number): Child<Counter<'deployment' | 'route' | 'status'>> {
    return this.child(`r\0${deployment}\0${route}\0${status}`, () => this.requests.labels(deployment, route, String(status)));
  }

  latency(deployment: string, route: string): Child<Histogram<'deployment' | 'route'>> {
    return this.child(`d\0${deployment}\0${route}`, () => this.duration.labels(deployment, route));
  }

  tokensFor(deployment: string, direction: 'in' | 'out'): Child<Counter<'deployment' | 'direction'>> {
    return this.child(`k\0${deployment}\0${direction}`, () => this.tokens.labels(deployment, direction));
  }

  firstToken(deployment: string): Child<Histogram<'deployment'>> {
    return this.child(`t\0${deployment}`, () => this.ttft.labels(deployment));
  }
}
