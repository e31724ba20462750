// The image registry's pages in Chromium: images pushed through the OCI
// API show up by namespace with their tags, digests and a pull command; a
// maintainer deletes a tag (and an image) from the portal while a developer
// cannot; a project's robot accounts (secret shown once), tag rules,
// retention and immutability; an outsider sees nothing; phone width and the
// dark theme.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Cove, assertFitsWidth, assertNoProblems, browser, checkA11y, login, newPage, pushImage, shot, unique } from './harness.mjs';

let cove, b;
before(async () => {
	cove = await new Cove().start();
	b = await browser();
});
after(async () => {
	await b?.close();
	await cove?.stop();
});

async function project(owner, members = {}) {
	const name = unique('reg');
	await cove.api('POST', '/v1/projects', owner.token, { name });
	for (const [who, role] of Object.entries(members))
		await cove.api('PUT', `/v1/projects/${name}/members/${who}`, owner.token, { role });
	return name;
}

const tagsOf = async (token, repo) => (await cove.api('GET', `/v1/registry/tags/${repo}`, token)).items.map((t) => t.tag);

test('a pushed image shows its tags, digest, size and a pull command', async () => {
	const owner = await cove.user('own');
	const proj = await project(owner);
	const repo = `${proj}/tools`;
	const d1 = await pushImage(cove, owner.token, repo, 'v1', 'one\n');
	const d2 = await pushImage(cove, owner.token, repo, 'v2', 'two\n');
	const page = await newPage(b);
	await login(page, cove, owner.name, owner.password);
	await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Images' }).click();
	await page.getByRole('heading', { name: 'Images', level: 1 }).waitFor();
	const group = page.getByRole('region', { name: new RegExp(`^${proj}`) });
	await group.getByRole('link', { name: proj, exact: true }).waitFor();
	const row = group.getByRole('row', { name: /tools/ });
	await row.waitFor();
	assert.equal((await row.locator('td').nth(1).textContent()).trim(), '2', 'two tags');
	await checkA11y(page, 'the images page');
	await shot(page, 'images');
	await row.getByRole('link', { name: 'tools' }).click();
	await page.waitForURL(new RegExp(`/images/${proj}/tools$`));
	await page.getByRole('heading', { name: repo, level: 1 }).waitFor();
	const tags = page.getByRole('table', { name: 'Tags' });
	await tags.getByRole('row', { name: /v2/ }).waitFor();
	const rows = await tags.locator('tbody tr').allTextContents();
	assert.equal(rows.length, 2);
	assert.match(rows[0], /^v2/, 'newest push first');
	const r1 = tags.getByRole('row', { name: /v1/ });
	await r1.getByText(d1.slice(0, 19), { exact: true }).waitFor();
	assert.equal(await r1.getByText(d1.slice(0, 19), { exact: true }).getAttribute('title'), d1);
	await tags.getByRole('row', { name: /v2/ }).getByText(d2.slice(0, 19)).waitFor();
	await r1.getByRole('button', { name: 'Copy digest' }).waitFor();
	// who pushed: shown when the server says (the field is being added), else a dash
	const api = (await cove.api('GET', `/v1/registry/tags/${repo}`, owner.token)).items.find((t) => t.tag === 'v1');
	const by = (await r1.locator('td').nth(3).textContent()).trim();
	assert.equal(by, api.pushed_by || '—');
	assert.match(await r1.locator('td').nth(2).textContent(), /\d+ B|KiB/);
	// the pull command names this server and the tag chosen
	const host = new URL(cove.url).host;
	const cmd = page.getByLabel('Pull command');
	assert.equal(await cmd.inputValue(), `podman pull ${host}/${repo}:v2`);
	await page.getByLabel('Tag to pull').selectOption('v1');
	assert.equal(await cmd.inputValue(), `podman pull ${host}/${repo}:v1`);
	await page.getByRole('button', { name: 'Copy command' }).waitFor();
	await checkA11y(page, 'a repository page');
	await shot(page, 'image');
	assertNoProblems(page);
	await page.context().close();
});

test('a maintainer deletes a tag and an image from the portal; a developer cannot; an outsider sees nothing', async () => {
	const owner = await cove.user('own');
	const dev = await cove.user('dev');
	const maint = await cove.user('mnt');
	const outsider = await cove.user('out');
	const proj = await project(owner, { [dev.name]: 'developer', [maint.name]: 'maintainer' });
	const repo = `${proj}/app`;
	const digest = await pushImage(cove, owner.token, repo, 'v1', 'same\n');
	await pushImage(cove, owner.token, repo, 'latest', 'same\n');
	await pushImage(cove, owner.token, repo, 'v2', 'other\n');

	const dp = await newPage(b);
	await login(dp, cove, dev.name, dev.password);
	await dp.goto(`${cove.url}/images/${repo}`);
	await dp.getByRole('table', { name: 'Tags' }).getByRole('row', { name: /v1/ }).waitFor();
	await dp.getByText('Maintainers and owners delete tags and images.').waitFor();
	assert.equal(await dp.getByRole('button', { name: /^Delete/ }).count(), 0);
	assert.equal(await dp.getByLabel('Every tag is immutable').count(), 0);
	assertNoProblems(dp);
	await dp.context().close();

	const op = await newPage(b);
	await login(op, cove, outsider.name, outsider.password);
	await op.goto(`${cove.url}/images/${repo}`);
	await op.getByRole('alert').filter({ hasText: `no repository ${repo} that you may see` }).waitFor();
	await op.goto(`${cove.url}/images`);
	await op.getByText('No images yet.').waitFor();
	assertNoProblems(op);
	await op.context().close();

	const page = await newPage(b);
	await login(page, cove, maint.name, maint.password);
	await page.goto(`${cove.url}/images/${repo}`);
	const tags = page.getByRole('table', { name: 'Tags' });
	await tags.getByRole('button', { name: 'Delete v1' }).click();
	const dlg = page.getByRole('dialog', { name: `Delete ${repo}:v1?` });
	await dlg.getByText('latest').first().waitFor(); // the image's other tag is named
	await checkA11y(page, 'the delete dialog');
	await dlg.getByRole('button', { name: 'Delete tag', exact: true }).click();
	await tags.getByRole('row', { name: /v1/ }).waitFor({ state: 'detached' });
	assert.deepEqual((await tagsOf(owner.token, repo)).sort(), ['latest', 'v2']);
	// by digest: the image goes with every tag on it
	await tags.getByRole('button', { name: 'Delete latest' }).click();
	await page.getByRole('dialog', { name: `Delete ${repo}:latest?` }).getByRole('button', { name: 'Delete image and its tag' }).click();
	await tags.getByRole('row', { name: /latest/ }).waitFor({ state: 'detached' });
	assert.deepEqual(await tagsOf(owner.token, repo), ['v2']);
	const man = await fetch(`${cove.url}/v2/${repo}/manifests/${digest}`, { headers: { Authorization: 'Bearer ' + owner.token } });
	assert.equal(man.status, 404);
	const audit = await cove.api('GET', '/v1/audit?action=registry.delete&limit=100', cove.admin);
	const mine = audit.items.filter((a) => a.actor === maint.name).map((a) => [a.target, a.outcome]);
	assert.deepEqual(mine.sort(), [[`${repo}:v1`, 'success'], [`${repo}@${digest}`, 'success']].sort());
	assertNoProblems(page);
	await page.context().close();
});

test('a project’s robots, tag rules, retention and immutability, by role', async () => {
	const owner = await cove.user('own');
	const guest = await cove.user('gst');
	const proj = await project(owner, { [guest.name]: 'guest' });
	const repo = `${proj}/base`;
	await pushImage(cove, owner.token, repo, 'v1');
	await pushImage(cove, owner.token, repo, 'dev', 'dev\n');
	const page = await newPage(b);
	await login(page, cove, owner.name, owner.password);
	await page.goto(`${cove.url}/images/${proj}`);
	await page.getByRole('heading', { name: `Images of ${proj}` }).waitFor();
	await page.getByRole('table', { name: `Repositories of ${proj}` }).getByRole('link', { name: 'base' }).waitFor();

	// a robot: its secret is shown once, works, and stops working when revoked
	const robots = page.getByRole('region', { name: 'Robot accounts' });
	await robots.getByLabel('Robot name').fill('ci');
	await robots.getByLabel('Role').selectOption('developer');
	await robots.getByLabel('Description').fill('the build');
	await robots.getByRole('button', { name: 'Create robot' }).click();
	const secret = await robots.getByLabel('The robot’s secret').inputValue();
	assert.match(secret, /^cove_robot_/);
	const tokenFor = (pw) => fetch(`${cove.url}/v1/registry/token?service=cove`, {
		headers: { Authorization: 'Basic ' + Buffer.from(`${proj}+ci:${pw}`).toString('base64') },
	});
	assert.equal((await tokenFor(secret)).status, 200);
	await robots.getByRole('button', { name: 'Done' }).click();
	assert.equal(await robots.getByLabel('The robot’s secret').count(), 0);
	await robots.getByRole('cell', { name: `${proj}+ci the build` }).waitFor();
	await robots.getByRole('cell', { name: 'developer' }).waitFor();

	// tag rules: v* cannot move; the repository page shows it
	const rules = page.getByRole('region', { name: 'Immutable tags' });
	await rules.getByLabel('Tags').fill('v*');
	await rules.getByRole('button', { name: 'Add rule' }).click();
	await rules.getByRole('cell', { name: 'v*' }).waitFor();
	const retention = page.getByRole('region', { name: 'Retention' });
	await retention.getByLabel('Keep newest').fill('3');
	await retention.getByLabel('Only older than').fill('30d');
	await retention.getByRole('button', { name: 'Add rule' }).click();
	await retention.getByRole('cell', { name: '30d' }).waitFor();
	const ret = await cove.api('GET', `/v1/projects/${proj}/retention`, owner.token);
	assert.deepEqual(ret.items.map((r) => [r.repository, r.tag, r.keep, r.older_than]), [['**', '*', 3, 30 * 86400]]);
	await page.getByRole('region', { name: 'Garbage collection' }).waitFor();
	await checkA11y(page, 'a project’s registry settings');
	await shot(page, 'images-project');

	await robots.getByRole('button', { name: `Revoke ${proj}+ci` }).click();
	await page.getByRole('dialog', { name: `Revoke robot ${proj}+ci?` }).getByRole('button', { name: 'Revoke' }).click();
	await robots.getByText('No robots.').waitFor();
	assert.equal((await tokenFor(secret)).status, 401);

	await page.goto(`${cove.url}/images/${repo}`);
	const tags = page.getByRole('table', { name: 'Tags' });
	await tags.getByRole('row', { name: /v1/ }).getByText('immutable').waitFor();
	assert.equal(await tags.getByRole('button', { name: 'Delete v1' }).count(), 0);
	await tags.getByRole('button', { name: 'Delete dev' }).waitFor();
	// the repository's own switch: every tag
	await page.getByLabel('Every tag is immutable').check();
	await tags.getByRole('row', { name: /dev/ }).getByText('immutable').waitFor();
	assert.equal(await tags.getByRole('button', { name: /^Delete/ }).count(), 0);
	assert.equal((await cove.api('GET', `/v1/registry/repositories/${repo}`, owner.token)).immutable_tags, true);
	await page.getByLabel('Every tag is immutable').uncheck();
	await tags.getByRole('button', { name: 'Delete dev' }).waitFor();
	assertNoProblems(page);
	await page.context().close();

	// a guest reads the rules but has no forms, and sees no robots
	const gp = await newPage(b);
	await login(gp, cove, guest.name, guest.password);
	await gp.goto(`${cove.url}/images/${proj}`);
	await gp.getByRole('region', { name: 'Immutable tags' }).getByRole('cell', { name: 'v*' }).waitFor();
	assert.equal(await gp.getByRole('region', { name: 'Robot accounts' }).count(), 0);
	assert.equal(await gp.getByRole('button', { name: 'Add rule' }).count(), 0);
	assert.equal(await gp.getByRole('button', { name: /^Remove/ }).count(), 0);
	assert.equal(await gp.getByRole('region', { name: 'Garbage collection' }).count(), 0);
	await checkA11y(gp, 'a project’s registry page as a guest');
	assertNoProblems(gp);
	await gp.context().close();
});

test('the registry pages fit a phone and the dark theme', async () => {
	const owner = await cove.user('own');
	const proj = await project(owner);
	const repo = `${proj}/a-rather-long-repository-name/with/levels`;
	await pushImage(cove, owner.token, repo, '2026.12.01-build.1234');
	const page = await newPage(b, { viewport: { width: 390, height: 844 }, colorScheme: 'dark' });
	await login(page, cove, owner.name, owner.password);
	await page.goto(`${cove.url}/images`);
	await page.getByRole('link', { name: 'a-rather-long-repository-name/with/levels' }).waitFor();
	await assertFitsWidth(page, 'the images page');
	await checkA11y(page, 'the images page, dark, phone');
	await page.goto(`${cove.url}/images/${repo}`);
	await page.getByRole('table', { name: 'Tags' }).getByRole('row', { name: /2026\.12\.01/ }).waitFor();
	await assertFitsWidth(page, 'a repository page');
	await checkA11y(page, 'a repository page, dark, phone');
	await shot(page, 'image-phone-dark');
	await page.goto(`${cove.url}/images/${proj}`);
	await page.getByRole('region', { name: 'Robot accounts' }).waitFor();
	await assertFitsWidth(page, 'a project’s registry page');
	await shot(page, 'images-project-phone-dark');
	assertNoProblems(page);
	await page.context().close();
});
