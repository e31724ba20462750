// The file browser in Chromium, as a researcher uses it: a folder dropped
// from the desktop lands with its shape; a big upload survives a paused
// transfer and a server that died under it; CSV previews; folders made,
// renamed, copied and deleted; permissions changed in the dialog and
// another user refused; share links fetched with plain curl; and names or
// files meant to attack the portal staying inert.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cove, assertNoProblems, browser, checkA11y, dropPaths, fsUrl, login, newPage, shot, sleep, throttle } from './harness.mjs';

let cove, b, work;
before(async () => {
	cove = await new Cove().start();
	b = await browser();
	work = mkdtempSync(join(tmpdir(), 'cove-files-'));
});
after(async () => {
	await b?.close();
	await cove?.stop();
	if (work) rmSync(work, { recursive: true, force: true });
});

const sha = (buf) => createHash('sha256').update(buf).digest('hex');
const row = (page, name) => page.getByRole('row').filter({ has: page.getByText(name, { exact: true }) });

async function list(cove, token, path) {
	return (await cove.api('GET', fsUrl(path) + '?limit=1000', token)).items.map((e) => e.name).sort();
}

test('a folder dropped from the desktop is uploaded with its shape and listed', async () => {
	const u = await cove.user('dd');
	const src = join(work, 'survey');
	mkdirSync(join(src, 'raw', 'empty'), { recursive: true });
	writeFileSync(join(src, 'answers.csv'), 'city,temp\noslo,3\nlima,20\n');
	writeFileSync(join(src, 'raw', 'r1.bin'), randomBytes(1500 * 1024)); // resumable path
	writeFileSync(join(src, 'raw', 'r2.txt'), 'second\n');
	const page = await newPage(b);
	await login(page, cove, u.name, u.password);
	await page.getByText('This folder is empty').waitFor();
	await dropPaths(page, page.locator('section.files'), [src]);
	await row(page, 'survey').waitFor();
	await page.getByRole('region', { name: 'Uploads' }).or(page.getByRole('complementary', { name: 'Uploads' })).getByText('done').first().waitFor();
	// the whole tree arrived, byte for byte
	const deadline = Date.now() + 20000;
	while (Date.now() < deadline && (await list(cove, u.token, `/home/${u.name}/survey/raw`).catch(() => [])).length < 3) await sleep(200);
	assert.deepEqual(await list(cove, u.token, `/home/${u.name}/survey`), ['answers.csv', 'raw']);
	assert.deepEqual(await list(cove, u.token, `/home/${u.name}/survey/raw`), ['empty', 'r1.bin', 'r2.txt']);
	const got = Buffer.from(await (await fetch(cove.url + fsUrl(`/home/${u.name}/survey/raw/r1.bin`), { headers: { Authorization: 'Bearer ' + u.token } })).arrayBuffer());
	assert.equal(sha(got), sha(readFileSync(join(src, 'raw', 'r1.bin'))));
	await page.getByRole('link', { name: 'survey' }).click();
	await row(page, 'answers.csv').waitFor();
	await row(page, 'raw').waitFor();
	await checkA11y(page, 'the files page');
	await shot(page, 'files');
	// the README's picture of the portal (docs/portal.png is a copy of it)
	await page.setViewportSize({ width: 1000, height: 500 });
	await page.reload();
	await page.getByRole('checkbox', { name: 'Select answers.csv' }).check();
	await page.getByText('Your storage').waitFor();
	await shot(page, 'readme', { fullPage: false });
	assertNoProblems(page);
	await page.context().close();
});

test('a big upload is paused and resumed, and survives the server dying under it', async () => {
	const u = await cove.user('bu');
	const big = randomBytes(48 * 1024 * 1024);
	const file = join(work, 'big.bin');
	writeFileSync(file, big);
	const page = await newPage(b);
	await login(page, cove, u.name, u.password);
	const cdp = await throttle(page, 6 * 1024 * 1024); // 8 s for the whole file
	await page.getByLabel('Upload files').setInputFiles(file);
	const up = page.getByRole('complementary', { name: 'Uploads' });
	const bar = up.getByRole('progressbar', { name: /big\.bin/ });
	const pct = async () => Number((await bar.getAttribute('value')) || 0);
	// pause once it is under way: it stops moving
	while ((await pct()) < 10) await sleep(100);
	await up.getByRole('button', { name: 'Pause big.bin' }).click();
	await bar.and(page.locator('[aria-label*="paused"]')).waitFor();
	const held = await pct();
	await sleep(1500);
	assert.ok((await pct()) <= held + 1, 'a paused upload does not move');
	await up.getByRole('button', { name: 'Resume big.bin' }).click();
	// kill -9 the server in the middle; it comes back on the same port
	while ((await pct()) < held + 15) await sleep(100);
	await cove.kill();
	await up.getByText(/retrying in \d+ s/).waitFor({ timeout: 30000 });
	await cove.restart();
	await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
	await bar.and(page.locator('[aria-label*="done"]')).waitFor({ timeout: 60000 });
	const token = await cove.token(u.name, u.password);
	const got = Buffer.from(await (await fetch(cove.url + fsUrl(`/home/${u.name}/big.bin`), { headers: { Authorization: 'Bearer ' + token } })).arrayBuffer());
	assert.equal(got.length, big.length);
	assert.equal(sha(got), sha(big), 'the resumed upload is byte for byte the file');
	await row(page, 'big.bin').waitFor();
	assertNoProblems(page);
	await page.context().close();
});

test('a CSV opens as a table of its first rows; text as text', async () => {
	const u = await cove.user('pv');
	const rows = ['city,temp,"note, quoted"'];
	for (let i = 0; i < 250; i++) rows.push(`city${i},${i % 40},"a ""quoted"" note ${i}"`);
	await cove.put(u.token, `/home/${u.name}/survey.csv`, rows.join('\n') + '\n');
	await cove.put(u.token, `/home/${u.name}/notes.txt`, 'first line\nsecond line\n');
	const page = await newPage(b);
	await login(page, cove, u.name, u.password);
	await page.getByRole('button', { name: 'survey.csv' }).click();
	const dlg = page.getByRole('dialog', { name: 'survey.csv' });
	const table = dlg.getByRole('table', { name: 'First rows of survey.csv' });
	await table.waitFor();
	await table.getByRole('columnheader', { name: 'note, quoted' }).waitFor();
	await table.getByRole('cell', { name: 'a "quoted" note 7', exact: true }).waitFor();
	assert.equal(await table.locator('tbody tr').count(), 100, 'the first 100 rows');
	await dlg.getByText('The first 100 rows.').waitFor();
	await checkA11y(page, 'the CSV preview');
	await shot(page, 'preview-csv');
	await dlg.getByRole('button', { name: 'Close' }).click();
	await page.getByRole('button', { name: 'notes.txt' }).click();
	await page.getByRole('dialog', { name: 'notes.txt' }).getByText('second line').waitFor();
	// the URL of a file opens its folder with the preview
	await page.goto(cove.url + `/files/home/${u.name}/survey.csv`);
	await page.getByRole('dialog', { name: 'survey.csv' }).getByRole('table').waitFor();
	assertNoProblems(page);
	await page.context().close();
});

test('folders are made, renamed, copied and deleted with confirmation', async () => {
	const u = await cove.user('mk');
	await cove.put(u.token, `/home/${u.name}/a.txt`, 'alpha\n');
	const page = await newPage(b);
	await login(page, cove, u.name, u.password);
	await page.getByRole('button', { name: 'New folder' }).click();
	await page.getByLabel('Folder name').fill('results');
	await page.getByRole('dialog').getByRole('button', { name: 'Create' }).click();
	await row(page, 'results').waitFor();
	// rename a.txt
	await page.getByRole('checkbox', { name: 'Select a.txt' }).check();
	await page.getByRole('button', { name: 'Rename or move' }).click();
	await page.getByLabel('New name or path').fill('b.txt');
	await page.getByRole('dialog').getByRole('button', { name: 'Move' }).click();
	await row(page, 'b.txt').waitFor();
	assert.equal(await row(page, 'a.txt').count(), 0);
	// copy it into the folder
	await page.getByRole('checkbox', { name: 'Select b.txt' }).check();
	await page.getByRole('button', { name: 'Copy', exact: true }).click();
	await page.getByLabel('Copy to').fill(`/home/${u.name}/results/b-copy.txt`);
	await page.getByRole('dialog').getByRole('button', { name: 'Copy' }).click();
	await page.getByText(/Copied b\.txt/).waitFor();
	assert.deepEqual(await list(cove, u.token, `/home/${u.name}/results`), ['b-copy.txt']);
	// delete the folder: asked first, and cancel keeps it
	await page.getByRole('checkbox', { name: 'Select results' }).check();
	await page.getByRole('checkbox', { name: 'Select b.txt' }).uncheck();
	await page.getByRole('button', { name: 'Delete' }).click();
	await page.getByRole('dialog', { name: 'Delete results?' }).getByRole('button', { name: 'Cancel' }).click();
	assert.deepEqual(await list(cove, u.token, `/home/${u.name}`), ['b.txt', 'results']);
	await page.getByRole('button', { name: 'Delete' }).click();
	await page.getByRole('dialog', { name: 'Delete results?' }).getByRole('button', { name: 'Delete' }).click();
	await page.getByText('Deleted results').waitFor();
	assert.deepEqual(await list(cove, u.token, `/home/${u.name}`), ['b.txt']);
	assertNoProblems(page);
	await page.context().close();
});

test('permissions changed in the dialog open a folder to another user, then close it', async () => {
	const alice = await cove.user('pa');
	const bob = await cove.user('pb');
	await cove.put(alice.token, `/home/${alice.name}/plan.txt`, 'the plan\n');
	const pa = await newPage(b);
	await login(pa, cove, alice.name, alice.password);
	const pb = await newPage(b);
	await login(pb, cove, bob.name, bob.password);
	// bob cannot look into alice's home (0700)
	await pb.goto(cove.url + `/files/home/${alice.name}`);
	await pb.getByRole('alert').filter({ hasText: 'permission denied' }).waitFor();
	// alice opens /home/alice to others (read and enter)
	await pa.goto(cove.url + '/files/home');
	await pa.getByRole('checkbox', { name: `Select ${alice.name}` }).check();
	await pa.getByRole('button', { name: 'Permissions' }).click();
	const dlg = pa.getByRole('dialog', { name: `Permissions of ${alice.name}` });
	await dlg.getByRole('checkbox', { name: 'Others: read' }).check();
	await dlg.getByRole('checkbox', { name: 'Others: enter' }).check();
	await dlg.getByText('drwx---r-x').waitFor();
	await checkA11y(pa, 'the permissions dialog');
	await dlg.getByRole('button', { name: 'Apply' }).click();
	await row(pa, alice.name).getByText('drwx---r-x').waitFor();
	await pb.reload();
	await row(pb, 'plan.txt').waitFor();
	// alice makes plan.txt private: bob sees it listed but cannot open it
	await pa.goto(cove.url + `/files/home/${alice.name}`);
	await pa.getByRole('checkbox', { name: 'Select plan.txt' }).check();
	await pa.getByRole('button', { name: 'Permissions' }).click();
	const d2 = pa.getByRole('dialog', { name: 'Permissions of plan.txt' });
	await d2.getByRole('checkbox', { name: 'Group: read' }).uncheck();
	await d2.getByRole('checkbox', { name: 'Others: read' }).uncheck();
	await d2.getByRole('button', { name: 'Apply' }).click();
	await row(pa, 'plan.txt').getByText('-rw-------').waitFor();
	await pb.reload();
	await pb.getByRole('button', { name: 'plan.txt' }).click();
	await pb.getByRole('dialog', { name: 'plan.txt' }).getByRole('alert').filter({ hasText: 'permission denied' }).waitFor();
	assertNoProblems(pa);
	assertNoProblems(pb);
	await pa.context().close();
	await pb.context().close();
});

test('a share link made in the portal is fetched by curl, and revoked', async () => {
	const u = await cove.user('sh');
	await cove.put(u.token, `/home/${u.name}/result.csv`, 'a,b\n1,2\n');
	const page = await newPage(b);
	await login(page, cove, u.name, u.password);
	await page.getByRole('checkbox', { name: 'Select result.csv' }).check();
	await page.getByRole('button', { name: 'Share' }).click();
	const dlg = page.getByRole('dialog', { name: 'Share result.csv' });
	await dlg.getByLabel('Expires after').selectOption('1d');
	await dlg.getByRole('button', { name: 'Create link' }).click();
	const link = await dlg.getByLabel('New link').inputValue();
	assert.match(link, /\/s\//);
	const body = execFileSync('curl', ['-sf', link], { encoding: 'utf8' });
	assert.equal(body, 'a,b\n1,2\n');
	await dlg.getByRole('button', { name: /^Revoke the link made/ }).waitFor();
	await checkA11y(page, 'the share dialog');
	await dlg.getByRole('button', { name: /^Revoke the link made/ }).click();
	await page.getByText('Link revoked').waitFor();
	const code = execFileSync('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', link], { encoding: 'utf8' });
	assert.equal(code, '404');
	assertNoProblems(page);
	await page.context().close();
});

test('hostile names show as text, and uploaded HTML or SVG runs no script', async () => {
	const u = await cove.user('xs');
	const evil = '<img src=x onerror=alert(1)>';
	await cove.api('POST', fsUrl(`/home/${u.name}/${evil}`), u.token, { op: 'mkdir' });
	await cove.put(u.token, `/home/${u.name}/${evil}.txt`, 'x');
	await cove.put(u.token, `/home/${u.name}/page.html`, '<html><body><script>alert("html ran")</script><h1>hi</h1></body></html>');
	await cove.put(u.token, `/home/${u.name}/pic.svg`,
		'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10" onload="alert(\'svg ran\')"><script>alert("svg script ran")</script><rect width="10" height="10"/></svg>');
	const page = await newPage(b); // any dialog (alert) fails the test
	await login(page, cove, u.name, u.password);
	await page.getByRole('link', { name: evil }).waitFor();
	await page.getByRole('button', { name: evil + '.txt' }).waitFor();
	assert.equal(await page.locator('img[src="x"]').count(), 0);
	// preview both: the HTML as text, the SVG as an inert image
	await page.getByRole('button', { name: 'page.html' }).click();
	await page.getByRole('dialog', { name: 'page.html' }).getByText('<script>alert("html ran")</script>', { exact: false }).waitFor();
	await page.getByRole('dialog').getByRole('button', { name: 'Close' }).click();
	await page.getByRole('button', { name: 'pic.svg' }).click();
	await page.getByRole('dialog', { name: 'pic.svg' }).getByRole('img', { name: 'Preview of pic.svg' }).waitFor();
	await sleep(500);
	await page.getByRole('dialog').getByRole('button', { name: 'Close' }).click();
	// opened directly in the portal's origin, they are downloads or sandboxed, never pages
	for (const name of ['page.html', 'pic.svg']) {
		const res = await page.request.get(cove.url + fsUrl(`/home/${u.name}/${name}`));
		assert.equal(res.status(), 200);
		const h = res.headers();
		assert.match(h['content-disposition'] || '', /attachment/, `${name} is served as an attachment`);
		assert.match(h['content-security-policy'] || '', /sandbox/, `${name} is sandboxed`);
		assert.equal(h['x-content-type-options'], 'nosniff');
		const tab = await page.context().newPage();
		tab.on('dialog', (d) => {
			page.problems.push(`${name} ran a script: ${d.message()}`);
			d.dismiss();
		});
		await tab.goto(cove.url + fsUrl(`/home/${u.name}/${name}`)).catch(() => {}); // a download aborts navigation
		await sleep(500);
		await tab.close();
	}
	assertNoProblems(page);
	await page.context().close();
});

test('a folder of 3,000 entries is drawn a window at a time and scrolls to its end', async () => {
	const u = await cove.user('lf');
	const dir = `/home/${u.name}/many`;
	await cove.api('POST', fsUrl(dir), u.token, { op: 'mkdir' });
	// many small files, made concurrently over the API
	const names = Array.from({ length: 3000 }, (_, i) => `f${String(i).padStart(5, '0')}.txt`);
	for (let i = 0; i < names.length; i += 50) await Promise.all(names.slice(i, i + 50).map((n) => cove.put(u.token, `${dir}/${n}`, n)));
	const page = await newPage(b);
	await login(page, cove, u.name, u.password);
	await page.goto(cove.url + `/files${dir}`);
	await row(page, 'f00000.txt').waitFor();
	await page.getByText('3000 entries').waitFor();
	const drawn = await page.locator('table.listing tbody tr').count();
	assert.ok(drawn < 200, `only a window of rows is in the page (${drawn})`);
	await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
	await row(page, 'f02999.txt').waitFor();
	// sorting by name again turns the order round: the last comes first
	await page.evaluate(() => window.scrollTo(0, 0));
	await page.getByRole('button', { name: /^Name/ }).click();
	await page.getByRole('columnheader', { name: /Name/ }).and(page.locator('[aria-sort=descending]')).waitFor();
	await row(page, 'f02999.txt').waitFor();
	assert.equal(await row(page, 'f00000.txt').count(), 0);
	assertNoProblems(page);
	await page.context().close();
});

test('a folder downloads as a .zip the browser saves, and an image previews', async () => {
	const u = await cove.user('zp');
	await cove.api('POST', fsUrl(`/home/${u.name}/res`), u.token, { op: 'mkdir' });
	await cove.put(u.token, `/home/${u.name}/res/a.txt`, 'alpha\n');
	await cove.put(u.token, `/home/${u.name}/res/b.csv`, 'x,y\n1,2\n');
	// a 2x2 PNG
	const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGP8z8DAwMDAxMDAwMDAAAANHQEDasKb6QAAAABJRU5ErkJggg==', 'base64');
	await cove.put(u.token, `/home/${u.name}/res/plot.png`, png);
	const page = await newPage(b);
	await login(page, cove, u.name, u.password);
	await page.getByRole('checkbox', { name: 'Select res' }).check();
	const [dl] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download', exact: true }).click()]);
	assert.equal(dl.suggestedFilename(), 'res.zip');
	const file = join(work, 'res.zip');
	await dl.saveAs(file);
	const names = execFileSync('unzip', ['-Z1', file], { encoding: 'utf8' }).split('\n').filter(Boolean).sort();
	assert.deepEqual(names.filter((n) => !n.endsWith('/')).map((n) => n.replace(/^res\//, '')), ['a.txt', 'b.csv', 'plot.png']);
	assert.equal(execFileSync('unzip', ['-p', file, names.find((n) => n.endsWith('a.txt'))], { encoding: 'utf8' }), 'alpha\n');
	// the folder's own link: .tar.gz
	await page.getByRole('link', { name: 'res' }).click();
	const [tgz] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: '.tar.gz' }).click()]);
	assert.equal(tgz.suggestedFilename(), 'res.tar.gz');
	// the image previews as an image
	await page.getByRole('button', { name: 'plot.png' }).click();
	const img = page.getByRole('dialog', { name: 'plot.png' }).getByRole('img', { name: 'Preview of plot.png' });
	await img.waitFor();
	await page.waitForFunction(() => document.querySelector('.preview-img')?.naturalWidth === 2);
	assertNoProblems(page);
	await page.context().close();
});

test('the files page at a phone\'s width and in the dark theme', async () => {
	const u = await cove.user('fp');
	await cove.put(u.token, `/home/${u.name}/a-rather-long-file-name-for-a-small-screen.csv`, 'a\n');
	await cove.api('POST', fsUrl(`/home/${u.name}/results`), u.token, { op: 'mkdir' });
	const page = await newPage(b, { viewport: { width: 390, height: 844 }, colorScheme: 'dark', isMobile: true, hasTouch: true });
	await login(page, cove, u.name, u.password);
	await page.getByRole('link', { name: 'results' }).waitFor();
	const wide = await page.evaluate(() => document.documentElement.scrollWidth);
	assert.ok(wide <= 391, `the files page fits the phone's width (${wide} px)`);
	// the menu opens and leads on
	await page.getByRole('button', { name: 'Menu' }).click();
	await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Jobs' }).click();
	await page.waitForURL(/\/jobs$/);
	await page.goBack();
	await page.getByRole('checkbox', { name: 'Select results' }).check();
	await page.getByRole('button', { name: 'Permissions' }).click();
	await checkA11y(page, 'the permissions dialog on a phone, dark');
	await page.getByRole('dialog').getByRole('button', { name: 'Close' }).click();
	await checkA11y(page, 'the files page on a phone, dark');
	await shot(page, 'files-phone-dark');
	assertNoProblems(page);
	await page.context().close();
});
