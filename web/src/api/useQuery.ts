import { useCallback, useEffect, useRef, useState } from 'react';
import { ApiError, networkError } from './client';
import { useEvents } from './events';

export interface QueryOptions {
  /** Event type prefixes that make the data stale (`deployment.`, `assignment.`). */
  refreshOn?: readonly string[];
  /** Poll as well, for what changes without an event (GPU telemetry, progress). 0: never. */
  pollMs?: number;
  /** false: do not load (a dependency is missing). */
  enabled?: boolean;
}

export interface Query<T> {
  data: T | undefined;
  error: ApiError | undefined;
  /** True until the first answer (or error). Reloads keep showing the previous data. */
  loading: boolean;
  reload: () => void;
}

/** Coalesces bursts of events (a rollout emits dozens) into one reload. */
const EVENT_DEBOUNCE_MS = 250;

/**
 * Loads data and keeps it current: reloads on matching events and, optionally, on a timer. Keeps
 * the previous data while reloading, so pages never flash empty.
 */
export function useQuery<T>(load: (signal: AbortSignal) => Promise<T>, deps: readonly unknown[], opts: QueryOptions = {}): Query<T> {
  const { refreshOn = [], pollMs = 0, enabled = true } = opts;
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<ApiError | undefined>(undefined);
  const [loading, setLoading] = useState(enabled);
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  const debounce = useRef<ReturnType<typeof setTimeout> | null>(null);

  const reload = useCallback(() => setTick((t) => t + 1), []);

  useEffect(() => {
    if (!enabled) return;
    const abort = new AbortController();
    loadRef.current(abort.signal).then(
      (d) => {
        if (abort.signal.aborted) return;
        setData(d);
        setError(undefined);
        setLoading(false);
      },
      (err: unknown) => {
        if (abort.signal.aborted) return;
        setError(err instanceof ApiError ? err : networkError(err));
        setLoading(false);
      },
    );
    return () => abort.abort();
  }, [...deps, tick, enabled]);

  // New dependencies mean a different resource: do not show the old one's data under the new name.
  const depsKey = JSON.stringify(deps);
  const lastKey = useRef(depsKey);
  useEffect(() => {
    if (lastKey.current === depsKey) return;
    lastKey.current = depsKey;
    setData(undefined);
    setLoading(true);
  }, [depsKey]);

  useEvents(enabled ? refreshOn : [], () => {
    if (debounce.current) return;
    debounce.current = setTimeout(() => {
      debounce.current = null;
      reload();
    }, EVENT_DEBOUNCE_MS);
  });

  useEffect(() => {
    if (!enabled || pollMs <= 0) return;
    const id = setInterval(() => {
      if (document.visibilityState !== 'hidden') reload();
    }, pollMs);
    return () => clearInterval(id);
  }, [enabled, pollMs, reload]);

  useEffect(
    () => () => {
      if (debounce.current) clearTimeout(debounce.current);
    },
    [],
  );

  return { data, error, loading, reload };
}
