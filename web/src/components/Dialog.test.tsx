import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { useState } from 'react';
import { describe, expect, it } from 'vitest';
import { Dialog } from './Dialog';
import { TextField } from './Field';

function Harness() {
  const [open, setOpen] = useState(false);
  return (
    <>
      <button type="button" onClick={() => setOpen(true)}>
        Open
      </button>
      {open ? (
        <Dialog title="Create a key" onClose={() => setOpen(false)} footer={<button type="button">Save</button>}>
          <TextField label="Name" />
        </Dialog>
      ) : null}
    </>
  );
}

describe('dialogs', () => {
  it('take focus, keep Tab inside, close on Escape and give focus back', async () => {
    render(<Harness />);
    const user = userEvent.setup();
    await user.click(screen.getByRole('button', { name: 'Open' }));
    const dialog = screen.getByRole('dialog', { name: 'Create a key' });
    expect(dialog.getAttribute('aria-modal')).toBe('true');
    expect(document.activeElement).toBe(screen.getByLabelText('Name'));
    await user.tab();
    expect(document.activeElement?.textContent).toBe('Save');
    await user.tab();
    expect(document.activeElement?.getAttribute('aria-label')).toBe('Close dialog');
    await user.tab();
    expect(document.activeElement).toBe(screen.getByLabelText('Name'));
    await user.tab({ shift: true });
    expect(document.activeElement?.getAttribute('aria-label')).toBe('Close dialog');
    await user.keyboard('{Escape}');
    expect(screen.queryByRole('dialog')).toBeNull();
    expect(document.activeElement).toBe(screen.getByRole('button', { name: 'Open' }));
  });
});
