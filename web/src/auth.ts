// The session: an access token (short-lived JWT) and a refresh token (single use,
// rotating), kept in localStorage so a reload or a second tab stays signed in.
//
// The access token is renewed before it expires, and on a 401. Renewals are single
// flight in a tab and serialised across tabs with a Web Lock: a refresh token can be
// spent once, and a second spend would make the server revoke the whole session. Inside
// the lock, a token another tab renewed meanwhile is taken as it is.

const KEY = 'torrentedge.session';

export interface Session {
  accessToken: string;
  refreshToken: string;
  /** Milliseconds since the epoch when the access token expires. */
  expiresAt: number;
  /** Its lifetime, to schedule the next renewal. */
  ttlMs: number;
  userId: string;
  username: string;
  role: 'admin' | 'user';
}

interface TokenPair {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
}

type Listener = (s: Session | null) => void;
const listeners = new Set<Listener>();
let current: Session | null = load();
let renewing: Promise<Session | null> | null = null;
let timer: ReturnType<typeof setTimeout> | undefined;

function load(): Session | null {
  try {
    const raw = localStorage.getItem(KEY);
    return raw ? (JSON.parse(raw) as Session) : null;
  } catch {
    return null;
  }
}

function store(s: Session | null) {
  current = s;
  if (s) localStorage.setItem(KEY, JSON.stringify(s));
  else localStorage.removeItem(KEY);
  schedule();
  for (const l of listeners) l(s);
}

/** Another tab renewed or ended the session. */
addEventListener('storage', (e) => {
  if (e.key !== KEY) return;
  current = load();
  schedule();
  for (const l of listeners) l(current);
});

export function session(): Session | null {
  return current;
}

export function onSession(l: Listener): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}

function claims(token: string): { sub: string; username: string; role: 'admin' | 'user' } {
  const body = token.split('.')[1] ?? '';
  const json = atob(body.replace(/-/g, '+').replace(/_/g, '/'));
  return JSON.parse(json);
}

function fromPair(pair: TokenPair): Session {
  const c = claims(pair.accessToken);
  const ttlMs = pair.expiresIn * 1000;
  return {
    accessToken: pair.accessToken,
    refreshToken: pair.refreshToken,
    expiresAt: Date.now() + ttlMs,
    ttlMs,
    userId: c.sub,
    username: c.username,
    role: c.role,
  };
}

/** How long before expiry a token is renewed: a quarter of its life, at most a minute. */
function lead(s: Session): number {
  return Math.min(60_000, s.ttlMs / 4);
}

function schedule() {
  clearTimeout(timer);
  if (!current) return;
  const wait = Math.max(1_000, current.expiresAt - lead(current) - Date.now());
  timer = setTimeout(() => void renew(), wait);
}
schedule();

export class AuthError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

async function post(path: string, body: unknown, token?: string): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  return fetch(path, { method: 'POST', headers, body: JSON.stringify(body) });
}

/** The second factor of an account with two-factor login: a code or a recovery code. */
export interface SecondFactor {
  code?: string;
  recoveryCode?: string;
}

/** Signs in; an account with two-factor login answers `two_factor_required` until a
 * second factor comes along. */
export async function signIn(username: string, password: string, factor: SecondFactor = {}): Promise<void> {
  const res = await post('/api/auth/login', { username, password, ...factor });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) {
    const err = body?.error ?? {};
    const retry = Number(res.headers.get('retry-after')) || undefined;
    throw new AuthError(err.code ?? 'error', err.message ?? res.statusText, retry);
  }
  store(fromPair(body as TokenPair));
}

/** Ends the session on the server (its refresh family and this access token), then here. */
export async function signOut(): Promise<void> {
  const s = current;
  store(null);
  if (s) {
    await post('/api/auth/logout', { refreshToken: s.refreshToken }, s.accessToken).catch(
      () => undefined,
    );
  }
}

/** A valid access token, renewed first when it is about to expire; null when signed out. */
export async function accessToken(): Promise<string | null> {
  const s = current;
  if (!s) return null;
  if (s.expiresAt - Date.now() > lead(s) / 2) return s.accessToken;
  return (await renew())?.accessToken ?? null;
}

/** Renews the access token (once at a time); a refused refresh signs out. */
export function renew(): Promise<Session | null> {
  renewing ??= withLock(renewLocked).finally(() => (renewing = null));
  return renewing;
}

async function withLock<T>(f: () => Promise<T>): Promise<T> {
  const locks = (navigator as Navigator & { locks?: LockManager }).locks;
  return locks ? locks.request('torrentedge.refresh', f) : f();
}

async function renewLocked(): Promise<Session | null> {
  const seen = current;
  const latest = load();
  if (!latest) {
    store(null);
    return null;
  }
  // Another tab renewed it while this one waited for the lock.
  if (latest.refreshToken !== seen?.refreshToken && latest.expiresAt - Date.now() > lead(latest)) {
    current = latest;
    schedule();
    for (const l of listeners) l(latest);
    return latest;
  }
  let res: Response;
  try {
    res = await post('/api/auth/refresh', { refreshToken: latest.refreshToken });
  } catch {
    // Offline or the server is restarting: try again shortly, still signed in.
    clearTimeout(timer);
    timer = setTimeout(() => void renew(), 2_000);
    return latest.expiresAt > Date.now() ? latest : null;
  }
  if (res.status === 401) {
    store(null);
    return null;
  }
  if (!res.ok) {
    clearTimeout(timer);
    timer = setTimeout(() => void renew(), 5_000);
    return latest.expiresAt > Date.now() ? latest : null;
  }
  const next = fromPair((await res.json()) as TokenPair);
  store(next);
  return next;
}
