// REST calls with the session's access token. A 401 renews the token once and retries;
// errors carry the server's `{error: {code, message}}`.

import { accessToken, renew } from './auth';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

type Body = FormData | object | undefined;

async function send(method: string, path: string, body: Body, token: string | null) {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  let payload: BodyInit | undefined;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) {
    headers['content-type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  return fetch(path, { method, headers, body: payload });
}

export async function api<T = unknown>(method: string, path: string, body?: Body): Promise<T> {
  let res = await send(method, path, body, await accessToken());
  if (res.status === 401) {
    const renewed = await renew();
    if (!renewed) throw new ApiError(401, 'unauthorized', 'Signed out');
    res = await send(method, path, body, renewed.accessToken);
  }
  const text = await res.text();
  const json = text ? JSON.parse(text) : null;
  if (!res.ok) {
    const err = json?.error ?? {};
    throw new ApiError(res.status, err.code ?? 'error', err.message ?? res.statusText);
  }
  return json as T;
}

/** The words a person sees for an API error. */
export function describe(e: unknown): string {
  if (!(e instanceof ApiError)) return e instanceof Error ? e.message : String(e);
  switch (e.code) {
    case 'already_exists':
      return 'This torrent is already in your list.';
    case 'invalid_magnet':
      return `Not a valid magnet link: ${e.message}`;
    case 'invalid_torrent':
      return `Not a torrent file: ${e.message}`;
    case 'invalid_url':
      return `Not a usable URL: ${e.message}`;
    case 'fetch_failed':
      return `Could not download the .torrent: ${e.message}`;
    case 'files_in_use':
      return `Its files would overlap another torrent's: ${e.message}`;
    case 'too_large':
      return 'The file is too large.';
    case 'invalid_two_factor_code':
      return 'Wrong or already used code.';
    case 'invalid_credentials':
      return 'Wrong password.';
    case 'store_unavailable':
      return 'The server could not save the change; nothing changed. Try again shortly.';
    default:
      return e.message;
  }
}
