/** Line icons drawn for the console (no icon font or CDN); 16×16 grid, current colour. */

const PATHS = {
  overview: 'M2 2h5v5H2zM9 2h5v3H9zM9 7h5v7H9zM2 9h5v5H2z',
  workers: 'M2 3h12v4H2zM2 9h12v4H2zM4.5 5h.01M4.5 11h.01M8 5h3M8 11h3',
  models: 'M8 1.5l6 3.2v6.6l-6 3.2-6-3.2V4.7zM2 4.7l6 3.3 6-3.3M8 8v6.5',
  deployments: 'M8 1.5c2.6 1.6 3.8 4 3.5 7.3L8 12 4.5 8.8C4.2 5.5 5.4 3.1 8 1.5zM8 6.2h.01M4.8 9.5 3 12.5l2.8-.4M11.2 9.5l1.8 3-2.8-.4M8 12v2.5',
  benchmarks: 'M2 14h12M3.5 14V9M6.5 14V5M9.5 14V7.5M12.5 14V2.5',
  tasks: 'M5 3.5h9M5 8h9M5 12.5h9M2 3.5h.01M2 8h.01M2 12.5h.01',
  admin: 'M8 1.5l5.5 2v4.2c0 3.3-2.3 5.7-5.5 6.8-3.2-1.1-5.5-3.5-5.5-6.8V3.5zM6 8l1.5 1.5L10.5 6.5',
  logo: '',
  copy: 'M5.5 5.5h8v8h-8zM3 10.5H2.5v-8h8V3',
  check: 'M3 8.5l3 3 7-7',
  close: 'M4 4l8 8M12 4l-8 8',
  plus: 'M8 3v10M3 8h10',
  sun: 'M8 5a3 3 0 1 1 0 6 3 3 0 0 1 0-6zM8 1v1.5M8 13.5V15M1 8h1.5M13.5 8H15M3 3l1 1M12 12l1 1M3 13l1-1M12 4l1-1',
  moon: 'M13 9.5A5.5 5.5 0 0 1 6.5 3a5.5 5.5 0 1 0 6.5 6.5z',
  out: 'M6 2.5H3v11h3M10.5 5l3 3-3 3M13.5 8H6',
  refresh: 'M13.5 8a5.5 5.5 0 1 1-1.6-3.9M13.5 2.5v2.5H11',
  play: 'M4.5 2.5l9 5.5-9 5.5z',
  stop: 'M4 4h8v8H4z',
  trash: 'M2.5 4h11M6 4V2.5h4V4M4 4l.7 9.5h6.6L12 4',
  download: 'M8 2v8.5M4.5 7 8 10.5 11.5 7M2.5 13.5h11',
  external: 'M9.5 2.5h4v4M13.5 2.5 7.5 8.5M11.5 9.5v4h-9v-9h4',
  send: 'M2 8l12-5.5L9 14l-1.5-5z',
  compare: 'M2 13l4-5 3 3 5-7M2 9.5l4-3.5 3 2 5-4',
} as const;

export type IconName = keyof typeof PATHS;

export function Icon({ name, title }: { name: IconName; title?: string }) {
  if (name === 'logo') return <Logo />;
  return (
    <svg viewBox="0 0 16 16" fill="none" stroke="currentColor" strokeWidth="1.5" strokeLinecap="round" strokeLinejoin="round" aria-hidden={title ? undefined : true} role={title ? 'img' : undefined}>
      {title ? <title>{title}</title> : null}
      <path d={PATHS[name]} />
    </svg>
  );
}

export function Logo() {
  return (
    <svg viewBox="0 0 32 32" aria-hidden="true">
      <rect width="32" height="32" rx="7" fill="#1b2230" />
      <path d="M7 23 L16 7 L25 23" fill="none" stroke="#6ea8fe" strokeWidth="3" strokeLinecap="round" strokeLinejoin="round" />
      <circle cx="16" cy="19" r="3" fill="#f0b35a" />
    </svg>
  );
}
