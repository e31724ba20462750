// Administration in Chromium: the dashboard (its numbers, and the server's
// own message when the overview cannot be had), users (search, add, lock
// out, quota, groups, delete), groups, volumes, queues and applications,
// settings, the audit log's filters and paging, and the registry's garbage
// collection; every section checked with axe-core, at a phone's width too.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN_PASSWORD, Cove, assertFitsWidth, assertNoProblems, browser, checkA11y, login, newPage, pushImage, shot, unique } from './harness.mjs';

let cove, b;
before(async () => {
	cove = await new Cove().start();
	b = await browser();
});
after(async () => {
	await b?.close();
	await cove?.stop();
});

async function adminPage(opts) {
	const page = await newPage(b, opts);
	await login(page, cove, 'admin', ADMIN_PASSWORD);
	return page;
}

const section = (page, name) => page.getByRole('navigation', { name: 'Administration' }).getByRole('link', { name, exact: true });

// The shape GET /v1/admin/overview answers with (docs: being added).
const OVERVIEW = {
	version: '0.1.0',
	started_at: '2026-12-01T08:00:00Z',
	uptime_s: 93784,
	health: { database: 'ok' },
	users: { total: 42, active: 39, locked: 2, disabled: 1, admins: 3 },
	projects: 7,
	jobs: { queues: [{ name: 'default', queued: 5, starting: 1, running: 3 }, { name: 'gpu', queued: 2, starting: 0, running: 1 }], queued: 7, running: 4 },
	storage: { volumes: [{ name: 'scratch', capacity: 1024 ** 4, used: 256 * 1024 ** 3 }], blob_bytes: 5 * 1024 ** 3 },
	registry: { repositories: 11, bytes: 3 * 1024 ** 3 },
};

test('the dashboard shows the overview’s numbers, queues and volumes (the documented shape)', async () => {
	const page = await adminPage();
	await page.route('**/v1/admin/overview', (r) => r.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(OVERVIEW) }));
	await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Admin', exact: true }).click();
	await page.waitForURL(/\/admin$/);
	await page.getByRole('heading', { name: 'Administration', level: 1 }).waitFor();
	const stat = (label) => page.locator('.stat').filter({ has: page.getByText(label, { exact: true }) });
	assert.equal((await stat('Users').locator('.v').textContent()).trim(), '42');
	await stat('Users').getByText('39 active · 2 locked · 1 disabled · 3 admins').waitFor();
	assert.equal((await stat('Projects').locator('.v').textContent()).trim(), '7');
	assert.equal((await stat('Jobs running').locator('.v').textContent()).trim(), '4');
	assert.equal((await stat('Jobs queued').locator('.v').textContent()).trim(), '7');
	assert.equal((await stat('Image repositories').locator('.v').textContent()).trim(), '11');
	assert.equal((await stat('Up for').locator('.v').textContent()).trim(), '26h 3m');
	const queues = page.getByRole('table', { name: 'Queues' });
	await queues.getByRole('row', { name: 'gpu 2 0 1' }).waitFor();
	await page.getByRole('progressbar', { name: 'scratch: 25% used' }).waitFor();
	await checkA11y(page, 'the dashboard');
	await shot(page, 'admin-dashboard');
	assertNoProblems(page);
	await page.context().close();
});

test('the dashboard shows the server’s own message when the overview fails', async () => {
	const page = await adminPage();
	const problem = { type: 'about:blank', title: 'Service Unavailable', status: 503, detail: 'the database is not reachable; try again shortly' };
	await page.route('**/v1/admin/overview', (r) => r.fulfill({ status: 503, contentType: 'application/problem+json', body: JSON.stringify(problem) }));
	await page.goto(cove.url + '/admin');
	await page.getByRole('alert').filter({ hasText: problem.detail }).waitFor();
	await page.getByRole('button', { name: 'Try again' }).waitFor();
	// the rest of administration still works
	await section(page, 'Users').click();
	await page.getByRole('table', { name: 'Users' }).waitFor();
	assertNoProblems(page);
	await page.context().close();
});

test('the dashboard shows real numbers from GET /v1/admin/overview', async () => {
	const users = [await cove.user('dash'), await cove.user('dash')];
	await cove.api('PATCH', `/v1/users/${users[1].name}`, cove.admin, { state: 'locked' });
	await cove.api('POST', '/v1/projects', users[0].token, { name: unique('dp') });
	const job = await cove.api('POST', '/v1/jobs', users[0].token, { app: 'bash', script: 'sleep 30', cpu: 0.1, time: '60s' });
	const o = await cove.api('GET', '/v1/admin/overview', cove.admin);
	const page = await adminPage();
	await page.goto(cove.url + '/admin');
	const stat = (label) => page.locator('.stat').filter({ has: page.getByText(label, { exact: true }) });
	await stat('Users').waitFor();
	assert.ok(o.users.total >= 3 && o.users.locked >= 1);
	assert.equal((await stat('Users').locator('.v').textContent()).trim(), String(o.users.total));
	await stat('Users').getByText(new RegExp(`${o.users.locked} locked`)).waitFor();
	assert.equal((await stat('Projects').locator('.v').textContent()).trim(), String(o.projects));
	await page.getByRole('table', { name: 'Queues' }).getByRole('row', { name: /^default/ }).waitFor();
	await cove.api('POST', `/v1/jobs/${job.id}/cancel`, users[0].token, {});
	await checkA11y(page, 'the dashboard with real numbers');
	assertNoProblems(page);
	await page.context().close();
});

test('the user search asks the server with ?q= and keeps the words in the URL', async () => {
	const page = await adminPage();
	await page.goto(cove.url + '/admin/users');
	await page.getByRole('table', { name: 'Users' }).waitFor();
	const asked = page.waitForRequest((r) => r.url().includes('/v1/users?') && new URL(r.url()).searchParams.get('q') === 'example.org');
	await page.getByRole('searchbox', { name: 'Search users' }).fill('example.org');
	await page.getByRole('button', { name: 'Search', exact: true }).click();
	await asked;
	await page.waitForURL(/\/admin\/users\?q=example\.org$/);
	await page.getByRole('table', { name: 'Users matching example.org' }).waitFor();
	await page.getByRole('button', { name: 'Clear' }).click();
	await page.waitForURL(/\/admin\/users$/);
	assertNoProblems(page);
	await page.context().close();
});

test('user search finds a user by part of an email', async () => {
	const who = unique('srch');
	await cove.api('POST', '/v1/users', cove.admin, { username: who, email: `${who}@lab-${who}.example.net` });
	const other = await cove.user('other');
	const page = await adminPage();
	await page.goto(cove.url + '/admin/users');
	await page.getByRole('searchbox', { name: 'Search users' }).fill(`lab-${who}.exam`);
	await page.getByRole('button', { name: 'Search', exact: true }).click();
	const table = page.getByRole('table', { name: `Users matching lab-${who}.exam` });
	await table.getByRole('row', { name: new RegExp(who) }).waitFor();
	assert.equal(await table.getByRole('row', { name: new RegExp(other.name) }).count(), 0);
	assert.equal(await table.locator('tbody tr').count(), 1);
	assertNoProblems(page);
	await page.context().close();
});

test('an admin adds a user; locking them makes their login fail until unlocked', async () => {
	const page = await adminPage();
	await page.goto(cove.url + '/admin/users');
	const name = unique('new');
	const password = 'Fresh-pass-2026!';
	await page.getByRole('button', { name: 'Add user' }).click();
	const dlg = page.getByRole('dialog', { name: 'Add a user' });
	await dlg.getByLabel('Username').fill(name);
	await dlg.getByLabel('Email').fill(`${name}@example.org`);
	await dlg.getByLabel('Full name').fill('Fresh Person');
	await dlg.getByLabel('Password').fill(password);
	await checkA11y(page, 'the add-user dialog');
	await dlg.getByRole('button', { name: 'Add user' }).click();
	const row = page.getByRole('table', { name: 'Users' }).getByRole('row', { name: new RegExp(name) });
	await row.getByText('Fresh Person').waitFor();
	await row.getByText('active', { exact: true }).waitFor();
	await cove.token(name, password); // may log in

	await row.getByRole('button', { name: `Lock ${name}` }).click();
	await row.getByText('locked', { exact: true }).waitFor();
	assert.equal((await cove.api('GET', `/v1/users/${name}`, cove.admin)).state, 'locked');
	const them = await newPage(b);
	await them.goto(cove.url + '/login');
	await them.getByLabel('Username').fill(name);
	await them.getByLabel('Password').fill(password);
	await them.getByRole('button', { name: 'Log in' }).click();
	await them.getByRole('alert').filter({ hasText: 'account is locked; ask an administrator' }).waitFor();
	assert.match(new URL(them.url()).pathname, /^\/login/);

	await row.getByRole('button', { name: `Unlock ${name}` }).click();
	await row.getByText('active', { exact: true }).waitFor();
	await them.getByRole('button', { name: 'Log in' }).click();
	await them.waitForURL(new RegExp(`/files/home/${name}$`));
	await checkA11y(page, 'the users section');
	await shot(page, 'admin-users');
	assertNoProblems(page);
	assertNoProblems(them);
	await page.context().close();
	await them.context().close();
});

test('editing a user: storage quota in human sizes, groups, and deleting them', async () => {
	const u = await cove.user('ed');
	const group = unique('grp');
	await cove.api('POST', '/v1/groups', cove.admin, { name: group });
	const page = await adminPage();
	await page.goto(cove.url + '/admin/users');
	const row = page.getByRole('table', { name: 'Users' }).getByRole('row', { name: new RegExp(u.name) });
	await row.getByRole('button', { name: `Edit ${u.name}` }).click();
	const dlg = page.getByRole('dialog', { name: `User ${u.name}` });
	await dlg.getByLabel('Storage quota').fill('1.5G');
	await dlg.getByRole('button', { name: 'Save changes' }).click();
	await row.getByText('1.50 GiB').waitFor();
	assert.equal((await cove.api('GET', `/v1/users/${u.name}`, cove.admin)).quota_storage_bytes, 1.5 * 1024 ** 3);
	await dlg.getByLabel('Storage quota').fill('much');
	await dlg.getByRole('button', { name: 'Save changes' }).click();
	await dlg.getByRole('alert').filter({ hasText: 'Storage quota must be a size' }).waitFor();
	await dlg.getByLabel('Storage quota').fill('1.5G');

	await dlg.getByLabel('Add to group').selectOption(group);
	await dlg.getByRole('button', { name: 'Add', exact: true }).click();
	await dlg.getByRole('button', { name: `Remove from ${group}` }).waitFor();
	assert.deepEqual((await cove.api('GET', `/v1/groups/${group}`, cove.admin)).members, [u.name]);
	await checkA11y(page, 'the edit-user dialog');
	await shot(page, 'admin-user-edit');
	await dlg.getByRole('button', { name: `Remove from ${group}` }).click();
	await dlg.getByLabel('Add to group').waitFor();
	assert.deepEqual((await cove.api('GET', `/v1/groups/${group}`, cove.admin)).members, []);

	await dlg.getByRole('button', { name: 'Delete user' }).click();
	await page.getByRole('dialog', { name: `Delete user ${u.name}?` }).getByRole('button', { name: 'Delete user' }).click();
	await row.waitFor({ state: 'detached' });
	await assert.rejects(cove.api('GET', `/v1/users/${u.name}`, cove.admin), (e) => e.status === 404);
	assertNoProblems(page);
	await page.context().close();
});

test('groups: created with members, members added and removed, deleted', async () => {
	const [x, y] = [await cove.user('gx'), await cove.user('gy')];
	const page = await adminPage();
	await page.goto(cove.url + '/admin/groups');
	const name = unique('team');
	await page.getByLabel('Group name').fill(name);
	await page.getByLabel('Members').fill(`${x.name}, ${y.name}`);
	await page.getByRole('button', { name: 'Create group' }).click();
	const row = page.getByRole('table', { name: 'Groups' }).getByRole('row', { name: new RegExp(name) });
	await row.getByText(`${x.name}, ${y.name}`).waitFor();
	await checkA11y(page, 'the groups section');
	await row.getByRole('button', { name: `Members of ${name}` }).click();
	const dlg = page.getByRole('dialog', { name: `Members of ${name}` });
	await dlg.getByRole('button', { name: `Remove ${x.name}` }).click();
	await dlg.getByRole('button', { name: `Remove ${x.name}` }).waitFor({ state: 'detached' });
	await dlg.getByLabel('Add a member').fill('nobody-' + name);
	await dlg.getByRole('button', { name: 'Add', exact: true }).click();
	await dlg.getByRole('alert').waitFor();
	await dlg.getByRole('button', { name: 'Done' }).click();
	assert.deepEqual((await cove.api('GET', `/v1/groups/${name}`, cove.admin)).members, [y.name]);
	await row.getByRole('button', { name: `Delete ${name}` }).click();
	await page.getByRole('dialog', { name: `Delete group ${name}?` }).getByRole('button', { name: 'Delete group' }).click();
	await row.waitFor({ state: 'detached' });
	assertNoProblems(page);
	await page.context().close();
});

test('projects: every project, linked to its page', async () => {
	const u = await cove.user('po');
	const p = unique('ap');
	await cove.api('POST', '/v1/projects', u.token, { name: p, description: 'not the admin’s' });
	const page = await adminPage();
	await page.goto(cove.url + '/admin/projects');
	const row = page.getByRole('table', { name: 'Every project' }).getByRole('row', { name: new RegExp(p) });
	await row.getByRole('cell', { name: u.name, exact: true }).waitFor();
	await checkA11y(page, 'the projects section');
	await row.getByRole('link', { name: p }).click();
	await page.waitForURL(new RegExp(`/projects/${p}$`));
	await page.getByRole('heading', { name: p, level: 1 }).waitFor();
	assertNoProblems(page);
	await page.context().close();
});

test('a volume is created with a capacity, shown with its usage, resized and deleted', async () => {
	const page = await adminPage();
	await page.goto(cove.url + '/admin/volumes');
	const name = unique('vol');
	await page.getByLabel('Volume name').fill(name);
	await page.getByLabel('Capacity').fill('2G');
	await page.getByRole('button', { name: 'Create volume' }).click();
	const row = page.getByRole('table', { name: 'Volumes' }).getByRole('row', { name: new RegExp(name) });
	await row.getByText('0 B of 2.00 GiB').waitFor();
	await row.getByRole('progressbar', { name: `${name}: 0% used` }).waitFor();
	const v = (await cove.api('GET', '/v1/volumes', cove.admin)).items.find((x) => x.name === name);
	assert.equal(v.capacity_bytes, 2 * 1024 ** 3);
	await checkA11y(page, 'the volumes section');
	await shot(page, 'admin-volumes');
	await row.getByRole('button', { name: `Capacity of ${name}` }).click();
	const dlg = page.getByRole('dialog', { name: `Capacity of ${name}` });
	await dlg.getByLabel('Capacity').fill('3T');
	await dlg.getByRole('button', { name: 'Save capacity' }).click();
	await row.getByText('0 B of 3.00 TiB').waitFor();
	await row.getByRole('button', { name: `Delete ${name}` }).click();
	await page.getByRole('dialog', { name: `Delete volume ${name}?` }).getByRole('button', { name: 'Delete volume' }).click();
	await row.waitFor({ state: 'detached' });
	assert.equal((await cove.api('GET', '/v1/volumes', cove.admin)).items.some((x) => x.name === name), false);
	assertNoProblems(page);
	await page.context().close();
});

test('a queue is created and appears in /v1/queues; applications: builtins read-only, a custom one added and removed', async () => {
	const page = await adminPage();
	await page.goto(cove.url + '/admin/queues');
	const name = unique('q');
	await page.getByRole('button', { name: 'New queue' }).click();
	const dlg = page.getByRole('dialog', { name: 'New queue' });
	await dlg.getByLabel('Queue name').fill(name);
	await dlg.getByLabel('Description').fill('Short jobs with network');
	await dlg.getByLabel('Groups').fill('admin');
	await dlg.getByLabel('Maximum CPUs').fill('2');
	await dlg.getByLabel('Maximum memory').fill('4G');
	await dlg.getByLabel('Maximum time').fill('2h');
	await dlg.getByLabel('Running jobs at most').fill('3');
	await dlg.getByLabel('Priority').fill('5');
	await dlg.getByLabel('Jobs may use the network').check();
	await checkA11y(page, 'the queue dialog');
	await dlg.getByRole('button', { name: 'Create queue' }).click();
	const row = page.getByRole('table', { name: 'Queues' }).getByRole('row', { name: new RegExp(name) });
	await row.getByText('Short jobs with network').waitFor();
	let q = (await cove.api('GET', '/v1/queues', cove.admin)).items.find((x) => x.name === name);
	assert.ok(q, 'the queue is in /v1/queues');
	assert.deepEqual([q.max.cpu, q.max.memory, q.max.time, q.max_running, q.priority, q.network, q.groups],
		[2, 4 * 1024 ** 3, 7200, 3, 5, true, ['admin']]);
	await row.getByRole('button', { name: `Edit queue ${name}` }).click();
	const edit = page.getByRole('dialog', { name: `Queue ${name}` });
	assert.equal(await edit.getByLabel('Maximum memory').inputValue(), '4G');
	assert.equal(await edit.getByLabel('Maximum time').inputValue(), '2h');
	await edit.getByLabel('Priority').fill('7');
	await edit.getByRole('button', { name: 'Save queue' }).click();
	await edit.waitFor({ state: 'detached' });
	q = (await cove.api('GET', `/v1/queues/${name}`, cove.admin));
	assert.equal(q.priority, 7);
	assert.equal(q.max.memory, 4 * 1024 ** 3, 'unchanged fields stay');
	// the default queue cannot be deleted; this one can
	assert.equal(await page.getByRole('button', { name: 'Delete queue default' }).count(), 0);
	await row.getByRole('button', { name: `Delete queue ${name}` }).click();
	await page.getByRole('dialog', { name: `Delete queue ${name}?` }).getByRole('button', { name: 'Delete queue' }).click();
	await row.waitFor({ state: 'detached' });

	const apps = page.getByRole('table', { name: 'Applications' });
	await apps.getByRole('row', { name: /^bash/ }).getByText('built-in').waitFor();
	assert.equal(await apps.getByRole('button', { name: 'Edit application bash' }).count(), 0);
	const app = unique('tool');
	await page.getByRole('button', { name: 'New application' }).click();
	const ad = page.getByRole('dialog', { name: 'New application' });
	await ad.getByLabel('Application name').fill(app);
	await ad.getByLabel('Version').fill('2.1');
	await ad.getByLabel('Input').selectOption('args');
	await ad.getByLabel('Command, one argument a line').fill('/usr/bin/env\n-i');
	await ad.getByLabel('Environment, NAME=value a line').fill('MODE=fast');
	await ad.getByRole('button', { name: 'Add application' }).click();
	await apps.getByRole('row', { name: new RegExp(app) }).waitFor();
	const a = await cove.api('GET', `/v1/apps/${app}`, cove.admin);
	assert.deepEqual([a.version, a.input, a.command, a.env, a.builtin], ['2.1', 'args', ['/usr/bin/env', '-i'], { MODE: 'fast' }, false]);
	await checkA11y(page, 'the queues and applications section');
	await shot(page, 'admin-queues');
	await apps.getByRole('button', { name: `Delete application ${app}` }).click();
	await page.getByRole('dialog', { name: `Delete application ${app}?` }).getByRole('button', { name: 'Delete application' }).click();
	await apps.getByRole('row', { name: new RegExp(app) }).waitFor({ state: 'detached' });
	assertNoProblems(page);
	await page.context().close();
});

test('settings: registration switched off and on', async () => {
	const page = await adminPage();
	await page.goto(cove.url + '/admin/settings');
	const box = page.getByLabel('Anyone may register an account on the login page');
	assert.equal(await box.isChecked(), true);
	await box.uncheck();
	await page.getByRole('button', { name: 'Save settings' }).click();
	await page.getByText('Registration is closed').waitFor();
	assert.equal((await (await fetch(cove.url + '/v1/auth/options')).json()).registration, false);
	await checkA11y(page, 'the settings section');
	await box.check();
	await page.getByRole('button', { name: 'Save settings' }).click();
	await page.getByText('Anyone may now register an account').waitFor();
	assert.equal((await (await fetch(cove.url + '/v1/auth/options')).json()).registration, true);
	assertNoProblems(page);
	await page.context().close();
});

test('the audit log filters by action and actor, and pages to older entries', async () => {
	const u = await cove.user('aud');
	for (let i = 0; i < 105; i++) await cove.api('POST', '/v1/tokens', u.token, { name: `t${i}` });
	const page = await adminPage();
	await page.goto(cove.url + '/admin/audit');
	const table = page.getByRole('table', { name: 'Audit entries, newest first' });
	await table.waitFor();
	await page.getByLabel('Action').fill('token');
	await page.getByLabel('Actor').fill(u.name);
	const asked = page.waitForRequest((r) => {
		const q = new URL(r.url()).searchParams;
		return r.url().includes('/v1/audit?') && q.get('action') === 'token' && q.get('actor') === u.name;
	});
	await page.getByRole('button', { name: 'Apply filters' }).click();
	await asked;
	await page.waitForURL((url) => url.pathname === '/admin/audit' && url.searchParams.get('action') === 'token');
	await table.getByRole('row', { name: /token\.create/ }).first().waitFor();
	const actions = async () => (await table.locator('tbody tr td:nth-child(3)').allTextContents()).map((s) => s.trim());
	let seen = await actions();
	assert.equal(seen.length, 100, 'a page of 100');
	assert.ok(seen.every((a) => a === 'token.create'), seen.join(' '));
	await page.getByRole('button', { name: 'Older entries' }).click();
	await page.waitForFunction(() => document.querySelectorAll('table.audit tbody tr').length > 100);
	seen = await actions();
	assert.equal(seen.length, 105);
	assert.equal(await page.getByRole('button', { name: 'Older entries' }).count(), 0, 'no more pages');
	// the other filters are sent for the server to honour
	await page.getByLabel('Outcome').selectOption('failure');
	await page.getByLabel('Target').fill('t1');
	await page.getByLabel('Since').fill('2026-01-01T00:00');
	const more = page.waitForRequest((r) => {
		const q = new URL(r.url()).searchParams;
		return r.url().includes('/v1/audit?') && q.get('outcome') === 'failure' && q.get('target') === 't1' && /^2026-01-01T\d\d:00:00Z$|^2025-12-31T\d\d:00:00Z$/.test(q.get('since') || '');
	});
	await page.getByRole('button', { name: 'Apply filters' }).click();
	await more;
	await page.getByRole('button', { name: 'Clear' }).click();
	await page.waitForURL((url) => url.pathname === '/admin/audit' && !url.search);
	await checkA11y(page, 'the audit log');
	await shot(page, 'admin-audit');
	assertNoProblems(page);
	await page.context().close();
});

test('registry garbage collection: a dry run lists what would go, a confirmed run removes it', async () => {
	const owner = await cove.user('gc');
	const proj = unique('gcp');
	await cove.api('POST', '/v1/projects', owner.token, { name: proj });
	const repo = `${proj}/junk`;
	const digest = await pushImage(cove, owner.token, repo, 'old');
	await cove.api('DELETE', `/v1/registry/images/${repo}:old`, owner.token);
	const page = await adminPage();
	await page.goto(cove.url + '/admin/registry');
	const gc = page.getByRole('region', { name: 'Garbage collection' });
	await gc.getByLabel('Where').selectOption(proj);
	await gc.getByLabel('Grace period').fill('0s');
	await gc.getByRole('button', { name: 'Dry run' }).click();
	const summary = gc.getByRole('status').locator('strong');
	await summary.waitFor();
	assert.match(await summary.textContent(), /^Would remove 0 tags, 1 image and \d+ layers? \(/);
	await gc.getByRole('table', { name: 'What would be removed' }).getByRole('row', { name: new RegExp(`${repo} image`) }).waitFor();
	assert.equal((await cove.api('GET', `/v1/registry/repositories/${repo}`, owner.token)).manifests, 1, 'a dry run removes nothing');
	await checkA11y(page, 'the registry section');
	await shot(page, 'admin-registry');
	await gc.getByRole('button', { name: 'Collect now' }).click();
	await page.getByRole('dialog', { name: 'Collect garbage now?' }).getByRole('button', { name: 'Collect' }).click();
	await summary.filter({ hasText: /^Removed 0 tags, 1 image/ }).waitFor();
	const man = await fetch(`${cove.url}/v2/${repo}/manifests/${digest}`, { headers: { Authorization: 'Bearer ' + owner.token } });
	assert.equal(man.status, 404);
	assertNoProblems(page);
	await page.context().close();
});

test('administration at a phone’s width and in the dark theme', async () => {
	const page = await adminPage({ viewport: { width: 390, height: 844 }, colorScheme: 'dark' });
	await page.route('**/v1/admin/overview', (r) => r.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(OVERVIEW) }));
	await page.goto(cove.url + '/admin');
	await page.locator('.stat').first().waitFor();
	await assertFitsWidth(page, 'the dashboard');
	await checkA11y(page, 'the dashboard, dark, phone');
	await shot(page, 'admin-dashboard-phone-dark');
	for (const [path, what] of [['users', 'Users'], ['audit', 'Audit entries, newest first'], ['queues', 'Queues'], ['volumes', null]]) {
		await page.goto(`${cove.url}/admin/${path}`);
		if (what) await page.getByRole('table', { name: what }).waitFor();
		else await page.getByRole('heading', { name: 'Volumes', level: 2 }).waitFor();
		await assertFitsWidth(page, `/admin/${path}`);
		await checkA11y(page, `/admin/${path}, dark, phone`);
	}
	await shot(page, 'admin-volumes-phone-dark');
	// keyboard: the sub-navigation is reachable and shows where focus is
	await page.goto(`${cove.url}/admin/settings`);
	await page.getByRole('heading', { name: 'Settings', level: 2 }).waitFor();
	await section(page, 'Settings').focus();
	await page.keyboard.press('Shift+Tab');
	const focused = await page.evaluate(() => [document.activeElement.textContent, getComputedStyle(document.activeElement).outlineStyle]);
	assert.deepEqual(focused, ['Queues and applications', 'solid'], 'the previous link has a visible focus ring');
	await page.keyboard.press('Enter');
	await page.waitForURL(/\/admin\/queues$/);
	assertNoProblems(page);
	await page.context().close();
});
