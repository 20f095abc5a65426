import type { KeyCredential, KeyService } from '../auth/index.js';
import { ApiError, ControlPlaneClient, problemError } from '../client/index.js';
import type { CatapultEvent, EventLog } from '../events/index.js';
import type { Logger } from '../observability/index.js';
import type { RouteRegistry } from './registry.js';
import { SseParser } from '../sse/index.js';
import type { RoutingTable } from './table.js';
import { GATEWAY_EVENT_TYPES, type Route, type RouteView, routeInputSchema } from './types.js';

export interface SourceStatus {
  kind: 'in-process' | 'remote';
  /** Whether changes are flowing now (event subscription or stream open). */
  connected: boolean;
  /** Wall-clock ms of the last successful snapshot. */
  lastSyncAt: number | null;
  lastError: string | null;
}

/**
 * Where the routing table comes from. A source loads a snapshot into the table, then applies every
 * route and key event after it. When it loses the control plane it keeps the table as it is (the
 * gateway goes on serving the last known routes) and reconnects, taking a fresh snapshot.
 */
export interface RouteSource {
  readonly kind: SourceStatus['kind'];
  start(table: RoutingTable, log: Logger): void;
  /** Resolves once the first snapshot is in the table. */
  firstSync(): Promise<void>;
  status(): SourceStatus;
  stop(): Promise<void>;
}

interface Fetchers {
  route(id: string): Promise<Route | undefined>;
  key(id: string): Promise<KeyCredential | undefined>;
}

/**
 * Applies one control-plane event to the table. A `route.updated` carries the route minus its secret
 * headers; when it has some, the whole route is fetched with the gateway's credential. Each route
 * keeps the seq of its version, so replayed or out-of-order events never roll a route back.
 */
export async function applyEvent(table: RoutingTable, ev: CatapultEvent, fetch: Fetchers, log: Logger): Promise<void> {
  switch (ev.type) {
    case 'route.updated': {
      if (ev.data.hasUpstreamHeaders === true) {
        const route = await fetch.route(ev.subject.id);
        if (route) table.applyRoute(route);
        break;
      }
      const parsed = routeInputSchema.safeParse(ev.data);
      if (!parsed.success) {
        log.warn({ seq: ev.seq, id: ev.subject.id }, 'ignoring a route.updated event the gateway cannot read');
        break;
      }
      table.applyRoute({ ...parsed.data, seq: ev.seq, updatedAt: typeof ev.data.updatedAt === 'number' ? ev.data.updatedAt : ev.ts });
      break;
    }
    case 'route.deleted':
      table.removeRoute(ev.subject.id, ev.seq);
      break;
    case 'key.created': {
      const key = await fetch.key(ev.subject.id);
      if (key) table.setKey(key);
      break;
    }
    case 'key.revoked':
      table.removeKey(ev.subject.id);
      break;
    default:
      break;
  }
  if (ev.seq > table.seq) table.seq = ev.seq;
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

function errorText(err: unknown): string {
  if (err instanceof ApiError && err.status !== 0) return `${err.message} (${err.code}, HTTP ${err.status})`;
  if (err instanceof Error) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    return cause?.code ? `${err.message} (${cause.code})` : err.message;
  }
  return String(err);
}

/** Events are applied one at a time, in order, even when applying one needs a fetch. */
class EventQueue {
  private readonly pending: CatapultEvent[] = [];
  private running: Promise<void> | undefined;

  constructor(private readonly apply: (ev: CatapultEvent) => Promise<void>) {}

  push(ev: CatapultEvent): void {
    this.pending.push(ev);
    this.running ??= this.drain();
  }

  private async drain(): Promise<void> {
    while (this.pending.length > 0) await this.apply(this.pending.shift()!);
    this.running = undefined;
  }

  /** Resolves when every queued event has been applied. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }
}

/**
 * The source of a gateway running inside the control-plane process (`catapult up`): reads the
 * registry and key store at start and on resync, then follows the event log in memory.
 */
export function inProcessSource(deps: { events: EventLog; registry: RouteRegistry; keys: KeyService; retryMs?: number }): RouteSource {
  const first = deferred();
  let table: RoutingTable | undefined;
  let log: Logger | undefined;
  let unsubscribe: (() => void) | undefined;
  let stopped = false;
  let lastSyncAt: number | null = null;
  let lastError: string | null = null;
  let timer: NodeJS.Timeout | undefined;
  const fetchers: Fetchers = { route: (id) => deps.registry.get(id), key: (id) => deps.keys.getCredential(id) };

  const queue = new EventQueue(async (ev) => {
    try {
      await applyEvent(table!, ev, fetchers, log!);
    } catch (err) {
      // A read failed (the database blinked): the table may have missed a change, so reload it whole.
      lastError = errorText(err);
      log!.warn({ err, seq: ev.seq }, 'could not apply a routing event; reloading the routing table');
      schedule(0);
    }
  });

  const sync = async (): Promise<void> => {
    timer = undefined;
    if (stopped || !table) return;
    try {
      const seq = await deps.events.latestSeq();
      const [routes, keys] = await Promise.all([deps.registry.list(), deps.keys.listCredentials()]);
      if (stopped) return;
      unsubscribe?.();
      unsubscribe = undefined;
      table.replaceRoutes(routes);
      table.replaceKeys(keys);
      table.seq = seq;
      table.loaded = true;
      lastSyncAt = Date.now();
      lastError = null;
      first.resolve();
      unsubscribe = await deps.events.subscribe(seq, (ev) => queue.push(ev), [...GATEWAY_EVENT_TYPES]);
      if (stopped) unsubscribe();
    } catch (err) {
      lastError = errorText(err);
      log!.warn({ err }, 'could not load the routing table; serving the last known one and trying again');
      schedule(deps.retryMs ?? 1000);
    }
  };

  function schedule(ms: number): void {
    if (stopped || timer) return;
    timer = setTimeout(() => void sync(), ms);
    timer.unref();
  }

  return {
    kind: 'in-process',
    start(t, l) {
      table = t;
      log = l;
      void sync();
    },
    firstSync: () => first.promise,
    status: () => ({ kind: 'in-process', connected: unsubscribe !== undefined, lastSyncAt, lastError }),
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      unsubscribe?.();
      unsubscribe = undefined;
      await queue.idle();
    },
  };
}

export interface RemoteSourceOptions {
  /** Control-plane base URL, e.g. http://cp:8080. */
  url: string;
  /** An API key with the `gateway` scope (an admin key reads routes' upstream credentials redacted). */
  key: string;
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  /** A stream silent this long is presumed dead (the server sends a keepalive every 15 s). */
  idleTimeoutMs?: number;
  /** Limit for each snapshot or lookup request. */
  requestTimeoutMs?: number;
}

function routeFromView(view: RouteView): Route {
  if (view.upstreamHeadersRedacted === true) {
    // Sending a redacted credential upstream would fail every request of the route; refuse instead.
    throw new ApiError(
      403,
      'CATAPULT_FORBIDDEN',
      `the control plane sent route ${view.name}'s upstream headers redacted: the gateway key needs the gateway scope itself (\`catapult keys create --name gw --scopes gateway\`)`,
    );
  }
  const { hasUpstreamHeaders: _, upstreamHeadersRedacted: __, ...route } = view;
  return route;
}

/**
 * The source of a standalone gateway (`catapult gateway`): a snapshot over HTTP, then the control
 * plane's event stream (SSE) from the snapshot's sequence number. On any failure it keeps the table,
 * waits (exponential backoff with jitter) and starts over with a fresh snapshot, so it needs no
 * event history to recover and cannot miss a change made while it was away.
 */
export function remoteSource(opts: RemoteSourceOptions): RouteSource {
  const base = opts.url.replace(/\/+$/, '');
  const minMs = opts.reconnectMinMs ?? 250;
  const maxMs = opts.reconnectMaxMs ?? 5000;
  const idleMs = opts.idleTimeoutMs ?? 45_000;
  const requestMs = opts.requestTimeoutMs ?? 10_000;
  const first = deferred();
  let stopped = false;
  let connected = false;
  let lastSyncAt: number | null = null;
  let lastError: string | null = null;
  let current: AbortController | undefined;
  let loop: Promise<void> | undefined;
  let wake: (() => void) | undefined;

  const http = new ControlPlaneClient({ baseUrl: base, bearer: opts.key, timeoutMs: requestMs });
  const getJson = <T>(path: string): Promise<T | undefined> => http.json<T | undefined>('GET', path, undefined, { notFoundAsUndefined: true });

  const fetchers: Fetchers = {
    route: async (id) => {
      const view = await getJson<RouteView>(`/api/v1/routes/${encodeURIComponent(id)}`);
      return view ? routeFromView(view) : undefined;
    },
    key: (id) => getJson<KeyCredential>(`/api/v1/gateway/keys/${encodeURIComponent(id)}`),
  };

  async function session(table: RoutingTable, log: Logger): Promise<void> {
    const routes = await getJson<{ seq: number; items: RouteView[] }>('/api/v1/routes');
    const keys = await getJson<{ seq: number; items: KeyCredential[] }>('/api/v1/gateway/keys');
    if (!routes || !keys) throw new Error('the control plane has no gateway API (is it an older version?)');
    const seq = Math.min(routes.seq, keys.seq);
    table.replaceRoutes(routes.items.map(routeFromView));
    table.replaceKeys(keys.items);
    table.seq = Math.max(routes.seq, keys.seq);
    table.loaded = true;
    lastSyncAt = Date.now();
    lastError = null;
    first.resolve();
    log.info({ routes: routes.items.length, keys: keys.items.length, seq }, 'routing table loaded from the control plane');

    const controller = new AbortController();
    current = controller;
    let idleTimer: NodeJS.Timeout | undefined;
    const resetIdle = () => {
      if (idleTimer) clearTimeout(idleTimer);
      idleTimer = setTimeout(() => controller.abort(new Error(`no data from the event stream for ${idleMs} ms`)), idleMs);
      idleTimer.unref();
    };
    try {
      resetIdle();
      const res = await fetch(`${base}/api/v1/events?since=${seq}&types=${GATEWAY_EVENT_TYPES.join(',')}`, {
        headers: { authorization: `Bearer ${opts.key}`, accept: 'text/event-stream' },
        signal: controller.signal,
      });
      if (!res.ok || !res.body) throw problemError(res.status, `the event stream answered ${res.status}`, await res.text().catch(() => ''));
      connected = true;
      const queue = new EventQueue(async (ev) => applyEvent(table, ev, fetchers, log));
      let failure: Error | undefined;
      const parser = new SseParser((msg) => {
        if (!msg.event || msg.data === '') return;
        try {
          queue.push(JSON.parse(msg.data) as CatapultEvent);
        } catch {
          failure = new Error(`the event stream sent an event that is not JSON: ${msg.data.slice(0, 100)}`);
        }
      });
      const decoder = new TextDecoder();
      for await (const chunk of res.body) {
        resetIdle();
        parser.push(decoder.decode(chunk as Uint8Array, { stream: true }));
        if (failure) throw failure;
      }
      await queue.idle();
      throw new Error('the control plane closed the event stream');
    } finally {
      connected = false;
      if (idleTimer) clearTimeout(idleTimer);
      current = undefined;
    }
  }

  async function run(table: RoutingTable, log: Logger): Promise<void> {
    let delay = minMs;
    while (!stopped) {
      const started = Date.now();
      try {
        await session(table, log);
      } catch (err) {
        if (stopped) break;
        lastError = errorText(err);
        const refused = err instanceof ApiError && (err.status === 401 || err.status === 403);
        log.warn(
          { err: lastError, retryInMs: delay, tableRoutes: table.routeCount },
          refused
            ? 'the control plane refused the gateway key (it needs the gateway scope); serving the last known table'
            : 'lost the control plane; serving the last known routing table and reconnecting',
        );
      }
      if (stopped) break;
      // A session that ran a while was healthy: start the backoff over.
      if (Date.now() - started > 30_000) delay = minMs;
      const wait = delay / 2 + Math.random() * (delay / 2);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, wait);
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      wake = undefined;
      delay = Math.min(maxMs, delay * 2);
    }
  }

  return {
    kind: 'remote',
    start(table, log) {
      loop = run(table, log);
    },
    firstSync: () => first.promise,
    status: () => ({ kind: 'remote', connected, lastSyncAt, lastError }),
    async stop() {
      stopped = true;
      current?.abort(new Error('gateway stopping'));
      wake?.();
      await loop?.catch(() => undefined);
    },
  };
}
