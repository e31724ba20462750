// The projects pages in Chromium: creating a project, an owner adding a
// member who then finds the project and its folder, what a developer may
// not do, the last owner's refusal in the server's words, quotas and usage
// bars, deleting a project, and the pages at a phone's width and in the
// dark theme.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN_PASSWORD, Cove, assertFitsWidth, assertNoProblems, browser, checkA11y, login, newPage, shot, unique } from './harness.mjs';

let cove, b;
before(async () => {
	cove = await new Cove().start();
	b = await browser();
});
after(async () => {
	await b?.close();
	await cove?.stop();
});

// A project made through the API, owned by owner, with members {name: role}.
async function project(owner, members = {}) {
	const name = unique('p');
	await cove.api('POST', '/v1/projects', owner.token, { name, description: 'A study of ' + name });
	for (const [who, role] of Object.entries(members))
		await cove.api('PUT', `/v1/projects/${name}/members/${who}`, owner.token, { role });
	return name;
}

test('an owner creates a project and adds a member, who then sees it and its folder', async () => {
	const owner = await cove.user('own');
	const friend = await cove.user('fr');
	const page = await newPage(b);
	await login(page, cove, owner.name, owner.password);
	await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Projects' }).click();
	await page.getByRole('heading', { name: 'Projects', level: 1 }).waitFor();
	await page.getByText('No projects yet').waitFor();
	const name = unique('mri');
	await page.getByRole('button', { name: 'New project' }).click();
	const dlg = page.getByRole('dialog', { name: 'New project' });
	await dlg.getByLabel('Project name').fill(name);
	await dlg.getByLabel('Description').fill('Brain scans, 2026');
	await checkA11y(page, 'the new project dialog');
	await dlg.getByRole('button', { name: 'Create project' }).click();
	await page.waitForURL(new RegExp(`/projects/${name}$`));
	await page.getByRole('heading', { name, level: 1 }).waitFor();
	await page.getByText('Brain scans, 2026').waitFor();

	// add the friend as a developer
	const members = page.getByRole('region', { name: 'Members' });
	await members.getByLabel('Username').fill(friend.name);
	await members.getByLabel('Role', { exact: true }).selectOption('developer');
	await members.getByRole('button', { name: 'Add member' }).click();
	await members.getByRole('cell', { name: friend.name, exact: true }).waitFor();
	assert.equal(await members.getByLabel(`Role of ${friend.name}`).inputValue(), 'developer');
	const api = await cove.api('GET', `/v1/projects/${name}/members`, owner.token);
	assert.deepEqual(api.items.find((m) => m.username === friend.name), { username: friend.name, role: 'developer' });
	// an unknown user: the server's sentence
	await members.getByLabel('Username').fill('nobody-' + name);
	await members.getByRole('button', { name: 'Add member' }).click();
	await members.getByRole('alert').filter({ hasText: `no such user 'nobody-${name}'` }).waitFor();
	await checkA11y(page, 'a project page as its owner');
	await shot(page, 'project');

	// the friend logs in and finds it
	const p2 = await newPage(b);
	await login(p2, cove, friend.name, friend.password);
	await p2.goto(cove.url + '/projects');
	await p2.getByRole('link', { name, exact: true }).click();
	await p2.waitForURL(new RegExp(`/projects/${name}$`));
	await p2.getByText('Your role:').getByText('developer').waitFor();
	const files = p2.getByRole('navigation', { name: 'Project' }).getByRole('link', { name: 'Files' });
	assert.equal(await files.getAttribute('href'), `/files/projects/${name}`);
	assert.equal(await p2.getByRole('navigation', { name: 'Project' }).getByRole('link', { name: 'Jobs' }).getAttribute('href'), `/jobs?project=${name}`);
	assert.equal(await p2.getByRole('navigation', { name: 'Project' }).getByRole('link', { name: 'Images' }).getAttribute('href'), `/images/${name}`);
	await files.click();
	await p2.waitForURL(new RegExp(`/files/projects/${name}$`));
	await p2.getByRole('navigation', { name: 'Folder path' }).getByText(name).waitFor();
	await p2.goto(cove.url + '/projects');
	await p2.getByRole('table', { name: 'Projects' }).waitFor();
	await checkA11y(p2, 'the projects list');
	await shot(p2, 'projects');
	assertNoProblems(page);
	assertNoProblems(p2);
	await page.context().close();
	await p2.context().close();
});

test('a developer sees the members and roles but cannot manage them', async () => {
	const owner = await cove.user('own');
	const dev = await cove.user('dev');
	const guest = await cove.user('gst');
	const name = await project(owner, { [dev.name]: 'developer', [guest.name]: 'guest' });
	const page = await newPage(b);
	await login(page, cove, dev.name, dev.password);
	await page.goto(`${cove.url}/projects/${name}`);
	const members = page.getByRole('region', { name: 'Members' });
	await members.getByRole('cell', { name: owner.name, exact: true }).waitFor();
	await members.getByRole('cell', { name: guest.name, exact: true }).waitFor();
	await members.getByText('owner', { exact: true }).waitFor();
	await page.getByText('Owners add and remove members').waitFor();
	assert.equal(await members.getByRole('combobox').count(), 0, 'no role selectors');
	assert.equal(await members.getByRole('button', { name: /^Remove/ }).count(), 0, 'no remove buttons');
	assert.equal(await page.getByRole('button', { name: 'Add member' }).count(), 0);
	assert.equal(await page.getByRole('button', { name: 'Edit description' }).count(), 0);
	assert.equal(await page.getByRole('button', { name: 'Delete project' }).count(), 0);
	assert.equal(await page.getByRole('button', { name: 'Change quotas' }).count(), 0);
	// leaving is theirs to do
	await members.getByRole('button', { name: 'Leave the project' }).waitFor();
	await checkA11y(page, 'a project page as a developer');
	assertNoProblems(page);
	await page.context().close();
});

test('the last owner cannot leave: the server says why', async () => {
	const owner = await cove.user('own');
	const name = await project(owner);
	const page = await newPage(b);
	await login(page, cove, owner.name, owner.password);
	await page.goto(`${cove.url}/projects/${name}`);
	await page.getByRole('button', { name: 'Leave the project' }).click();
	const dlg = page.getByRole('dialog', { name: `Leave ${name}?` });
	await dlg.getByRole('button', { name: 'Leave' }).click();
	await dlg.getByRole('alert').filter({ hasText: 'cannot remove the last owner of a project' }).waitFor();
	await dlg.getByRole('button', { name: 'Cancel' }).click();
	// demoting the last owner is refused the same way, and the role stays
	await page.getByLabel(`Role of ${owner.name}`).selectOption('maintainer');
	await page.getByRole('region', { name: 'Members' }).getByRole('alert').filter({ hasText: 'a project needs an owner: make someone else owner first' }).waitFor();
	await page.waitForFunction((sel) => document.getElementById(sel).value === 'owner', `role-${owner.name}`);
	assert.equal((await cove.api('GET', `/v1/projects/${name}`, owner.token)).members[0].role, 'owner');
	assertNoProblems(page);
	await page.context().close();
});

test('an owner edits the description; an admin sets quotas, shown as usage bars', async () => {
	const owner = await cove.user('own');
	const name = await project(owner);
	await cove.put(owner.token, `/projects/${name}/data.bin`, new Uint8Array(300 * 1024));
	const page = await newPage(b);
	await login(page, cove, owner.name, owner.password);
	await page.goto(`${cove.url}/projects/${name}`);
	await page.getByRole('button', { name: 'Edit description' }).click();
	await page.getByLabel('Description').fill('Line one\nLine two');
	await page.getByRole('button', { name: 'Save description' }).click();
	await page.getByText('Line one').waitFor();
	assert.equal((await cove.api('GET', `/v1/projects/${name}`, owner.token)).description, 'Line one\nLine two');
	const quotas = page.getByRole('region', { name: 'Quotas' });
	await quotas.getByText('300 KiB (no limit)').waitFor();
	await quotas.getByText('Administrators set quotas.').waitFor();

	const admin = await newPage(b);
	await login(admin, cove, 'admin', ADMIN_PASSWORD);
	await admin.goto(`${cove.url}/projects/${name}`);
	await admin.getByText('(you are an administrator, not a member)').waitFor();
	await admin.getByRole('button', { name: 'Change quotas' }).click();
	const dlg = admin.getByRole('dialog', { name: `Quotas of ${name}` });
	await dlg.getByLabel('Storage').fill('1M');
	await dlg.getByLabel('Running jobs').fill('4');
	await dlg.getByLabel('Memory').fill('8G');
	await checkA11y(admin, 'the quota dialog');
	await dlg.getByRole('button', { name: 'Save quotas' }).click();
	await admin.getByRole('region', { name: 'Quotas' }).getByText('8.00 GiB').waitFor();
	const q = (await cove.api('GET', `/v1/projects/${name}`, owner.token)).quota;
	assert.deepEqual(q, { storage_bytes: 1024 * 1024, jobs: 4, cpu: 0, memory_bytes: 8 * 1024 ** 3 });
	// a bad size is refused before it is sent
	await admin.getByRole('button', { name: 'Change quotas' }).click();
	await dlg.getByLabel('Storage').fill('lots');
	await dlg.getByRole('button', { name: 'Save quotas' }).click();
	await dlg.getByRole('alert').filter({ hasText: 'Storage must be a size' }).waitFor();
	await dlg.getByRole('button', { name: 'Cancel' }).click();

	await page.reload();
	const bar = page.getByRole('progressbar', { name: /Storage: \d+% used/ });
	await bar.waitFor();
	assert.equal(await bar.getAttribute('aria-label'), 'Storage: 29% used');
	await page.getByText('300 KiB of 1.00 MiB').waitFor();
	assertNoProblems(page);
	assertNoProblems(admin);
	await page.context().close();
	await admin.context().close();
});

test('deleting a project asks first; a folder not empty is the server’s reason to refuse', async () => {
	const owner = await cove.user('own');
	const name = await project(owner);
	await cove.put(owner.token, `/projects/${name}/keep.txt`, new TextEncoder().encode('x'));
	const page = await newPage(b);
	await login(page, cove, owner.name, owner.password);
	await page.goto(`${cove.url}/projects/${name}`);
	await page.getByRole('button', { name: 'Delete project' }).click();
	const dlg = page.getByRole('dialog', { name: `Delete project ${name}?` });
	await dlg.getByRole('button', { name: 'Delete project' }).click();
	await dlg.getByRole('alert').waitFor();
	const reason = await dlg.getByRole('alert').textContent();
	assert.match(reason, /still holds files/);
	await dlg.getByRole('button', { name: 'Cancel' }).click();
	await cove.api('DELETE', `/v1/fs/projects/${name}/keep.txt`, owner.token);
	await page.getByRole('button', { name: 'Delete project' }).click();
	await dlg.getByRole('button', { name: 'Delete project' }).click();
	await page.waitForURL(/\/projects$/);
	await page.getByText('No projects yet').waitFor();
	const status = await page.evaluate(async (n) => (await fetch('/v1/projects/' + n)).status, name);
	assert.equal(status, 404);
	assertNoProblems(page);
	await page.context().close();
});

test('at a phone’s width and in the dark theme the pages fit and stay accessible', async () => {
	const owner = await cove.user('own');
	const dev = await cove.user('dev');
	const name = await project(owner, { [dev.name]: 'developer' });
	const page = await newPage(b, { viewport: { width: 390, height: 844 }, colorScheme: 'dark' });
	await login(page, cove, owner.name, owner.password);
	await page.goto(`${cove.url}/projects`);
	await page.getByRole('link', { name, exact: true }).waitFor();
	await assertFitsWidth(page, 'the projects list');
	await checkA11y(page, 'the projects list, dark, phone');
	await shot(page, 'projects-phone-dark');
	await page.goto(`${cove.url}/projects/${name}`);
	await page.getByRole('region', { name: 'Members' }).getByRole('cell', { name: dev.name, exact: true }).waitFor();
	await assertFitsWidth(page, 'a project page');
	await checkA11y(page, 'a project page, dark, phone');
	await shot(page, 'project-phone-dark');
	// the main menu folds behind a button; the keyboard reaches it
	await page.getByRole('button', { name: 'Menu' }).focus();
	await page.keyboard.press('Enter');
	await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Projects' }).waitFor();
	assertNoProblems(page);
	await page.context().close();
});
