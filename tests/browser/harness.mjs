// harness.mjs - what the browser tests share: a real `cove serve` on a free
// port with a temporary data directory (the sanitizer build under `make
// test`), Debian's Chromium driven by playwright-core (never a downloaded
// browser), users made through the API, logging in through the login page
// as a person would, accessibility checks with axe-core, and screenshots
// kept as artifacts under build/browser/ (not committed).
//
// Every server is stopped with SIGTERM at the end and must exit 0 with no
// sanitizer report in its log.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, openSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import AxeBuilder from '@axe-core/playwright';

const here = dirname(fileURLToPath(import.meta.url));
export const ROOT = resolve(here, '../..');
export const COVE = process.env.COVE_BIN || join(ROOT, 'build/debug/cove');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const ADMIN_PASSWORD = 'Admin-Pass-2026';
export const SHOTS = join(ROOT, 'build/browser');
const SANITIZER = ['ERROR: AddressSanitizer', 'ERROR: LeakSanitizer', 'runtime error:', 'SUMMARY: UndefinedBehaviorSanitizer'];

export function freePort() {
	return new Promise((res, rej) => {
		const s = createServer();
		s.listen(0, '127.0.0.1', () => {
			const p = s.address().port;
			s.close(() => res(p));
		});
		s.on('error', rej);
	});
}

let seq = 0;
export function unique(prefix) {
	return `${prefix}${process.pid % 1000}${Date.now() % 100000}${++seq}`;
}

export class Cove {
	constructor({ args = [], env = {} } = {}) {
		this.args = args;
		this.env = env;
	}

	async start() {
		this.tmp = mkdtempSync(join(tmpdir(), 'cove-browser-'));
		this.data = join(this.tmp, 'data');
		this.port = await freePort();
		this.url = `http://127.0.0.1:${this.port}`;
		this.logPath = join(this.tmp, 'server.log');
		const log = openSync(this.logPath, 'a');
		this.procEnv = {
			...process.env,
			COVE_ADMIN_PASSWORD: ADMIN_PASSWORD,
			COVE_ARGON2_MEMORY_KIB: '256',
			COVE_ARGON2_PASSES: '1',
			ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=0',
			...this.env,
		};
		this.proc = spawn(COVE, ['serve', '--listen', `127.0.0.1:${this.port}`, '--data', this.data, ...this.args], {
			stdio: ['ignore', log, log],
			env: this.procEnv,
		});
		this.exited = new Promise((res) => this.proc.on('exit', (code, sig) => res(code === null ? sig : code)));
		await this.waitHealthy();
		this.admin = await this.token('admin', ADMIN_PASSWORD);
		return this;
	}

	// kill -9, as a crash would; restart() brings it back on the same port
	// and data directory.
	async kill() {
		this.proc.kill('SIGKILL');
		await this.exited;
		this.proc = null;
	}

	async restart() {
		const log = openSync(this.logPath, 'a');
		this.proc = spawn(COVE, ['serve', '--listen', `127.0.0.1:${this.port}`, '--data', this.data, ...this.args], {
			stdio: ['ignore', log, log],
			env: this.procEnv,
		});
		this.exited = new Promise((res) => this.proc.on('exit', (code, sig) => res(code === null ? sig : code)));
		await this.waitHealthy();
	}

	async waitHealthy() {
		const deadline = Date.now() + 20000;
		while (Date.now() < deadline) {
			if (this.proc.exitCode !== null) throw new Error('cove serve exited early:\n' + this.output());
			try {
				const r = await fetch(this.url + '/healthz');
				if (r.ok) return;
			} catch {
				/* not yet */
			}
			await sleep(50);
		}
		throw new Error('cove serve did not become healthy:\n' + this.output());
	}

	output() {
		try {
			return readFileSync(this.logPath, 'utf8');
		} catch {
			return '';
		}
	}

	async stop() {
		if (!this.proc) return;
		// jobs outlive a stopped server: cancel what a test left running
		try {
			for (const state of ['running', 'starting', 'queued']) {
				const page = await this.api('GET', `/v1/jobs?limit=1000&state=${state}`, this.admin);
				for (const j of page.items) await this.api('POST', `/v1/jobs/${j.id}/cancel`, this.admin, {});
			}
		} catch {
			/* the server may be gone already */
		}
		this.proc.kill('SIGTERM');
		const timer = setTimeout(() => this.proc.kill('SIGKILL'), 30000);
		const code = await this.exited;
		clearTimeout(timer);
		const out = this.output();
		for (const m of SANITIZER) assert.ok(!out.includes(m), 'sanitizer report in the server log:\n' + out.slice(-6000));
		assert.equal(code, 0, 'cove serve exited with ' + code + ':\n' + out.slice(-4000));
		rmSync(this.tmp, { recursive: true, force: true });
		this.proc = null;
	}

	// One API call with a bearer token; answers the parsed body (or text).
	async api(method, path, token, body, headers = {}) {
		const h = { ...headers };
		if (token) h.Authorization = 'Bearer ' + token;
		let b = body;
		if (body !== undefined && !(body instanceof Uint8Array) && typeof body !== 'string') {
			h['Content-Type'] = 'application/json';
			b = JSON.stringify(body);
		}
		const r = await fetch(this.url + path, { method, headers: h, body: b });
		const text = await r.text();
		if (!r.ok) {
			const e = new Error(`${method} ${path}: ${r.status} ${text}`);
			e.status = r.status;
			throw e;
		}
		try {
			return JSON.parse(text);
		} catch {
			return text;
		}
	}

	async token(username, password) {
		return (await this.api('POST', '/v1/auth/login', null, { username, password })).access_token;
	}

	// A new user (and their token): {name, password, token}
	async user(prefix = 'u') {
		const name = unique(prefix);
		const password = `Pw-${name}-2026!`;
		await this.api('POST', '/v1/users', this.admin, { username: name, password, email: `${name}@example.org` });
		return { name, password, token: await this.token(name, password) };
	}

	async put(token, path, bytes) {
		const r = await fetch(this.url + '/v1/fs' + path.split('/').map(encodeURIComponent).join('/'), {
			method: 'PUT',
			headers: { Authorization: 'Bearer ' + token },
			body: bytes,
		});
		assert.ok(r.status === 200 || r.status === 201, `PUT ${path}: ${r.status} ${await r.text()}`);
	}
}

export function sleep(ms) {
	return new Promise((r) => setTimeout(r, ms));
}

export async function browser() {
	return chromium.launch({
		executablePath: CHROMIUM,
		args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
			'--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
	});
}

/* A fresh browser context (its own cookies) with a page that fails the
 * test on any uncaught error or Content-Security-Policy violation. */
export async function newPage(b, opts = {}) {
	const ctx = await b.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true, ...opts });
	const page = await ctx.newPage();
	page.problems = [];
	page.on('pageerror', (e) => page.problems.push('page error: ' + e.message));
	page.on('console', (m) => {
		if (m.type() === 'error' && /Content Security Policy|Refused to/.test(m.text())) page.problems.push('CSP: ' + m.text());
	});
	page.on('dialog', (d) => {
		page.problems.push('a dialog opened: ' + d.message());
		d.dismiss().catch(() => {});
	});
	return page;
}

export function assertNoProblems(page) {
	assert.deepEqual(page.problems, [], 'the page had problems');
}

// Log in through the login page, as a person would.
export async function login(page, cove, name, password) {
	await page.goto(cove.url + '/login');
	await page.getByLabel('Username').fill(name);
	await page.getByLabel('Password').fill(password);
	await page.getByRole('button', { name: 'Log in' }).click();
	await page.waitForURL((u) => !u.pathname.startsWith('/login'));
}

export async function shot(page, name, { fullPage = true } = {}) {
	mkdirSync(SHOTS, { recursive: true });
	await page.screenshot({ path: join(SHOTS, name + '.png'), fullPage });
}

// axe-core on the page as it is: no serious or critical violation.
export async function checkA11y(page, what) {
	const res = await new AxeBuilder({ page }).analyze();
	const bad = res.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
	assert.deepEqual(
		bad.map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')}`),
		[],
		`accessibility of ${what}`,
	);
}

// Drop files or folders of this machine onto the element, as a person
// dragging them from a file manager would (Chromium's own drag events,
// through DevTools: folders arrive as directory entries).
export async function dropPaths(page, locator, paths) {
	const box = await locator.boundingBox();
	const x = box.x + box.width / 2, y = box.y + Math.min(box.height / 2, 100);
	const cdp = await page.context().newCDPSession(page);
	const data = { items: [], files: paths, dragOperationsMask: 1 };
	await page.mouse.move(x, y);
	for (const type of ['dragEnter', 'dragOver', 'drop']) await cdp.send('Input.dispatchDragEvent', { type, x, y, data });
	await cdp.detach();
}

// Slow the page's network, so that an upload lasts long enough to be
// interrupted (bytes per second).
export async function throttle(page, upload) {
	const cdp = await page.context().newCDPSession(page);
	await cdp.send('Network.enable');
	await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: upload });
	return cdp;
}

export function fsUrl(path) {
	return '/v1/fs' + path.split('/').map(encodeURIComponent).join('/');
}

// ---- images for the registry ----------------------------------------------------

const sha256 = (buf) => 'sha256:' + createHash('sha256').update(buf).digest('hex');

// A tar archive of {path: text} (ustar, mode 0644, mtime 0).
export function tarOf(files) {
	const blocks = [];
	for (const [name, text] of Object.entries(files)) {
		const data = Buffer.from(text);
		const h = Buffer.alloc(512);
		const put = (s, off, len) => h.write(s.slice(0, len), off, 'ascii');
		put(name, 0, 100);
		put('0000644\0', 100, 8);
		put('0000000\0', 108, 8);
		put('0000000\0', 116, 8);
		put(data.length.toString(8).padStart(11, '0') + '\0', 124, 12);
		put('00000000000\0', 136, 12);
		put('        ', 148, 8);
		put('0', 156, 1);
		put('ustar\0' + '00', 257, 8);
		let sum = 0;
		for (const b of h) sum += b;
		put(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8);
		blocks.push(h, data, Buffer.alloc((512 - (data.length % 512)) % 512));
	}
	blocks.push(Buffer.alloc(1024));
	return Buffer.concat(blocks);
}

/* Push a small image to name:tag (name = "<project>/<repo>") through the
 * OCI distribution API with a cove token, as `cove image` clients do.
 * Answers the manifest's digest. */
export async function pushImage(cove, token, name, tag, text = 'hello from cove\n') {
	const tar = tarOf({ 'hello.txt': text });
	const layer = gzipSync(tar);
	const config = Buffer.from(JSON.stringify({
		architecture: 'amd64', os: 'linux', config: { Cmd: ['/bin/sh'] },
		rootfs: { type: 'layers', diff_ids: [sha256(tar)] },
	}));
	const auth = { Authorization: 'Bearer ' + token };
	for (const blob of [layer, config]) {
		const r = await fetch(`${cove.url}/v2/${name}/blobs/uploads/?digest=${sha256(blob)}`, {
			method: 'POST', headers: { ...auth, 'Content-Type': 'application/octet-stream' }, body: blob,
		});
		assert.equal(r.status, 201, `blob upload: ${r.status} ${await r.text()}`);
	}
	const type = 'application/vnd.oci.image.manifest.v1+json';
	const manifest = Buffer.from(JSON.stringify({
		schemaVersion: 2, mediaType: type,
		config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
		layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(layer), size: layer.length }],
	}));
	const r = await fetch(`${cove.url}/v2/${name}/manifests/${tag}`, {
		method: 'PUT', headers: { ...auth, 'Content-Type': type }, body: manifest,
	});
	assert.equal(r.status, 201, `manifest: ${r.status} ${await r.text()}`);
	return sha256(manifest);
}

// The document is no wider than the window (nothing to scroll sideways).
export async function assertFitsWidth(page, what) {
	const [scroll, inner] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
	assert.ok(scroll <= inner + 1, `${what} is ${scroll}px wide in a ${inner}px window`);
}
