// login.jsx - logging in (username and password, or a single sign-on
// provider when the server has one) and registering.
import { useEffect, useState } from 'preact/hooks';
import { ApiError, get, post } from '../api.js';
import { navigate, safeNext } from '../router.js';
import { homeOf, setSession } from '../session.js';
import { ErrorBox, useLoad } from '../ui.jsx';

function Brand() {
	return (
		<div class="public-brand">
			<span class="logo" aria-hidden="true" />
			<span>cove</span>
		</div>
	);
}

export function LoginPage({ query }) {
	const [username, setUsername] = useState('');
	const [password, setPassword] = useState('');
	const [busy, setBusy] = useState(false);
	const [error, setError] = useState(null);
	const [wait, setWait] = useState(0);
	const [options] = useLoad(() => get('/v1/auth/options'), []);
	useEffect(() => {
		document.title = 'Log in · cove';
	}, []);
	// the lockout's countdown
	useEffect(() => {
		if (wait <= 0) return;
		const t = setTimeout(() => setWait(wait - 1), 1000);
		return () => clearTimeout(t);
	}, [wait]);
	const submit = async (e) => {
		e.preventDefault();
		setBusy(true);
		setError(null);
		try {
			const s = await post('/v1/auth/session', { username: username.trim(), password }, { quiet401: true });
			setSession(s);
			navigate(safeNext(query.get('next'), homeOf(s.user)), { replace: true });
		} catch (err) {
			if (err instanceof ApiError && err.status === 429) setWait(err.retryAfter || 60);
			setError(err);
			setBusy(false);
		}
	};
	let message = error ? error.message : null;
	if (error instanceof ApiError && error.status === 429) message = wait > 0 ? `Too many failed logins: try again in ${wait} s.` : 'You may try again now.';
	if (error instanceof ApiError && error.status === 401) message = 'Wrong username or password.';
	return (
		<section class="card narrow">
			<Brand />
			<h1>Log in</h1>
			{/* password login switched off (single sign-on only): no form */}
			{options && options.password_login === false ? null : (
			<form onSubmit={submit}>
				<div class="field">
					<label for="username">Username</label>
					<input id="username" name="username" autocomplete="username" autocapitalize="none" spellcheck={false} required
						value={username} onInput={(e) => setUsername(e.target.value)} />
				</div>
				<div class="field">
					<label for="password">Password</label>
					<input id="password" name="password" type="password" autocomplete="current-password" required
						value={password} onInput={(e) => setPassword(e.target.value)} />
				</div>
				{message ? <div class="error" role="alert">{message}</div> : null}
				<button type="submit" class="primary wide" disabled={busy || wait > 0}>
					{busy ? 'Logging in…' : 'Log in'}
				</button>
			</form>
			)}
			{options && options.providers && options.providers.length ? (
				<div class="providers">
					{options.password_login === false ? null : <p class="or">or</p>}
					{options.providers.map((p) => (
						<a class="button wide" href={`${p.start || `/v1/auth/oidc/${encodeURIComponent(p.id)}/start`}?return=${encodeURIComponent(safeNext(query.get('next'), '/'))}`} data-native>
							Log in with {p.name}
						</a>
					))}
				</div>
			) : null}
			{options && options.registration ? (
				<p class="below">
					New here? <a href="/register">Create an account</a>
				</p>
			) : null}
		</section>
	);
}

export function RegisterPage() {
	const [f, setF] = useState({ username: '', email: '', full_name: '', password: '', confirm: '' });
	const [busy, setBusy] = useState(false);
	const [error, setError] = useState(null);
	const [options, optError] = useLoad(() => get('/v1/auth/options'), []);
	useEffect(() => {
		document.title = 'Create an account · cove';
	}, []);
	const set = (k) => (e) => setF({ ...f, [k]: e.target.value });
	const submit = async (e) => {
		e.preventDefault();
		if (f.password !== f.confirm) {
			setError(new Error('The two passwords differ.'));
			return;
		}
		setBusy(true);
		setError(null);
		try {
			const body = { username: f.username.trim(), email: f.email.trim(), password: f.password };
			if (f.full_name.trim()) body.full_name = f.full_name.trim();
			await post('/v1/auth/register', body, { quiet401: true });
			const s = await post('/v1/auth/session', { username: body.username, password: f.password }, { quiet401: true });
			setSession(s);
			navigate(homeOf(s.user), { replace: true });
		} catch (err) {
			setError(err);
			setBusy(false);
		}
	};
	if (options && !options.registration)
		return (
			<section class="card narrow">
				<Brand />
				<h1>Registration is closed</h1>
				<p>Ask an administrator of this cove for an account.</p>
				<p class="below"><a href="/login">Log in</a></p>
			</section>
		);
	return (
		<section class="card narrow">
			<Brand />
			<h1>Create an account</h1>
			<ErrorBox error={optError} />
			<form onSubmit={submit}>
				<div class="field">
					<label for="r-username">Username</label>
					<input id="r-username" autocomplete="username" autocapitalize="none" spellcheck={false} required value={f.username} onInput={set('username')} />
					<small class="hint">Lower-case letters, digits, - and _; it names your home folder.</small>
				</div>
				<div class="field">
					<label for="r-email">Email</label>
					<input id="r-email" type="email" autocomplete="email" required value={f.email} onInput={set('email')} />
				</div>
				<div class="field">
					<label for="r-name">Full name (optional)</label>
					<input id="r-name" autocomplete="name" value={f.full_name} onInput={set('full_name')} />
				</div>
				<div class="field">
					<label for="r-password">Password</label>
					<input id="r-password" type="password" autocomplete="new-password" required minLength={8} value={f.password} onInput={set('password')} />
					<small class="hint">At least 8 characters, mixing letters, digits and others.</small>
				</div>
				<div class="field">
					<label for="r-confirm">Password again</label>
					<input id="r-confirm" type="password" autocomplete="new-password" required value={f.confirm} onInput={set('confirm')} />
				</div>
				<ErrorBox error={error} />
				<button type="submit" class="primary wide" disabled={busy}>
					{busy ? 'Creating…' : 'Create account'}
				</button>
			</form>
			<p class="below">
				Have an account? <a href="/login">Log in</a>
			</p>
		</section>
	);
}
