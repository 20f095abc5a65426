import { type ReactNode, useId, useRef } from 'react';

export interface TabDef<K extends string> {
  key: K;
  label: ReactNode;
  count?: number;
}

/**
 * ARIA tabs with a roving tab index: Tab enters the list at the selected tab, arrow keys, Home
 * and End move between tabs and select them, and Tab again goes to the panel.
 */
export function Tabs<K extends string>({
  tabs,
  selected,
  onSelect,
  label,
  children,
}: {
  tabs: readonly TabDef<K>[];
  selected: K;
  onSelect: (key: K) => void;
  label: string;
  children: ReactNode;
}) {
  const base = useId();
  const refs = useRef(new Map<K, HTMLButtonElement>());
  const move = (to: number) => {
    const t = tabs[(to + tabs.length) % tabs.length]!;
    onSelect(t.key);
    refs.current.get(t.key)?.focus();
  };
  const index = tabs.findIndex((t) => t.key === selected);
  return (
    <>
      <div
        className="tabs"
        role="tablist"
        aria-label={label}
        onKeyDown={(e) => {
          if (e.key === 'ArrowRight') move(index + 1);
          else if (e.key === 'ArrowLeft') move(index - 1);
          else if (e.key === 'Home') move(0);
          else if (e.key === 'End') move(tabs.length - 1);
          else return;
          e.preventDefault();
        }}
      >
        {tabs.map((t) => (
          <button
            key={t.key}
            ref={(el) => {
              if (el) refs.current.set(t.key, el);
              else refs.current.delete(t.key);
            }}
            type="button"
            role="tab"
            id={`${base}-tab-${t.key}`}
            aria-selected={t.key === selected}
            aria-controls={`${base}-panel`}
            tabIndex={t.key === selected ? 0 : -1}
            onClick={() => onSelect(t.key)}
          >
            {t.label}
            {t.count !== undefined ? <span className="count">{t.count}</span> : null}
          </button>
        ))}
      </div>
      <div role="tabpanel" id={`${base}-panel`} aria-labelledby={`${base}-tab-${selected}`} tabIndex={0}>
        {children}
      </div>
    </>
  );
}
