// provider.mjs - a real OpenID Provider (node-oidc-provider) for cove's
// single sign-on tests, on a loopback port.
//
//   PORT=0 CLIENTS='[...]' ACCOUNTS='{...}' node provider.mjs
//
// Prints one line "READY <issuer>" when it listens. ACCOUNTS maps a login
// name to {password, claims}; the claims (groups, preferred_username,
// email, ...) go into the ID token (conformIdTokenClaims: false). Its own
// login page: GET /interaction/<uid> shows a form with "login" and
// "password"; consent is granted at once. Device flow (RFC 8628) and
// RP-initiated logout are on; PKCE is required. POST /test/accounts/<id>
// replaces an account's claims; POST /test/rotate makes a
// new signing key the current one (key rotation tests). Never for
// anything but tests.
import http from 'node:http';
import crypto from 'node:crypto';
import Provider from 'oidc-provider';

const accounts = JSON.parse(process.env.ACCOUNTS || '{}');
const clients = JSON.parse(process.env.CLIENTS || '[]');

function newKey(kid) {
	const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
	return { ...privateKey.export({ format: 'jwk' }), kid, use: 'sig', alg: 'RS256' };
}

let keys = [newKey('k1')];
let provider;
let issuer;

function build() {
	const p = new Provider(issuer, {
		clients,
		jwks: { keys },
		pkce: { required: () => true },
		conformIdTokenClaims: false,
		cookies: { keys: ['cove-test-cookie-key'] },
		claims: {
			openid: ['sub'],
			profile: ['preferred_username', 'name', 'groups', 'eduperson_entitlement'],
			email: ['email', 'email_verified'],
		},
		features: {
			devInteractions: { enabled: false },
			deviceFlow: { enabled: true },
			rpInitiatedLogout: { enabled: true },
		},
		interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
		async findAccount(ctx, id) {
			const a = accounts[id];
			if (!a) return undefined;
			return { accountId: id, async claims() { return { sub: id, ...a.claims }; } };
		},
		ttl: { AccessToken: 600, AuthorizationCode: 60, DeviceCode: 600, IdToken: 600, Interaction: 600, Session: 3600, Grant: 3600 },
	});
	p.on('server_error', (ctx, err) => console.error('server_error', err));
	return p;
}

function form(req) {
	return new Promise((resolve) => {
		let s = '';
		req.on('data', (d) => { s += d; });
		req.on('end', () => resolve(Object.fromEntries(new URLSearchParams(s))));
	});
}

function page(res, body) {
	res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
	res.end(`<!doctype html><html><head><title>Test provider</title></head><body>${body}</body></html>`);
}

async function interaction(req, res, uid, action) {
	const details = await provider.interactionDetails(req, res);
	if (details.prompt.name === 'login') {
		if (action === 'login' && req.method === 'POST') {
			const f = await form(req);
			const a = accounts[f.login];
			if (!a || a.password !== f.password) {
				return page(res, `<p id="error">wrong login or password</p>${loginForm(uid)}`);
			}
			return provider.interactionFinished(req, res, { login: { accountId: f.login } },
				{ mergeWithLastSubmission: false });
		}
		return page(res, loginForm(uid));
	}
	// consent: granted at once
	const { prompt: { details: d }, params, session } = details;
	let grant = details.grantId ? await provider.Grant.find(details.grantId)
		: new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
	if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
	if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
	if (d.missingResourceScopes) {
		for (const [ind, sc] of Object.entries(d.missingResourceScopes)) grant.addResourceScope(ind, sc.join(' '));
	}
	const grantId = await grant.save();
	return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
}

function loginForm(uid) {
	return `<h1>Sign in to the test provider</h1>
<form method="post" action="/interaction/${uid}/login">
<label>Login <input name="login" autocomplete="username"></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button type="submit">Sign in</button></form>`;
}

const server = http.createServer(async (req, res) => {
	try {
		const m = req.url.match(/^\/interaction\/([^/?]+)(?:\/(login))?/);
		if (m) return await interaction(req, res, m[1], m[2]);
		const acc = req.url.match(/^\/test\/accounts\/([^/?]+)$/);
		if (req.method === 'POST' && acc) {
			// replace an account's claims (deprovisioning tests)
			let s = '';
			for await (const d of req) s += d;
			accounts[decodeURIComponent(acc[1])].claims = JSON.parse(s);
			res.writeHead(204);
			return res.end();
		}
		if (req.method === 'POST' && req.url === '/test/rotate') {
			keys = [newKey('k' + (keys.length + 1) + '-' + Date.now()), ...keys];
			const old = provider;
			provider = build();
			old.removeAllListeners();
			res.writeHead(200, { 'content-type': 'application/json' });
			return res.end(JSON.stringify({ kid: keys[0].kid }));
		}
		return provider.callback()(req, res);
	} catch (err) {
		console.error(err);
		res.writeHead(500);
		res.end(String(err));
	}
});

server.listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
	issuer = `http://127.0.0.1:${server.address().port}`;
	provider = build();
	console.log(`READY ${issuer}`);
});
