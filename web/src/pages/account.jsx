// account.jsx - the user's own account: profile and umask, password,
// personal API tokens (shown once at creation) and sessions (end one, or
// every other).
import { useState } from 'preact/hooks';
import { del, get, patch, post } from '../api.js';
import { fullTime, shortTime } from '../format.js';
import { refreshSession } from '../session.js';
import { Confirm, CopyButton, Empty, ErrorBox, PageTitle, Spinner, notify, useLoad, useSubmit } from '../ui.jsx';

function Profile({ user }) {
	const [f, setF] = useState({ email: user.email || '', full_name: user.full_name || '', umask: user.umask || '0022' });
	const [submit, busy, error] = useSubmit(async () => {
		const body = {};
		if (f.email.trim() !== (user.email || '')) body.email = f.email.trim();
		if (f.full_name.trim() !== (user.full_name || '')) body.full_name = f.full_name.trim();
		if (f.umask.trim() !== user.umask) body.umask = f.umask.trim();
		if (!Object.keys(body).length) return notify('Nothing changed');
		await patch('/v1/me', body);
		await refreshSession();
		notify('Profile saved');
	});
	const set = (k) => (e) => setF({ ...f, [k]: e.target.value });
	return (
		<form class="panel" onSubmit={submit} aria-labelledby="prof-h">
			<h2 id="prof-h">Profile</h2>
			<p class="muted">
				User {user.username} (uid {user.uid}), groups: {(user.groups || []).join(', ') || 'none'}
			</p>
			<div class="field">
				<label for="p-name">Full name</label>
				<input id="p-name" autocomplete="name" value={f.full_name} onInput={set('full_name')} />
			</div>
			<div class="field">
				<label for="p-email">Email</label>
				<input id="p-email" type="email" autocomplete="email" value={f.email} onInput={set('email')} />
			</div>
			<div class="field">
				<label for="p-umask">Umask</label>
				<input id="p-umask" class="mono" value={f.umask} onInput={set('umask')} />
				<small class="hint">What new files and folders leave out: 0022 lets others read, 0077 keeps everything private.</small>
			</div>
			<ErrorBox error={error} />
			<button type="submit" class="primary" disabled={busy}>
				Save profile
			</button>
		</form>
	);
}

function Password({ user }) {
	const [f, setF] = useState({ current: '', next: '', again: '' });
	const [submit, busy, error, setError] = useSubmit(async () => {
		if (f.next !== f.again) throw new Error('The two new passwords differ.');
		await post('/v1/me/password', { current_password: f.current, new_password: f.next });
		setF({ current: '', next: '', again: '' });
		notify('Password changed; your other sessions were logged out');
	});
	const set = (k) => (e) => setF({ ...f, [k]: e.target.value });
	if (!user.has_password)
		return (
			<section class="panel">
				<h2>Password</h2>
				<p>This account logs in through single sign-on and has no password here.</p>
			</section>
		);
	return (
		<form class="panel" onSubmit={submit} aria-labelledby="pw-h">
			<h2 id="pw-h">Password</h2>
			<input type="text" autocomplete="username" value={user.username} hidden readOnly />
			<div class="field">
				<label for="pw-cur">Current password</label>
				<input id="pw-cur" type="password" autocomplete="current-password" required value={f.current} onInput={set('current')} />
			</div>
			<div class="field">
				<label for="pw-new">New password</label>
				<input id="pw-new" type="password" autocomplete="new-password" required minLength={8} value={f.next} onInput={set('next')} />
			</div>
			<div class="field">
				<label for="pw-again">New password again</label>
				<input id="pw-again" type="password" autocomplete="new-password" required value={f.again} onInput={set('again')} />
			</div>
			<ErrorBox error={error} />
			<button type="submit" class="primary" disabled={busy}>
				Change password
			</button>
		</form>
	);
}

const TOKEN_EXPIRY = [
	['7d', '7 days'],
	['30d', '30 days'],
	['90d', '90 days'],
	['365d', '1 year'],
	['', 'Never'],
];

function Tokens({ user }) {
	const [tick, setTick] = useState(0);
	const [list, loadErr] = useLoad(() => get('/v1/tokens'), [tick]);
	const [f, setF] = useState({ name: '', read: true, write: true, admin: false, expires: '30d' });
	const [created, setCreated] = useState(null);
	const [revoking, setRevoking] = useState(null);
	const [submit, busy, error] = useSubmit(async () => {
		const scopes = ['read', 'write', 'admin'].filter((s) => f[s]);
		if (!scopes.length) throw new Error('Choose at least one scope.');
		const body = { name: f.name.trim(), scopes };
		if (f.expires) body.expires_in = f.expires;
		const t = await post('/v1/tokens', body);
		setCreated(t);
		setF({ ...f, name: '' });
		setTick(tick + 1);
	});
	return (
		<section class="panel" aria-labelledby="tok-h">
			<h2 id="tok-h">Personal API tokens</h2>
			<p class="muted">
				For scripts, the command line (<code>COVE_TOKEN</code>) and registry clients (<code>podman login -u {user.username}</code> with a token as the password).
			</p>
			<form onSubmit={submit}>
				<div class="inline">
					<div class="field">
						<label for="t-name">Token name</label>
						<input id="t-name" required maxLength={64} value={f.name} onInput={(e) => setF({ ...f, name: e.target.value })} />
					</div>
					<div class="field">
						<label for="t-exp">Expires</label>
						<select id="t-exp" value={f.expires} onChange={(e) => setF({ ...f, expires: e.target.value })}>
							{TOKEN_EXPIRY.map(([v, l]) => (
								<option value={v}>{l}</option>
							))}
						</select>
					</div>
				</div>
				<fieldset>
					<legend>Scopes</legend>
					<label class="check">
						<input type="checkbox" checked={f.read} onChange={(e) => setF({ ...f, read: e.target.checked })} /> read
					</label>
					<label class="check">
						<input type="checkbox" checked={f.write} onChange={(e) => setF({ ...f, write: e.target.checked })} /> write
					</label>
					{user.admin ? (
						<label class="check">
							<input type="checkbox" checked={f.admin} onChange={(e) => setF({ ...f, admin: e.target.checked })} /> admin
						</label>
					) : null}
				</fieldset>
				<ErrorBox error={error} />
				<button type="submit" class="primary" disabled={busy || !f.name.trim()}>
					Create token
				</button>
			</form>
			{created ? (
				<div class="secret" role="status">
					<p>
						<strong>Token {created.name} created.</strong> Copy it now: it is shown only this once.
					</p>
					<div class="copyline">
						<label for="t-secret" class="visually-hidden">The new token</label>
						<input id="t-secret" class="mono" readOnly value={created.token} onFocus={(e) => e.target.select()} />
						<CopyButton text={created.token} />
						<button type="button" onClick={() => setCreated(null)}>
							Done
						</button>
					</div>
				</div>
			) : null}
			<ErrorBox error={loadErr} />
			{!list ? <Spinner /> : list.items.length === 0 ? <Empty>No tokens.</Empty> : (
				<table class="plain">
					<thead>
						<tr>
							<th scope="col">Name</th>
							<th scope="col">Scopes</th>
							<th scope="col">Created</th>
							<th scope="col">Expires</th>
							<th scope="col">Last used</th>
							<th scope="col"><span class="visually-hidden">Actions</span></th>
						</tr>
					</thead>
					<tbody>
						{list.items.map((t) => (
							<tr>
								<td>{t.name}</td>
								<td>{t.scopes.join(', ')}</td>
								<td title={fullTime(t.created_at)}>{shortTime(t.created_at)}</td>
								<td>{t.expires_at ? fullTime(t.expires_at) : 'never'}</td>
								<td>{t.last_used_at ? shortTime(t.last_used_at) : 'never'}</td>
								<td>
									<button type="button" class="danger" onClick={() => setRevoking(t)}>
										Revoke
									</button>
								</td>
							</tr>
						))}
					</tbody>
				</table>
			)}
			{revoking ? (
				<Confirm title={`Revoke token ${revoking.name}?`} message="Scripts using it stop working at once." action="Revoke"
					onClose={() => setRevoking(null)}
					onConfirm={async () => {
						await del(`/v1/tokens/${encodeURIComponent(revoking.id)}`);
						notify(`Token ${revoking.name} revoked`);
						setTick(tick + 1);
					}} />
			) : null}
		</section>
	);
}

function Sessions() {
	const [tick, setTick] = useState(0);
	const [list, loadErr] = useLoad(() => get('/v1/sessions'), [tick]);
	const end = async (s) => {
		try {
			await del(`/v1/sessions/${encodeURIComponent(s.id)}`);
			notify('Session ended');
			setTick(tick + 1);
		} catch (e) {
			notify(e.message, 'error');
		}
	};
	const others = async () => {
		try {
			await del('/v1/sessions');
			notify('Every other session was logged out');
			setTick(tick + 1);
		} catch (e) {
			notify(e.message, 'error');
		}
	};
	return (
		<section class="panel" aria-labelledby="ses-h">
			<h2 id="ses-h">Sessions</h2>
			<ErrorBox error={loadErr} />
			{!list ? <Spinner /> : (
				<>
					<table class="plain">
						<thead>
							<tr>
								<th scope="col">Where</th>
								<th scope="col">From</th>
								<th scope="col">Started</th>
								<th scope="col">Last active</th>
								<th scope="col"><span class="visually-hidden">Actions</span></th>
							</tr>
						</thead>
						<tbody>
							{list.items.map((s) => (
								<tr>
									<td>
										{s.kind === 'browser' ? 'Browser' : 'Command line'}
										{s.current ? <strong> (this one)</strong> : null}
										{s.user_agent ? <div class="small muted trunc" title={s.user_agent}>{s.user_agent}</div> : null}
									</td>
									<td>{s.ip || ''}</td>
									<td title={fullTime(s.created_at)}>{shortTime(s.created_at)}</td>
									<td title={fullTime(s.last_seen_at)}>{shortTime(s.last_seen_at)}</td>
									<td>
										{!s.current ? (
											<button type="button" class="danger" onClick={() => end(s)}>
												Log out
											</button>
										) : null}
									</td>
								</tr>
							))}
						</tbody>
					</table>
					<button type="button" onClick={others} disabled={list.items.length < 2}>
						Log out all other sessions
					</button>
				</>
			)}
		</section>
	);
}

export function AccountPage({ user }) {
	return (
		<section>
			<PageTitle>Account</PageTitle>
			<div class="grid2">
				<Profile user={user} />
				<Password user={user} />
			</div>
			<Tokens user={user} />
			<Sessions />
		</section>
	);
}
