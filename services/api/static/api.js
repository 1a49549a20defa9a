// Talking to the LocalGPT API: every /api request carries the bearer token; errors arrive as
// ApiError with the server's message; a 401 signs the page out (the 'unauthorized' event).

const TOKEN_KEY = 'localgpt.token';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export const auth = {
  get token() {
    return localStorage.getItem(TOKEN_KEY);
  },
  set token(value) {
    if (value) localStorage.setItem(TOKEN_KEY, value);
    else localStorage.removeItem(TOKEN_KEY);
  },
};

async function failure(response) {
  let code = 'error';
  let message = `${response.status} ${response.statusText || 'error'}`;
  try {
    const body = await response.json();
    if (body?.error) ({ code, message } = body.error);
  } catch {
    /* not JSON: keep the status line */
  }
  if (response.status === 404 && code === 'not_found' && message === 'Not Found') {
    message = `this server has no ${new URL(response.url).pathname} (is it an older LocalGPT?)`;
  }
  return new ApiError(response.status, code, message);
}

/** fetch() with the token; resolves to the Response, rejects with ApiError. */
export async function send(path, { method = 'GET', body, signal, token = auth.token } = {}) {
  // Signed out (a poll that outlived the session): ask nothing rather than send no token.
  if (!token) throw new ApiError(401, 'unauthorized', 'not signed in');
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      signal,
      cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError(0, 'offline', 'cannot reach the LocalGPT API: is it still running?');
  }
  if (!response.ok) {
    const error = await failure(response);
    if (response.status === 401 && token === auth.token) {
      document.dispatchEvent(new CustomEvent('unauthorized', { detail: error }));
    }
    throw error;
  }
  return response;
}

export async function api(path, options) {
  const response = await send(path, options);
  return response.status === 204 ? null : response.json();
}

/** POST a body and call onEvent(name, data) for each Server-Sent Event of the reply. */
export async function stream(path, body, onEvent, signal) {
  const response = await send(path, { method: 'POST', body, signal });
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value.replace(/\r\n?/g, '\n');
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      dispatch(buffer.slice(0, end), onEvent);
      buffer = buffer.slice(end + 2);
    }
  }
  if (buffer.trim()) dispatch(buffer, onEvent);
}

function dispatch(block, onEvent) {
  let name = 'message';
  const data = [];
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) continue; // a keep-alive comment
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') name = value;
    else if (field === 'data') data.push(value);
  }
  if (!data.length) return;
  let parsed;
  try {
    parsed = JSON.parse(data.join('\n'));
  } catch {
    parsed = { text: data.join('\n') };
  }
  onEvent(name, parsed);
}

/** Trade a one-time login code (from `localgpt open`) for the token. */
export async function exchangeCode(code) {
  let response;
  try {
    response = await fetch('/auth/exchange', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ code }),
      cache: 'no-store',
    });
  } catch {
    throw new ApiError(0, 'offline', 'cannot reach the LocalGPT API: is it still running?');
  }
  if (!response.ok) throw await failure(response);
  return (await response.json()).token;
}
