// admin.jsx - administration, for administrators only (the shell hides it
// from others, and every route here refuses them anyway): a dashboard of the
// platform's state, users (search, add, lock, quota, groups, delete), groups,
// every project, volumes, queues and applications, settings, the audit log
// with filters, and the registry's garbage collection. One sub-page per URL
// segment (/admin/<section>); filters live in the URL.
import { useState } from 'preact/hooks';
import { api, del, get, getAll, patch, post } from '../api.js';
import { duration, durationText, fullTime, humanSize, parseDuration, parseSize, shortTime, sizeText } from '../format.js';
import { navigate } from '../router.js';
import { Confirm, ConfirmDelete, Dialog, Empty, ErrorBox, PageTitle, Spinner, UsageBar, notify, useLoad, useSubmit } from '../ui.jsx';
import { projectHref } from './projects.jsx';
import { GcPanel } from './images.jsx';

const enc = encodeURIComponent;

const SECTIONS = [
	['dashboard', 'Dashboard'],
	['users', 'Users'],
	['groups', 'Groups'],
	['projects', 'Projects'],
	['volumes', 'Volumes'],
	['queues', 'Queues and applications'],
	['settings', 'Settings'],
	['audit', 'Audit log'],
	['registry', 'Registry'],
];

const sectionHref = (id) => (id === 'dashboard' ? '/admin' : `/admin/${id}`);

// Comma- or space-separated names -> array
const names = (s) => s.split(/[\s,]+/).map((x) => x.trim()).filter(Boolean);

function SubNav({ section }) {
	return (
		<nav class="subnav" aria-label="Administration">
			{SECTIONS.map(([id, label]) => (
				<a href={sectionHref(id)} aria-current={id === section ? 'page' : undefined}>
					{label}
				</a>
			))}
		</nav>
	);
}

function Badge({ tone, children }) {
	return <span class={`badge tone-${tone}`}>{children}</span>;
}

const STATE_TONE = { active: 'ok', locked: 'bad', disabled: 'muted' };

// ---- dashboard ------------------------------------------------------------------------

function Stat({ label, value, sub, href }) {
	const v = value === undefined || value === null ? '—' : value;
	return (
		<div class="stat">
			<div class="v">{href ? <a href={href}>{v}</a> : v}</div>
			<div class="k">{label}</div>
			{sub ? <div class="small muted">{sub}</div> : null}
		</div>
	);
}

function Dashboard() {
	const [o, error, loading, reload] = useLoad(() => get('/v1/admin/overview'), []);
	if (error)
		return (
			<section aria-labelledby="dash-h">
				<h2 id="dash-h">Overview</h2>
				<ErrorBox error={error} />
				<button type="button" onClick={reload}>
					Try again
				</button>
			</section>
		);
	if (!o) return <Spinner label="Loading the overview…" />;
	const u = o.users || {};
	const j = o.jobs || {};
	const st = o.storage || {};
	const rg = o.registry || {};
	const h = o.health || {};
	return (
		<section aria-labelledby="dash-h">
			<h2 id="dash-h" class="visually-hidden">
				Overview
			</h2>
			<div class="stats">
				<Stat label="Users" value={u.total} href="/admin/users"
					sub={`${u.active ?? 0} active · ${u.locked ?? 0} locked · ${u.disabled ?? 0} disabled · ${u.admins ?? 0} admins`} />
				<Stat label="Projects" value={o.projects} href="/admin/projects" />
				<Stat label="Jobs running" value={j.running} href="/jobs?state=running" />
				<Stat label="Jobs queued" value={j.queued} href="/jobs?state=queued" />
				<Stat label="Stored files" value={st.blob_bytes !== undefined ? humanSize(st.blob_bytes) : undefined} />
				<Stat label="Image repositories" value={rg.repositories} sub={rg.bytes !== undefined ? humanSize(rg.bytes) : null} />
				<Stat label="Database" value={h.database || '—'} />
				<Stat label="Up for" value={o.uptime_s !== undefined ? duration(o.uptime_s) : undefined} sub={`version ${o.version || '?'}${o.started_at ? ` · since ${fullTime(o.started_at)}` : ''}`} />
			</div>
			<div class="grid2">
				<section class="panel" aria-labelledby="dq-h">
					<h2 id="dq-h">Queues</h2>
					{(j.queues || []).length ? (
						<table class="plain" aria-labelledby="dq-h">
							<thead>
								<tr>
									<th scope="col">Queue</th>
									<th scope="col" class="num">Queued</th>
									<th scope="col" class="num">Starting</th>
									<th scope="col" class="num">Running</th>
								</tr>
							</thead>
							<tbody>
								{j.queues.map((q) => (
									<tr>
										<td>
											<a href={`/jobs?queue=${enc(q.name)}`}>{q.name}</a>
										</td>
										<td class="num">{q.queued}</td>
										<td class="num">{q.starting}</td>
										<td class="num">{q.running}</td>
									</tr>
								))}
							</tbody>
						</table>
					) : (
						<Empty>No queues.</Empty>
					)}
				</section>
				<section class="panel" aria-labelledby="dv-h">
					<h2 id="dv-h">Volumes</h2>
					{(st.volumes || []).length ? (
						st.volumes.map((v) => <UsageBar label={v.name} used={v.used} limit={v.capacity} />)
					) : (
						<Empty>No volumes.</Empty>
					)}
				</section>
			</div>
			{loading ? <p class="small muted">Refreshing…</p> : null}
		</section>
	);
}

// ---- users ---------------------------------------------------------------------------

function AddUser({ onClose, onDone }) {
	const [f, setF] = useState({ username: '', email: '', full_name: '', password: '', admin: false });
	const [submit, busy, error] = useSubmit(async () => {
		const body = { username: f.username.trim() };
		if (f.email.trim()) body.email = f.email.trim();
		if (f.full_name.trim()) body.full_name = f.full_name.trim();
		if (f.password) body.password = f.password;
		if (f.admin) body.admin = true;
		const u = await post('/v1/users', body);
		notify(`User ${u.username} added`);
		onDone();
		onClose();
	});
	const set = (k) => (e) => setF({ ...f, [k]: e.target.type === 'checkbox' ? e.target.checked : e.target.value });
	return (
		<Dialog title="Add a user" onClose={onClose}>
			<form onSubmit={submit}>
				<div class="field">
					<label for="au-name">Username</label>
					<input id="au-name" required autoFocus spellcheck={false} autocomplete="off" value={f.username} onInput={set('username')} />
				</div>
				<div class="field">
					<label for="au-email">Email</label>
					<input id="au-email" type="email" autocomplete="off" value={f.email} onInput={set('email')} />
				</div>
				<div class="field">
					<label for="au-full">Full name</label>
					<input id="au-full" autocomplete="off" value={f.full_name} onInput={set('full_name')} />
				</div>
				<div class="field">
					<label for="au-pw">Password</label>
					<input id="au-pw" type="password" autocomplete="new-password" value={f.password} onInput={set('password')} />
					<small class="hint">Empty: no password (single sign-on only, or set one later).</small>
				</div>
				<label class="check">
					<input type="checkbox" checked={f.admin} onChange={set('admin')} /> Administrator
				</label>
				<ErrorBox error={error} />
				<div class="actions">
					<button type="button" onClick={onClose}>
						Cancel
					</button>
					<button type="submit" class="primary" disabled={busy || !f.username.trim()}>
						Add user
					</button>
				</div>
			</form>
		</Dialog>
	);
}

function UserGroups({ user, onChanged }) {
	const [groups] = useLoad(() => getAll('/v1/groups'), []);
	const [pick, setPick] = useState('');
	const [error, setError] = useState(null);
	const plain = (groups || []).filter((g) => g.kind === 'group');
	const mine = plain.filter((g) => (user.groups || []).includes(g.name));
	const others = plain.filter((g) => !(user.groups || []).includes(g.name));
	const change = async (method, g) => {
		setError(null);
		try {
			await api(method, `/v1/groups/${enc(g)}/members/${enc(user.username)}`);
			notify(method === 'PUT' ? `${user.username} added to ${g}` : `${user.username} removed from ${g}`);
			setPick('');
			onChanged();
		} catch (e) {
			setError(e);
		}
	};
	return (
		<fieldset>
			<legend>Groups</legend>
			{!groups ? (
				<Spinner />
			) : (
				<>
					{mine.length ? (
						<ul class="chips">
							{mine.map((g) => (
								<li>
									{g.name}
									<button type="button" class="link" onClick={() => change('DELETE', g.name)}>
										Remove<span class="visually-hidden"> from {g.name}</span>
									</button>
								</li>
							))}
						</ul>
					) : (
						<p class="muted small">In no shared group.</p>
					)}
					{others.length ? (
						<div class="inline">
							<div class="field">
								<label for="ug-add">Add to group</label>
								<select id="ug-add" value={pick} onChange={(e) => setPick(e.target.value)}>
									<option value="">choose…</option>
									{others.map((g) => (
										<option value={g.name}>{g.name}</option>
									))}
								</select>
							</div>
							<button type="button" disabled={!pick} onClick={() => change('PUT', pick)}>
								Add
							</button>
						</div>
					) : null}
					<small class="hint">Project groups follow project membership; change those on the project’s page.</small>
				</>
			)}
			<ErrorBox error={error} />
		</fieldset>
	);
}

function EditUser({ user: initial, me, onClose, onChanged }) {
	const [u, setU] = useState(initial);
	const [f, setF] = useState({
		email: initial.email || '',
		full_name: initial.full_name || '',
		state: initial.state,
		admin: !!initial.admin,
		quota: sizeText(initial.quota_storage_bytes),
		password: '',
	});
	const [deleting, setDeleting] = useState(false);
	const [submit, busy, error] = useSubmit(async () => {
		const body = {};
		if (f.email.trim() !== (u.email || '')) body.email = f.email.trim();
		if (f.full_name.trim() !== (u.full_name || '')) body.full_name = f.full_name.trim();
		if (f.state !== u.state) body.state = f.state;
		if (f.admin !== !!u.admin) body.admin = f.admin;
		if (f.password) body.password = f.password;
		const q = f.quota.trim() ? parseSize(f.quota) : 0;
		if (q === null) throw new Error('Storage quota must be a size such as 100G or 1.5T (empty: no limit).');
		if (q !== (u.quota_storage_bytes || 0)) body.quota_storage_bytes = q;
		if (!Object.keys(body).length) return notify('Nothing changed');
		const next = await patch(`/v1/users/${enc(u.username)}`, body);
		setU(next);
		setF({ ...f, password: '' });
		notify(`User ${u.username} saved`);
		onChanged();
	});
	const set = (k) => (e) => setF({ ...f, [k]: e.target.type === 'checkbox' ? e.target.checked : e.target.value });
	const self = u.username === me.username;
	const reloadUser = async () => {
		try {
			setU(await get(`/v1/users/${enc(u.username)}`));
		} catch {
			/* shown by the next save */
		}
		onChanged();
	};
	return (
		<Dialog title={`User ${u.username}`} onClose={onClose} wide>
			<p class="muted">
				uid {u.uid} · created {fullTime(u.created_at)} · {u.has_password ? 'has a password' : 'no password'}
			</p>
			<form onSubmit={submit}>
				<div class="form-grid">
					<div class="field">
						<label for="eu-email">Email</label>
						<input id="eu-email" type="email" value={f.email} onInput={set('email')} />
					</div>
					<div class="field">
						<label for="eu-full">Full name</label>
						<input id="eu-full" value={f.full_name} onInput={set('full_name')} />
					</div>
					<div class="field">
						<label for="eu-state">State</label>
						<select id="eu-state" value={f.state} onChange={set('state')} disabled={self}>
							<option value="active">active</option>
							<option value="locked">locked (cannot log in)</option>
							<option value="disabled">disabled</option>
						</select>
					</div>
					<div class="field">
						<label for="eu-quota">Storage quota</label>
						<input id="eu-quota" placeholder="no limit" value={f.quota} onInput={set('quota')} />
						<small class="hint">Like 100G or 1.5T; empty for none.</small>
					</div>
					<div class="field">
						<label for="eu-pw">New password</label>
						<input id="eu-pw" type="password" autocomplete="new-password" value={f.password} onInput={set('password')} />
						<small class="hint">Empty: unchanged.</small>
					</div>
				</div>
				<label class="check">
					<input type="checkbox" checked={f.admin} onChange={set('admin')} disabled={self} /> Administrator
				</label>
				<ErrorBox error={error} />
				<div class="actions left">
					<button type="submit" class="primary" disabled={busy}>
						Save changes
					</button>
				</div>
			</form>
			<UserGroups user={u} onChanged={reloadUser} />
			<div class="actions">
				<button type="button" class="danger" disabled={self} onClick={() => setDeleting(true)}>
					Delete user
				</button>
				<button type="button" onClick={onClose}>
					Close
				</button>
			</div>
			{deleting ? (
				<Confirm
					title={`Delete user ${u.username}?`}
					message="The account, its tokens and sessions go. Its home folder must be empty; cove says so if it is not."
					action="Delete user"
					onClose={() => setDeleting(false)}
					onConfirm={async () => {
						await del(`/v1/users/${enc(u.username)}`);
						notify(`User ${u.username} deleted`);
						onChanged();
						onClose();
					}}
				/>
			) : null}
		</Dialog>
	);
}

function Users({ query, me }) {
	const q = query.get('q') || '';
	const [text, setText] = useState(q);
	const [extra, setExtra] = useState({ q: null, items: [], next: undefined });
	const [tick, setTick] = useState(0);
	const [page, error, loading] = useLoad(() => get(`/v1/users?limit=50${q ? '&q=' + enc(q) : ''}`), [q, tick]);
	const [adding, setAdding] = useState(false);
	const [editing, setEditing] = useState(null);
	const [moreErr, setMoreErr] = useState(null);
	const [rowErr, setRowErr] = useState(null);
	const more = extra.q === q ? extra : { q, items: [], next: undefined };
	const next = more.next !== undefined ? more.next : page && page.next_cursor;
	const items = page ? page.items.concat(more.items.filter((x) => !page.items.some((y) => y.uid === x.uid))) : [];
	const reload = () => {
		setExtra({ q: null, items: [], next: undefined });
		setTick((t) => t + 1);
	};
	const loadMore = async () => {
		setMoreErr(null);
		try {
			const p = await get(`/v1/users?limit=50${q ? '&q=' + enc(q) : ''}&cursor=${enc(next)}`);
			setExtra({ q, items: more.items.concat(p.items), next: p.next_cursor });
		} catch (e) {
			setMoreErr(e);
		}
	};
	const search = (e) => {
		e.preventDefault();
		navigate('/admin/users' + (text.trim() ? '?q=' + enc(text.trim()) : ''), { replace: true });
	};
	const setState = async (u, state) => {
		setRowErr(null);
		try {
			await patch(`/v1/users/${enc(u.username)}`, { state });
			notify(state === 'locked' ? `${u.username} is locked out` : `${u.username} may log in again`);
			reload();
		} catch (e) {
			setRowErr(e);
		}
	};
	return (
		<section aria-labelledby="users-h">
			<div class="section-head">
				<h2 id="users-h">Users</h2>
				<button type="button" class="primary" onClick={() => setAdding(true)}>
					Add user
				</button>
			</div>
			<form role="search" class="inline search" onSubmit={search} aria-label="Search users">
				<div class="field grow">
					<label for="us-q">Search users</label>
					<input id="us-q" type="search" placeholder="part of a username, name or email" value={text} onInput={(e) => setText(e.target.value)} />
				</div>
				<button type="submit">Search</button>
				{q ? (
					<button type="button" onClick={() => { setText(''); navigate('/admin/users', { replace: true }); }}>
						Clear
					</button>
				) : null}
			</form>
			<ErrorBox error={error || rowErr} />
			{loading && !page ? <Spinner label="Loading users…" /> : null}
			{page && !items.length ? <Empty>{q ? `No user matches “${q}”.` : 'No users.'}</Empty> : null}
			{items.length ? (
				<div class="scroll-x">
					<table class="listing" aria-label={q ? `Users matching ${q}` : 'Users'}>
						<thead>
							<tr>
								<th scope="col">User</th>
								<th scope="col" class="hide-s">Email</th>
								<th scope="col">State</th>
								<th scope="col" class="hide-m">Storage quota</th>
								<th scope="col" class="hide-m">Created</th>
								<th scope="col">
									<span class="visually-hidden">Actions</span>
								</th>
							</tr>
						</thead>
						<tbody>
							{items.map((u) => (
								<tr key={u.uid}>
									<td class="name">
										<strong>{u.username}</strong>
										{u.admin ? <Badge tone="accent">admin</Badge> : null}
										{u.full_name ? <div class="small muted">{u.full_name}</div> : null}
									</td>
									<td class="hide-s trunc">{u.email || <span class="muted">—</span>}</td>
									<td>
										<Badge tone={STATE_TONE[u.state] || 'muted'}>{u.state}</Badge>
									</td>
									<td class="hide-m">{u.quota_storage_bytes ? humanSize(u.quota_storage_bytes) : 'no limit'}</td>
									<td class="hide-m" title={fullTime(u.created_at)}>
										{shortTime(u.created_at)}
									</td>
									<td class="row-actions">
										{u.username !== me.username ? (
											u.state === 'locked' ? (
												<button type="button" onClick={() => setState(u, 'active')}>
													Unlock<span class="visually-hidden"> {u.username}</span>
												</button>
											) : (
												<button type="button" onClick={() => setState(u, 'locked')}>
													Lock<span class="visually-hidden"> {u.username}</span>
												</button>
											)
										) : null}
										<button type="button" onClick={() => setEditing(u)}>
											Edit<span class="visually-hidden"> {u.username}</span>
										</button>
									</td>
								</tr>
							))}
						</tbody>
					</table>
				</div>
			) : null}
			<ErrorBox error={moreErr} />
			{next ? (
				<button type="button" onClick={loadMore}>
					Show more users
				</button>
			) : null}
			{adding ? <AddUser onClose={() => setAdding(false)} onDone={reload} /> : null}
			{editing ? <EditUser user={editing} me={me} onClose={() => setEditing(null)} onChanged={reload} /> : null}
		</section>
	);
}

// ---- groups --------------------------------------------------------------------------

function GroupMembers({ group, onClose, onChanged }) {
	const [g, setG] = useState(group);
	const [who, setWho] = useState('');
	const [error, setError] = useState(null);
	const change = async (method, user) => {
		setError(null);
		try {
			await api(method, `/v1/groups/${enc(g.name)}/members/${enc(user)}`);
			setG(await get(`/v1/groups/${enc(g.name)}`));
			if (method === 'PUT') setWho('');
			onChanged();
		} catch (e) {
			setError(e);
		}
	};
	return (
		<Dialog title={`Members of ${g.name}`} onClose={onClose}>
			{g.members.length ? (
				<ul class="chips">
					{g.members.map((m) => (
						<li>
							{m}
							<button type="button" class="link" onClick={() => change('DELETE', m)}>
								Remove<span class="visually-hidden"> {m}</span>
							</button>
						</li>
					))}
				</ul>
			) : (
				<p class="muted">No members.</p>
			)}
			<form
				onSubmit={(e) => {
					e.preventDefault();
					if (who.trim()) change('PUT', who.trim());
				}}
			>
				<div class="inline">
					<div class="field grow">
						<label for="gm-user">Add a member</label>
						<input id="gm-user" autoFocus spellcheck={false} autocomplete="off" placeholder="username" value={who} onInput={(e) => setWho(e.target.value)} />
					</div>
					<button type="submit" class="primary" disabled={!who.trim()}>
						Add
					</button>
				</div>
			</form>
			<ErrorBox error={error} />
			<div class="actions">
				<button type="button" onClick={onClose}>
					Done
				</button>
			</div>
		</Dialog>
	);
}

function Groups() {
	const [list, error, loading, reload] = useLoad(() => getAll('/v1/groups'), []);
	const [all, setAll] = useState(false);
	const [f, setF] = useState({ name: '', members: '' });
	const [managing, setManaging] = useState(null);
	const [deleting, setDeleting] = useState(null);
	const [submit, busy, createErr] = useSubmit(async () => {
		const body = { name: f.name.trim() };
		if (f.members.trim()) body.members = names(f.members);
		await post('/v1/groups', body);
		notify(`Group ${body.name} created`);
		setF({ name: '', members: '' });
		reload();
	});
	const shown = (list || []).filter((g) => all || g.kind === 'group');
	return (
		<section aria-labelledby="groups-h">
			<h2 id="groups-h">Groups</h2>
			<form class="panel" onSubmit={submit} aria-labelledby="ng-h">
				<h3 id="ng-h">New group</h3>
				<div class="inline">
					<div class="field">
						<label for="ng-name">Group name</label>
						<input id="ng-name" required spellcheck={false} autocomplete="off" value={f.name} onInput={(e) => setF({ ...f, name: e.target.value })} />
					</div>
					<div class="field grow">
						<label for="ng-members">Members</label>
						<input id="ng-members" spellcheck={false} autocomplete="off" placeholder="alice, bob" value={f.members} onInput={(e) => setF({ ...f, members: e.target.value })} />
					</div>
					<button type="submit" class="primary" disabled={busy || !f.name.trim()}>
						Create group
					</button>
				</div>
				<ErrorBox error={createErr} />
			</form>
			<label class="check">
				<input type="checkbox" checked={all} onChange={(e) => setAll(e.target.checked)} /> Also show personal and project groups
			</label>
			<ErrorBox error={error} />
			{loading && !list ? <Spinner label="Loading groups…" /> : null}
			{list && !shown.length ? <Empty>No shared groups yet.</Empty> : null}
			{shown.length ? (
				<div class="scroll-x">
					<table class="listing" aria-label="Groups">
						<thead>
							<tr>
								<th scope="col">Group</th>
								<th scope="col" class="num hide-s">GID</th>
								<th scope="col" class="hide-s">Kind</th>
								<th scope="col">Members</th>
								<th scope="col">
									<span class="visually-hidden">Actions</span>
								</th>
							</tr>
						</thead>
						<tbody>
							{shown.map((g) => (
								<tr key={g.gid}>
									<td class="name">{g.kind === 'project' ? <a href={projectHref(g.name)}>{g.name}</a> : g.name}</td>
									<td class="num hide-s">{g.gid}</td>
									<td class="hide-s">{g.kind}</td>
									<td class="trunc" title={g.members.join(', ')}>
										{g.members.length ? g.members.join(', ') : <span class="muted">none</span>}
									</td>
									<td class="row-actions">
										{g.kind === 'group' ? (
											<>
												<button type="button" onClick={() => setManaging(g)}>
													Members<span class="visually-hidden"> of {g.name}</span>
												</button>
												<button type="button" class="danger" onClick={() => setDeleting(g)}>
													Delete<span class="visually-hidden"> {g.name}</span>
												</button>
											</>
										) : null}
									</td>
								</tr>
							))}
						</tbody>
					</table>
				</div>
			) : null}
			{managing ? <GroupMembers group={managing} onClose={() => setManaging(null)} onChanged={reload} /> : null}
			{deleting ? (
				<ConfirmDelete
					title={`Delete group ${deleting.name}?`}
					message="Files owned by the group keep its number as their group."
					action="Delete group"
					url={`/v1/groups/${enc(deleting.name)}`}
					done={`Group ${deleting.name} deleted`}
					onClose={() => setDeleting(null)}
					onDone={reload}
				/>
			) : null}
		</section>
	);
}

// ---- projects ------------------------------------------------------------------------

function Projects() {
	const [list, error, loading] = useLoad(() => getAll('/v1/projects'), []);
	return (
		<section aria-labelledby="ap-h">
			<div class="section-head">
				<h2 id="ap-h">Every project</h2>
				<a class="button" href="/projects">
					Projects page
				</a>
			</div>
			<ErrorBox error={error} />
			{loading && !list ? <Spinner label="Loading projects…" /> : null}
			{list && !list.length ? <Empty>No projects.</Empty> : null}
			{list && list.length ? (
				<div class="scroll-x">
					<table class="listing" aria-label="Every project">
						<thead>
							<tr>
								<th scope="col">Project</th>
								<th scope="col" class="hide-s">Owners</th>
								<th scope="col" class="num">Members</th>
								<th scope="col" class="hide-m">Storage quota</th>
								<th scope="col" class="hide-m">Created</th>
							</tr>
						</thead>
						<tbody>
							{list.map((p) => (
								<tr key={p.name}>
									<td class="name">
										<a href={projectHref(p.name)}>{p.name}</a>
										{p.description ? <div class="small muted trunc">{p.description}</div> : null}
									</td>
									<td class="hide-s">{(p.members || []).filter((m) => m.role === 'owner').map((m) => m.username).join(', ')}</td>
									<td class="num">{(p.members || []).length}</td>
									<td class="hide-m">{p.quota && p.quota.storage_bytes ? humanSize(p.quota.storage_bytes) : 'no limit'}</td>
									<td class="hide-m" title={fullTime(p.created_at)}>
										{shortTime(p.created_at)}
									</td>
								</tr>
							))}
						</tbody>
					</table>
				</div>
			) : null}
		</section>
	);
}

// ---- volumes -------------------------------------------------------------------------

function sizeOrNone(v, what) {
	if (!v.trim()) return 0;
	const n = parseSize(v);
	if (n === null) throw new Error(`${what} must be a size such as 500G or 2T (empty: no limit).`);
	return n;
}

// used of capacity (0: none) as a bar named after the volume
function Capacity({ name, used, capacity }) {
	const pct = capacity > 0 ? Math.min(100, (100 * used) / capacity) : 0;
	return (
		<div class="usage">
			<div class="usage-label">
				<span>
					{humanSize(used)}
					{capacity > 0 ? ` of ${humanSize(capacity)}` : ' (no limit)'}
				</span>
			</div>
			{capacity > 0 ? <progress max="100" value={pct} aria-label={`${name}: ${pct.toFixed(0)}% used`} class={pct > 90 ? 'full' : ''} /> : null}
		</div>
	);
}

function VolumeCapacity({ volume, onClose, onDone }) {
	const [cap, setCap] = useState(sizeText(volume.capacity_bytes));
	const [submit, busy, error] = useSubmit(async () => {
		await patch(`/v1/volumes/${enc(volume.name)}`, { capacity_bytes: sizeOrNone(cap, 'Capacity') });
		notify(`Capacity of ${volume.name} changed`);
		onDone();
		onClose();
	});
	return (
		<Dialog title={`Capacity of ${volume.name}`} onClose={onClose}>
			<form onSubmit={submit}>
				<div class="field">
					<label for="vc-cap">Capacity</label>
					<input id="vc-cap" autoFocus placeholder="no limit" value={cap} onInput={(e) => setCap(e.target.value)} />
					<small class="hint">Like 500G or 2T; empty for no limit. {humanSize(volume.used_bytes)} are used now.</small>
				</div>
				<ErrorBox error={error} />
				<div class="actions">
					<button type="button" onClick={onClose}>
						Cancel
					</button>
					<button type="submit" class="primary" disabled={busy}>
						Save capacity
					</button>
				</div>
			</form>
		</Dialog>
	);
}

function Volumes() {
	const [list, error, loading, reload] = useLoad(() => getAll('/v1/volumes'), []);
	const [f, setF] = useState({ name: '', capacity: '', group: '' });
	const [changing, setChanging] = useState(null);
	const [deleting, setDeleting] = useState(null);
	const [submit, busy, createErr] = useSubmit(async () => {
		const body = { name: f.name.trim() };
		const cap = sizeOrNone(f.capacity, 'Capacity');
		if (cap) body.capacity_bytes = cap;
		if (f.group.trim()) body.group = f.group.trim();
		await post('/v1/volumes', body);
		notify(`Volume ${body.name} created`);
		setF({ name: '', capacity: '', group: '' });
		reload();
	});
	const set = (k) => (e) => setF({ ...f, [k]: e.target.value });
	return (
		<section aria-labelledby="vol-h">
			<h2 id="vol-h">Volumes</h2>
			<p class="muted">Shared space under /volumes/NAME with a capacity of its own, for a group or for everyone.</p>
			<form class="panel" onSubmit={submit} aria-labelledby="nv-h">
				<h3 id="nv-h">New volume</h3>
				<div class="inline">
					<div class="field">
						<label for="nv-name">Volume name</label>
						<input id="nv-name" required spellcheck={false} autocomplete="off" value={f.name} onInput={set('name')} />
					</div>
					<div class="field narrow">
						<label for="nv-cap">Capacity</label>
						<input id="nv-cap" placeholder="e.g. 1T" value={f.capacity} onInput={set('capacity')} />
					</div>
					<div class="field">
						<label for="nv-group">Group</label>
						<input id="nv-group" spellcheck={false} autocomplete="off" placeholder="optional" value={f.group} onInput={set('group')} />
					</div>
					<button type="submit" class="primary" disabled={busy || !f.name.trim()}>
						Create volume
					</button>
				</div>
				<small class="hint">Capacity empty: no limit. With a group, the volume’s folder belongs to it.</small>
				<ErrorBox error={createErr} />
			</form>
			<ErrorBox error={error} />
			{loading && !list ? <Spinner label="Loading volumes…" /> : null}
			{list && !list.length ? <Empty>No volumes yet.</Empty> : null}
			{list && list.length ? (
				<div class="scroll-x">
					<table class="listing" aria-label="Volumes">
						<thead>
							<tr>
								<th scope="col">Volume</th>
								<th scope="col" class="usage-col">Used</th>
								<th scope="col" class="hide-m">Created</th>
								<th scope="col">
									<span class="visually-hidden">Actions</span>
								</th>
							</tr>
						</thead>
						<tbody>
							{list.map((v) => (
								<tr key={v.name}>
									<td class="name">
										<a href={`/files${v.path.split('/').map(enc).join('/')}`}>{v.name}</a>
									</td>
									<td class="usage-col">
										<Capacity name={v.name} used={v.used_bytes} capacity={v.capacity_bytes} />
									</td>
									<td class="hide-m" title={fullTime(v.created_at)}>
										{shortTime(v.created_at)}
									</td>
									<td class="row-actions">
										<button type="button" onClick={() => setChanging(v)}>
											Capacity<span class="visually-hidden"> of {v.name}</span>
										</button>
										<button type="button" class="danger" onClick={() => setDeleting(v)}>
											Delete<span class="visually-hidden"> {v.name}</span>
										</button>
									</td>
								</tr>
							))}
						</tbody>
					</table>
				</div>
			) : null}
			{changing ? <VolumeCapacity volume={changing} onClose={() => setChanging(null)} onDone={reload} /> : null}
			{deleting ? (
				<ConfirmDelete
					title={`Delete volume ${deleting.name}?`}
					message="Only an empty volume can be deleted; cove says so if it is not."
					action="Delete volume"
					url={`/v1/volumes/${enc(deleting.name)}`}
					done={`Volume ${deleting.name} deleted`}
					onClose={() => setDeleting(null)}
					onDone={reload}
				/>
			) : null}
		</section>
	);
}

// ---- queues and applications ------------------------------------------------------------

const limitsText = (l) => (l ? `${l.cpu} CPU · ${humanSize(l.memory)} · ${duration(l.time)}` : '');

function QueueDialog({ queue, onClose, onDone }) {
	const q = queue || {};
	const d = q.default || {};
	const m = q.max || {};
	const [f, setF] = useState({
		name: q.name || '',
		description: q.description || '',
		users: (q.users || []).join(', '),
		groups: (q.groups || []).join(', '),
		dcpu: d.cpu !== undefined ? String(d.cpu) : '',
		dmem: sizeText(d.memory),
		dtime: durationText(d.time),
		mcpu: m.cpu !== undefined ? String(m.cpu) : '',
		mmem: sizeText(m.memory),
		mtime: durationText(m.time),
		max_running: q.max_running ? String(q.max_running) : '',
		network: !!q.network,
		retries: q.retries !== undefined ? String(q.retries) : '1',
		priority: q.priority ? String(q.priority) : '0',
	});
	const [submit, busy, error] = useSubmit(async () => {
		const limits = (cpu, mem, time, what) => {
			const o = {};
			if (cpu.trim()) {
				const c = Number(cpu);
				if (!(c > 0)) throw new Error(`${what} CPUs must be a number above 0, like 1 or 0.5.`);
				o.cpu = c;
			}
			if (mem.trim()) {
				const n = parseSize(mem);
				if (!n) throw new Error(`${what} memory must be a size such as 2G.`);
				o.memory = n;
			}
			if (time.trim()) {
				const s = parseDuration(time);
				if (!s) throw new Error(`${what} time must be a duration such as 90m, 2h or 7d.`);
				o.time = s;
			}
			return o;
		};
		const int = (v, what) => {
			if (!/^-?\d+$/.test(v.trim())) throw new Error(`${what} must be a whole number.`);
			return parseInt(v, 10);
		};
		const body = {
			description: f.description.trim(),
			users: names(f.users),
			groups: names(f.groups),
		};
		// only what was given: a lower maximum alone lowers the defaults with it
		const dflt = limits(f.dcpu, f.dmem, f.dtime, 'Default');
		const max = limits(f.mcpu, f.mmem, f.mtime, 'Maximum');
		if (Object.keys(dflt).length) body.default = dflt;
		if (Object.keys(max).length) body.max = max;
		Object.assign(body, {
			max_running: f.max_running.trim() ? int(f.max_running, 'Running jobs at most') : 0,
			network: f.network,
			retries: int(f.retries || '0', 'Retries'),
			priority: int(f.priority || '0', 'Priority'),
		});
		if (queue) await patch(`/v1/queues/${enc(queue.name)}`, body);
		else await post('/v1/queues', { name: f.name.trim(), ...body });
		notify(queue ? `Queue ${queue.name} saved` : `Queue ${f.name.trim()} created`);
		onDone();
		onClose();
	});
	const set = (k) => (e) => setF({ ...f, [k]: e.target.type === 'checkbox' ? e.target.checked : e.target.value });
	return (
		<Dialog title={queue ? `Queue ${queue.name}` : 'New queue'} onClose={onClose} wide>
			<form onSubmit={submit}>
				<div class="form-grid">
					{!queue ? (
						<div class="field">
							<label for="qd-name">Queue name</label>
							<input id="qd-name" required autoFocus spellcheck={false} autocomplete="off" value={f.name} onInput={set('name')} />
						</div>
					) : null}
					<div class="field span2">
						<label for="qd-desc">Description</label>
						<input id="qd-desc" value={f.description} onInput={set('description')} />
					</div>
				</div>
				<fieldset>
					<legend>Who may submit</legend>
					<div class="form-grid">
						<div class="field">
							<label for="qd-users">Users</label>
							<input id="qd-users" spellcheck={false} placeholder="alice, bob" value={f.users} onInput={set('users')} />
						</div>
						<div class="field">
							<label for="qd-groups">Groups</label>
							<input id="qd-groups" spellcheck={false} placeholder="physics" value={f.groups} onInput={set('groups')} />
						</div>
					</div>
					<small class="hint">Both empty: everyone.</small>
				</fieldset>
				<fieldset>
					<legend>Resources of a job</legend>
					<div class="form-grid limits">
						<span />
						<span class="label">CPUs</span>
						<span class="label">Memory</span>
						<span class="label">Time</span>
						<span class="label">Default</span>
						<input aria-label="Default CPUs" inputMode="decimal" value={f.dcpu} onInput={set('dcpu')} />
						<input aria-label="Default memory" placeholder="1G" value={f.dmem} onInput={set('dmem')} />
						<input aria-label="Default time" placeholder="1h" value={f.dtime} onInput={set('dtime')} />
						<span class="label">Maximum</span>
						<input aria-label="Maximum CPUs" inputMode="decimal" value={f.mcpu} onInput={set('mcpu')} />
						<input aria-label="Maximum memory" placeholder="16G" value={f.mmem} onInput={set('mmem')} />
						<input aria-label="Maximum time" placeholder="7d" value={f.mtime} onInput={set('mtime')} />
					</div>
					<small class="hint">Empty: unchanged (a new queue: cove’s defaults, and the machine’s size as the maximum).</small>
				</fieldset>
				<div class="form-grid">
					<div class="field">
						<label for="qd-run">Running jobs at most</label>
						<input id="qd-run" inputMode="numeric" placeholder="no limit" value={f.max_running} onInput={set('max_running')} />
					</div>
					<div class="field">
						<label for="qd-retries">Retries of a lost job</label>
						<input id="qd-retries" inputMode="numeric" value={f.retries} onInput={set('retries')} />
					</div>
					<div class="field">
						<label for="qd-prio">Priority</label>
						<input id="qd-prio" inputMode="numeric" value={f.priority} onInput={set('priority')} />
						<small class="hint">Higher runs first (−1000 to 1000).</small>
					</div>
				</div>
				<label class="check">
					<input type="checkbox" checked={f.network} onChange={set('network')} /> Jobs may use the network
				</label>
				<ErrorBox error={error} />
				<div class="actions">
					<button type="button" onClick={onClose}>
						Cancel
					</button>
					<button type="submit" class="primary" disabled={busy || (!queue && !f.name.trim())}>
						{queue ? 'Save queue' : 'Create queue'}
					</button>
				</div>
			</form>
		</Dialog>
	);
}

function AppDialog({ app, onClose, onDone }) {
	const a = app || {};
	const [f, setF] = useState({
		name: a.name || '',
		version: a.version || '',
		description: a.description || '',
		input: a.input || 'script',
		command: (a.command || []).join('\n'),
		env: Object.entries(a.env || {}).map(([k, v]) => `${k}=${v}`).join('\n'),
	});
	const [submit, busy, error] = useSubmit(async () => {
		const command = f.command.split('\n').map((x) => x.trim()).filter(Boolean);
		if (!command.length) throw new Error('Give the command, one argument a line, for instance /usr/bin/python3 then {script}.');
		const env = {};
		for (const line of f.env.split('\n').map((x) => x.trim()).filter(Boolean)) {
			const i = line.indexOf('=');
			if (i <= 0) throw new Error(`Environment lines are NAME=value, not “${line}”.`);
			env[line.slice(0, i)] = line.slice(i + 1);
		}
		const name = (app ? app.name : f.name).trim();
		const body = { version: f.version.trim(), description: f.description.trim(), input: f.input, command, env };
		// a new name is created (409 when taken), an existing one replaced
		if (app) await api('PUT', `/v1/apps/${enc(name)}`, { json: body });
		else await post('/v1/apps', { name, ...body });
		notify(app ? `Application ${name} replaced` : `Application ${name} added`);
		onDone();
		onClose();
	});
	const set = (k) => (e) => setF({ ...f, [k]: e.target.value });
	return (
		<Dialog title={app ? `Application ${app.name}` : 'New application'} onClose={onClose} wide>
			<form onSubmit={submit}>
				<div class="form-grid">
					{!app ? (
						<div class="field">
							<label for="ad-name">Application name</label>
							<input id="ad-name" required autoFocus spellcheck={false} autocomplete="off" value={f.name} onInput={set('name')} />
						</div>
					) : null}
					<div class="field">
						<label for="ad-ver">Version</label>
						<input id="ad-ver" value={f.version} onInput={set('version')} />
					</div>
					<div class="field">
						<label for="ad-input">Input</label>
						<select id="ad-input" value={f.input} onChange={set('input')}>
							<option value="script">a script ({'{script}'} in the command)</option>
							<option value="args">arguments (appended to the command)</option>
						</select>
					</div>
				</div>
				<div class="field">
					<label for="ad-desc">Description</label>
					<input id="ad-desc" value={f.description} onInput={set('description')} />
				</div>
				<div class="field">
					<label for="ad-cmd">Command, one argument a line</label>
					<textarea id="ad-cmd" class="mono" rows={4} spellcheck={false} required value={f.command} onInput={set('command')} />
					<small class="hint">{'{script}'} is the job’s script file; {'{input}'}, {'{inputs}'} and {'{output}'} are replaced as in scripts.</small>
				</div>
				<div class="field">
					<label for="ad-env">Environment, NAME=value a line</label>
					<textarea id="ad-env" class="mono" rows={3} spellcheck={false} value={f.env} onInput={set('env')} />
				</div>
				<ErrorBox error={error} />
				<div class="actions">
					<button type="button" onClick={onClose}>
						Cancel
					</button>
					<button type="submit" class="primary" disabled={busy || (!app && !f.name.trim())}>
						{app ? 'Replace application' : 'Add application'}
					</button>
				</div>
			</form>
		</Dialog>
	);
}

function QueuesAndApps() {
	const [queues, qErr, qLoading, reloadQ] = useLoad(() => get('/v1/queues'), []);
	const [apps, aErr, aLoading, reloadA] = useLoad(() => get('/v1/apps'), []);
	const [dialog, setDialog] = useState(null);
	return (
		<>
			<section aria-labelledby="qs-h">
				<div class="section-head">
					<h2 id="qs-h">Queues</h2>
					<button type="button" class="primary" onClick={() => setDialog({ kind: 'queue' })}>
						New queue
					</button>
				</div>
				<ErrorBox error={qErr} />
				{qLoading && !queues ? <Spinner label="Loading queues…" /> : null}
				{queues ? (
					<div class="scroll-x">
						<table class="listing" aria-label="Queues">
							<thead>
								<tr>
									<th scope="col">Queue</th>
									<th scope="col" class="hide-m">Default</th>
									<th scope="col" class="hide-s">Maximum</th>
									<th scope="col" class="hide-m">Open to</th>
									<th scope="col" class="hide-s">Network</th>
									<th scope="col" class="num hide-m">Priority</th>
									<th scope="col" class="num">Running</th>
									<th scope="col">
										<span class="visually-hidden">Actions</span>
									</th>
								</tr>
							</thead>
							<tbody>
								{queues.items.map((q) => (
									<tr key={q.name}>
										<td class="name">
											<strong>{q.name}</strong>
											{q.description ? <div class="small muted">{q.description}</div> : null}
										</td>
										<td class="hide-m">{limitsText(q.default)}</td>
										<td class="hide-s">{limitsText(q.max)}</td>
										<td class="hide-m trunc">{q.users.length || q.groups.length ? [...q.users, ...q.groups.map((g) => `group ${g}`)].join(', ') : 'everyone'}</td>
										<td class="hide-s">{q.network ? 'yes' : 'no'}</td>
										<td class="num hide-m">{q.priority}</td>
										<td class="num">
											{q.running}
											{q.max_running ? ` / ${q.max_running}` : ''}
										</td>
										<td class="row-actions">
											<button type="button" onClick={() => setDialog({ kind: 'queue', item: q })}>
												Edit<span class="visually-hidden"> queue {q.name}</span>
											</button>
											{q.name !== 'default' ? (
												<button type="button" class="danger" onClick={() => setDialog({ kind: 'delete-queue', item: q })}>
													Delete<span class="visually-hidden"> queue {q.name}</span>
												</button>
											) : null}
										</td>
									</tr>
								))}
							</tbody>
						</table>
					</div>
				) : null}
			</section>
			<section aria-labelledby="apps-h">
				<div class="section-head">
					<h2 id="apps-h">Applications</h2>
					<button type="button" class="primary" onClick={() => setDialog({ kind: 'app' })}>
						New application
					</button>
				</div>
				<p class="muted">Built-in applications come with cove and cannot be changed here.</p>
				<ErrorBox error={aErr} />
				{aLoading && !apps ? <Spinner label="Loading applications…" /> : null}
				{apps ? (
					<div class="scroll-x">
						<table class="listing" aria-label="Applications">
							<thead>
								<tr>
									<th scope="col">Application</th>
									<th scope="col" class="hide-s">Command</th>
									<th scope="col" class="hide-m">Input</th>
									<th scope="col">
										<span class="visually-hidden">Actions</span>
									</th>
								</tr>
							</thead>
							<tbody>
								{apps.items.map((a) => (
									<tr key={a.name}>
										<td class="name">
											<strong>{a.name}</strong> <span class="muted small">{a.version}</span>
											{a.builtin ? <Badge tone="muted">built-in</Badge> : null}
											{a.description ? <div class="small muted">{a.description}</div> : null}
										</td>
										<td class="hide-s mono small trunc" title={a.command.join(' ')}>
											{a.command.join(' ')}
										</td>
										<td class="hide-m">{a.input}</td>
										<td class="row-actions">
											{!a.builtin ? (
												<>
													<button type="button" onClick={() => setDialog({ kind: 'app', item: a })}>
														Edit<span class="visually-hidden"> application {a.name}</span>
													</button>
													<button type="button" class="danger" onClick={() => setDialog({ kind: 'delete-app', item: a })}>
														Delete<span class="visually-hidden"> application {a.name}</span>
													</button>
												</>
											) : null}
										</td>
									</tr>
								))}
							</tbody>
						</table>
					</div>
				) : null}
			</section>
			{dialog && dialog.kind === 'queue' ? <QueueDialog queue={dialog.item} onClose={() => setDialog(null)} onDone={reloadQ} /> : null}
			{dialog && dialog.kind === 'app' ? <AppDialog app={dialog.item} onClose={() => setDialog(null)} onDone={reloadA} /> : null}
			{dialog && dialog.kind === 'delete-queue' ? (
				<ConfirmDelete
					title={`Delete queue ${dialog.item.name}?`}
					message="Only a queue without queued or running jobs can be deleted."
					action="Delete queue"
					url={`/v1/queues/${enc(dialog.item.name)}`}
					done={`Queue ${dialog.item.name} deleted`}
					onClose={() => setDialog(null)}
					onDone={reloadQ}
				/>
			) : null}
			{dialog && dialog.kind === 'delete-app' ? (
				<ConfirmDelete
					title={`Delete application ${dialog.item.name}?`}
					message="Jobs that ran it keep their records; new jobs cannot choose it."
					action="Delete application"
					url={`/v1/apps/${enc(dialog.item.name)}`}
					done={`Application ${dialog.item.name} deleted`}
					onClose={() => setDialog(null)}
					onDone={reloadA}
				/>
			) : null}
		</>
	);
}

// ---- settings ------------------------------------------------------------------------

function Settings() {
	const [s, error, loading, reload] = useLoad(() => get('/v1/settings'), []);
	const [reg, setReg] = useState(null);
	const [submit, busy, saveErr] = useSubmit(async () => {
		await patch('/v1/settings', { registration: reg });
		notify(reg ? 'Anyone may now register an account' : 'Registration is closed');
		setReg(null);
		reload();
	});
	const value = reg === null ? s && s.registration : reg;
	return (
		<section aria-labelledby="set-h">
			<h2 id="set-h">Settings</h2>
			<ErrorBox error={error} />
			{loading && !s ? <Spinner /> : null}
			{s ? (
				<form class="panel" onSubmit={submit}>
					<label class="check">
						<input type="checkbox" checked={!!value} onChange={(e) => setReg(e.target.checked)} /> Anyone may register an account on the login page
					</label>
					<p class="hint">Closed, only administrators add users (and single sign-on, when configured, still provisions them).</p>
					<ErrorBox error={saveErr} />
					<button type="submit" class="primary" disabled={busy || reg === null || reg === s.registration}>
						Save settings
					</button>
				</form>
			) : null}
		</section>
	);
}

// ---- audit log ---------------------------------------------------------------------------

const AUDIT_FILTERS = ['actor', 'action', 'outcome', 'target', 'since', 'until'];

// datetime-local ("2026-12-01T10:00", the browser's time zone) -> RFC 3339 UTC
function rfc3339(local) {
	const d = new Date(local);
	return isNaN(d) ? null : d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function Audit({ query }) {
	const filters = Object.fromEntries(AUDIT_FILTERS.map((k) => [k, query.get(k) || '']));
	const [f, setF] = useState(filters);
	const key = AUDIT_FILTERS.map((k) => filters[k]).join('\u0000');
	const qs = () => {
		const p = new URLSearchParams({ limit: '100' });
		for (const k of AUDIT_FILTERS) {
			if (!filters[k]) continue;
			const v = k === 'since' || k === 'until' ? rfc3339(filters[k]) : filters[k];
			if (v) p.set(k, v);
		}
		return p;
	};
	const [page, error, loading, reload] = useLoad(() => get('/v1/audit?' + qs()), [key]);
	const [older, setOlder] = useState({ key: null, items: [], next: undefined });
	const [olderErr, setOlderErr] = useState(null);
	const mine = older.key === key ? older : { key, items: [], next: undefined };
	const next = mine.next !== undefined ? mine.next : page && page.next_cursor;
	const items = page ? page.items.concat(mine.items) : [];
	const apply = (e) => {
		e.preventDefault();
		const p = new URLSearchParams();
		for (const k of AUDIT_FILTERS) if (f[k].trim()) p.set(k, f[k].trim());
		navigate('/admin/audit' + (p.toString() ? '?' + p : ''), { replace: true });
	};
	const loadOlder = async () => {
		setOlderErr(null);
		try {
			const p = qs();
			p.set('cursor', next);
			const r = await get('/v1/audit?' + p);
			setOlder({ key, items: mine.items.concat(r.items), next: r.next_cursor });
		} catch (e) {
			setOlderErr(e);
		}
	};
	const set = (k) => (e) => setF({ ...f, [k]: e.target.value });
	const any = AUDIT_FILTERS.some((k) => filters[k]);
	return (
		<section aria-labelledby="au-h">
			<h2 id="au-h">Audit log</h2>
			<form class="filters" onSubmit={apply} aria-label="Filter the audit log">
				<div class="field">
					<label for="af-actor">Actor</label>
					<input id="af-actor" spellcheck={false} placeholder="username" value={f.actor} onInput={set('actor')} />
				</div>
				<div class="field">
					<label for="af-action">Action</label>
					<input id="af-action" spellcheck={false} placeholder="e.g. user or user.create" value={f.action} onInput={set('action')} />
				</div>
				<div class="field">
					<label for="af-outcome">Outcome</label>
					<select id="af-outcome" value={f.outcome} onChange={set('outcome')}>
						<option value="">any</option>
						<option value="success">success</option>
						<option value="failure">failure</option>
					</select>
				</div>
				<div class="field">
					<label for="af-target">Target</label>
					<input id="af-target" spellcheck={false} value={f.target} onInput={set('target')} />
				</div>
				<div class="field">
					<label for="af-since">Since</label>
					<input id="af-since" type="datetime-local" value={f.since} onInput={set('since')} />
				</div>
				<div class="field">
					<label for="af-until">Until</label>
					<input id="af-until" type="datetime-local" value={f.until} onInput={set('until')} />
				</div>
				<div class="filter-actions">
					<button type="submit" class="primary">
						Apply filters
					</button>
					{any ? (
						<button
							type="button"
							onClick={() => {
								setF(Object.fromEntries(AUDIT_FILTERS.map((k) => [k, ''])));
								navigate('/admin/audit', { replace: true });
							}}
						>
							Clear
						</button>
					) : null}
					<button type="button" onClick={reload}>
						Refresh
					</button>
				</div>
			</form>
			<ErrorBox error={error} />
			{loading && !page ? <Spinner label="Loading the audit log…" /> : null}
			{page && !items.length ? <Empty>No entries{any ? ' match these filters' : ''}.</Empty> : null}
			{items.length ? (
				<div class="scroll-x" tabIndex={0} role="region" aria-label="Audit entries (scrolls sideways on small screens)">
					<table class="listing audit" aria-label="Audit entries, newest first">
						<thead>
							<tr>
								<th scope="col">Time</th>
								<th scope="col">Actor</th>
								<th scope="col">Action</th>
								<th scope="col" class="hide-s">Target</th>
								<th scope="col">Outcome</th>
								<th scope="col" class="hide-m">From</th>
								<th scope="col" class="hide-m">Detail</th>
							</tr>
						</thead>
						<tbody>
							{items.map((a) => (
								<tr key={a.id}>
									<td title={fullTime(a.time)}>{shortTime(a.time)}</td>
									<td>{a.actor}</td>
									<td class="mono small">{a.action}</td>
									<td class="hide-s trunc" title={a.target}>
										{a.target}
									</td>
									<td>
										<Badge tone={a.outcome === 'success' ? 'ok' : 'bad'}>{a.outcome}</Badge>
									</td>
									<td class="hide-m">{a.ip}</td>
									<td class="hide-m trunc" title={a.detail}>
										{a.detail}
									</td>
								</tr>
							))}
						</tbody>
					</table>
				</div>
			) : null}
			<ErrorBox error={olderErr} />
			{next ? (
				<button type="button" onClick={loadOlder}>
					Older entries
				</button>
			) : null}
		</section>
	);
}

// ---- registry --------------------------------------------------------------------------

function Registry() {
	const [projects] = useLoad(() => getAll('/v1/projects'), []);
	return (
		<>
			<GcPanel project={null} projects={(projects || []).map((p) => p.name)} />
			<p class="muted">
				Repositories, tags and each project’s robots and rules are on the <a href="/images">Images</a> pages.
			</p>
		</>
	);
}

// ---- the page --------------------------------------------------------------------------

export function AdminPage({ section, query, user }) {
	const known = SECTIONS.find(([id]) => id === section);
	const body = {
		dashboard: () => <Dashboard />,
		users: () => <Users query={query} me={user} />,
		groups: () => <Groups />,
		projects: () => <Projects />,
		volumes: () => <Volumes />,
		queues: () => <QueuesAndApps />,
		settings: () => <Settings />,
		audit: () => <Audit key={query.toString()} query={query} />,
		registry: () => <Registry />,
	}[section];
	return (
		<section class="admin">
			<PageTitle>{known ? (section === 'dashboard' ? 'Administration' : `Administration: ${known[1]}`) : 'Administration'}</PageTitle>
			<SubNav section={section} />
			{body ? (
				body()
			) : (
				<p>
					There is no such part of administration. <a href="/admin">Go to the dashboard</a>.
				</p>
			)}
		</section>
	);
}
