// The account page in Chromium: a personal API token shown once (and then
// never again), used by a script and revoked; the profile and umask; the
// password changed, which logs the other sessions out; the sessions listed
// and "log out all other sessions".
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Cove, assertNoProblems, browser, checkA11y, fsUrl, login, newPage, shot } from './harness.mjs';

let cove, b;
before(async () => {
	cove = await new Cove().start();
	b = await browser();
});
after(async () => {
	await b?.close();
	await cove?.stop();
});

test('a token is shown once, works for a script, and stops working when revoked', async () => {
	const u = await cove.user('tk');
	const page = await newPage(b);
	await login(page, cove, u.name, u.password);
	await page.getByRole('link', { name: u.name, exact: true }).click();
	await page.waitForURL(/\/account$/);
	await page.getByLabel('Token name').fill('nightly');
	await page.getByRole('checkbox', { name: 'write' }).uncheck();
	await page.getByLabel('Expires').selectOption('7d');
	await page.getByRole('button', { name: 'Create token' }).click();
	const secret = await page.getByLabel('The new token').inputValue();
	assert.match(secret, /^cove_pat_/);
	await page.getByRole('button', { name: 'Copy', exact: true }).waitFor();
	await checkA11y(page, 'the account page');
	await shot(page, 'account');
	// a script uses it: reads work, writes do not (read scope only)
	const me = await cove.api('GET', '/v1/me', secret);
	assert.equal(me.username, u.name);
	await assert.rejects(cove.api('POST', fsUrl(`/home/${u.name}/x`), secret, { op: 'mkdir' }), /403/);
	// never shown again: not after "Done", not after a reload
	await page.getByRole('button', { name: 'Done' }).click();
	await page.reload();
	const tokens = page.getByRole('region', { name: 'Personal API tokens' }).or(page.locator('section[aria-labelledby=tok-h]'));
	await tokens.getByRole('cell', { name: 'nightly' }).waitFor();
	assert.equal(await page.getByText(secret).count(), 0);
	assert.equal(await page.locator(`input[value="${secret}"]`).count(), 0);
	assert.ok(!(await page.content()).includes(secret), 'the secret is nowhere in the page');
	// revoked: the script is refused
	await tokens.getByRole('button', { name: 'Revoke' }).click();
	await page.getByRole('dialog', { name: 'Revoke token nightly?' }).getByRole('button', { name: 'Revoke' }).click();
	await page.getByText('Token nightly revoked').waitFor();
	await assert.rejects(cove.api('GET', '/v1/me', secret), /401/);
	assertNoProblems(page);
	await page.context().close();
});

test('the profile and umask are saved; new folders follow the umask', async () => {
	const u = await cove.user('pf');
	const page = await newPage(b);
	await login(page, cove, u.name, u.password);
	await page.goto(cove.url + '/account');
	await page.getByLabel('Full name').fill('Ada Lovelace');
	await page.getByLabel('Umask').fill('0077');
	await page.getByRole('button', { name: 'Save profile' }).click();
	await page.getByText('Profile saved').waitFor();
	const me = await cove.api('GET', '/v1/me', u.token);
	assert.equal(me.full_name, 'Ada Lovelace');
	assert.equal(me.umask, '0077');
	await page.goto(cove.url + `/files/home/${u.name}`);
	await page.getByRole('button', { name: 'New folder' }).click();
	await page.getByLabel('Folder name').fill('private');
	await page.getByRole('dialog').getByRole('button', { name: 'Create' }).click();
	await page.getByRole('row').filter({ hasText: 'private' }).getByText('drwx------').waitFor();
	// a bad umask is the server's clear refusal
	await page.goto(cove.url + '/account');
	await page.getByLabel('Umask').fill('999');
	await page.getByRole('button', { name: 'Save profile' }).click();
	await page.getByRole('alert').filter({ hasText: /umask/i }).waitFor();
	await page.context().close();
});

test('sessions are listed; "log out all other sessions" and a password change end the others', async () => {
	const u = await cove.user('ss');
	const one = await newPage(b);
	await login(one, cove, u.name, u.password);
	const two = await newPage(b);
	await login(two, cove, u.name, u.password);
	const cli = await cove.token(u.name, u.password);
	await one.goto(cove.url + '/account');
	const sessions = one.locator('section[aria-labelledby=ses-h]');
	await sessions.getByText('(this one)').waitFor();
	assert.equal(await sessions.getByRole('row').filter({ hasText: 'Browser' }).count(), 2);
	assert.ok((await sessions.getByRole('row').filter({ hasText: 'Command line' }).count()) >= 1);
	await sessions.getByRole('button', { name: 'Log out all other sessions' }).click();
	await one.getByText('Every other session was logged out').waitFor();
	await assert.rejects(cove.api('GET', '/v1/me', cli), /401/);
	// the other browser finds itself logged out at its next step
	await two.reload();
	await two.waitForURL(/\/login/);
	// a password change keeps this session and ends any other
	const three = await newPage(b);
	await login(three, cove, u.name, u.password);
	await one.getByLabel('Current password').fill(u.password);
	await one.getByLabel('New password', { exact: true }).fill('Brand-new-pass-2026!');
	await one.getByLabel('New password again').fill('Brand-new-pass-2026!');
	await one.getByRole('button', { name: 'Change password' }).click();
	await one.getByText(/Password changed/).waitFor();
	await three.reload();
	await three.waitForURL(/\/login/);
	await one.reload();
	await one.getByRole('heading', { name: 'Account' }).waitFor();
	assertNoProblems(one);
	for (const p of [one, two, three]) await p.context().close();
});
