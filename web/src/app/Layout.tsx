import { type ReactNode, useEffect, useRef, useState } from 'react';
import { Link, NavLink, useLocation } from 'react-router';
import { useStreamStatus } from '../api/events';
import { useSession } from '../auth/session';
import type { Scope } from '../auth/scopes';
import { Icon, type IconName, Logo } from '../components/Icon';

interface NavItem {
  to: string;
  label: string;
  icon: IconName;
  scope: Scope;
  end?: boolean;
}

const NAV: { section: string; items: NavItem[] }[] = [
  {
    section: 'Cluster',
    items: [
      { to: '/', label: 'Overview', icon: 'overview', scope: 'read', end: true },
      { to: '/workers', label: 'Workers', icon: 'workers', scope: 'read' },
      { to: '/tasks', label: 'Tasks', icon: 'tasks', scope: 'read' },
    ],
  },
  {
    section: 'Serving',
    items: [
      { to: '/models', label: 'Models', icon: 'models', scope: 'read' },
      { to: '/deployments', label: 'Deployments', icon: 'deployments', scope: 'read' },
    ],
  },
  { section: 'Evaluate', items: [{ to: '/benchmarks', label: 'Benchmarks', icon: 'benchmarks', scope: 'read' }] },
  { section: 'Settings', items: [{ to: '/admin', label: 'Admin', icon: 'admin', scope: 'admin' }] },
];

const TITLES: Record<string, string> = {
  workers: 'Workers',
  models: 'Models',
  deployments: 'Deployments',
  benchmarks: 'Benchmarks',
  tasks: 'Tasks',
  admin: 'Admin',
  new: 'New',
  compare: 'Compare',
  keys: 'API keys',
  'join-tokens': 'Join tokens',
  audit: 'Audit log',
};

function Crumbs() {
  const { pathname } = useLocation();
  const parts = pathname.split('/').filter(Boolean).map(decodeURIComponent);
  const crumbs = parts.length === 0 ? [{ to: '/', label: 'Overview' }] : parts.map((p, i) => ({ to: `/${parts.slice(0, i + 1).map(encodeURIComponent).join('/')}`, label: i === 0 ? (TITLES[p] ?? p) : (TITLES[p] ?? p) }));
  useEffect(() => {
    document.title = `${crumbs.map((c) => c.label).reverse().join(' · ')} · Catapult`;
  });
  return (
    <nav className="crumbs" aria-label="Breadcrumb">
      {crumbs.map((c, i) => (
        <span key={c.to} className="row" style={{ gap: 6, flexWrap: 'nowrap' }}>
          {i > 0 ? <span className="faint">/</span> : null}
          {i === crumbs.length - 1 ? <span aria-current="page">{c.label}</span> : <Link to={c.to}>{c.label}</Link>}
        </span>
      ))}
    </nav>
  );
}

function LiveIndicator() {
  const status = useStreamStatus();
  const text = status === 'live' ? 'Live' : status === 'off' ? 'Not live' : status === 'connecting' ? 'Connecting' : 'Reconnecting';
  return (
    <span className="live" data-status={status} title="The event stream that keeps these pages current">
      <span className="dot" aria-hidden="true" />
      <span>{text}</span>
    </span>
  );
}

function useTheme(): [string, () => void] {
  const [theme, setTheme] = useState(() => document.documentElement.dataset.theme ?? 'dark');
  const toggle = () => {
    const next = theme === 'dark' ? 'light' : 'dark';
    document.documentElement.dataset.theme = next;
    try {
      localStorage.setItem('catapult.theme', next);
    } catch {
      // the choice lasts for this page only
    }
    setTheme(next);
  };
  return [theme, toggle];
}

export function Layout({ children }: { children: ReactNode }) {
  const session = useSession();
  const [theme, toggleTheme] = useTheme();
  const mainRef = useRef<HTMLElement>(null);
  const { pathname } = useLocation();
  const first = useRef(true);

  // After a navigation, focus goes to the new page, so keyboard and screen-reader users start there.
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    // Tabs that change the URL keep focus on the tab the user is moving through.
    if (document.activeElement?.getAttribute('role') === 'tab') return;
    mainRef.current?.focus({ preventScroll: true });
    window.scrollTo?.(0, 0);
  }, [pathname]);

  return (
    <>
      <a
        className="skip-link"
        href="#main"
        onClick={(e) => {
          e.preventDefault();
          mainRef.current?.focus();
        }}
      >
        Skip to content
      </a>
      <div className="shell">
        <aside className="sidebar">
          <Link to="/" className="brand" aria-label="Catapult overview">
            <Logo />
            <span>Catapult</span>
          </Link>
          <nav className="nav" aria-label="Main">
            {NAV.map((group) => {
              const items = group.items.filter((i) => session.can(i.scope));
              if (items.length === 0) return null;
              return (
                <div key={group.section} role="group" aria-label={group.section}>
                  <div className="nav-section" aria-hidden="true">
                    {group.section}
                  </div>
                  {items.map((i) => (
                    <NavLink key={i.to} to={i.to} end={i.end}>
                      <Icon name={i.icon} />
                      <span>{i.label}</span>
                    </NavLink>
                  ))}
                </div>
              );
            })}
          </nav>
          <div className="sidebar-foot">
            <a href="/api/docs" target="_blank" rel="noreferrer">
              API reference
            </a>
          </div>
        </aside>
        <header className="topbar">
          <Crumbs />
          <span className="spacer" />
          <LiveIndicator />
          <span className="whoami">
            <span>
              <strong>{session.who.name}</strong> <span className="faint">({session.who.scopes.join(', ') || 'no scopes'})</span>
            </span>
          </span>
          <button type="button" className="btn ghost icon" onClick={toggleTheme} aria-label={theme === 'dark' ? 'Switch to the light theme' : 'Switch to the dark theme'}>
            <Icon name={theme === 'dark' ? 'sun' : 'moon'} />
          </button>
          <button type="button" className="btn small" onClick={() => session.signOut()}>
            <Icon name="out" />
            Sign out
          </button>
        </header>
        <main id="main" ref={mainRef} tabIndex={-1}>
          {children}
        </main>
      </div>
    </>
  );
}
