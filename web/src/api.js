// api.js - the portal's only way to the server: the public /v1 API, with
// the browser session's cookie (sent by the browser, never readable here)
// and its CSRF token on every change. Problem documents (RFC 9457) become
// ApiError, whose message is the server's own sentence for a person.

let csrf = null;
let onUnauthorized = null;

export function setCsrf(token) {
	csrf = token;
}

export function csrfToken() {
	return csrf;
}

// Called when the session ended under us (401 on an ordinary request).
export function setUnauthorizedHandler(fn) {
	onUnauthorized = fn;
}

export class ApiError extends Error {
	constructor(status, problem, retryAfter) {
		super((problem && (problem.detail || problem.title)) || `request failed (${status})`);
		this.status = status;
		this.problem = problem || null;
		this.retryAfter = retryAfter;
	}
}

export const NETWORK_ERROR = 0;

// Turn a failed response into an ApiError (reads its body).
export async function errorOf(res) {
	let problem = null;
	const ct = res.headers.get('Content-Type') || '';
	if (ct.includes('json')) {
		try {
			problem = await res.json();
		} catch {
			problem = null;
		}
	}
	const ra = parseInt(res.headers.get('Retry-After') || '', 10);
	return new ApiError(res.status, problem, Number.isFinite(ra) ? ra : null);
}

// The headers a change needs (also for XHR uploads and raw fetches).
export function changeHeaders(extra = {}) {
	const h = { ...extra };
	if (csrf) h['X-CSRF-Token'] = csrf;
	return h;
}

/*
 * api(method, path, {json, body, headers, signal, raw, quiet401})
 * json: an object sent as JSON; body: anything fetch takes. Answers the
 * parsed JSON (null for 204), or the Response itself with raw. Throws
 * ApiError (status 0 when the network failed).
 */
export async function api(method, path, opts = {}) {
	const headers = method === 'GET' || method === 'HEAD' ? { ...(opts.headers || {}) } : changeHeaders(opts.headers);
	let body = opts.body;
	if (opts.json !== undefined) {
		headers['Content-Type'] = 'application/json';
		body = JSON.stringify(opts.json);
	}
	let res;
	try {
		res = await fetch(path, { method, headers, body, signal: opts.signal, credentials: 'same-origin' });
	} catch (e) {
		if (e.name === 'AbortError') throw e;
		throw new ApiError(NETWORK_ERROR, { detail: 'cannot reach the server; check your connection' });
	}
	if (!res.ok && res.status !== 304) {
		const err = await errorOf(res);
		if (res.status === 401 && !opts.quiet401 && onUnauthorized) onUnauthorized(err);
		throw err;
	}
	if (opts.raw) return res;
	if (res.status === 204) return null;
	const ct = res.headers.get('Content-Type') || '';
	return ct.includes('json') ? res.json() : res.text();
}

export const get = (path, opts) => api('GET', path, opts);
export const post = (path, json, opts = {}) => api('POST', path, { ...opts, json });
export const patch = (path, json, opts = {}) => api('PATCH', path, { ...opts, json });
export const del = (path, opts) => api('DELETE', path, opts);

// A file-space path as a URL under /v1/fs (each segment escaped).
export function fsUrl(path, query) {
	const enc = path.split('/').filter(Boolean).map(encodeURIComponent).join('/');
	const url = '/v1/fs/' + enc;
	return query ? `${url}?${new URLSearchParams(query)}` : url;
}

// Every page of a paged list, up to max items.
export async function getAll(path, max = 10000) {
	let items = [];
	let cursor = null;
	do {
		const sep = path.includes('?') ? '&' : '?';
		const page = await get(`${path}${sep}limit=1000${cursor ? '&cursor=' + encodeURIComponent(cursor) : ''}`);
		items = items.concat(page.items || []);
		cursor = page.next_cursor;
	} while (cursor && items.length < max);
	return items;
}
