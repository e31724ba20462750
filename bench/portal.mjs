// bench/portal.mjs - what bench/portal.sh measures in Chromium (Debian's,
// driven by playwright-core) against a running cove:
//   - the files page's first load: bytes over the wire (compressed, as
//     transferred, every request of the load: document, scripts, styles,
//     icon and API answers), with an empty cache;
//   - a folder of N entries: from the moment the listing's first answer
//     arrived to the moment its first rows were painted, and the frames
//     while the page is scrolled through to its end (rAF intervals);
//   - Lighthouse (npm lighthouse@12.2.3, bench/node_modules) performance
//     and accessibility scores of the login, files and job pages.
// Prints one JSON object. Usage (from bench/portal.sh):
//   node bench/portal.mjs URL USER PASSWORD FOLDER JOB_ID
import { chromium } from '../tests/browser/node_modules/playwright-core/index.mjs';

const [url, user, password, folder, jobId] = process.argv.slice(2);
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
	'--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'];
const out = {};

const b = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ARGS });
const ctx = await b.newContext({ viewport: { width: 1280, height: 900 } });
const page = await ctx.newPage();
await page.goto(url + '/login');
await page.getByLabel('Username').fill(user);
await page.getByLabel('Password').fill(password);
await page.getByRole('button', { name: 'Log in' }).click();
await page.waitForURL((u) => !u.pathname.startsWith('/login'));
const cookie = (await ctx.cookies()).find((c) => c.name === 'cove_session');

// ---- page weight: a fresh page with an empty cache, same session -------------
{
	const p = await ctx.newPage();
	const cdp = await ctx.newCDPSession(p);
	await cdp.send('Network.enable');
	await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
	const sizes = new Map();
	cdp.on('Network.loadingFinished', (e) => sizes.set(e.requestId, e.encodedDataLength));
	const urls = new Map();
	cdp.on('Network.responseReceived', (e) => urls.set(e.requestId, e.response.url));
	await p.goto(`${url}/files/home/${user}`);
	await p.locator('table.listing tbody tr').first().waitFor();
	await p.waitForLoadState('networkidle');
	let total = 0;
	const parts = [];
	for (const [id, n] of sizes) {
		total += n;
		parts.push([new URL(urls.get(id) || 'x:').pathname, n]);
	}
	out.files_page_first_load_bytes = total;
	out.files_page_requests = parts.length;
	out.files_page_parts = parts.sort((a, c) => c[1] - a[1]).slice(0, 8);
	await p.close();
}

// ---- a big folder: first rows after the answer, and scrolling ------------------
{
	const p = await ctx.newPage();
	await p.addInitScript(() => {
		// the moment the first row of the listing is in the page
		const mo = new MutationObserver(() => {
			if (document.querySelector('table.listing tbody tr:not(.spacer)')) {
				window.__firstRow = performance.now();
				mo.disconnect();
				requestAnimationFrame(() => (window.__firstPaint = performance.now()));
			}
		});
		document.addEventListener('DOMContentLoaded', () => mo.observe(document.body, { childList: true, subtree: true }));
	});
	await p.goto(`${url}/files${folder}`);
	await p.waitForFunction(() => window.__firstPaint);
	const t = await p.evaluate(() => {
		const listing = performance.getEntriesByType('resource').filter((r) => r.name.includes('/v1/fs/') && r.name.includes('limit=1000'));
		const first = listing.sort((a, c) => a.responseEnd - c.responseEnd)[0];
		return { answer: first.responseEnd, answerDuration: first.responseEnd - first.requestStart, row: window.__firstRow, paint: window.__firstPaint };
	});
	out.big_folder_api_first_page_ms = +t.answerDuration.toFixed(1);
	out.big_folder_first_rows_after_answer_ms = +(t.paint - t.answer).toFixed(1);
	await p.getByText(/^\d+ entr(y|ies)/).waitFor({ timeout: 120000 });
	out.big_folder_entries = Number((await p.getByText(/^\d+ entr(y|ies)/).textContent()).match(/^(\d+)/)[1]);
	// scroll through it with the wheel, as a person would, timing frames
	const height = await p.evaluate(() => document.body.scrollHeight);
	const frames = await scrollFrames(p, height);
	out.scroll_reached_end = await p.evaluate(() => window.scrollY + innerHeight >= document.body.scrollHeight - 5);
	await p.close();
	// the anchor: the same scrolling of a page that draws nothing new (a
	// plain block as tall), in the same browser: what this machine's
	// headless Chromium does at best
	const c = await ctx.newPage();
	await c.setContent(`<div style="height:${height}px;background:linear-gradient(#fff,#888)"></div>`);
	out.control_frames = await scrollFrames(c, height);
	await c.close();
	out.scroll = summary(frames);
	out.control = summary(out.control_frames);
	delete out.control_frames;
}

function summary(frames) {
	const f = frames.slice().sort((a, c) => a - c);
	const q = (x) => +f[Math.min(f.length - 1, Math.floor(x * f.length))].toFixed(1);
	return { frames: f.length, p50_ms: q(0.5), p95_ms: q(0.95), p99_ms: q(0.99), max_ms: +f[f.length - 1].toFixed(1), over_50ms: f.filter((x) => x > 50).length };
}

async function scrollFrames(p, height) {
	await p.evaluate(() => {
		window.__frames = [];
		let last = performance.now();
		const tick = (now) => {
			window.__frames.push(now - last);
			last = now;
			if (!window.__stop) requestAnimationFrame(tick);
		};
		requestAnimationFrame(tick);
	});
	await p.mouse.move(640, 500);
	const t0 = Date.now();
	for (let y = 0; y < height && Date.now() - t0 < 90000; y += 200) {
		await p.mouse.wheel(0, 200);
		await p.waitForTimeout(16);
	}
	return p.evaluate(() => {
		window.__stop = true;
		return window.__frames.slice(1);
	});
}
await b.close();

// ---- Lighthouse ---------------------------------------------------------------
try {
	const { default: lighthouse } = await import('./node_modules/lighthouse/core/index.js');
	const chromeLauncher = await import('./node_modules/chrome-launcher/dist/index.js');
	const chrome = await chromeLauncher.launch({ chromePath: '/usr/bin/chromium', chromeFlags: ['--headless=new', ...ARGS] });
	out.lighthouse = {};
	const pages = { login: '/login', files: `/files/home/${user}`, job: `/jobs/${jobId}` };
	for (const [name, path] of Object.entries(pages)) {
		const headers = name === 'login' ? {} : { Cookie: `cove_session=${cookie.value}` };
		const r = await lighthouse(url + path, {
			port: chrome.port, output: 'json', logLevel: 'error',
			onlyCategories: ['performance', 'accessibility'], extraHeaders: headers,
		});
		const c = r.lhr.categories;
		out.lighthouse[name] = {
			performance: Math.round(c.performance.score * 100),
			accessibility: Math.round(c.accessibility.score * 100),
			lcp_ms: Math.round(r.lhr.audits['largest-contentful-paint'].numericValue),
			tbt_ms: Math.round(r.lhr.audits['total-blocking-time'].numericValue),
		};
		if (r.lhr.runtimeError) out.lighthouse[name].error = r.lhr.runtimeError.message;
		const lost = c.accessibility.auditRefs.filter((a) => a.weight > 0 && r.lhr.audits[a.id].score !== null && r.lhr.audits[a.id].score < 1);
		if (lost.length) out.lighthouse[name].accessibility_lost = lost.map((a) => a.id);
		if (r.lhr.runWarnings && r.lhr.runWarnings.length) out.lighthouse[name].warnings = r.lhr.runWarnings;
	}
	await chrome.kill();
} catch (e) {
	out.lighthouse = { error: String(e.message || e).slice(0, 300) };
}
console.log(JSON.stringify(out, null, 1));
