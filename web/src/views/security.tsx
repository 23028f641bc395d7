// The signed-in user's two-factor login (TOTP): its status; setting it up (QR code and
// secret, then a first code, then the recovery codes, shown once); new recovery codes;
// turning it off (password and a code or a recovery code). Below it, the tracker account.

import { useEffect, useState } from 'preact/hooks';
import { api, describe } from '../api';
import { TrackerAccount } from './tracker';

interface Status {
  enabled: boolean;
  pending: boolean;
  recoveryCodesLeft: number;
}

interface Setup {
  secret: string;
  otpauthUrl: string;
  qrCode: string;
}

/** A typed code or recovery code as the API wants it. */
function factor(typed: string): { code: string } | { recoveryCode: string } {
  const digits = typed.replace(/\s/g, '');
  return /^\d{6}$/.test(digits) ? { code: digits } : { recoveryCode: typed.trim() };
}

export function Security() {
  const [status, setStatus] = useState<Status | null>(null);
  const [setup, setSetup] = useState<Setup | null>(null);
  const [codes, setCodes] = useState<string[] | null>(null);
  const [note, setNote] = useState<string | null>(null);
  const load = () => api<Status>('GET', '/api/auth/2fa').then(setStatus, (e) => setNote(describe(e)));
  useEffect(() => void load(), []);

  async function run(f: () => Promise<void>) {
    setNote(null);
    try {
      await f();
    } catch (e) {
      setNote(describe(e));
    }
  }
  const begin = () => run(async () => setSetup(await api<Setup>('POST', '/api/auth/2fa/enable')));
  const confirm = (ev: Event) => {
    ev.preventDefault();
    const f = new FormData(ev.currentTarget as HTMLFormElement);
    return run(async () => {
      const r = await api<{ recoveryCodes: string[] }>('POST', '/api/auth/2fa/confirm', { code: String(f.get('code')) });
      setSetup(null);
      setCodes(r.recoveryCodes);
      await load();
    });
  };
  const regenerate = (ev: Event) => {
    ev.preventDefault();
    const f = new FormData(ev.currentTarget as HTMLFormElement);
    return run(async () => {
      const r = await api<{ recoveryCodes: string[] }>('POST', '/api/auth/2fa/recovery-codes', factor(String(f.get('factor'))));
      setCodes(r.recoveryCodes);
      await load();
    });
  };
  const disable = (ev: Event) => {
    ev.preventDefault();
    const f = new FormData(ev.currentTarget as HTMLFormElement);
    return run(async () => {
      await api('POST', '/api/auth/2fa/disable', { password: String(f.get('password')), ...factor(String(f.get('factor'))) });
      setCodes(null);
      await load();
      setNote('Two-factor login is off.');
    });
  };

  return (
    <section class="security" aria-labelledby="security-title">
      <h2 id="security-title">Security</h2>
      <div class="card form">
        <h3>Two-factor login</h3>
        {!status ? (
          <p>{note ?? 'Loading…'}</p>
        ) : (
          <p data-two-factor={status.enabled ? 'on' : 'off'}>
            {status.enabled
              ? `Two-factor login is on. ${status.recoveryCodesLeft} recovery codes left.`
              : 'Two-factor login is off: your password alone signs you in.'}
          </p>
        )}
        {codes && (
          <div class="recovery">
            <p><strong>Save these recovery codes now.</strong> Each signs you in once if you lose your authenticator; they are not shown again.</p>
            <ul class="recovery-codes" aria-label="Recovery codes">{codes.map((c) => <li><code>{c}</code></li>)}</ul>
            <button type="button" onClick={() => setCodes(null)}>I saved them</button>
          </div>
        )}
        {status && !status.enabled && !setup && (
          <button type="button" class="primary" onClick={() => void begin()}>Set up two-factor login</button>
        )}
        {status && !status.enabled && setup && (
          <form onSubmit={confirm} aria-label="Confirm two-factor login">
            <p>Scan this with your authenticator app, or type the key in by hand, then enter the code it shows.</p>
            <img class="qr" src={setup.qrCode} alt="QR code for your authenticator app" width={200} height={200} />
            <p>Key: <code data-totp-secret>{setup.secret}</code></p>
            <label>Code from your app
              <input name="code" autocomplete="one-time-code" inputMode="numeric" required />
            </label>
            <button type="submit" class="primary">Turn on</button>
          </form>
        )}
        {status?.enabled && (
          <>
            <form onSubmit={regenerate} aria-label="New recovery codes">
              <h4>New recovery codes</h4>
              <p>Replaces every recovery code you have.</p>
              <label>Code or recovery code
                <input name="factor" autocomplete="one-time-code" required />
              </label>
              <button type="submit">Make new codes</button>
            </form>
            <form onSubmit={disable} aria-label="Turn off two-factor login">
              <h4>Turn off two-factor login</h4>
              <label>Password
                <input name="password" type="password" autocomplete="current-password" required />
              </label>
              <label>Code or recovery code
                <input name="factor" autocomplete="one-time-code" required />
              </label>
              <button type="submit" class="danger">Turn off</button>
            </form>
          </>
        )}
        {note && status && <p role="status">{note}</p>}
      </div>
      <TrackerAccount />
    </section>
  );
}
