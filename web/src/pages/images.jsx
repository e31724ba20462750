// images.jsx - the image registry: the repositories one may pull, grouped
// by namespace (/images); a namespace's repositories with, for a project,
// its robot accounts, tag rules, retention rules and garbage collection
// (/images/<project>); a repository's tags with digest, size, who pushed
// and when, a pull command to copy, tag immutability, and deleting a tag
// or an image (/images/<project>/<repo...>). Controls follow the caller's
// role (guests read, maintainers and owners change); the server decides.
import { useEffect, useState } from 'preact/hooks';
import { ApiError, del, get, getAll, patch, post } from '../api.js';
import { duration, durationText, fullTime, humanSize, parseDuration, shortDigest, shortTime } from '../format.js';
import { Confirm, CopyButton, Dialog, Empty, ErrorBox, PageTitle, Spinner, notify, useLoad, useSubmit } from '../ui.jsx';
import { RoleBadge, projectHref, roleIn } from './projects.jsx';

const enc = (s) => encodeURIComponent(s);
const repoPath = (name) => name.split('/').map(enc).join('/');
export const imagesHref = (name) => '/images/' + repoPath(name);
const pUrl = (project, rest) => `/v1/projects/${enc(project)}${rest}`;

/* What the caller may do in namespace ns: {kind: 'project'|'user'|null,
 * role, manage (delete images, robots, rules), project}. */
function useNamespace(ns, user) {
	const [info, error] = useLoad(async () => {
		if (ns === user.username) return { kind: 'user', role: null, manage: true, project: null };
		try {
			const project = await get(`/v1/projects/${enc(ns)}`);
			const role = roleIn(project, user);
			return { kind: 'project', role, manage: user.admin || role === 'owner' || role === 'maintainer', project };
		} catch (e) {
			if (e instanceof ApiError && (e.status === 404 || e.status === 403))
				return { kind: null, role: null, manage: user.admin, project: null };
			throw e;
		}
	}, [ns, user.username]);
	return [info, error];
}

function Crumbs({ parts }) {
	return (
		<nav aria-label="Breadcrumb" class="crumbs trail">
			<ol>
				<li>{parts.length ? <a href="/images">Images</a> : <span aria-current="page">Images</span>}</li>
				{parts.map((p, i) => (
					<li>{i === parts.length - 1 ? <span aria-current="page">{p}</span> : <a href={imagesHref(parts.slice(0, i + 1).join('/'))}>{p}</a>}</li>
				))}
			</ol>
		</nav>
	);
}

function RepoTable({ repos, label, showNamespace }) {
	return (
		<div class="scroll-x">
			<table class="listing" aria-label={label}>
				<thead>
					<tr>
						<th scope="col">Repository</th>
						<th scope="col" class="num">Tags</th>
						<th scope="col" class="num hide-s">Images</th>
						<th scope="col" class="num">Size</th>
						<th scope="col" class="hide-s">Updated</th>
					</tr>
				</thead>
				<tbody>
					{repos.map((r) => (
						<tr key={r.name}>
							<td class="name">
								<a href={imagesHref(r.name)}>{showNamespace ? r.name : r.name.slice(r.namespace.length + 1)}</a>
								{r.immutable_tags ? <span class="badge tone-muted" title="Tags cannot be moved or deleted"> immutable</span> : null}
							</td>
							<td class="num">{r.tags}</td>
							<td class="num hide-s">{r.manifests}</td>
							<td class="num">{humanSize(r.size)}</td>
							<td class="hide-s" title={fullTime(r.updated_at)}>
								{shortTime(r.updated_at)}
							</td>
						</tr>
					))}
				</tbody>
			</table>
		</div>
	);
}

function PushHint({ ns }) {
	const host = location.host;
	const cmd = `podman push ${location.protocol === 'http:' ? '--tls-verify=false ' : ''}IMAGE ${host}/${ns}/NAME:TAG`;
	return (
		<p class="hint">
			Push with <code>podman login {host}</code> (your username, and your password or a personal API token), then <code>{cmd}</code>.
		</p>
	);
}

// ---- /images -------------------------------------------------------------------------

function AllRepositories({ user }) {
	const [repos, error, loading] = useLoad(() => getAll('/v1/registry/repositories'), []);
	const groups = new Map();
	for (const r of repos || []) {
		if (!groups.has(r.namespace)) groups.set(r.namespace, []);
		groups.get(r.namespace).push(r);
	}
	const projects = user.projects || [];
	return (
		<section>
			<PageTitle>Images</PageTitle>
			<p class="muted">
				Repositories you may pull from: your projects’ and your own ({user.username}/…){user.admin ? ', and as an administrator every other' : ''}.
			</p>
			<ErrorBox error={error} />
			{loading && !repos ? <Spinner label="Loading repositories…" /> : null}
			{repos && !repos.length ? (
				<>
					<Empty>No images yet.</Empty>
					<PushHint ns={projects.length ? projects[0].name : user.username} />
				</>
			) : null}
			{[...groups.entries()].map(([ns, list]) => (
				<section class="ns-group" aria-labelledby={`ns-${ns}`}>
					<h2 id={`ns-${ns}`}>
						<a href={imagesHref(ns)}>{ns}</a>
						<span class="count"> · {list.length} {list.length === 1 ? 'repository' : 'repositories'}</span>
					</h2>
					<RepoTable repos={list} label={`Repositories of ${ns}`} />
				</section>
			))}
			{projects.length ? (
				<p class="small muted">
					Registry settings of a project (robots, tag rules, retention):{' '}
					{projects.map((p, i) => (
						<>
							{i ? ', ' : ''}
							<a href={imagesHref(p.name)}>{p.name}</a>
						</>
					))}
					.
				</p>
			) : null}
		</section>
	);
}

// ---- /images/<namespace> ------------------------------------------------------------

const EXPIRY = [
	['', 'Never'],
	['7d', '7 days'],
	['30d', '30 days'],
	['90d', '90 days'],
	['365d', '1 year'],
];

function Robots({ project }) {
	const [list, loadErr, , reload] = useLoad(() => get(pUrl(project, '/robots')), [project]);
	const [f, setF] = useState({ name: '', role: 'guest', description: '', expires: '90d' });
	const [created, setCreated] = useState(null);
	const [revoking, setRevoking] = useState(null);
	const [submit, busy, error] = useSubmit(async () => {
		const body = { name: f.name.trim(), role: f.role };
		if (f.description.trim()) body.description = f.description.trim();
		if (f.expires) body.expires_in = parseDuration(f.expires);
		setCreated(await post(pUrl(project, '/robots'), body));
		setF({ ...f, name: '', description: '' });
		reload();
	});
	const set = (k) => (e) => setF({ ...f, [k]: e.target.value });
	return (
		<section class="panel" aria-labelledby="rb-h">
			<h2 id="rb-h">Robot accounts</h2>
			<p class="muted">For CI and other machines: a login of its own that pulls (guest) or also pushes (developer), in this project only.</p>
			<form onSubmit={submit} aria-label="New robot account">
				<div class="inline">
					<div class="field">
						<label for="rb-name">Robot name</label>
						<input id="rb-name" required maxLength={64} spellcheck={false} autocomplete="off" value={f.name} onInput={set('name')} />
					</div>
					<div class="field">
						<label for="rb-role">Role</label>
						<select id="rb-role" value={f.role} onChange={set('role')}>
							<option value="guest">guest (pull)</option>
							<option value="developer">developer (pull, push)</option>
						</select>
					</div>
					<div class="field">
						<label for="rb-exp">Expires</label>
						<select id="rb-exp" value={f.expires} onChange={set('expires')}>
							{EXPIRY.map(([v, l]) => (
								<option value={v}>{l}</option>
							))}
						</select>
					</div>
					<div class="field grow">
						<label for="rb-desc">Description</label>
						<input id="rb-desc" maxLength={256} value={f.description} onInput={set('description')} />
					</div>
					<button type="submit" class="primary" disabled={busy || !f.name.trim()}>
						Create robot
					</button>
				</div>
				<ErrorBox error={error} />
			</form>
			{created ? (
				<div class="secret" role="status">
					<p>
						<strong>Robot {created.login} created.</strong> Copy its secret now: it is shown only this once.
					</p>
					<div class="copyline wrap">
						<label for="rb-secret" class="visually-hidden">
							The robot’s secret
						</label>
						<input id="rb-secret" class="mono" readOnly value={created.secret} onFocus={(e) => e.target.select()} />
						<CopyButton text={created.secret} label="Copy secret" />
						<button type="button" onClick={() => setCreated(null)}>
							Done
						</button>
					</div>
					<p class="small">
						Log in with <code>podman login -u '{created.login}' {location.host}</code> and the secret as the password.
					</p>
				</div>
			) : null}
			<ErrorBox error={loadErr} />
			{!list ? (
				!loadErr ? <Spinner /> : null
			) : !list.items.length ? (
				<Empty>No robots.</Empty>
			) : (
				<div class="scroll-x">
					<table class="plain" aria-label="Robot accounts">
						<thead>
							<tr>
								<th scope="col">Login</th>
								<th scope="col">Role</th>
								<th scope="col" class="hide-s">Created</th>
								<th scope="col">Expires</th>
								<th scope="col" class="hide-s">Last used</th>
								<th scope="col">
									<span class="visually-hidden">Actions</span>
								</th>
							</tr>
						</thead>
						<tbody>
							{list.items.map((r) => (
								<tr key={r.name}>
									<td>
										<span class="mono">{r.login}</span>
										{r.description ? <div class="small muted">{r.description}</div> : null}
									</td>
									<td>
										<RoleBadge role={r.role} />
									</td>
									<td class="hide-s" title={fullTime(r.created_at)}>
										{shortTime(r.created_at)} {r.created_by ? <span class="muted">by {r.created_by}</span> : null}
									</td>
									<td>{r.expires_at ? fullTime(r.expires_at) : 'never'}</td>
									<td class="hide-s">{r.last_used_at ? shortTime(r.last_used_at) : 'never'}</td>
									<td class="row-actions">
										<button type="button" class="danger" onClick={() => setRevoking(r)}>
											Revoke<span class="visually-hidden"> {r.login}</span>
										</button>
									</td>
								</tr>
							))}
						</tbody>
					</table>
				</div>
			)}
			{revoking ? (
				<Confirm
					title={`Revoke robot ${revoking.login}?`}
					message="Clients logged in as this robot lose access at once."
					action="Revoke"
					onClose={() => setRevoking(null)}
					onConfirm={async () => {
						await del(pUrl(project, `/robots/${enc(revoking.name)}`));
						notify(`Robot ${revoking.login} revoked`);
						reload();
					}}
				/>
			) : null}
		</section>
	);
}

function RuleList({ title, id, url, manage, columns, empty, children, noun }) {
	const [list, loadErr, , reload] = useLoad(() => get(url), [url]);
	const [removing, setRemoving] = useState(null);
	return (
		<section class="panel" aria-labelledby={id}>
			<h2 id={id}>{title}</h2>
			{children(reload)}
			<ErrorBox error={loadErr} />
			{!list ? (
				!loadErr ? <Spinner /> : null
			) : !list.items.length ? (
				<Empty>{empty}</Empty>
			) : (
				<div class="scroll-x">
					<table class="plain" aria-labelledby={id}>
						<thead>
							<tr>
								{columns.map(([label]) => (
									<th scope="col">{label}</th>
								))}
								{manage ? (
									<th scope="col">
										<span class="visually-hidden">Actions</span>
									</th>
								) : null}
							</tr>
						</thead>
						<tbody>
							{list.items.map((x) => (
								<tr key={x.id}>
									{columns.map(([, cell]) => (
										<td>{cell(x)}</td>
									))}
									{manage ? (
										<td class="row-actions">
											<button type="button" class="danger" onClick={() => setRemoving(x)}>
												Remove<span class="visually-hidden"> {noun} {x.id}</span>
											</button>
										</td>
									) : null}
								</tr>
							))}
						</tbody>
					</table>
				</div>
			)}
			{removing ? (
				<Confirm
					title={`Remove this ${noun}?`}
					message={`${noun[0].toUpperCase() + noun.slice(1)} ${removing.id}: repositories ${removing.repository}, tags ${removing.tag}.`}
					action="Remove"
					onClose={() => setRemoving(null)}
					onConfirm={async () => {
						await del(`${url}/${removing.id}`);
						notify(`${noun[0].toUpperCase() + noun.slice(1)} removed`);
						reload();
					}}
				/>
			) : null}
		</section>
	);
}

function TagRuleForm({ project, onDone }) {
	const [f, setF] = useState({ repository: '**', tag: '' });
	const [submit, busy, error] = useSubmit(async () => {
		await post(pUrl(project, '/tag-rules'), { repository: f.repository.trim() || '**', tag: f.tag.trim() });
		notify('Tag rule added');
		setF({ ...f, tag: '' });
		onDone();
	});
	return (
		<form onSubmit={submit} aria-label="New tag rule">
			<div class="inline">
				<div class="field">
					<label for="tr-repo">Repositories</label>
					<input id="tr-repo" class="mono" spellcheck={false} value={f.repository} onInput={(e) => setF({ ...f, repository: e.target.value })} />
				</div>
				<div class="field">
					<label for="tr-tag">Tags</label>
					<input id="tr-tag" class="mono" required spellcheck={false} placeholder="v*" value={f.tag} onInput={(e) => setF({ ...f, tag: e.target.value })} />
				</div>
				<button type="submit" class="primary" disabled={busy || !f.tag.trim()}>
					Add rule
				</button>
			</div>
			<ErrorBox error={error} />
		</form>
	);
}

function RetentionForm({ project, onDone }) {
	const [f, setF] = useState({ repository: '**', tag: '*', keep: '10', older: '' });
	const [submit, busy, error] = useSubmit(async () => {
		if (!/^\d+$/.test(f.keep.trim())) throw new Error('Keep must be a whole number.');
		const body = { repository: f.repository.trim() || '**', tag: f.tag.trim() || '*', keep: parseInt(f.keep, 10) };
		if (f.older.trim()) body.older_than = f.older.trim();
		await post(pUrl(project, '/retention'), body);
		notify('Retention rule added');
		onDone();
	});
	const set = (k) => (e) => setF({ ...f, [k]: e.target.value });
	return (
		<form onSubmit={submit} aria-label="New retention rule">
			<div class="inline">
				<div class="field">
					<label for="rt-repo">Repositories</label>
					<input id="rt-repo" class="mono" spellcheck={false} value={f.repository} onInput={set('repository')} />
				</div>
				<div class="field">
					<label for="rt-tag">Tags</label>
					<input id="rt-tag" class="mono" spellcheck={false} value={f.tag} onInput={set('tag')} />
				</div>
				<div class="field narrow">
					<label for="rt-keep">Keep newest</label>
					<input id="rt-keep" inputMode="numeric" required value={f.keep} onInput={set('keep')} />
				</div>
				<div class="field narrow">
					<label for="rt-older">Only older than</label>
					<input id="rt-older" placeholder="30d" value={f.older} onInput={set('older')} />
				</div>
				<button type="submit" class="primary" disabled={busy}>
					Add rule
				</button>
			</div>
			<ErrorBox error={error} />
		</form>
	);
}

/* Garbage collection: a dry run lists what would go; a run (confirmed)
 * removes it. project: a namespace, or null for every repository. */
export function GcPanel({ project, projects }) {
	const [grace, setGrace] = useState('1h');
	const [scope, setScope] = useState(project || '');
	const [report, setReport] = useState(null);
	const [confirm, setConfirm] = useState(false);
	const body = (dry) => {
		const b = { grace: grace.trim() || '1h', dry_run: dry };
		if (scope) b.project = scope;
		return b;
	};
	const [dryRun, busy, error] = useSubmit(async () => setReport(await post('/v1/registry/gc', body(true))));
	return (
		<section class="panel" aria-labelledby="gc-h">
			<h2 id="gc-h">Garbage collection</h2>
			<p class="muted">
				Applies the retention rules, then removes images no tag names and layers no image uses, when they are older than the grace period. cove also
				collects every day by itself.
			</p>
			<form onSubmit={dryRun} aria-label="Garbage collection">
				<div class="inline">
					{projects ? (
						<div class="field">
							<label for="gc-scope">Where</label>
							<select id="gc-scope" value={scope} onChange={(e) => setScope(e.target.value)}>
								<option value="">every repository</option>
								{projects.map((p) => (
									<option value={p}>{p}</option>
								))}
							</select>
						</div>
					) : null}
					<div class="field narrow">
						<label for="gc-grace">Grace period</label>
						<input id="gc-grace" value={grace} onInput={(e) => setGrace(e.target.value)} />
					</div>
					<button type="submit" disabled={busy}>
						{busy ? 'Looking…' : 'Dry run'}
					</button>
					<button type="button" class="danger" disabled={busy} onClick={() => setConfirm(true)}>
						Collect now
					</button>
				</div>
				<small class="hint">What was pushed more recently than the grace period stays (0s: nothing is spared).</small>
			</form>
			<ErrorBox error={error} />
			{report ? <GcReport report={report} /> : null}
			{confirm ? (
				<Confirm
					title="Collect garbage now?"
					message={`Untagged images and unused layers ${scope ? `of ${scope}` : 'of every repository'} older than ${grace || '1h'} are deleted, and retention rules applied. This cannot be undone.`}
					action="Collect"
					onClose={() => setConfirm(false)}
					onConfirm={async () => {
						const r = await post('/v1/registry/gc', body(false));
						setReport(r);
						notify(`Removed ${r.tags_removed} tags, ${r.manifests_removed} images and ${r.blobs_removed} layers (${humanSize(r.bytes)})`);
					}}
				/>
			) : null}
		</section>
	);
}

function GcReport({ report: r }) {
	return (
		<div class="report" role="status">
			<p>
				<strong>
					{r.dry_run ? 'Would remove' : 'Removed'} {r.tags_removed} {r.tags_removed === 1 ? 'tag' : 'tags'}, {r.manifests_removed}{' '}
					{r.manifests_removed === 1 ? 'image' : 'images'} and {r.blobs_removed} {r.blobs_removed === 1 ? 'layer' : 'layers'} ({humanSize(r.bytes)})
				</strong>{' '}
				in {r.repositories} {r.repositories === 1 ? 'repository' : 'repositories'}, grace {duration(r.grace)}.
			</p>
			{r.items && r.items.length ? (
				<div class="scroll-x" tabIndex={0} role="region" aria-label="Items of the collection (scrolls sideways on small screens)">
					<table class="plain" aria-label={r.dry_run ? 'What would be removed' : 'What was removed'}>
						<thead>
							<tr>
								<th scope="col">Repository</th>
								<th scope="col">What</th>
								<th scope="col">Tag or digest</th>
								<th scope="col" class="num">Size</th>
							</tr>
						</thead>
						<tbody>
							{r.items.map((x) => (
								<tr>
									<td>{x.repository}</td>
									<td>{x.kind === 'manifest' ? 'image' : x.kind === 'blob' ? 'layer' : 'tag'}</td>
									<td class="mono" title={x.digest}>
										{x.tag || shortDigest(x.digest)}
									</td>
									<td class="num">{x.size !== undefined ? humanSize(x.size) : ''}</td>
								</tr>
							))}
						</tbody>
					</table>
				</div>
			) : null}
		</div>
	);
}

function Namespace({ ns, user }) {
	const [info, infoErr] = useNamespace(ns, user);
	const [repos, error, loading] = useLoad(async () => (await getAll('/v1/registry/repositories')).filter((r) => r.namespace === ns), [ns]);
	const isProject = info && info.kind === 'project';
	return (
		<section>
			<Crumbs parts={[ns]} />
			<PageTitle
				actions={
					isProject ? (
						<a class="button" href={projectHref(ns)}>
							Project page
						</a>
					) : null
				}
			>
				{`Images of ${ns}`}
			</PageTitle>
			{info ? (
				<p class="muted">
					{info.kind === 'project' ? (
						<>
							Project namespace. Your role: <RoleBadge role={info.role} />
						</>
					) : info.kind === 'user' ? (
						'Your personal namespace: only you (and administrators) see it.'
					) : (
						'A personal namespace.'
					)}
				</p>
			) : null}
			<ErrorBox error={infoErr || error} />
			{loading && !repos ? <Spinner label="Loading repositories…" /> : null}
			{repos && !repos.length ? (
				<>
					<Empty>No repositories here{info && info.kind === null && !user.admin ? ' that you may see' : ''}.</Empty>
					{info && (info.kind === 'user' || (isProject && info.role && info.role !== 'guest')) ? <PushHint ns={ns} /> : null}
				</>
			) : null}
			{repos && repos.length ? <RepoTable repos={repos} label={`Repositories of ${ns}`} /> : null}
			{isProject ? (
				<>
					{info.manage ? <Robots project={ns} /> : null}
					<RuleList
						title="Immutable tags"
						id="tr-h"
						noun="tag rule"
						url={pUrl(ns, '/tag-rules')}
						manage={info.manage}
						empty="No tag rules: tags can be moved and deleted (unless a repository makes all its tags immutable)."
						columns={[
							['Repositories', (x) => <code>{x.repository}</code>],
							['Tags', (x) => <code>{x.tag}</code>],
							['Added', (x) => <span title={fullTime(x.created_at)}>{shortTime(x.created_at)}</span>],
						]}
					>
						{(reload) => (
							<>
								<p class="muted">
									Tags matching a rule cannot be pushed again or deleted. Globs: <code>*</code> within a name part, <code>**</code> across, <code>?</code> one
									character.
								</p>
								{info.manage ? <TagRuleForm project={ns} onDone={reload} /> : <p class="hint">Maintainers and owners change the rules.</p>}
							</>
						)}
					</RuleList>
					<RuleList
						title="Retention"
						id="rt-h"
						noun="retention rule"
						url={pUrl(ns, '/retention')}
						manage={info.manage}
						empty="No retention rules: every tag is kept."
						columns={[
							['Repositories', (x) => <code>{x.repository}</code>],
							['Tags', (x) => <code>{x.tag}</code>],
							['Keep newest', (x) => x.keep],
							['Older than', (x) => (x.older_than ? durationText(x.older_than) : '—')],
						]}
					>
						{(reload) => (
							<>
								<p class="muted">Garbage collection keeps the newest matching tags and removes the rest (immutable tags stay).</p>
								{info.manage ? <RetentionForm project={ns} onDone={reload} /> : <p class="hint">Maintainers and owners change the rules.</p>}
							</>
						)}
					</RuleList>
					{info.manage ? <GcPanel project={ns} /> : null}
				</>
			) : info && info.kind === 'user' ? (
				<GcPanel project={ns} />
			) : null}
		</section>
	);
}

// ---- /images/<namespace>/<repo...> ----------------------------------------------------

function PullCommand({ name, tags }) {
	const [tag, setTag] = useState(tags.length ? tags[0].tag : '');
	useEffect(() => {
		if (!tags.some((t) => t.tag === tag)) setTag(tags.length ? tags[0].tag : '');
	}, [tags]);
	if (!tags.length) return null;
	const cmd = `podman pull ${location.host}/${name}:${tag}`;
	return (
		<section class="panel" aria-labelledby="pull-h">
			<h2 id="pull-h">Pull</h2>
			<div class="copyline wrap">
				<label for="pull-tag" class="visually-hidden">
					Tag to pull
				</label>
				<select id="pull-tag" value={tag} onChange={(e) => setTag(e.target.value)}>
					{tags.map((t) => (
						<option value={t.tag}>{t.tag}</option>
					))}
				</select>
				<label for="pull-cmd" class="visually-hidden">
					Pull command
				</label>
				<input id="pull-cmd" class="mono" readOnly value={cmd} onFocus={(e) => e.target.select()} />
				<CopyButton text={cmd} label="Copy command" />
			</div>
			<p class="hint">
				In a job: <code>--image {name}:{tag}</code>.{location.protocol === 'http:' ? ' This server speaks plain HTTP: add --tls-verify=false to podman.' : ''}
			</p>
		</section>
	);
}

function DeleteDialog({ name, tag, tags, onClose, onDone }) {
	const others = tags.filter((t) => t.digest === tag.digest).map((t) => t.tag);
	const [busy, setBusy] = useState(false);
	const [error, setError] = useState(null);
	const go = async (ref, what) => {
		setBusy(true);
		setError(null);
		try {
			await del(`/v1/registry/images/${repoPath(name)}${enc(ref)}`);
			notify(what);
			onClose();
			onDone();
		} catch (e) {
			setError(e);
			setBusy(false);
		}
	};
	return (
		<Dialog title={`Delete ${name}:${tag.tag}?`} onClose={onClose}>
			<p>
				<strong>Delete the tag</strong> to remove only the name <code>{tag.tag}</code>; the image stays while another tag or its digest names it, until
				garbage collection.
			</p>
			<p>
				<strong>Delete the image</strong> <code title={tag.digest}>{shortDigest(tag.digest)}</code> to remove it with every tag on it: {others.join(', ')}.
			</p>
			<ErrorBox error={error} />
			<div class="actions">
				<button type="button" onClick={onClose}>
					Cancel
				</button>
				<button type="button" class="danger" disabled={busy} onClick={() => go(':' + tag.tag, `Tag ${tag.tag} deleted`)}>
					Delete tag
				</button>
				<button type="button" class="primary danger" disabled={busy} onClick={() => go('@' + tag.digest, `Image ${shortDigest(tag.digest)} deleted`)}>
					Delete image and {others.length === 1 ? 'its tag' : `its ${others.length} tags`}
				</button>
			</div>
		</Dialog>
	);
}

function Immutability({ repo, manage, onChanged }) {
	const [pending, setPending] = useState(null); // the value asked for, until the server answers
	const [error, setError] = useState(null);
	const toggle = async (on) => {
		setPending(on);
		setError(null);
		try {
			onChanged(await patch(`/v1/registry/repositories/${repoPath(repo.name)}`, { immutable_tags: on }));
			notify(on ? 'Every tag of the repository is now immutable' : 'Tags may move again (tag rules still apply)');
		} catch (e) {
			setError(e);
		}
		setPending(null);
	};
	if (!manage) return <dd>{repo.immutable_tags ? 'every tag is immutable' : 'tags may move (unless a tag rule says otherwise)'}</dd>;
	return (
		<dd>
			<label class="check">
				<input type="checkbox" checked={pending !== null ? pending : repo.immutable_tags} disabled={pending !== null} onChange={(e) => toggle(e.target.checked)} />
				Every tag is immutable
			</label>
			<ErrorBox error={error} />
		</dd>
	);
}

function Repository({ name, user }) {
	const ns = name.split('/')[0];
	const [info] = useNamespace(ns, user);
	const [repo, repoErr, , reloadRepo] = useLoad(() => get(`/v1/registry/repositories/${repoPath(name)}`), [name]);
	const [tags, tagsErr, tagsLoading, reloadTags] = useLoad(() => get(`/v1/registry/tags/${repoPath(name)}`), [name]);
	const [fresh, setFresh] = useState(null);
	const [deleting, setDeleting] = useState(null);
	const manage = !!(info && info.manage);
	const r = fresh || repo;
	const parts = name.split('/');
	if (repoErr && !r)
		return (
			<section>
				<Crumbs parts={parts} />
				<PageTitle>{name}</PageTitle>
				<ErrorBox error={repoErr} />
			</section>
		);
	const items = tags ? tags.items : [];
	return (
		<section>
			<Crumbs parts={parts} />
			<PageTitle>{name}</PageTitle>
			{!r ? (
				<Spinner label="Loading the repository…" />
			) : (
				<dl class="facts">
					<dt>Tags</dt>
					<dd>{r.tags}</dd>
					<dt>Images</dt>
					<dd>{r.manifests}</dd>
					<dt>Size</dt>
					<dd>{humanSize(r.size)}</dd>
					<dt>Updated</dt>
					<dd>{fullTime(r.updated_at)}</dd>
					<dt>Immutability</dt>
					<Immutability repo={r} manage={manage} onChanged={(x) => { setFresh(x); reloadTags(); }} />
				</dl>
			)}
			<PullCommand name={name} tags={items} />
			<h2 id="tags-h">Tags</h2>
			<ErrorBox error={tagsErr} />
			{tagsLoading && !tags ? <Spinner label="Loading tags…" /> : null}
			{tags && !items.length ? <Empty>No tags. Images pushed by digest only are collected after the grace period.</Empty> : null}
			{items.length ? (
				<div class="scroll-x">
					<table class="listing" aria-labelledby="tags-h">
						<thead>
							<tr>
								<th scope="col">Tag</th>
								<th scope="col">Digest</th>
								<th scope="col" class="num hide-s">Size</th>
								<th scope="col" class="hide-s">Pushed by</th>
								<th scope="col" class="hide-s">Pushed</th>
								<th scope="col">
									<span class="visually-hidden">Actions</span>
								</th>
							</tr>
						</thead>
						<tbody>
							{items.map((t) => (
								<tr key={t.tag}>
									<td class="name tag">
										<span class="mono">{t.tag}</span>
										{t.immutable ? <span class="badge tone-muted"> immutable</span> : null}
										<div class="small muted show-s">{humanSize(t.size)}</div>
									</td>
									<td>
										<span class="digest">
											<code title={t.digest}>{shortDigest(t.digest)}</code>
											<CopyButton text={t.digest} label="Copy digest" />
										</span>
									</td>
									<td class="num hide-s">{humanSize(t.size)}</td>
									<td class="hide-s">{t.pushed_by || <span class="muted">—</span>}</td>
									<td class="hide-s" title={fullTime(t.pushed_at)}>
										{shortTime(t.pushed_at)}
									</td>
									<td class="row-actions">
										{manage && !t.immutable ? (
											<button type="button" class="danger" onClick={() => setDeleting(t)}>
												Delete<span class="visually-hidden"> {t.tag}</span>
											</button>
										) : null}
									</td>
								</tr>
							))}
						</tbody>
					</table>
				</div>
			) : null}
			{info && !manage ? <p class="hint">Maintainers and owners delete tags and images.</p> : null}
			{deleting ? (
				<DeleteDialog
					name={name}
					tag={deleting}
					tags={items}
					onClose={() => setDeleting(null)}
					onDone={() => {
						setFresh(null);
						reloadTags();
						reloadRepo();
					}}
				/>
			) : null}
		</section>
	);
}

export function ImagesPage({ parts, user }) {
	if (!parts.length) return <AllRepositories user={user} />;
	if (parts.length === 1) return <Namespace key={parts[0]} ns={parts[0]} user={user} />;
	const name = parts.join('/');
	return <Repository key={name} name={name} user={user} />;
}
