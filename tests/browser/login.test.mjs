// Logging in and out of the portal in Chromium: the login page, wrong
// passwords and the lockout's countdown, registration, the session cookie
// (HttpOnly, SameSite=Strict, gone after logout), the page's headers,
// returning to the page asked for, and administration hidden from others.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN_PASSWORD, Cove, assertNoProblems, browser, checkA11y, login, newPage, shot } from './harness.mjs';

let cove, b;
before(async () => {
	cove = await new Cove({ args: ['--login-max-failures', '3'] }).start();
	b = await browser();
});
after(async () => {
	await b?.close();
	await cove?.stop();
});

test('GET / leads to the login page, which is labelled and accessible', async () => {
	const page = await newPage(b);
	const res = await page.goto(cove.url + '/');
	assert.match(res.headers()['content-type'], /^text\/html/);
	const csp = res.headers()['content-security-policy'];
	const scriptSrc = csp.split(';').find((d) => d.trim().startsWith('script-src'));
	assert.ok(scriptSrc && !scriptSrc.includes("'unsafe-inline'") && !scriptSrc.includes("'unsafe-eval'"), csp);
	assert.match(csp, /frame-ancestors 'none'/);
	assert.equal(res.headers()['x-content-type-options'], 'nosniff');
	assert.ok(res.headers()['referrer-policy']);
	await page.waitForURL(/\/login$/);
	await page.getByLabel('Username').waitFor();
	await page.getByLabel('Password').waitFor();
	await page.getByRole('button', { name: 'Log in' }).waitFor();
	await checkA11y(page, 'the login page');
	await shot(page, 'login');
	assertNoProblems(page);
	await page.context().close();
});

test('a login sets a strict HttpOnly cookie, lands in the home folder, and logout removes it', async () => {
	const u = await cove.user('li');
	const page = await newPage(b);
	await login(page, cove, u.name, u.password);
	assert.equal(new URL(page.url()).pathname, `/files/home/${u.name}`);
	const cookies = await page.context().cookies();
	const c = cookies.find((x) => x.name === 'cove_session');
	assert.ok(c, 'the session cookie is set');
	assert.equal(c.httpOnly, true);
	assert.equal(c.sameSite, 'Strict');
	// scripts of the page cannot read it, and nothing is kept in storage
	assert.equal(await page.evaluate(() => document.cookie), '');
	assert.equal(await page.evaluate(() => localStorage.length + sessionStorage.length), 0);
	const me = await page.evaluate(async () => (await fetch('/v1/me')).json());
	assert.equal(me.username, u.name);
	await page.getByRole('button', { name: 'Log out' }).click();
	await page.waitForURL(/\/login/);
	const left = (await page.context().cookies()).find((x) => x.name === 'cove_session');
	assert.equal(left, undefined, 'the cookie is gone after logout');
	// the session ended on the server too: the old cookie no longer works
	const r = await fetch(cove.url + '/v1/me', { headers: { Cookie: `cove_session=${c.value}` } });
	assert.equal(r.status, 401);
	assertNoProblems(page);
	await page.context().close();
});

test('a wrong password says so; the lockout counts down', async () => {
	const u = await cove.user('lk');
	const page = await newPage(b);
	await page.goto(cove.url + '/login');
	await page.getByLabel('Username').fill(u.name);
	await page.getByLabel('Password').fill('not-the-password');
	await page.getByRole('button', { name: 'Log in' }).click();
	await page.getByRole('alert').filter({ hasText: 'Wrong username or password' }).waitFor();
	for (let i = 0; i < 2; i++) await page.getByRole('button', { name: 'Log in' }).click().then(() => page.waitForTimeout(300));
	await page.getByRole('button', { name: 'Log in' }).click();
	const alert = page.getByRole('alert').filter({ hasText: /try again in \d+ s/ });
	await alert.waitFor();
	const first = Number((await alert.textContent()).match(/in (\d+) s/)[1]);
	await page.waitForTimeout(2200);
	const later = Number((await alert.textContent()).match(/in (\d+) s/)[1]);
	assert.ok(later < first, `the countdown moves: ${first} then ${later}`);
	assert.equal(await page.getByRole('button', { name: 'Log in' }).isDisabled(), true);
	await page.context().close();
});

test('registration creates an account and logs it in; closed registration says so', async () => {
	const page = await newPage(b);
	await page.goto(cove.url + '/login');
	await page.getByRole('link', { name: 'Create an account' }).click();
	await page.waitForURL(/\/register$/);
	const name = 'reg' + Date.now() % 100000;
	await page.getByLabel('Username').fill(name);
	await page.getByLabel('Email').fill(`${name}@example.org`);
	await page.getByLabel('Password', { exact: true }).fill('Register-pass-2026!');
	await page.getByLabel('Password again').fill('Register-pass-2026!');
	await checkA11y(page, 'the registration page');
	await page.getByRole('button', { name: 'Create account' }).click();
	await page.waitForURL(new RegExp(`/files/home/${name}$`));
	await page.context().close();

	await cove.api('PATCH', '/v1/settings', cove.admin, { registration: false });
	const p2 = await newPage(b);
	await p2.goto(cove.url + '/register');
	await p2.getByRole('heading', { name: 'Registration is closed' }).waitFor();
	await p2.goto(cove.url + '/login');
	await p2.getByRole('button', { name: 'Log in' }).waitFor();
	assert.equal(await p2.getByRole('link', { name: 'Create an account' }).count(), 0);
	await cove.api('PATCH', '/v1/settings', cove.admin, { registration: true });
	await p2.context().close();
});

test('a page asked for before logging in is shown after; other sites are not', async () => {
	const u = await cove.user('nx');
	const page = await newPage(b);
	await page.goto(cove.url + `/jobs`);
	await page.waitForURL(/\/login\?next=%2Fjobs/);
	await page.getByLabel('Username').fill(u.name);
	await page.getByLabel('Password').fill(u.password);
	await page.getByRole('button', { name: 'Log in' }).click();
	await page.waitForURL(/\/jobs$/);
	await page.getByRole('button', { name: 'Log out' }).click();
	await page.waitForURL(/\/login/);
	// an open redirect through ?next= goes home instead
	for (const evil of ['//evil.example/x', 'https://evil.example/', '/\\evil.example']) {
		await page.goto(cove.url + '/login?next=' + encodeURIComponent(evil));
		await page.getByLabel('Username').fill(u.name);
		await page.getByLabel('Password').fill(u.password);
		await page.getByRole('button', { name: 'Log in' }).click();
		await page.waitForURL((x) => !x.pathname.startsWith('/login'));
		const url = new URL(page.url());
		assert.equal(url.origin, cove.url);
		assert.equal(url.pathname, `/files/home/${u.name}`);
		await page.getByRole('button', { name: 'Log out' }).click();
		await page.waitForURL(/\/login/);
	}
	await page.context().close();
});

test('administration is absent for a non-admin, and the API refuses it', async () => {
	const u = await cove.user('na');
	const page = await newPage(b);
	await login(page, cove, u.name, u.password);
	assert.equal(await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Admin', exact: true }).count(), 0);
	await page.goto(cove.url + '/admin');
	await page.getByRole('heading', { name: 'Administrators only' }).waitFor();
	const status = await page.evaluate(async () => (await fetch('/v1/users')).status);
	assert.equal(status, 403);
	await page.context().close();

	const admin = await newPage(b);
	await login(admin, cove, 'admin', ADMIN_PASSWORD);
	await admin.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Admin', exact: true }).waitFor();
	await admin.context().close();
});

test('the portal works from the keyboard, with the focus always visible', async () => {
	const u = await cove.user('kb');
	await cove.api('POST', `/v1/fs/home/${u.name}/reports`, u.token, { op: 'mkdir' });
	const page = await newPage(b);
	await page.goto(cove.url + '/login');
	await page.getByLabel('Username').waitFor();
	// the login form from the keyboard alone
	await page.keyboard.press('Tab');
	assert.equal(await page.evaluate(() => document.activeElement.id), 'username');
	await page.keyboard.type(u.name);
	await page.keyboard.press('Tab');
	await page.keyboard.type(u.password);
	await page.keyboard.press('Enter');
	await page.waitForURL(new RegExp(`/files/home/${u.name}$`));
	// after a page change the focus is on the new page's content
	await page.waitForFunction(() => document.activeElement && document.activeElement.id === 'main');
	// on a fresh load the first stop is "Skip to content"
	await page.reload();
	await page.getByRole('link', { name: 'reports' }).waitFor();
	await page.keyboard.press('Tab');
	assert.equal(await page.evaluate(() => document.activeElement.textContent.trim()), 'Skip to content');
	// every control reached by Tab shows where the focus is
	const seen = [];
	for (let i = 0; i < 40; i++) {
		await page.keyboard.press('Tab');
		const f = await page.evaluate(() => {
			let el = document.activeElement;
			if (el === document.body) return null; // past the last control
			const text = (el.textContent || el.getAttribute('aria-label') || '').trim().slice(0, 30);
			// a file picker's input is hidden inside its label, which shows the focus
			if (el.classList.contains('visually-hidden') && el.closest('label')) el = el.closest('label');
			const cs = getComputedStyle(el);
			return { tag: el.tagName, text, outline: cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) >= 2 };
		});
		if (!f) break;
		seen.push(f);
		assert.ok(f.outline, `the focus is visible on ${f.tag} "${f.text}"`);
	}
	assert.ok(seen.length >= 12, `${seen.length} controls reached by Tab`);
	assert.ok(seen.some((f) => f.text === 'reports'), 'the folder is reached by Tab');
	// Enter on the folder's link opens it; Escape closes a dialog
	await page.getByRole('link', { name: 'reports' }).focus();
	await page.keyboard.press('Enter');
	await page.waitForURL(/\/reports$/);
	await page.getByRole('button', { name: 'New folder' }).focus();
	await page.keyboard.press('Enter');
	await page.getByRole('dialog', { name: 'New folder' }).waitFor();
	assert.equal(await page.evaluate(() => document.activeElement.id), 'mk-name');
	await page.keyboard.press('Escape');
	await page.getByRole('dialog').waitFor({ state: 'detached' });
	assertNoProblems(page);
	await page.context().close();
});
