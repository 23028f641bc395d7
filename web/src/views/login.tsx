// Sign-in: user name and password, then, for an account with two-factor login, a code
// from the authenticator app or one of the recovery codes.

import { useState } from 'preact/hooks';
import { AuthError, signIn, type SecondFactor } from '../auth';

interface Pending {
  username: string;
  password: string;
}

function message(e: unknown): string {
  if (e instanceof AuthError) {
    switch (e.code) {
      case 'too_many_attempts':
        return `Too many failed sign-ins. Try again in ${Math.ceil((e.retryAfter ?? 60) / 60)} min.`;
      case 'invalid_credentials':
        return 'Wrong user name or password.';
      case 'invalid_two_factor_code':
        return 'Wrong or already used code.';
    }
  }
  return e instanceof Error ? e.message : String(e);
}

export function Login() {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  // Set once the password was right and the server asked for a second factor.
  const [pending, setPending] = useState<Pending | null>(null);
  const [recovery, setRecovery] = useState(false);

  async function attempt(username: string, password: string, factor?: SecondFactor) {
    setBusy(true);
    setError(null);
    try {
      await signIn(username, password, factor);
    } catch (e) {
      if (e instanceof AuthError && e.code === 'two_factor_required') setPending({ username, password });
      else setError(message(e));
    } finally {
      setBusy(false);
    }
  }

  function submit(ev: Event) {
    ev.preventDefault();
    const form = new FormData(ev.currentTarget as HTMLFormElement);
    if (!pending) {
      void attempt(String(form.get('username')), String(form.get('password')));
      return;
    }
    const value = String(form.get('factor')).trim();
    void attempt(pending.username, pending.password, recovery ? { recoveryCode: value } : { code: value });
  }

  const back = () => {
    setPending(null);
    setRecovery(false);
    setError(null);
  };
  return (
    <main class="login">
      <form class="card login-card" onSubmit={submit} aria-labelledby="login-title">
        <h1 id="login-title">TorrentEdge</h1>
        {pending ? (
          <>
            <p>{recovery ? 'Enter one of your recovery codes.' : 'Enter the code from your authenticator app.'}</p>
            <label>
              {recovery ? 'Recovery code' : 'Authentication code'}
              <input
                key={recovery ? 'recovery' : 'code'}
                name="factor"
                autocomplete="one-time-code"
                inputMode={recovery ? 'text' : 'numeric'}
                pattern={recovery ? undefined : '[0-9 ]{6,7}'}
                required
                autofocus
              />
            </label>
          </>
        ) : (
          <>
            <label>
              User name
              <input name="username" autocomplete="username" required autofocus />
            </label>
            <label>
              Password
              <input name="password" type="password" autocomplete="current-password" required />
            </label>
          </>
        )}
        {error && <p class="error" role="alert">{error}</p>}
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Signing in…' : pending ? 'Verify' : 'Sign in'}
        </button>
        {pending && (
          <>
            <button type="button" onClick={() => { setRecovery(!recovery); setError(null); }}>
              {recovery ? 'Use a code from the app instead' : 'Use a recovery code instead'}
            </button>
            <button type="button" onClick={back}>Back</button>
          </>
        )}
      </form>
    </main>
  );
}
