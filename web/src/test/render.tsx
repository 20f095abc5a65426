import { render } from '@testing-library/react';
import type { ReactNode } from 'react';
import { MemoryRouter, Route, Routes } from 'react-router';
import { vi } from 'vitest';
import { SessionFixture } from '../auth/session';
import { ToastProvider } from '../components/Toast';

/** A fixture answer: JSON with a status (200 unless given). */
export interface Fixture {
  status?: number;
  body: unknown;
}

export type Fixtures = Record<string, Fixture | ((req: Request) => Fixture)>;

export interface Calls {
  requests: { method: string; path: string; body: unknown }[];
}

/**
 * Answers the console's API calls from fixtures keyed by `METHOD /path` (query ignored); anything
 * else is a 404 problem, so a page that asks for something unexpected shows an error, as it would.
 */
export function serveFixtures(fixtures: Fixtures): Calls {
  const calls: Calls = { requests: [] };
  vi.stubGlobal('fetch', async (input: Request | string, init?: RequestInit) => {
    const req = typeof input === 'string' ? new Request(new URL(input, 'http://127.0.0.1:8080'), init) : input;
    const url = new URL(req.url);
    const key = `${req.method} ${url.pathname}`;
    const text = req.method === 'GET' || req.method === 'HEAD' ? '' : await req.text();
    calls.requests.push({ method: req.method, path: url.pathname + url.search, body: text ? (JSON.parse(text) as unknown) : undefined });
    const f = fixtures[key];
    const answer = typeof f === 'function' ? f(req) : f;
    if (!answer) {
      return new Response(JSON.stringify({ code: 'CATAPULT_ROUTE_NOT_FOUND', detail: `No route ${key}.`, hint: '', status: 404 }), { status: 404, headers: { 'content-type': 'application/problem+json' } });
    }
    const status = answer.status ?? 200;
    return new Response(JSON.stringify(answer.body), { status, headers: { 'content-type': status >= 400 ? 'application/problem+json' : 'application/json' } });
  });
  return calls;
}

/** Renders a page at `path` as a key with `scopes`, inside the console's providers. */
export function renderAt(ui: ReactNode, { path = '/', pattern = '*', scopes = ['admin'] }: { path?: string; pattern?: string; scopes?: string[] } = {}) {
  return render(
    <MemoryRouter initialEntries={[path]}>
      <SessionFixture scopes={scopes}>
        <ToastProvider>
          <Routes>
            <Route path={pattern} element={ui} />
          </Routes>
        </ToastProvider>
      </SessionFixture>
    </MemoryRouter>,
  );
}

/** Form controls without an accessible name: a <label>, aria-label or aria-labelledby. */
export function unlabelledControls(root: ParentNode): string[] {
  const out: string[] = [];
  for (const el of root.querySelectorAll<HTMLElement>('input, select, textarea, [contenteditable="true"]')) {
    if (el.getAttribute('type') === 'hidden') continue;
    const id = el.id;
    const byFor = id ? document.querySelector(`label[for="${CSS.escape(id)}"]`) : null;
    const wrapped = el.closest('label');
    const aria = el.getAttribute('aria-label') ?? '';
    const by = (el.getAttribute('aria-labelledby') ?? '')
      .split(/\s+/)
      .filter(Boolean)
      .map((x) => document.getElementById(x)?.textContent ?? '')
      .join('');
    const name = (byFor?.textContent ?? '') + (wrapped?.textContent ?? '') + aria + by;
    if (name.trim() === '') out.push(el.outerHTML.slice(0, 120));
  }
  return out;
}
