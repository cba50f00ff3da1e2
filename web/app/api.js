// The API client: JSON in and out, the bearer token, and the one place where a 401
// (an expired or revoked session) sends the user to the login page.

const TOKEN_KEY = 'luffy.token';
const USER_KEY = 'luffy.user';

// An error the page can show as it is: message is meant for the user.
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function store(k, v) {
  try {
    if (v == null) localStorage.removeItem(k);
    else localStorage.setItem(k, v);
  } catch { /* private mode without storage: the session lasts as long as the page */ }
}

function load(k) {
  try { return localStorage.getItem(k); } catch { return null; }
}

export const token = () => load(TOKEN_KEY);
export const username = () => load(USER_KEY);

export function setSession(tok, user) {
  store(TOKEN_KEY, tok);
  store(USER_KEY, user);
  dispatchEvent(new Event('luffy:auth'));
}

// flash is a message for the login page (why the user was sent there).
let flash = '';
export function takeFlash() {
  const m = flash;
  flash = '';
  return m;
}

// currentRoute is the hash route without '#', for ?next=.
export const currentRoute = () => location.hash.slice(1) || '/';

export function toLogin(reason) {
  flash = reason;
  const here = currentRoute();
  const next = here.startsWith('/login') || here.startsWith('/register') ? '/' : here;
  location.hash = '#/login?next=' + encodeURIComponent(next);
}

// signedIn reports whether there is a session, sending the user to sign in when not.
export function signedIn(reason) {
  if (token()) return true;
  toLogin(reason || 'Sign in to see this page.');
  return false;
}

// sessionEnded forgets a token the server refused. Requests in flight with the same
// token fail together; only the first moves to the login page, so the message it leaves
// there is not taken by one render and lost to the next.
function sessionEnded(sent) {
  if (token() !== sent) return;
  setSession(null, null);
  toLogin('Your session has expired or was signed out. Sign in again to continue.');
}

const OFFLINE = "Can't reach the server. Check your connection and try again.";

// api calls /api/v1 + path. It answers the decoded JSON, or throws an ApiError whose
// message says what went wrong in words a user understands; an AbortError passes
// through.
export async function api(path, { method = 'GET', body, headers = {}, signal } = {}) {
  const h = { Accept: 'application/json', ...headers };
  const form = typeof FormData !== 'undefined' && body instanceof FormData;
  if (body !== undefined && !form) h['Content-Type'] = 'application/json';
  const tok = token();
  if (tok) h.Authorization = 'Bearer ' + tok;
  let res, text;
  try {
    res = await fetch('/api/v1' + path, {
      method, headers: h, signal, body: body === undefined || form ? body : JSON.stringify(body),
    });
    text = await res.text();
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', OFFLINE);
  }
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { /* not JSON: a proxy's page */ }
  if (res.ok && data !== null) return data;
  if (res.ok) throw new ApiError(res.status, 'bad_answer', 'The server sent an answer this page cannot read. Reload and try again.');
  throw failure(res, data, tok);
}

// download fetches an authenticated file (GET /api/v1 + path) and hands it to the
// browser as a download named name: a plain link could not carry the bearer token.
export async function download(path, name) {
  const tok = token();
  let res;
  try {
    res = await fetch('/api/v1' + path, { headers: tok ? { Authorization: 'Bearer ' + tok } : {} });
  } catch {
    throw new ApiError(0, 'network', OFFLINE);
  }
  if (!res.ok) {
    let data = null;
    try { data = await res.json(); } catch { /* not JSON */ }
    throw failure(res, data, tok);
  }
  const url = URL.createObjectURL(await res.blob());
  const a = Object.assign(document.createElement('a'), { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

// failure turns an error answer into an ApiError, ending the session on a 401 to a
// request that carried a token (sentToken, or null).
export function failure(res, data, sentToken) {
  const e = (data && data.error) || {};
  let msg = e.message || `The server answered ${res.status}.`;
  if (res.status === 401 && sentToken) {
    sessionEnded(sentToken);
    msg = 'Your session has expired. Sign in again.';
  } else if (res.status === 429) {
    msg = 'Too many requests: wait a moment and try again.';
  } else if (res.status >= 500) {
    msg = `The server could not answer (${res.status}${e.message ? ': ' + e.message : ''}). Try again in a moment.`;
  }
  return new ApiError(res.status, e.code || 'http_' + res.status, msg);
}
