import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { useState } from 'react';
import { describe, expect, it } from 'vitest';
import { Tabs } from './Tabs';

function Harness() {
  const [sel, setSel] = useState<'a' | 'b' | 'c'>('a');
  return (
    <Tabs
      label="Sections"
      tabs={[
        { key: 'a', label: 'Overview' },
        { key: 'b', label: 'Events' },
        { key: 'c', label: 'Logs' },
      ]}
      selected={sel}
      onSelect={setSel}
    >
      <p>Showing {sel}</p>
    </Tabs>
  );
}

describe('tabs', () => {
  it('moves between tabs with the arrow keys, Home and End, selecting as it goes', async () => {
    render(<Harness />);
    const user = userEvent.setup();
    await user.tab();
    expect(document.activeElement?.textContent).toBe('Overview');
    await user.keyboard('{ArrowRight}');
    expect(document.activeElement?.textContent).toBe('Events');
    expect(screen.getByRole('tab', { name: 'Events' }).getAttribute('aria-selected')).toBe('true');
    expect(screen.getByRole('tabpanel').textContent).toBe('Showing b');
    await user.keyboard('{End}');
    expect(document.activeElement?.textContent).toBe('Logs');
    await user.keyboard('{ArrowRight}');
    expect(document.activeElement?.textContent).toBe('Overview');
    await user.keyboard('{ArrowLeft}');
    expect(document.activeElement?.textContent).toBe('Logs');
    await user.keyboard('{Home}');
    expect(screen.getByRole('tabpanel').textContent).toBe('Showing a');
  });

  it('is one Tab stop: the next Tab goes to the panel, not the other tabs', async () => {
    render(<Harness />);
    const user = userEvent.setup();
    await user.tab();
    await user.tab();
    expect(document.activeElement?.getAttribute('role')).toBe('tabpanel');
  });
});
