// REST calls and the login session (tokens in localStorage, refreshed before they expire).

const KEY = 'liar.auth';
const REFRESH_MARGIN_MS = 30000;
/** Answers that end the session for good: the user must log in again. */
export const SESSION_OVER = new Set(['SESSION_REPLACED', 'SESSION_REVOKED', 'REFRESH_REUSED', 'INVALID_TOKEN', 'UNAUTHENTICATED']);

export class ApiError extends Error {
  constructor(status, problem = {}, retryAfter = null) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.code = problem.code || (status >= 500 ? 'INTERNAL' : 'ERROR');
    this.errors = problem.errors || [];
    this.retryAfter = retryAfter;
    this.fatal = SESSION_OVER.has(this.code);
  }
}

let listeners = [];
/** Called with the code when the session ends (replaced, revoked, refresh reused). */
export function onSessionOver(fn) {
  listeners.push(fn);
}

export function session() {
  try {
    return JSON.parse(localStorage.getItem(KEY)) || null;
  } catch {
    return null;
  }
}

function save(tokens) {
  const s = {
    userId: tokens.userId,
    accessToken: tokens.accessToken,
    refreshToken: tokens.refreshToken,
    expiresAt: Date.now() + tokens.expiresIn * 1000,
  };
  localStorage.setItem(KEY, JSON.stringify(s));
  return s;
}

export function clearSession() {
  localStorage.removeItem(KEY);
}

function sessionOver(code) {
  clearSession();
  for (const fn of listeners) fn(code);
}

async function request(method, path, body, token) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (token) headers.authorization = `Bearer ${token}`;
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, { code: 'NETWORK' });
  }
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!res.ok) {
    const ra = res.headers.get('retry-after');
    throw new ApiError(res.status, json || {}, ra ? Number(ra) : null);
  }
  return json;
}

let refreshing = null;

/** Exchanges the refresh token for a new pair (one at a time, across tabs too). */
function refresh() {
  if (!refreshing) {
    const run = async () => {
      const before = session();
      if (!before) throw new ApiError(401, { code: 'UNAUTHENTICATED' });
      // Another tab may have refreshed already while we waited for the lock.
      if (before.expiresAt - Date.now() > REFRESH_MARGIN_MS) return before;
      try {
        return save(await request('POST', '/api/auth/refresh', { refreshToken: before.refreshToken }));
      } catch (e) {
        if (e.status === 401) sessionOver(e.code);
        throw e;
      }
    };
    const locked = navigator.locks ? navigator.locks.request('liar.refresh', run) : run();
    refreshing = locked.finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

/** A valid access token (refreshed when about to expire); throws when logged out. */
export async function accessToken() {
  let s = session();
  if (!s) throw new ApiError(401, { code: 'UNAUTHENTICATED' });
  if (s.expiresAt - Date.now() < REFRESH_MARGIN_MS) s = await refresh();
  return s.accessToken;
}

/** Forces a refresh now (after the server said TOKEN_EXPIRED). */
export function forceRefresh() {
  const s = session();
  if (s) {
    s.expiresAt = 0;
    localStorage.setItem(KEY, JSON.stringify(s));
  }
  return refresh();
}

/** An authenticated call; one retry after refreshing an expired token. */
export async function call(method, path, body) {
  const token = await accessToken();
  try {
    return await request(method, path, body, token);
  } catch (e) {
    if (e.code === 'TOKEN_EXPIRED') {
      await forceRefresh();
      return request(method, path, body, await accessToken());
    }
    if (e.fatal) sessionOver(e.code);
    throw e;
  }
}

/** An unauthenticated call. */
export const open = (method, path, body) => request(method, path, body);

export async function register(email, username, password) {
  return open('POST', '/api/auth/register', { email, username, password });
}

export async function login(email, password) {
  return save(await open('POST', '/api/auth/login', { email, password }));
}

export async function logout() {
  try {
    await call('POST', '/api/auth/logout');
  } catch {
    /* logged out anyway */
  }
  clearSession();
}

export function qs(params) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') p.set(k, v);
  const s = p.toString();
  return s ? `?${s}` : '';
}
