// Jobs in Chromium: a DuckDB job submitted from the form on a file picked
// in the file chooser, its log lines arriving while it runs, its result
// opened in the file browser; a running job cancelled; "run again" with
// the form filled; the list's filters; "run a job on this file".
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Cove, assertNoProblems, browser, checkA11y, login, newPage, shot, sleep } from './harness.mjs';

let cove, b;
before(async () => {
	cove = await new Cove().start();
	b = await browser();
});
after(async () => {
	await b?.close();
	await cove?.stop();
});

async function typeScript(page, text) {
	const ed = page.getByRole('textbox', { name: 'Script' });
	await ed.click();
	await page.keyboard.press('Control+A');
	await page.keyboard.press('Delete');
	// the editor indents by itself: insert the text as it is
	await page.keyboard.insertText(text);
}

test('a DuckDB job from the form: its log lines arrive live, and its result opens', async () => {
	const u = await cove.user('dk');
	await cove.put(u.token, `/home/${u.name}/survey.csv`, 'city,temp\noslo,3\nlima,20\noslo,5\n');
	const page = await newPage(b);
	await login(page, cove, u.name, u.password);
	await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Jobs' }).click();
	await page.getByRole('link', { name: 'New job' }).click();
	await page.getByRole('radio', { name: /duckdb/ }).check();
	// the input from the file chooser
	await page.getByRole('button', { name: 'Choose files…' }).click();
	const picker = page.getByRole('dialog', { name: 'Choose input files' });
	await picker.getByLabel('survey.csv').check();
	await picker.getByRole('button', { name: /Add 1 file/ }).click();
	await page.getByText(`/home/${u.name}/survey.csv`).waitFor();
	await page.getByLabel('Output folder').fill(`/home/${u.name}/means`);
	await typeScript(page,
		"SELECT 'step one' AS msg;\n" +
		"SELECT sum(i) FROM range(1000000000) t(i);\n" + // seconds of work between the lines
		"SELECT 'step two' AS msg;\n" +
		"COPY (SELECT city, avg(temp) AS mean FROM read_csv('{input}') GROUP BY city ORDER BY city) TO '{output}/means.csv' (HEADER);\n" +
		"SELECT 'done' AS msg;");
	await checkA11y(page, 'the job form');
	await shot(page, 'job-new');
	await page.getByRole('button', { name: 'Run job' }).click();
	await page.waitForURL(/\/jobs\/[0-9A-Z]{26}$/);
	const log = page.getByRole('log');
	// the first line shows while the job still runs
	await log.getByText('step one').waitFor({ timeout: 30000 });
	const id = new URL(page.url()).pathname.split('/').pop();
	const now = await cove.api('GET', `/v1/jobs/${id}`, u.token);
	assert.equal(now.state, 'running', 'the first line showed while the job was still running');
	assert.equal(await log.getByText('step two').count(), 0);
	await page.locator('.job-state .badge').filter({ hasText: 'running' }).waitFor();
	await page.locator('.job-state .badge').filter({ hasText: 'succeeded' }).waitFor({ timeout: 60000 });
	await log.getByText('done').waitFor();
	await page.getByRole('list').getByText('succeeded').first().waitFor(); // the timeline
	await checkA11y(page, 'the job page');
	await shot(page, 'job');
	// its output folder, linked into the file browser
	await page.getByRole('link', { name: `/home/${u.name}/means` }).click();
	await page.getByRole('button', { name: 'means.csv' }).click();
	const table = page.getByRole('dialog', { name: 'means.csv' }).getByRole('table');
	await table.getByRole('cell', { name: 'lima' }).waitFor();
	await table.getByRole('cell', { name: '4.0' }).waitFor();
	assertNoProblems(page);
	await page.context().close();
});

test('each log line is on the job page within 2 s of being written', async () => {
	const u = await cove.user('lv');
	const page = await newPage(b);
	await login(page, cove, u.name, u.password);
	const job = await cove.api('POST', '/v1/jobs', u.token, {
		app: 'bash', script: 'for i in 1 2 3 4 5; do echo "line $i at $(date +%s%N)"; sleep 1; done',
	});
	await page.goto(cove.url + `/jobs/${job.id}`);
	const log = page.getByRole('log');
	for (let i = 1; i <= 5; i++) {
		const line = log.getByText(new RegExp(`line ${i} at \\d+`));
		await line.waitFor({ timeout: 30000 });
		const seen = Date.now();
		const written = Number(BigInt((await line.textContent()).match(/at (\d+)/)[1]) / 1000000n);
		assert.ok(seen - written < 2000, `line ${i} shown ${seen - written} ms after it was written`);
	}
	await page.locator('.job-state .badge').filter({ hasText: 'succeeded' }).waitFor({ timeout: 30000 });
	assertNoProblems(page);
	await page.context().close();
});

test('a running job is cancelled from its page; "run again" fills the form', async () => {
	const u = await cove.user('cj');
	const page = await newPage(b);
	await login(page, cove, u.name, u.password);
	await page.goto(cove.url + '/jobs/new');
	await page.getByRole('radio', { name: /bash/ }).check();
	await page.getByLabel('Name (optional)').fill('sleeper');
	await typeScript(page, 'echo started; sleep 300');
	await page.getByLabel('Time limit').fill('10m');
	await page.getByRole('button', { name: 'Add variable' }).click();
	await page.getByLabel('Variable 1 name').fill('GREETING');
	await page.getByLabel('Variable 1 value').fill('hej');
	await page.getByRole('button', { name: 'Run job' }).click();
	await page.waitForURL(/\/jobs\/[0-9A-Z]{26}$/);
	await page.getByRole('log').getByText('started').waitFor({ timeout: 30000 });
	await page.getByRole('button', { name: 'Cancel job' }).click();
	await page.getByRole('dialog', { name: 'Cancel this job?' }).getByRole('button', { name: 'Cancel job' }).click();
	await page.locator('.job-state .badge').filter({ hasText: 'cancelled' }).waitFor({ timeout: 30000 });
	await page.getByText(`cancelled by ${u.name}`).first().waitFor();
	assert.equal(await page.getByRole('button', { name: 'Cancel job' }).count(), 0);
	await page.getByRole('link', { name: 'Run again' }).click();
	await page.waitForURL(/\/jobs\/new\?from=/);
	await page.getByRole('textbox', { name: 'Script' }).getByText('sleep 300').waitFor();
	await page.getByRole('radio', { name: /bash/, checked: true }).waitFor();
	assert.equal(await page.getByLabel('Name (optional)').inputValue(), 'sleeper');
	assert.equal(await page.getByLabel('Variable 1 value').inputValue(), 'hej');
	assert.equal(await page.getByLabel('Time limit').inputValue(), '600s');
	assertNoProblems(page);
	await page.context().close();
});

test('the list filters by state and application and follows changes', async () => {
	const u = await cove.user('jl');
	const ok = await cove.api('POST', '/v1/jobs', u.token, { app: 'bash', script: 'true', name: 'quick-one' });
	const bad = await cove.api('POST', '/v1/jobs', u.token, { app: 'python', script: 'raise SystemExit(3)', name: 'failing-one' });
	const page = await newPage(b);
	await login(page, cove, u.name, u.password);
	await page.goto(cove.url + '/jobs');
	const table = page.getByRole('table', { name: 'Jobs' });
	// both end while the page is open: the list shows it without a reload
	await table.getByRole('row').filter({ hasText: 'failing-one' }).filter({ hasText: 'failed' }).waitFor({ timeout: 30000 });
	await table.getByRole('row').filter({ hasText: 'quick-one' }).filter({ hasText: 'succeeded' }).waitFor({ timeout: 30000 });
	await page.getByLabel('State').selectOption('failed');
	await page.waitForURL(/state=failed/);
	await table.getByRole('row').filter({ hasText: 'failing-one' }).waitFor();
	assert.equal(await table.getByRole('row').filter({ hasText: 'quick-one' }).count(), 0);
	await page.getByLabel('State').selectOption('');
	await page.getByLabel('Application').selectOption('bash');
	await table.getByRole('row').filter({ hasText: 'quick-one' }).waitFor();
	await sleep(2500);
	assert.equal(await table.getByRole('row').filter({ hasText: 'failing-one' }).count(), 0);
	await checkA11y(page, 'the jobs list');
	await shot(page, 'jobs');
	assert.ok(ok.id && bad.id);
	assertNoProblems(page);
	await page.context().close();
});

test('"run a job on this file" starts the form with the file as input', async () => {
	const u = await cove.user('rf');
	await cove.put(u.token, `/home/${u.name}/data.csv`, 'a\n1\n');
	const page = await newPage(b);
	await login(page, cove, u.name, u.password);
	await page.getByRole('button', { name: 'data.csv' }).click();
	await page.getByRole('dialog', { name: 'data.csv' }).getByRole('button', { name: 'Run a job on this file' }).click();
	await page.waitForURL(/\/jobs\/new\?input=/);
	await page.getByText(`/home/${u.name}/data.csv`).waitFor();
	await page.getByRole('radio', { name: /bash/ }).check();
	await typeScript(page, 'wc -l {input}');
	await page.getByRole('button', { name: 'Run job' }).click();
	await page.waitForURL(/\/jobs\/[0-9A-Z]{26}$/);
	await page.getByRole('log').getByText(/^2 /).waitFor({ timeout: 30000 });
	assertNoProblems(page);
	await page.context().close();
});

test('a project member sees the project\'s job; a non-member does not', async () => {
	const owner = await cove.user('po');
	const member = await cove.user('pm');
	const outsider = await cove.user('px');
	const proj = 'lab' + Date.now() % 100000;
	await cove.api('POST', '/v1/projects', owner.token, { name: proj });
	await cove.api('PUT', `/v1/projects/${proj}/members/${member.name}`, owner.token, { role: 'guest' });
	const job = await cove.api('POST', '/v1/jobs', owner.token, { app: 'bash', project: proj, name: 'shared-analysis', script: 'echo from the project' });
	// the member (logged in after being added) filters the list by the project
	const pm = await newPage(b);
	await login(pm, cove, member.name, member.password);
	await pm.goto(cove.url + '/jobs');
	await pm.getByLabel('Project').selectOption(proj);
	await pm.waitForURL(new RegExp(`project=${proj}`));
	await pm.getByRole('table', { name: 'Jobs' }).getByRole('link', { name: 'shared-analysis' }).click();
	await pm.getByRole('log').getByText('from the project').waitFor({ timeout: 30000 });
	// a guest sees it but may not cancel nor run in the project
	await pm.goto(cove.url + '/jobs/new');
	assert.equal(await pm.getByLabel('Project').locator(`option[value="${proj}"]`).count(), 0, 'guests cannot run jobs in the project');
	// the outsider: not in their list, and the job's page says it does not exist
	const px = await newPage(b);
	await login(px, cove, outsider.name, outsider.password);
	await px.goto(cove.url + '/jobs');
	await px.getByText(/No jobs/).waitFor();
	await px.goto(cove.url + `/jobs/${job.id}`);
	await px.getByRole('alert').filter({ hasText: 'no such job' }).waitFor();
	assert.equal(await px.getByText('from the project').count(), 0);
	await px.goto(cove.url + `/jobs?project=${proj}`);
	await px.getByRole('alert').filter({ hasText: /no such project/ }).waitFor();
	assertNoProblems(pm);
	for (const p of [pm, px]) await p.context().close();
});

test('the jobs pages at a phone\'s width and in the dark theme', async () => {
	const u = await cove.user('ph');
	const job = await cove.api('POST', '/v1/jobs', u.token, { app: 'bash', script: 'echo small screen' });
	const page = await newPage(b, { viewport: { width: 390, height: 844 }, colorScheme: 'dark', isMobile: true, hasTouch: true });
	await login(page, cove, u.name, u.password);
	for (const path of ['/jobs', `/jobs/${job.id}`, '/jobs/new']) {
		await page.goto(cove.url + path);
		await page.getByRole('heading', { level: 1 }).waitFor();
		await page.waitForTimeout(300);
		const wide = await page.evaluate(() => document.documentElement.scrollWidth);
		assert.ok(wide <= 390 + 1, `${path} fits the phone's width (${wide} px)`);
		await checkA11y(page, `${path} on a phone, dark`);
	}
	await shot(page, 'job-new-phone-dark');
	assertNoProblems(page);
	await page.context().close();
});
