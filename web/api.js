// The server's JSON API as the page calls it: one timeout, and two kinds of failure the page
// treats differently — an answer that is an error (HttpError, with the server's own reason)
// and no answer at all (NetError: refused, reset, timed out).

export const FETCH_TIMEOUT_MS = 10000;

export class HttpError extends Error {
  constructor(status, msg) { super(msg); this.status = status; }
}
export class NetError extends Error {}

/// method 'GET' or 'POST' (no body); resolves to the reply's JSON object.
export async function getJSON(url, method = 'GET') {
  // A hung server must end up "unreachable" too, not a request that never returns.
  const ctl = new AbortController();
  const timeout = setTimeout(() => ctl.abort(), FETCH_TIMEOUT_MS);
  let res, body = null;
  try {
    res = await fetch(url, { method, cache: 'no-store', headers: { Accept: 'application/json' }, signal: ctl.signal });
    body = await res.json().catch((e) => { if (e && e.name === 'AbortError') throw e; return null; });
  } catch (e) {
    throw new NetError(e && e.name === 'AbortError' ? 'no answer within ' + FETCH_TIMEOUT_MS / 1000 + ' s' : String(e && e.message));
  } finally { clearTimeout(timeout); }
  if (!res.ok) throw new HttpError(res.status, (body && body.error) || res.statusText || ('HTTP ' + res.status));
  if (body === null || typeof body !== 'object') throw new HttpError(res.status, 'not a JSON object');
  return body;
}
