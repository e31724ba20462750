// Single sign-on in Chromium: the login page's "Log in with EGI Check-in"
// button, the real provider's own login form (tests/oidc/provider.mjs),
// and back in the portal as the provisioned user, whose home exists.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cove, ROOT, assertNoProblems, browser, freePort, fsUrl, newPage, shot } from './harness.mjs';

let cove, b, provider;
const SECRET = 'browser-test-secret';

before(async () => {
	const pport = await freePort();
	const issuer = `http://127.0.0.1:${pport}`;
	const secretFile = join(ROOT, 'build', 'browser-sso-secret');
	writeFileSync(secretFile, SECRET + '\n');
	cove = await new Cove({
		args: ['--oidc-issuer', issuer, '--oidc-client-id', 'cove', '--oidc-client-secret-file', secretFile,
			'--oidc-name', 'EGI Check-in', '--oidc-project-groups', '^lab-'],
	}).start();
	const clients = [{
		client_id: 'cove', client_secret: SECRET, response_types: ['code'], grant_types: ['authorization_code'],
		redirect_uris: [`${cove.url}/v1/auth/oidc/egi-check-in/callback`],
		post_logout_redirect_uris: [`${cove.url}/`],
	}];
	const accounts = { 'grace-id': { password: 'grace-pw', claims: { preferred_username: 'grace', groups: ['lab-g'] } } };
	provider = spawn('node', [join(ROOT, 'tests/oidc/provider.mjs')], {
		env: { ...process.env, PORT: String(pport), CLIENTS: JSON.stringify(clients), ACCOUNTS: JSON.stringify(accounts) },
		stdio: ['ignore', 'pipe', 'inherit'],
	});
	await new Promise((res, rej) => {
		provider.stdout.on('data', (d) => { if (String(d).includes('READY')) res(); });
		provider.on('exit', () => rej(new Error('provider exited')));
	});
	b = await browser();
});

after(async () => {
	await b?.close();
	provider?.kill();
	await cove?.stop();
});

test('log in with the provider and land in the portal as the provisioned user', async () => {
	const page = await newPage(b);
	await page.goto(cove.url + '/login');
	await page.getByRole('link', { name: 'Log in with EGI Check-in', exact: true }).click();
	await page.getByLabel('Login').fill('grace-id');
	await page.getByLabel('Password').fill('grace-pw');
	await page.getByRole('button', { name: 'Sign in' }).click();
	await page.waitForURL((u) => u.toString().startsWith(cove.url) && !u.pathname.startsWith('/login'));
	const me = await page.evaluate(async () => (await fetch('/v1/me')).json());
	assert.equal(me.username, 'grace');
	assert.deepEqual(me.projects.map((p) => p.name), ['lab-g']);
	const home = await cove.api('GET', fsUrl('/home/grace') + '?stat=true', cove.admin);
	assert.ok(home);
	await shot(page, 'sso-landed');
	assertNoProblems(page);
});
