// Attacks on a logged-in user's browser: a page of another origin on the
// same site (another port of 127.0.0.1: the browser sends the SameSite
// cookie there) and a page of another site (localhost) try to change the
// victim's files with forms, fetch and beacons. Each is refused, nothing
// changes, and the refusals are audited. An API token still works with no
// cookie at all.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { Cove, browser, fsUrl, login, newPage, sleep } from './harness.mjs';

let cove, b, evil, evilPort;
let target = '';
before(async () => {
	cove = await new Cove().start();
	b = await browser();
	// the attacker's page: posts to cove as soon as it loads
	evil = createServer((req, res) => {
		res.setHeader('Content-Type', 'text/html');
		res.end(`<!doctype html><html><body>
<form id="f" method="POST" action="${cove.url}${target}" enctype="text/plain">
<input name='{"op":"mkdir","pad":"' value='"}'></form>
<script>
fetch(${JSON.stringify(cove.url + target + '-fetch')}, {method: 'POST', mode: 'no-cors', credentials: 'include',
  headers: {'Content-Type': 'text/plain'}, body: JSON.stringify({op: 'mkdir'})}).catch(() => {});
// a multipart body needs no preflight, and cove takes browser form uploads
const fd = new FormData();
fd.append('file', new Blob(['planted by the attacker'], {type: 'text/plain'}), 'planted.txt');
fetch(${JSON.stringify(cove.url + target.replace(/\/pwned$/, '/'))}, {method: 'POST', mode: 'no-cors', credentials: 'include', body: fd}).catch(() => {});
navigator.sendBeacon(${JSON.stringify(cove.url + target + '-beacon')}, new Blob([JSON.stringify({op: 'mkdir'})], {type: 'text/plain'}));
setTimeout(() => document.getElementById('f').submit(), 300);
</script></body></html>`);
	});
	await new Promise((r) => evil.listen(0, '127.0.0.1', r));
	evilPort = evil.address().port;
});
after(async () => {
	evil?.close();
	await b?.close();
	await cove?.stop();
});

async function names(u) {
	return (await cove.api('GET', fsUrl(`/home/${u.name}`), u.token)).items.map((e) => e.name);
}

for (const [kind, host] of [['another origin of the same site', '127.0.0.1'], ['another site', 'localhost']]) {
	test(`changes posted from ${kind} with the victim's cookie are refused`, async () => {
		const u = await cove.user('vi');
		target = fsUrl(`/home/${u.name}/pwned`);
		const page = await newPage(b);
		await login(page, cove, u.name, u.password);
		const before = Date.now();
		const attacker = await page.context().newPage();
		await attacker.goto(`http://${host}:${evilPort}/`);
		await sleep(1500); // the form has been submitted by now
		await attacker.close();
		assert.deepEqual(await names(u), [], 'nothing was made in the victim\'s home');
		if (host === '127.0.0.1') {
			// the browser sent the cookie here: cove saw it, refused, and audited it
			const audit = await cove.api('GET', '/v1/audit?action=auth.csrf_refused&limit=100', cove.admin);
			const mine = audit.items.filter((a) => a.actor === u.name && new Date(a.time) >= new Date(before - 1000));
			assert.ok(mine.length >= 1, 'the refusal is in the audit log');
		}
		// the victim's own page still works
		await page.reload();
		await page.getByRole('button', { name: 'New folder' }).click();
		await page.getByLabel('Folder name').fill('mine');
		await page.getByRole('dialog').getByRole('button', { name: 'Create' }).click();
		await page.getByRole('link', { name: 'mine' }).waitFor();
		await page.context().close();
	});
}

test('an API token works from a browser that has no session cookie', async () => {
	const u = await cove.user('tk');
	const tok = await cove.api('POST', '/v1/tokens', u.token, { name: 'script', scopes: ['read', 'write'] });
	const page = await newPage(b);
	await page.goto(cove.url + '/login');
	assert.equal((await page.context().cookies()).length, 0);
	const status = await page.evaluate(async ([url, t]) => {
		const r = await fetch(url, { method: 'POST', headers: { Authorization: 'Bearer ' + t, 'Content-Type': 'application/json' }, body: '{"op":"mkdir"}' });
		return r.status;
	}, [fsUrl(`/home/${u.name}/by-token`), tok.token]);
	assert.equal(status, 201);
	assert.deepEqual(await names(u), ['by-token']);
	await page.context().close();
});
