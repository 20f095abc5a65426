import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { toApiError } from '../api/client';
import { unlabelledControls } from '../test/render';
import { SignInForm } from './SignIn';

describe('the sign-in form', () => {
  it('shows what the server said about a refused key, and what to do', async () => {
    const onSignIn = vi.fn(() =>
      Promise.reject(
        toApiError(401, {
          code: 'CATAPULT_UNAUTHENTICATED',
          detail: 'The API key is unknown, revoked or expired.',
          hint: 'Send `Authorization: Bearer <key>` with a valid, unrevoked key.',
        }),
      ),
    );
    render(<SignInForm onSignIn={onSignIn} />);
    await userEvent.type(screen.getByLabelText('API key'), 'cat_wrong');
    await userEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('The API key is unknown, revoked or expired.');
    expect(alert.textContent).toContain('with a valid, unrevoked key');
    expect(onSignIn).toHaveBeenCalledWith('cat_wrong', false);
  });

  it('says next to the field that a key is needed, without asking the server', async () => {
    const onSignIn = vi.fn(() => Promise.resolve());
    render(<SignInForm onSignIn={onSignIn} />);
    await userEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    const field = screen.getByLabelText('API key');
    expect(field.getAttribute('aria-invalid')).toBe('true');
    expect(field.getAttribute('aria-describedby')).toBeTruthy();
    const described = field.getAttribute('aria-describedby')!.split(' ').map((id) => document.getElementById(id)?.textContent);
    expect(described).toContain('An API key is required.');
    expect(onSignIn).not.toHaveBeenCalled();
  });

  it('asks whether to remember the key, and tells where it is kept', async () => {
    const onSignIn = vi.fn(() => Promise.resolve());
    render(<SignInForm onSignIn={onSignIn} />);
    expect(screen.getByText(/session storage/)).toBeTruthy();
    await userEvent.type(screen.getByLabelText('API key'), 'cat_ok');
    await userEvent.click(screen.getByLabelText('Remember on this device'));
    await userEvent.keyboard('{Enter}');
    await userEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(onSignIn).toHaveBeenLastCalledWith('cat_ok', true);
    expect(unlabelledControls(document.body)).toEqual([]);
  });

  it('tells a returning user why their session ended', () => {
    render(<SignInForm onSignIn={() => Promise.resolve()} endedBecause="The server no longer accepts this key." />);
    expect(screen.getByRole('status').textContent).toContain('no longer accepts this key');
  });
});
