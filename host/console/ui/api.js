// siphon operator console: the API helpers every page uses (session, rpc, element builder).
// Every value from the server is put in the page with textContent / attributes (never innerHTML):
// SIP messages and registrations are hostile input.

export const session = { user: '', role: '', csrf: '' };

/** builds an element: h('button', { type: 'button', onclick }, 'text', child) */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

export class ApiError extends Error {}

async function request(path, init = {}) {
  const r = await fetch(`/console/api/${path}`, { credentials: 'same-origin', ...init });
  if (r.status === 401) {
    document.querySelector('siphon-console')?.showLogin('Your session ended; log in again.');
    throw new ApiError('not logged in');
  }
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new ApiError(body.error ? `${body.error.code}: ${body.error.message}` : `HTTP ${r.status}`);
  return body;
}

export const get = (path) => request(path);

/** one RPC method through the console's JSON endpoint; a fault becomes an ApiError. */
export async function rpc(method, params = []) {
  const body = await request('rpc', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-csrf-token': session.csrf },
    body: JSON.stringify({ method, params }),
  });
  if (body.error) throw new ApiError(`${body.error.code} ${body.error.message}`);
  return body.result;
}

export const isAdmin = () => session.role === 'admin';

/** a status line for a page (role=status: screen readers announce it). */
export function statusLine() {
  const el = h('p', { class: 'status', role: 'status', 'aria-live': 'polite' });
  el.show = (text, bad = false) => {
    el.textContent = text;
    el.classList.toggle('bad', bad);
  };
  return el;
}

/** runs an action, shows its outcome in `status`, then `after()` (reload the page's data). */
export async function act(status, what, fn, after) {
  try {
    const r = await fn();
    status.show(`${what}: ${typeof r === 'string' ? r : 'done'}`);
    await after?.();
  } catch (e) {
    status.show(`${what} failed: ${e.message}`, true);
  }
}

