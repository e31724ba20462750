// upload.js - the portal's uploads: a queue shared by every page, a few
// files at a time, each with its progress. Files of 1 MiB or more go
// through resumable upload sessions (POST /v1/uploads, PATCH at
// Upload-Offset, POST .../complete): a dropped connection or a server
// restart is retried by itself from the offset the server has, with
// backoff, and the user can pause and resume. Smaller files are one PUT.
// Folders keep their shape: each file's directories are made first.
import { changeHeaders, errorOf, fsUrl, post, get, del, ApiError } from './api.js';

const CHUNK = 8 * 1024 * 1024;
const SMALL = 1024 * 1024;
const PARALLEL = 3;
const listeners = new Set();
const doneListeners = new Set();
let items = [];
let seq = 0;
const madeDirs = new Set();

export function onUploads(fn) {
	listeners.add(fn);
	fn(items);
	return () => listeners.delete(fn);
}

// fn(dir) after a file landed in dir (pages refresh their listing)
export function onUploaded(fn) {
	doneListeners.add(fn);
	return () => doneListeners.delete(fn);
}

function changed() {
	items = items.slice();
	for (const fn of listeners) fn(items);
}

function update(it, fields) {
	Object.assign(it, fields);
	changed();
}

/* Queue files: [{file, path}] with path the file-space destination. */
export function enqueue(list) {
	for (const { file, path } of list) {
		items.push({ id: ++seq, file, path, size: file.size, sent: 0, state: 'queued', error: null,
			session: null, xhr: null, attempts: 0 });
	}
	changed();
	pump();
}

// Make folders (a drop's empty ones too), parents first.
export async function makeDirs(paths) {
	for (const p of [...paths].sort()) await ensureDir(p);
}

export function clearFinished() {
	items = items.filter((it) => !['done', 'cancelled'].includes(it.state));
	changed();
}

export function pause(id) {
	const it = items.find((x) => x.id === id);
	if (!it || !['uploading', 'retrying', 'queued'].includes(it.state)) return;
	it.paused = true;
	if (it.xhr) it.xhr.abort();
	clearTimeout(it.timer);
	update(it, { state: 'paused' });
	pump();
}

export function resume(id) {
	const it = items.find((x) => x.id === id);
	if (!it || !['paused', 'failed'].includes(it.state)) return;
	it.paused = false;
	update(it, { state: 'queued', error: null, attempts: 0 });
	pump();
}

export async function cancel(id) {
	const it = items.find((x) => x.id === id);
	if (!it || ['done', 'cancelled'].includes(it.state)) return;
	it.cancelled = true;
	if (it.xhr) it.xhr.abort();
	clearTimeout(it.timer);
	update(it, { state: 'cancelled' });
	if (it.session) del(`/v1/uploads/${it.session}`).catch(() => {});
	pump();
}

function pump() {
	const active = items.filter((it) => it.state === 'uploading' || it.state === 'retrying').length;
	let free = PARALLEL - active;
	for (const it of items) {
		if (free <= 0) break;
		if (it.state === 'queued') {
			free--;
			run(it);
		}
	}
}

function parentDir(path) {
	const i = path.lastIndexOf('/');
	return i <= 0 ? '/' : path.slice(0, i);
}

async function ensureDir(dir) {
	if (dir === '/' || madeDirs.has(dir)) return;
	await post(fsUrl(dir), { op: 'mkdir', parents: true }).catch((e) => {
		if (!(e instanceof ApiError) || e.status !== 409) throw e; // exists
	});
	madeDirs.add(dir);
}

// One XHR (fetch has no upload progress): resolves with the response
// status and body text; rejects only when the network failed.
function send(it, method, url, body, headers) {
	return new Promise((resolve, reject) => {
		const x = new XMLHttpRequest();
		it.xhr = x;
		x.open(method, url);
		for (const [k, v] of Object.entries(changeHeaders(headers))) x.setRequestHeader(k, v);
		const base = it.sent;
		x.upload.onprogress = (e) => update(it, { sent: base + e.loaded });
		x.onload = () => {
			it.xhr = null;
			resolve({ status: x.status, text: x.responseText, retryAfter: parseInt(x.getResponseHeader('Retry-After') || '', 10) });
		};
		x.onerror = x.ontimeout = () => {
			it.xhr = null;
			reject(new Error('network'));
		};
		x.onabort = () => {
			it.xhr = null;
			reject(new Error('aborted'));
		};
		x.send(body);
	});
}

function problemOf(r) {
	try {
		const p = JSON.parse(r.text);
		return p.detail || p.title;
	} catch {
		return `the server answered ${r.status}`;
	}
}

const transient = (status) => status === 0 || status === 408 || status === 429 || status >= 500;

async function run(it) {
	update(it, { state: 'uploading', error: null });
	try {
		await ensureDir(parentDir(it.path));
		if (it.size < SMALL) await putWhole(it);
		else await resumable(it);
		update(it, { state: 'done', sent: it.size, xhr: null });
		for (const fn of doneListeners) fn(parentDir(it.path));
	} catch (e) {
		if (it.cancelled || it.paused) return;
		if (e.retry) return; // rescheduled
		update(it, { state: 'failed', error: e.message || String(e) });
	} finally {
		pump();
	}
}

function retryLater(it, why, after) {
	it.attempts++;
	const wait = after || Math.min(30, 2 ** Math.min(it.attempts, 5));
	update(it, { state: 'retrying', error: `${why}; retrying in ${wait} s` });
	it.timer = setTimeout(() => {
		if (!it.paused && !it.cancelled) {
			update(it, { state: 'queued' });
			pump();
		}
	}, wait * 1000);
	const err = new Error(why);
	err.retry = true;
	return err;
}

async function putWhole(it) {
	it.sent = 0;
	let r;
	try {
		r = await send(it, 'PUT', fsUrl(it.path), it.file, { 'Content-Type': 'application/octet-stream' });
	} catch (e) {
		if (e.message === 'aborted') throw e;
		throw retryLater(it, 'connection lost');
	}
	if (r.status === 200 || r.status === 201) return;
	if (transient(r.status)) throw retryLater(it, problemOf(r), r.retryAfter);
	throw new Error(problemOf(r));
}

async function resumable(it) {
	if (!it.session) {
		const s = await post('/v1/uploads', { path: it.path, size: it.size });
		it.session = s.id;
		it.sent = s.offset || 0;
	} else {
		// where the server is: it may have kept more (or less) than we sent
		try {
			const s = await get(`/v1/uploads/${it.session}`);
			it.sent = s.offset;
		} catch (e) {
			if (e instanceof ApiError && e.status === 404) {
				// the session expired or was abandoned: start over
				it.session = null;
				it.sent = 0;
				return resumable(it);
			}
			if (e instanceof ApiError && !transient(e.status)) throw e;
			throw retryLater(it, 'the server cannot be reached');
		}
	}
	update(it, {});
	while (it.sent < it.size) {
		if (it.paused || it.cancelled) throw new Error('aborted');
		const end = Math.min(it.size, it.sent + CHUNK);
		let r;
		try {
			r = await send(it, 'PATCH', `/v1/uploads/${it.session}`, it.file.slice(it.sent, end), {
				'Content-Type': 'application/offset+octet-stream',
				'Upload-Offset': String(it.sent),
			});
		} catch (e) {
			if (e.message === 'aborted') throw e;
			throw retryLater(it, 'connection lost');
		}
		if (r.status === 200 || r.status === 204) {
			let off = end;
			try {
				off = JSON.parse(r.text).offset;
			} catch {
				/* keep end */
			}
			it.sent = off;
			it.attempts = 0;
			update(it, {});
			continue;
		}
		if (r.status === 409 || transient(r.status)) throw retryLater(it, problemOf(r), r.retryAfter);
		throw new Error(problemOf(r));
	}
	try {
		await post(`/v1/uploads/${it.session}/complete`, {});
	} catch (e) {
		if (e instanceof ApiError && !transient(e.status)) throw e;
		throw retryLater(it, 'the server cannot be reached');
	}
}

/*
 * The files of a drop: DataTransfer items may be folders, read through
 * the File and Directory Entries API, keeping each file's path below the
 * folder it came from. Resolves to [{file, rel}] and [{dir}] for each
 * folder (so that empty ones are made too).
 */
export async function filesOfDrop(dt) {
	const entries = [];
	for (const item of dt.items || []) {
		const e = item.webkitGetAsEntry && item.webkitGetAsEntry();
		if (e) entries.push(e);
	}
	if (!entries.length) return [...(dt.files || [])].map((f) => ({ file: f, rel: f.name }));
	const out = [];
	const walk = async (entry, prefix) => {
		if (entry.isFile) {
			const f = await new Promise((res, rej) => entry.file(res, rej));
			out.push({ file: f, rel: prefix + f.name });
		} else if (entry.isDirectory) {
			out.push({ dir: prefix + entry.name });
			const reader = entry.createReader();
			let batch;
			do {
				batch = await new Promise((res, rej) => reader.readEntries(res, rej));
				for (const child of batch) await walk(child, prefix + entry.name + '/');
			} while (batch.length);
		}
	};
	for (const e of entries) await walk(e, '');
	return out;
}
