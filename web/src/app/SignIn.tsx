import { type FormEvent, useState } from 'react';
import { ApiError, networkError } from '../api/client';
import { CheckField, TextField } from '../components/Field';
import { Logo } from '../components/Icon';
import { ErrorAlert } from '../components/ui';

/**
 * Sign-in with an API key. The key is checked against GET /api/v1/whoami before it is kept, so a
 * wrong key is refused here with the server's own words, not on the first page that loads.
 */
export function SignInForm({ onSignIn, endedBecause }: { onSignIn: (key: string, remember: boolean) => Promise<void>; endedBecause?: string | null }) {
  const [key, setKey] = useState('');
  const [remember, setRemember] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | undefined>();

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const trimmed = key.trim();
    if (trimmed === '') {
      setError(new ApiError(0, 'EMPTY', 'Paste an API key to sign in.', '', [{ path: 'key', message: 'An API key is required.' }]));
      return;
    }
    setBusy(true);
    setError(undefined);
    onSignIn(trimmed, remember).then(
      () => setBusy(false),
      (err: unknown) => {
        setBusy(false);
        setError(err instanceof ApiError ? err : networkError(err));
      },
    );
  };

  return (
    <div className="signin">
      <main className="card" id="main" aria-labelledby="signin-title">
        <div className="brand-big">
          <Logo />
          <h1 id="signin-title" style={{ fontSize: 20 }}>
            Sign in to Catapult
          </h1>
        </div>
        <p>Control plane for ML inference. Paste an API key; what its scopes allow is what this console offers.</p>
        {endedBecause && !error ? (
          <div className="alert warn" role="status" style={{ marginBottom: 12 }}>
            {endedBecause}
          </div>
        ) : null}
        <form className="form" onSubmit={submit} noValidate>
          <TextField
            label="API key"
            name="key"
            type="password"
            autoComplete="off"
            spellCheck={false}
            placeholder="cat_…"
            value={key}
            onChange={(e) => setKey(e.target.value)}
            error={error}
            hint={
              <>
                <code>catapult up</code> prints the admin key on first start and saves it to <code>.catapult/admin.key</code>.
              </>
            }
            autoFocus
          />
          <CheckField
            label="Remember on this device"
            checked={remember}
            onChange={(e) => setRemember(e.target.checked)}
            hint="Without it the key is kept in this tab's session storage and forgotten when the tab closes; with it, in this browser's local storage until you sign out."
          />
          <ErrorAlert error={error} shownAtFields={['key']} />
          <button type="submit" className="btn primary" disabled={busy} style={{ height: 34 }}>
            {busy ? 'Checking the key…' : 'Sign in'}
          </button>
        </form>
      </main>
    </div>
  );
}
