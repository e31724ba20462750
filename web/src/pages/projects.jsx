// projects.jsx - projects (tenants): the list of one's projects (an
// administrator's: all) with a form to create one, and a project's own page:
// its description (owners and maintainers edit it), members and their roles
// (owners manage them), quotas against what is used, links to the project's
// files, jobs and images, and deleting it. The server decides every right;
// the page only hides what the caller's role cannot do, and shows the
// server's own sentence when it refuses (the last owner, a folder not empty).
import { useState } from 'preact/hooks';
import { ApiError, api, del, get, getAll, patch, post } from '../api.js';
import { fullTime, humanSize, parseSize, shortTime, sizeText } from '../format.js';
import { navigate } from '../router.js';
import { Confirm, Dialog, Empty, ErrorBox, PageTitle, Spinner, UsageBar, notify, useLoad, useSubmit } from '../ui.jsx';

export const ROLES = ['owner', 'maintainer', 'developer', 'guest'];

const ROLE_HINT = {
	owner: 'everything, including members and deleting the project',
	maintainer: 'edits the description, deletes images, manages robots and registry rules',
	developer: 'works in the project: files, jobs, pushes images',
	guest: 'reads the project and pulls its images',
};

export const projectHref = (name) => `/projects/${encodeURIComponent(name)}`;
const pUrl = (name, rest = '') => `/v1/projects/${encodeURIComponent(name)}${rest}`;

// The caller's role in a project (from its member list), or null.
export function roleIn(project, user) {
	const m = project && (project.members || []).find((x) => x.username === user.username);
	return m ? m.role : null;
}

export function RoleBadge({ role }) {
	if (!role) return <span class="muted">—</span>;
	return <span class={`badge role-${role}`}>{role}</span>;
}

// ---- the list -----------------------------------------------------------------------

function CreateProject({ onClose }) {
	const [f, setF] = useState({ name: '', description: '' });
	const [submit, busy, error] = useSubmit(async () => {
		const body = { name: f.name.trim() };
		if (f.description.trim()) body.description = f.description.trim();
		const p = await post('/v1/projects', body);
		notify(`Project ${p.name} created`);
		onClose();
		navigate(projectHref(p.name));
	});
	return (
		<Dialog title="New project" onClose={onClose}>
			<form onSubmit={submit}>
				<div class="field">
					<label for="np-name">Project name</label>
					<input id="np-name" required autoFocus maxLength={64} spellcheck={false} autocomplete="off" value={f.name}
						onInput={(e) => setF({ ...f, name: e.target.value })} />
					<small class="hint">Lowercase letters, digits and dashes. It names the folder /projects/NAME and the images NAME/…</small>
				</div>
				<div class="field">
					<label for="np-desc">Description</label>
					<textarea id="np-desc" rows={3} maxLength={1024} value={f.description} onInput={(e) => setF({ ...f, description: e.target.value })} />
				</div>
				<ErrorBox error={error} />
				<div class="actions">
					<button type="button" onClick={onClose}>
						Cancel
					</button>
					<button type="submit" class="primary" disabled={busy || !f.name.trim()}>
						{busy ? 'Creating…' : 'Create project'}
					</button>
				</div>
			</form>
		</Dialog>
	);
}

export function ProjectsPage({ user }) {
	const [list, error, loading] = useLoad(() => getAll('/v1/projects'), []);
	const [creating, setCreating] = useState(false);
	return (
		<section>
			<PageTitle actions={<button type="button" class="primary" onClick={() => setCreating(true)}>New project</button>}>
				Projects
			</PageTitle>
			<p class="muted">
				{user.admin ? 'Every project on this cove (you are an administrator).' : 'The projects you are a member of.'} A project shares a folder, runs jobs
				and keeps images for its members.
			</p>
			<ErrorBox error={error} />
			{loading && !list ? <Spinner label="Loading projects…" /> : null}
			{list && !list.length ? <Empty>No projects yet. Create one to share files, jobs and images with others.</Empty> : null}
			{list && list.length ? (
				<div class="scroll-x">
					<table class="listing" aria-label="Projects">
						<thead>
							<tr>
								<th scope="col">Project</th>
								<th scope="col" class="hide-s">Description</th>
								<th scope="col">Your role</th>
								<th scope="col" class="num hide-s">Members</th>
								<th scope="col" class="hide-m">Created</th>
							</tr>
						</thead>
						<tbody>
							{list.map((p) => (
								<tr key={p.name}>
									<td class="name">
										<a href={projectHref(p.name)}>{p.name}</a>
									</td>
									<td class="hide-s trunc" title={p.description}>
										{p.description}
									</td>
									<td>
										<RoleBadge role={roleIn(p, user)} />
									</td>
									<td class="num hide-s">{(p.members || []).length}</td>
									<td class="hide-m" title={fullTime(p.created_at)}>
										{shortTime(p.created_at)}
									</td>
								</tr>
							))}
						</tbody>
					</table>
				</div>
			) : null}
			{creating ? <CreateProject onClose={() => setCreating(false)} /> : null}
		</section>
	);
}

// ---- one project ---------------------------------------------------------------------

function About({ project, canEdit, onSaved }) {
	const [editing, setEditing] = useState(false);
	const [text, setText] = useState(project.description || '');
	const [submit, busy, error] = useSubmit(async () => {
		onSaved(await patch(pUrl(project.name), { description: text.trim() }));
		setEditing(false);
		notify('Description saved');
	});
	return (
		<section class="panel" aria-labelledby="about-h">
			<h2 id="about-h">About</h2>
			{editing ? (
				<form onSubmit={submit}>
					<div class="field">
						<label for="pd-desc">Description</label>
						<textarea id="pd-desc" rows={4} maxLength={1024} autoFocus value={text} onInput={(e) => setText(e.target.value)} />
					</div>
					<ErrorBox error={error} />
					<div class="actions left">
						<button type="submit" class="primary" disabled={busy}>
							Save description
						</button>
						<button type="button" onClick={() => { setEditing(false); setText(project.description || ''); }}>
							Cancel
						</button>
					</div>
				</form>
			) : (
				<>
					<p class="prose">{project.description || <span class="muted">No description.</span>}</p>
					{canEdit ? (
						<button type="button" onClick={() => setEditing(true)}>
							Edit description
						</button>
					) : null}
				</>
			)}
			<dl class="facts">
				<dt>Folder</dt>
				<dd>
					<a href={`/files/projects/${encodeURIComponent(project.name)}`}>/projects/{project.name}</a>
				</dd>
				<dt>Group</dt>
				<dd>
					{project.name} (gid {project.gid})
				</dd>
				<dt>Created</dt>
				<dd>{fullTime(project.created_at)}</dd>
			</dl>
		</section>
	);
}

const limitText = (n, unit = '') => (n > 0 ? `${n}${unit}` : 'no limit');

function QuotaDialog({ project, onClose, onSaved }) {
	const q = project.quota || {};
	const [f, setF] = useState({
		storage: sizeText(q.storage_bytes),
		jobs: q.jobs ? String(q.jobs) : '',
		cpu: q.cpu ? String(q.cpu) : '',
		memory: sizeText(q.memory_bytes),
	});
	const [submit, busy, error] = useSubmit(async () => {
		const size = (v, what) => {
			if (!v.trim()) return 0;
			const n = parseSize(v);
			if (n === null) throw new Error(`${what} must be a size such as 500G or 2T (empty: no limit).`);
			return n;
		};
		const count = (v, what) => {
			if (!v.trim()) return 0;
			if (!/^\d+$/.test(v.trim())) throw new Error(`${what} must be a whole number (empty: no limit).`);
			return parseInt(v, 10);
		};
		const quota = {
			storage_bytes: size(f.storage, 'Storage'),
			jobs: count(f.jobs, 'Running jobs'),
			cpu: count(f.cpu, 'CPUs'),
			memory_bytes: size(f.memory, 'Memory'),
		};
		onSaved(await patch(pUrl(project.name), { quota }));
		notify('Quotas saved');
		onClose();
	});
	const set = (k) => (e) => setF({ ...f, [k]: e.target.value });
	return (
		<Dialog title={`Quotas of ${project.name}`} onClose={onClose}>
			<form onSubmit={submit}>
				<p class="hint">Leave a field empty (or 0) for no limit.</p>
				<div class="form-grid">
					<div class="field">
						<label for="q-storage">Storage</label>
						<input id="q-storage" placeholder="e.g. 500G" value={f.storage} onInput={set('storage')} />
					</div>
					<div class="field">
						<label for="q-jobs">Running jobs</label>
						<input id="q-jobs" inputMode="numeric" value={f.jobs} onInput={set('jobs')} />
					</div>
					<div class="field">
						<label for="q-cpu">CPUs</label>
						<input id="q-cpu" inputMode="numeric" value={f.cpu} onInput={set('cpu')} />
					</div>
					<div class="field">
						<label for="q-mem">Memory</label>
						<input id="q-mem" placeholder="e.g. 64G" value={f.memory} onInput={set('memory')} />
					</div>
				</div>
				<ErrorBox error={error} />
				<div class="actions">
					<button type="button" onClick={onClose}>
						Cancel
					</button>
					<button type="submit" class="primary" disabled={busy}>
						Save quotas
					</button>
				</div>
			</form>
		</Dialog>
	);
}

function Quotas({ project, user, onSaved }) {
	const [usage, usageErr] = useLoad(() => get('/v1/df'), [project.name]);
	const [editing, setEditing] = useState(false);
	const q = project.quota || {};
	const mine = usage && (usage.items || []).find((u) => u.scope === `project:${project.name}`);
	return (
		<section class="panel" aria-labelledby="quota-h">
			<h2 id="quota-h">Quotas</h2>
			{mine ? (
				<UsageBar label="Storage" used={mine.used} limit={q.storage_bytes || 0} />
			) : usage || usageErr ? (
				<p>
					Storage: {q.storage_bytes ? humanSize(q.storage_bytes) : 'no limit'} <span class="muted small">(usage is shown to members)</span>
				</p>
			) : (
				<Spinner label="Loading usage…" />
			)}
			<dl class="facts">
				<dt>Running jobs</dt>
				<dd>{limitText(q.jobs)}</dd>
				<dt>CPUs</dt>
				<dd>{limitText(q.cpu)}</dd>
				<dt>Memory</dt>
				<dd>{q.memory_bytes ? humanSize(q.memory_bytes) : 'no limit'}</dd>
			</dl>
			{user.admin ? (
				<button type="button" onClick={() => setEditing(true)}>
					Change quotas
				</button>
			) : (
				<p class="hint">Administrators set quotas.</p>
			)}
			{editing ? <QuotaDialog project={project} onClose={() => setEditing(false)} onSaved={onSaved} /> : null}
		</section>
	);
}

function AddMember({ project, onDone }) {
	const [f, setF] = useState({ username: '', role: 'developer' });
	const [submit, busy, error] = useSubmit(async () => {
		const who = f.username.trim();
		await putMember(project.name, who, f.role);
		notify(`${who} is now ${f.role === 'owner' ? 'an' : 'a'} ${f.role} of ${project.name}`);
		setF({ ...f, username: '' });
		onDone();
	});
	return (
		<form onSubmit={submit} aria-label="Add a member">
			<h3>Add a member</h3>
			<div class="inline">
				<div class="field">
					<label for="am-user">Username</label>
					<input id="am-user" required spellcheck={false} autocomplete="off" value={f.username} onInput={(e) => setF({ ...f, username: e.target.value })} />
				</div>
				<div class="field">
					<label for="am-role">Role</label>
					<select id="am-role" value={f.role} onChange={(e) => setF({ ...f, role: e.target.value })}>
						{ROLES.map((r) => (
							<option value={r}>{r}</option>
						))}
					</select>
				</div>
				<button type="submit" class="primary" disabled={busy || !f.username.trim()}>
					Add member
				</button>
			</div>
			<small class="hint">{ROLE_HINT[f.role]}</small>
			<ErrorBox error={error} />
		</form>
	);
}

function putMember(project, username, role) {
	return api('PUT', pUrl(project, `/members/${encodeURIComponent(username)}`), { json: { role } });
}

function Members({ project, user, onChanged }) {
	const role = roleIn(project, user);
	const manage = user.admin || role === 'owner';
	const [error, setError] = useState(null);
	const [removing, setRemoving] = useState(null);
	const members = (project.members || []).slice().sort((a, b) => ROLES.indexOf(a.role) - ROLES.indexOf(b.role) || a.username.localeCompare(b.username));
	const change = async (m, r) => {
		setError(null);
		try {
			await putMember(project.name, m.username, r);
			notify(`${m.username} is now ${r === 'owner' ? 'an' : 'a'} ${r}`);
		} catch (e) {
			setError(e);
		}
		onChanged();
	};
	return (
		<section class="panel" aria-labelledby="mem-h">
			<h2 id="mem-h">Members</h2>
			{!manage ? <p class="hint">Owners add and remove members and change roles.</p> : null}
			<ErrorBox error={error} />
			<div class="scroll-x">
				<table class="plain" aria-labelledby="mem-h">
					<thead>
						<tr>
							<th scope="col">User</th>
							<th scope="col">Role</th>
							<th scope="col">
								<span class="visually-hidden">Actions</span>
							</th>
						</tr>
					</thead>
					<tbody>
						{members.map((m) => (
							<tr key={m.username}>
								<td class="who">
									{m.username}
									{m.username === user.username ? <span class="muted"> (you)</span> : null}
								</td>
								<td>
									{manage ? (
										<>
											<label class="visually-hidden" for={`role-${m.username}`}>
												Role of {m.username}
											</label>
											<select id={`role-${m.username}`} value={m.role} onChange={(e) => change(m, e.target.value)}>
												{ROLES.map((r) => (
													<option value={r}>{r}</option>
												))}
											</select>
										</>
									) : (
										<RoleBadge role={m.role} />
									)}
								</td>
								<td class="row-actions">
									{manage || m.username === user.username ? (
										<button type="button" class="danger" onClick={() => setRemoving(m)}>
											{m.username === user.username ? 'Leave' : 'Remove'}
											<span class="visually-hidden"> {m.username === user.username ? 'the project' : m.username}</span>
										</button>
									) : null}
								</td>
							</tr>
						))}
					</tbody>
				</table>
			</div>
			{manage ? <AddMember project={project} onDone={onChanged} /> : null}
			{removing ? (
				<Confirm
					title={removing.username === user.username ? `Leave ${project.name}?` : `Remove ${removing.username} from ${project.name}?`}
					message={
						removing.username === user.username
							? 'You lose access to the project’s files, jobs and images until an owner adds you again.'
							: `${removing.username} loses access to the project’s files, jobs and images. Files they own stay.`
					}
					action={removing.username === user.username ? 'Leave' : 'Remove'}
					onClose={() => setRemoving(null)}
					onConfirm={async () => {
						await del(pUrl(project.name, `/members/${encodeURIComponent(removing.username)}`));
						notify(`${removing.username} removed from ${project.name}`);
						if (removing.username === user.username && !user.admin) navigate('/projects');
						else onChanged();
					}}
				/>
			) : null}
		</section>
	);
}

export function ProjectPage({ name, user }) {
	const [project, error, loading, reload] = useLoad(() => get(pUrl(name)), [name]);
	const [fresh, setFresh] = useState(null);
	const [deleting, setDeleting] = useState(false);
	const p = fresh && fresh.name === name ? fresh : project;
	if (error && !p)
		return (
			<section>
				<PageTitle>{name}</PageTitle>
				<ErrorBox error={error} />
				{error instanceof ApiError && (error.status === 404 || error.status === 403) ? (
					<p>
						<a href="/projects">Back to your projects</a>
					</p>
				) : null}
			</section>
		);
	if (!p) return <Spinner label="Loading the project…" />;
	const role = roleIn(p, user);
	const canEdit = user.admin || role === 'owner' || role === 'maintainer';
	const canDelete = user.admin || role === 'owner';
	const enc = encodeURIComponent(p.name);
	const reloadAll = () => {
		setFresh(null);
		reload();
	};
	return (
		<section>
			<nav aria-label="Breadcrumb" class="crumbs trail">
				<ol>
					<li>
						<a href="/projects">Projects</a>
					</li>
					<li>
						<span aria-current="page">{p.name}</span>
					</li>
				</ol>
			</nav>
			<PageTitle
				actions={
					canDelete ? (
						<button type="button" class="danger" onClick={() => setDeleting(true)}>
							Delete project
						</button>
					) : null
				}
			>
				{p.name}
			</PageTitle>
			<p class="muted">
				Your role: <RoleBadge role={role} />
				{!role && user.admin ? ' (you are an administrator, not a member)' : ''}
				{loading ? <span class="small"> · refreshing…</span> : null}
			</p>
			<nav class="linkbar" aria-label="Project">
				<a class="button" href={`/files/projects/${enc}`}>
					Files
				</a>
				<a class="button" href={`/jobs?project=${enc}`}>
					Jobs
				</a>
				<a class="button" href={`/images/${enc}`}>
					Images
				</a>
			</nav>
			<div class="grid2">
				<About key={p.name + (p.description || '')} project={p} canEdit={canEdit} onSaved={setFresh} />
				<Quotas project={p} user={user} onSaved={setFresh} />
			</div>
			<Members project={p} user={user} onChanged={reloadAll} />
			{deleting ? (
				<Confirm
					title={`Delete project ${p.name}?`}
					message="Its group, roles and settings go. The project’s folder must be empty and its images deleted first; cove says so if they are not."
					action="Delete project"
					onClose={() => setDeleting(false)}
					onConfirm={async () => {
						await del(pUrl(p.name));
						notify(`Project ${p.name} deleted`);
						navigate('/projects');
					}}
				/>
			) : null}
		</section>
	);
}
