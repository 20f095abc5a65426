import { screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { renderAt } from '../test/render';
import { Layout } from './Layout';

const shell = (scopes: string[]) => renderAt(<Layout><h1>Page</h1></Layout>, { scopes, path: '/workers' });

describe('the console shell', () => {
  it('offers Admin only to keys with the admin scope', () => {
    shell(['read']);
    const nav = screen.getByRole('navigation', { name: 'Main' });
    expect(within(nav).queryByRole('link', { name: 'Admin' })).toBeNull();
    expect(within(nav).getByRole('link', { name: 'Deployments' })).toBeTruthy();
  });

  it('shows Admin to an admin key', () => {
    shell(['admin']);
    expect(within(screen.getByRole('navigation', { name: 'Main' })).getByRole('link', { name: 'Admin' })).toBeTruthy();
  });

  it('marks the current page in the navigation', () => {
    shell(['read']);
    const current = within(screen.getByRole('navigation', { name: 'Main' })).getByRole('link', { name: 'Workers' });
    expect(current.getAttribute('aria-current')).toBe('page');
  });

  it('is reachable by keyboard: skip link first, then the navigation in order', async () => {
    shell(['admin']);
    const user = userEvent.setup();
    await user.tab();
    expect(document.activeElement?.textContent).toBe('Skip to content');
    await user.keyboard('{Enter}');
    expect(document.activeElement?.id).toBe('main');
    // From the top again: past the skip link and the logo come the navigation links, in order.
    (document.activeElement as HTMLElement).blur();
    document.body.focus();
    await user.tab();
    await user.tab();
    await user.tab();
    const order: string[] = [];
    for (let i = 0; i < 7; i++) {
      order.push(document.activeElement?.textContent ?? '');
      await user.tab();
    }
    expect(order).toEqual(['Overview', 'Workers', 'Tasks', 'Models', 'Deployments', 'Benchmarks', 'Admin']);
  });

  it('names the signed-in key and its scopes, and offers sign-out', () => {
    shell(['deploy', 'bench']);
    expect(screen.getByText('(deploy, bench)')).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Sign out' })).toBeTruthy();
  });
});
