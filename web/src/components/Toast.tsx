import { type ReactNode, createContext, useCallback, useContext, useMemo, useState } from 'react';

interface Toast {
  id: number;
  text: ReactNode;
  tone: 'ok' | 'bad';
}

type Notify = (text: ReactNode, tone?: 'ok' | 'bad') => void;

const Ctx = createContext<Notify>(() => undefined);

/** Short confirmations of what an action did, announced politely to screen readers. */
export function ToastProvider({ children }: { children: ReactNode }) {
  const [toasts, setToasts] = useState<Toast[]>([]);
  const notify = useCallback<Notify>((text, tone = 'ok') => {
    const id = Date.now() + Math.random();
    setToasts((t) => [...t.slice(-3), { id, text, tone }]);
    setTimeout(() => setToasts((t) => t.filter((x) => x.id !== id)), tone === 'bad' ? 8000 : 4000);
  }, []);
  const value = useMemo(() => notify, [notify]);
  return (
    <Ctx.Provider value={value}>
      {children}
      <div className="toasts" role="status" aria-live="polite">
        {toasts.map((t) => (
          <div key={t.id} className={`toast ${t.tone === 'bad' ? 'bad' : ''}`}>
            {t.text}
          </div>
        ))}
      </div>
    </Ctx.Provider>
  );
}

export function useToast(): Notify {
  return useContext(Ctx);
}
