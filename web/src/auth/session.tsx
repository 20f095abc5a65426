import { type ReactNode, createContext, useCallback, useContext, useEffect, useMemo, useState } from 'react';
import { ApiError, type GetOk, api, setApiKey, setOnUnauthenticated, unwrap } from '../api/client';
import { type Scope, hasScope } from './scopes';

export type Who = GetOk<'/api/v1/whoami'>;

const KEY = 'catapult.key';

export interface Session {
  who: Who;
  key: string;
  /** Whether the key's scopes allow this; what they do not is not offered in the console. */
  can: (scope: Scope) => boolean;
  signOut: (reason?: string) => void;
}

interface SessionState {
  session: Session | null;
  /** Why the last session ended (a revoked key), for the sign-in page. */
  endedBecause: string | null;
  signIn: (key: string, remember: boolean) => Promise<void>;
  /** True while a stored key is being checked on load. */
  restoring: boolean;
}

const Ctx = createContext<SessionState | null>(null);

/** Asks the server who a key belongs to; throws the API's error for an unknown key. */
export async function verifyKey(key: string): Promise<Who> {
  return unwrap(api.GET('/api/v1/whoami', { headers: { authorization: `Bearer ${key}` } }));
}

function stored(): { key: string; remembered: boolean } | null {
  try {
    const s = sessionStorage.getItem(KEY);
    if (s) return { key: s, remembered: false };
    const l = localStorage.getItem(KEY);
    if (l) return { key: l, remembered: true };
  } catch {
    // Storage can be disabled; then the key lives only in memory.
  }
  return null;
}

function store(key: string | null, remember: boolean): void {
  try {
    sessionStorage.removeItem(KEY);
    localStorage.removeItem(KEY);
    if (key) (remember ? localStorage : sessionStorage).setItem(KEY, key);
  } catch {
    // see stored()
  }
}

export function SessionProvider({ children, verify = verifyKey }: { children: ReactNode; verify?: (key: string) => Promise<Who> }) {
  const [state, setState] = useState<{ who: Who; key: string } | null>(null);
  const [endedBecause, setEndedBecause] = useState<string | null>(null);
  const [restoring, setRestoring] = useState(() => stored() !== null);

  const signOut = useCallback((reason?: string) => {
    store(null, false);
    setApiKey(null);
    setState(null);
    setEndedBecause(reason ?? null);
  }, []);

  const signIn = useCallback(
    async (key: string, remember: boolean) => {
      const who = await verify(key);
      store(key, remember);
      setApiKey(key);
      setEndedBecause(null);
      setState({ who, key });
    },
    [verify],
  );

  useEffect(() => {
    const s = stored();
    if (!s) return;
    let cancelled = false;
    verify(s.key).then(
      (who) => {
        if (cancelled) return;
        setApiKey(s.key);
        setState({ who, key: s.key });
        setRestoring(false);
      },
      (err: unknown) => {
        if (cancelled) return;
        // A network error keeps the key for the next try; a refused key is forgotten.
        if (err instanceof ApiError && (err.status === 401 || err.status === 403)) store(null, false);
        setEndedBecause(err instanceof ApiError ? err.detail : String(err));
        setRestoring(false);
      },
    );
    return () => {
      cancelled = true;
    };
  }, [verify]);

  useEffect(() => {
    setOnUnauthenticated(() => signOut('The server no longer accepts this key (revoked or expired). Sign in with another.'));
    return () => setOnUnauthenticated(null);
  }, [signOut]);

  const value = useMemo<SessionState>(() => {
    const session: Session | null = state
      ? { who: state.who, key: state.key, can: (scope) => hasScope(state.who.scopes, scope), signOut }
      : null;
    return { session, endedBecause, signIn, restoring };
  }, [state, endedBecause, signIn, restoring, signOut]);

  return <Ctx.Provider value={value}>{children}</Ctx.Provider>;
}

export function useSessionState(): SessionState {
  const v = useContext(Ctx);
  if (!v) throw new Error('useSessionState outside SessionProvider');
  return v;
}

/** The signed-in session; only used below the sign-in gate. */
export function useSession(): Session {
  const s = useSessionState().session;
  if (!s) throw new Error('useSession without a session');
  return s;
}

/** Lets a component test render a page as a key with given scopes, without a server. */
export function SessionFixture({ scopes, children, name = 'fixture' }: { scopes: string[]; children: ReactNode; name?: string }) {
  const value = useMemo<SessionState>(
    () => ({
      session: { who: { id: 'key_fixture', name, scopes }, key: 'cat_fixture', can: (s) => hasScope(scopes, s), signOut: () => undefined },
      endedBecause: null,
      restoring: false,
      signIn: () => Promise.resolve(),
    }),
    [scopes, name],
  );
  return <Ctx.Provider value={value}>{children}</Ctx.Provider>;
}
