import { type ReactNode, createContext, useContext, useEffect, useMemo, useRef, useSyncExternalStore } from 'react';
import { type Schemas, api, unwrap } from './client';
import { readStream } from './sse';

export type CatapultEvent = Schemas['Event'];
export type StreamStatus = 'connecting' | 'live' | 'reconnecting' | 'off';

type Listener = (e: CatapultEvent) => void;

/** Events kept for the live feed. */
const FEED_SIZE = 200;
/** High-rate telemetry that would drown the feed; pages still receive it. */
const NOT_IN_FEED = new Set(['benchmark.progress', 'worker.updated']);

/**
 * One event-stream connection per signed-in tab, shared by every page: pages subscribe to the
 * types they show and refresh when one arrives. Reconnects with Last-Event-ID, so nothing is missed
 * across a dropped connection.
 */
export class EventHub {
  private listeners = new Set<Listener>();
  private statusListeners = new Set<() => void>();
  private abort: AbortController | null = null;
  private lastId: string | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  status: StreamStatus = 'off';
  feed: CatapultEvent[] = [];
  private feedVersion = 0;

  constructor(private readonly key: string) {}

  start(): void {
    if (this.abort) return;
    this.connect();
  }

  stop(): void {
    this.abort?.abort();
    this.abort = null;
    if (this.timer) clearTimeout(this.timer);
    this.setStatus('off');
  }

  subscribe(fn: Listener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  onStatus = (fn: () => void): (() => void) => {
    this.statusListeners.add(fn);
    return () => this.statusListeners.delete(fn);
  };

  getStatus = (): StreamStatus => this.status;
  getFeedVersion = (): number => this.feedVersion;

  private setStatus(s: StreamStatus): void {
    if (this.status === s) return;
    this.status = s;
    for (const fn of this.statusListeners) fn();
  }

  private addToFeed(events: CatapultEvent[]): void {
    const fresh = events.filter((e) => !NOT_IN_FEED.has(e.type));
    if (fresh.length === 0) return;
    const seen = new Set(this.feed.map((e) => e.seq));
    this.feed = [...fresh.filter((e) => !seen.has(e.seq)).reverse(), ...this.feed].sort((a, b) => b.seq - a.seq).slice(0, FEED_SIZE);
    this.feedVersion++;
    for (const fn of this.statusListeners) fn();
  }

  /** The feed starts with recent history: the stream's first comment names where it starts. */
  private async backfill(fromSeq: number): Promise<void> {
    const since = Math.max(0, fromSeq - 60);
    try {
      const page = await unwrap(api.GET('/api/v1/events/log', { params: { query: { since: String(since), limit: 60 } } }));
      this.addToFeed(page.items);
    } catch {
      // The feed fills from the live stream instead.
    }
  }

  private connect(): void {
    const abort = new AbortController();
    this.abort = abort;
    this.setStatus(this.lastId === null ? 'connecting' : 'reconnecting');
    const headers: Record<string, string> = { authorization: `Bearer ${this.key}` };
    if (this.lastId !== null) headers['last-event-id'] = this.lastId;
    let first = this.lastId === null;
    readStream({
      url: '/api/v1/events',
      headers,
      signal: abort.signal,
      onOpen: () => this.setStatus('live'),
      onComment: (text) => {
        const m = /^stream from seq (\d+)$/.exec(text);
        if (m && first) {
          first = false;
          void this.backfill(Number(m[1]));
        }
      },
      onMessage: (m) => {
        if (m.id !== undefined) this.lastId = m.id;
        let ev: CatapultEvent;
        try {
          ev = JSON.parse(m.data) as CatapultEvent;
        } catch {
          return;
        }
        this.addToFeed([ev]);
        for (const fn of this.listeners) fn(ev);
      },
    }).then(
      () => this.retry(abort),
      (err: unknown) => {
        if (abort.signal.aborted) return;
        const status = (err as { status?: number }).status;
        // A refused key will not start working by retrying quickly.
        this.retry(abort, status === 401 || status === 403 ? 30_000 : 2_000);
      },
    );
  }

  private retry(abort: AbortController, ms = 2_000): void {
    if (abort.signal.aborted || this.abort !== abort) return;
    this.abort = null;
    this.setStatus('reconnecting');
    this.timer = setTimeout(() => {
      this.timer = null;
      if (!this.abort) this.connect();
    }, ms);
  }
}

const HubCtx = createContext<EventHub | null>(null);

export function EventsProvider({ apiKey, enabled, children }: { apiKey: string; enabled: boolean; children: ReactNode }) {
  const hub = useMemo(() => new EventHub(apiKey), [apiKey]);
  useEffect(() => {
    if (!enabled) return;
    hub.start();
    return () => hub.stop();
  }, [hub, enabled]);
  return <HubCtx.Provider value={hub}>{children}</HubCtx.Provider>;
}

/** Calls `fn` for every event whose type starts with one of `prefixes` (`deployment.`, `task.dead`). */
export function useEvents(prefixes: readonly string[], fn: Listener): void {
  const hub = useContext(HubCtx);
  const ref = useRef(fn);
  ref.current = fn;
  const key = prefixes.join(',');
  useEffect(() => {
    if (!hub || key === '') return;
    const list = key.split(',');
    return hub.subscribe((e) => {
      if (list.some((p) => e.type.startsWith(p))) ref.current(e);
    });
  }, [hub, key]);
}

export function useStreamStatus(): StreamStatus {
  const hub = useContext(HubCtx);
  return useSyncExternalStore(hub?.onStatus ?? noopSubscribe, hub?.getStatus ?? (() => 'off' as const));
}

/** The newest events first, excluding high-rate telemetry. */
export function useFeed(): CatapultEvent[] {
  const hub = useContext(HubCtx);
  useSyncExternalStore(hub?.onStatus ?? noopSubscribe, hub?.getFeedVersion ?? (() => 0));
  return hub?.feed ?? [];
}

function noopSubscribe(): () => void {
  return () => undefined;
}
