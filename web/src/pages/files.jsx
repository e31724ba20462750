// files.jsx - the file browser: a folder's listing (sortable, selectable,
// long folders drawn a window at a time), uploads by picker or drag and
// drop, downloads (files, folders as .zip or .tar.gz), previews, new
// folder, rename/move, copy, delete, permissions, share links, and "run a
// job on this file". Everything goes through /v1/fs, /v1/shares, /v1/df.
import { Component } from 'preact';
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ApiError, del, fsUrl, get, getAll, patch, post } from '../api.js';
import { baseName, fullTime, humanSize, joinPath, modeString, parentOf, shortTime } from '../format.js';
import { navigate } from '../router.js';
import { cancel, clearFinished, enqueue, filesOfDrop, makeDirs, onUploaded, onUploads, pause, resume } from '../upload.js';
import { Confirm, CopyButton, Dialog, Empty, ErrorBox, PageTitle, SortHeader, Spinner, UsageBar, notify, useLoad, useSort, useSubmit } from '../ui.jsx';

export function filesHref(path) {
	return '/files' + path.split('/').map(encodeURIComponent).join('/');
}

const ROW_H = 41; // px, fixed: long folders are drawn a window at a time
const WINDOW_FROM = 300;
// The window moves row by row: measured scrolling 10,000 entries, steps of
// 16 rows (one re-render every few frames, each drawing 16 new rows) had
// a frame p95 of 33 ms; row by row, 17 ms.
const STEP = 1;
const MARGIN = 10; // rows drawn beyond the screen, above and below

function compare(key, dir) {
	return (a, b) => {
		// folders first, whatever the order
		if ((a.type === 'directory') !== (b.type === 'directory')) return a.type === 'directory' ? -1 : 1;
		let x = a[key], y = b[key];
		if (key === 'name') return dir * a.name.localeCompare(b.name, undefined, { numeric: true });
		if (x === undefined || x === null) x = '';
		if (y === undefined || y === null) y = '';
		return dir * (x < y ? -1 : x > y ? 1 : a.name.localeCompare(b.name));
	};
}

function Breadcrumbs({ path }) {
	const parts = path.split('/').filter(Boolean);
	return (
		<nav aria-label="Folder path" class="crumbs">
			<ol>
				<li>
					<a href="/files/" aria-label="The root folder">/</a>
				</li>
				{parts.map((p, i) => {
					const sub = '/' + parts.slice(0, i + 1).join('/');
					return (
						<li>
							{i === parts.length - 1 ? <span aria-current="page">{p}</span> : <a href={filesHref(sub)}>{p}</a>}
						</li>
					);
				})}
			</ol>
		</nav>
	);
}

// The rows on screen (and a margin) of a long listing, from the window's
// scroll position: [first, last, rowHeight]. The height is measured from a
// drawn row (fonts and zoom change it), so spacers match what is skipped.
function useWindow(count, tableRef) {
	const [range, setRange] = useState([0, Math.min(count, 60), ROW_H]);
	useEffect(() => {
		if (count < WINDOW_FROM) {
			setRange([0, count, ROW_H]);
			return;
		}
		let frame = 0;
		const measure = () => {
			frame = 0;
			const t = tableRef.current;
			if (!t) return;
			const sample = t.querySelector('tbody tr:not(.spacer)');
			const h = sample ? sample.getBoundingClientRect().height || ROW_H : ROW_H;
			const head = t.tHead ? t.tHead.getBoundingClientRect().height : 0;
			const top = t.getBoundingClientRect().top + window.scrollY + head;
			const at = Math.floor((window.scrollY - top) / h);
			const first = Math.min(count, Math.max(0, Math.floor((at - MARGIN) / STEP) * STEP));
			const seen = Math.ceil(window.innerHeight / h);
			const last = Math.min(count, first + seen + 2 * MARGIN + STEP);
			setRange((r) => (r[0] === first && r[1] === last && r[2] === h ? r : [first, last, h]));
		};
		const on = () => {
			if (!frame) frame = requestAnimationFrame(measure);
		};
		measure();
		addEventListener('scroll', on, { passive: true });
		addEventListener('resize', on);
		return () => {
			removeEventListener('scroll', on);
			removeEventListener('resize', on);
			if (frame) cancelAnimationFrame(frame);
		};
	}, [count]);
	useEffect(() => {
		// the first measure ran before a row existed: measure again once drawn
		if (count >= WINDOW_FROM) requestAnimationFrame(() => dispatchEvent(new Event('scroll')));
	}, [count >= WINDOW_FROM]);
	return range;
}

// What a row shows of an entry, formatted once per entry (dates through
// Intl are costly, and a scroll frame may draw dozens of rows).
const shown = new WeakMap();
function shownOf(e) {
	let v = shown.get(e);
	if (!v) {
		v = {
			size: e.type === 'directory' ? '' : humanSize(e.size),
			mode: modeString(e.type, e.mode),
			when: shortTime(e.modified_at),
			full: fullTime(e.modified_at),
		};
		shown.set(e, v);
	}
	return v;
}

/* One entry's row; drawn again only when the entry, its selection or the
 * folder changed (not when the window around it moved). */
class Row extends Component {
	shouldComponentUpdate(next) {
		const p = this.props;
		return next.e !== p.e || next.on !== p.on || next.dir !== p.dir || next.toggle !== p.toggle;
	}

	render({ e, dir, on, toggle, openEntry }) {
		const v = shownOf(e);
		return (
			<tr class={on ? 'selected' : ''}>
				<td class="sel">
					<input type="checkbox" aria-label={`Select ${e.name}`} checked={on} onChange={() => toggle(e.name)} />
				</td>
				<td class="name">
					<span class={`ficon ${e.type === 'directory' ? 'dir' : 'file'}`} aria-hidden="true" />
					{e.type === 'directory' ? (
						<a href={filesHref(joinPath(dir, e.name))}>{e.name}</a>
					) : (
						<button type="button" class="link" onClick={() => openEntry(e)} title={`Preview ${e.name}`}>
							{e.name}
						</button>
					)}
					<span class="visually-hidden">{e.type === 'directory' ? ', folder' : ''}</span>
				</td>
				<td class="num">{v.size}</td>
				<td class="mono hide-s">{v.mode}</td>
				<td class="hide-s">{e.owner}</td>
				<td class="hide-m">{e.group}</td>
				<td class="hide-s" title={v.full}>
					{v.when}
				</td>
			</tr>
		);
	}
}

/*
 * The listing's rows. A long folder is drawn a window at a time, and the
 * window's state lives here: a scroll frame re-renders these rows, not
 * the page around them.
 */
function ListingRows({ sorted, dir, selected, toggle, openEntry, tableRef }) {
	const [first, last, rowH] = useWindow(sorted.length, tableRef);
	const windowed = sorted.length >= WINDOW_FROM;
	const rows = windowed ? sorted.slice(first, last) : sorted;
	return (
		<tbody>
			{windowed && first > 0 ? (
				<tr class="spacer" aria-hidden="true">
					<td colSpan={7} style={{ height: first * rowH + 'px' }} />
				</tr>
			) : null}
			{rows.map((e) => (
				<Row key={e.name} e={e} dir={dir} on={selected.has(e.name)} toggle={toggle} openEntry={openEntry} />
			))}
			{windowed && last < sorted.length ? (
				<tr class="spacer" aria-hidden="true">
					<td colSpan={7} style={{ height: (sorted.length - last) * rowH + 'px' }} />
				</tr>
			) : null}
		</tbody>
	);
}

export function FilesPage({ path, user }) {
	const [listing, setListing] = useState({ dir: null, items: [], done: false, error: null, loading: true });
	const [focusFile, setFocusFile] = useState(null); // the file the URL names
	const [selected, setSelected] = useState(new Set());
	const [sortKey, sortDir, setSort] = useSort('name');
	const [dialog, setDialog] = useState(null);
	const [dragging, setDragging] = useState(false);
	const [tick, setTick] = useState(0);
	const tableRef = useRef();
	const reload = () => setTick((t) => t + 1);

	// what the URL names: a folder, or a file (shown in its folder, previewed)
	const shownPath = useRef(null);
	useEffect(() => {
		let live = true;
		setSelected(new Set());
		// another folder: nothing of the last one stays on screen; the same
		// one reloaded (after a change): its rows stay until the new ones
		if (shownPath.current !== path) setListing({ dir: null, items: [], done: false, error: null, loading: true });
		else setListing((l) => ({ ...l, loading: true, error: null }));
		shownPath.current = path;
		(async () => {
			let dir = path;
			let file = null;
			try {
				const st = await get(fsUrl(path, { stat: 'true' }));
				if (st.type !== 'directory') {
					file = { ...st, name: baseName(path) };
					dir = parentOf(path);
				}
			} catch (e) {
				if (live) setListing({ dir: path, items: [], done: true, error: e, loading: false });
				return;
			}
			if (!live) return;
			// the folder first: a preview opened from the URL names its file
			// within it (before, it asked for FILE/FILE and showed an error)
			setListing((l) => ({ ...l, dir }));
			setFocusFile(file);
			let items = [];
			let cursor = null;
			try {
				do {
					const q = { limit: '1000' };
					if (cursor) q.cursor = cursor;
					const page = await get(fsUrl(dir, q));
					if (!live) return;
					items = items.concat(page.items);
					cursor = page.next_cursor;
					// paint the first page at once; the rest as it comes
					setListing({ dir, items, done: !cursor, error: null, loading: false });
				} while (cursor);
			} catch (e) {
				if (live) setListing({ dir, items, done: true, error: e, loading: false });
			}
		})();
		return () => {
			live = false;
		};
	}, [path, tick]);

	// a finished upload into this folder shows up
	useEffect(() => {
		let t = null;
		return onUploaded((d) => {
			if (d === listing.dir) {
				clearTimeout(t);
				t = setTimeout(reload, 300);
			}
		});
	}, [listing.dir]);

	const dir = listing.dir || path;
	const sorted = useMemo(() => listing.items.slice().sort(compare(sortKey, sortDir)), [listing.items, sortKey, sortDir]);
	const byName = (n) => listing.items.find((e) => e.name === n);
	const sel = [...selected].map(byName).filter(Boolean);
	const one = sel.length === 1 ? sel[0] : null;

	const toggle = useCallback((name) => {
		setSelected((prev) => {
			const s = new Set(prev);
			if (s.has(name)) s.delete(name);
			else s.add(name);
			return s;
		});
	}, []);
	const allOn = listing.items.length > 0 && selected.size === listing.items.length;

	const upload = (files) => {
		if (!files.length) return;
		const dirs = new Set();
		const list = [];
		for (const f of files) {
			if (f.dir) dirs.add(joinPath(dir, f.dir));
			else list.push({ file: f.file, path: joinPath(dir, f.rel) });
		}
		makeDirs(dirs)
			.then(() => {
				if (dirs.size) reload();
				enqueue(list);
			})
			.catch((e) => notify(e.message, 'error'));
		if (list.length) notify(`Uploading ${list.length} file${list.length === 1 ? '' : 's'} to ${dir}`);
	};
	const onPick = (e) => {
		const files = [...e.target.files].map((f) => ({ file: f, rel: f.webkitRelativePath || f.name }));
		e.target.value = '';
		upload(files);
	};
	const onDrop = async (e) => {
		e.preventDefault();
		setDragging(false);
		try {
			upload(await filesOfDrop(e.dataTransfer));
		} catch (err) {
			notify(`Cannot read what was dropped: ${err.message}`, 'error');
		}
	};

	const openEntry = (e) => (e.type === 'directory' ? navigate(filesHref(joinPath(dir, e.name))) : setDialog({ kind: 'preview', entry: e }));
	useEffect(() => {
		if (focusFile) setDialog({ kind: 'preview', entry: focusFile, fromUrl: true });
	}, [focusFile]);
	const closeDialog = () => {
		if (dialog && dialog.fromUrl) navigate(filesHref(dir), { replace: true });
		setDialog(null);
	};

	const download = (e, fmt) => {
		const p = joinPath(dir, e.name);
		const a = document.createElement('a');
		a.href = e.type === 'directory' ? fsUrl(p, { archive: fmt || 'zip' }) : fsUrl(p, { download: '1' });
		a.download = '';
		document.body.appendChild(a);
		a.click();
		a.remove();
	};

	const windowed = sorted.length >= WINDOW_FROM;
	const isProject = dir.match(/^\/projects\/([^/]+)/);

	return (
		<section
			class={`files ${dragging ? 'dragging' : ''}`}
			onDragOver={(e) => {
				e.preventDefault();
				e.dataTransfer.dropEffect = 'copy';
				if (!dragging) setDragging(true);
			}}
			onDragLeave={(e) => {
				if (!e.currentTarget.contains(e.relatedTarget)) setDragging(false);
			}}
			onDrop={onDrop}
		>
			<PageTitle>{baseName(dir) === '/' ? 'Files' : baseName(dir)}</PageTitle>
			<Breadcrumbs path={dir} />
			<div class="toolbar" role="toolbar" aria-label="Folder actions">
				<label class="button primary">
					Upload files
					<input type="file" multiple class="visually-hidden" onChange={onPick} />
				</label>
				<label class="button">
					Upload folder
					<input type="file" multiple webkitdirectory="" class="visually-hidden" onChange={onPick} />
				</label>
				<button type="button" onClick={() => setDialog({ kind: 'mkdir' })}>
					New folder
				</button>
				<span class="nav-gap" />
				<span class="muted small">Download this folder:</span>
				<a class="button" href={fsUrl(dir, { archive: 'zip' })} download>
					.zip
				</a>
				<a class="button" href={fsUrl(dir, { archive: 'tar.gz' })} download>
					.tar.gz
				</a>
			</div>
			{sel.length ? (
				<div class="toolbar selbar" role="toolbar" aria-label="Actions on the selection">
					<span class="selcount">{sel.length} selected</span>
					<button type="button" onClick={() => sel.forEach((e) => download(e))}>
						Download
					</button>
					<button type="button" disabled={!one} onClick={() => setDialog({ kind: 'move', entry: one })}>
						Rename or move
					</button>
					<button type="button" disabled={!one} onClick={() => setDialog({ kind: 'copy', entry: one })}>
						Copy
					</button>
					<button type="button" disabled={!one} onClick={() => setDialog({ kind: 'perms', entry: one })}>
						Permissions
					</button>
					<button type="button" disabled={!one} onClick={() => setDialog({ kind: 'share', entry: one })}>
						Share
					</button>
					<button type="button" disabled={sel.some((e) => e.type === 'directory')}
						onClick={() => navigate('/jobs/new?' + sel.map((e) => 'input=' + encodeURIComponent(joinPath(dir, e.name))).join('&'))}>
						Run a job
					</button>
					<button type="button" class="danger" onClick={() => setDialog({ kind: 'delete', entries: sel })}>
						Delete
					</button>
					<button type="button" class="link" onClick={() => setSelected(new Set())}>
						Clear selection
					</button>
				</div>
			) : null}
			{dragging ? (
				<div class="dropzone" aria-hidden="true">
					Drop files or folders to upload them to {dir}
				</div>
			) : null}
			<ErrorBox error={listing.error} />
			{listing.loading && !listing.items.length ? <Spinner label="Loading the folder…" /> : null}
			{!listing.loading && !listing.error && !listing.items.length ? (
				<Empty>This folder is empty. Drop files here, or use Upload.</Empty>
			) : null}
			{listing.items.length ? (
				<div class="table-wrap">
				<table class={`listing${windowed ? ' windowed' : ''}`} ref={tableRef} aria-label={`Contents of ${dir}`} aria-rowcount={sorted.length + 1}>
					<thead>
						<tr>
							<th scope="col" class="sel">
								<input type="checkbox" aria-label="Select all" checked={allOn}
									onChange={() => setSelected(allOn ? new Set() : new Set(listing.items.map((e) => e.name)))} />
							</th>
							<SortHeader label="Name" k="name" sortKey={sortKey} dir={sortDir} onSort={setSort} />
							<SortHeader label="Size" k="size" sortKey={sortKey} dir={sortDir} onSort={setSort} class="num" />
							<SortHeader label="Mode" k="mode" sortKey={sortKey} dir={sortDir} onSort={setSort} class="hide-s" />
							<SortHeader label="Owner" k="owner" sortKey={sortKey} dir={sortDir} onSort={setSort} class="hide-s" />
							<SortHeader label="Group" k="group" sortKey={sortKey} dir={sortDir} onSort={setSort} class="hide-m" />
							<SortHeader label="Modified" k="modified_at" sortKey={sortKey} dir={sortDir} onSort={setSort} class="hide-s" />
						</tr>
					</thead>
					<ListingRows sorted={sorted} dir={dir} selected={selected} toggle={toggle} openEntry={openEntry} tableRef={tableRef} />
				</table>
				</div>
			) : null}
			{!listing.done && listing.items.length ? <Spinner label={`Loading more… (${listing.items.length} so far)`} /> : null}
			{listing.done && listing.items.length ? (
				<p class="count">
					{listing.items.length} {listing.items.length === 1 ? 'entry' : 'entries'}
					{selected.size ? `, ${selected.size} selected` : ''}
				</p>
			) : null}
			<Quota user={user} project={isProject ? isProject[1] : null} tick={`${dir}:${tick}`} />
			<Uploads />
			{dialog && dialog.kind === 'mkdir' ? <MkdirDialog dir={dir} onClose={closeDialog} onDone={reload} /> : null}
			{dialog && (dialog.kind === 'move' || dialog.kind === 'copy') ? (
				<MoveDialog kind={dialog.kind} dir={dir} entry={dialog.entry} onClose={closeDialog} onDone={reload} />
			) : null}
			{dialog && dialog.kind === 'perms' ? <PermsDialog dir={dir} entry={dialog.entry} user={user} onClose={closeDialog} onDone={reload} /> : null}
			{dialog && dialog.kind === 'share' ? <ShareDialog path={joinPath(dir, dialog.entry.name)} onClose={closeDialog} /> : null}
			{dialog && dialog.kind === 'preview' ? (
				<PreviewDialog dir={dir} entry={dialog.entry} onClose={closeDialog}
					onAction={(kind) => setDialog({ kind, entry: dialog.entry, fromUrl: dialog.fromUrl })} download={download} />
			) : null}
			{dialog && dialog.kind === 'delete' ? (
				<Confirm
					title={dialog.entries.length === 1 ? `Delete ${dialog.entries[0].name}?` : `Delete ${dialog.entries.length} items?`}
					message={dialog.entries.some((e) => e.type === 'directory')
						? 'Folders are deleted with everything in them. This cannot be undone.'
						: 'This cannot be undone.'}
					onClose={closeDialog}
					onConfirm={async () => {
						for (const e of dialog.entries) await del(fsUrl(joinPath(dir, e.name), e.type === 'directory' ? { recursive: 'true' } : null));
						notify(`Deleted ${dialog.entries.length === 1 ? dialog.entries[0].name : dialog.entries.length + ' items'}`);
						reload();
					}}
				/>
			) : null}
		</section>
	);
}

function Quota({ user, project, tick }) {
	const [df] = useLoad(() => get('/v1/df'), [tick]);
	if (!df) return null;
	const mine = df.items.find((i) => i.scope === `user:${user.uid}`);
	const proj = project ? df.items.find((i) => i.scope === `project:${project}`) : null;
	return (
		<aside class="quota" aria-label="Storage used">
			{mine ? <UsageBar label="Your storage" used={mine.used} limit={mine.limit} /> : null}
			{proj ? <UsageBar label={`Project ${project}`} used={proj.used} limit={proj.limit} /> : null}
		</aside>
	);
}

function Uploads() {
	const [items, setItems] = useState([]);
	const [small, setSmall] = useState(false);
	useEffect(() => onUploads(setItems), []);
	const active = items.filter((i) => !['done', 'cancelled', 'failed'].includes(i.state)).length;
	const failed = items.filter((i) => i.state === 'failed').length;
	// once everything has landed, the panel folds itself away
	useEffect(() => {
		if (!items.length || active || failed) return;
		const t = setTimeout(() => setSmall(true), 3000);
		return () => clearTimeout(t);
	}, [active, failed, items.length]);
	useEffect(() => {
		if (active) setSmall(false);
	}, [active > 0]);
	if (!items.length) return null;
	const summary = active ? `${active} in progress` : failed ? `${failed} failed` : `${items.length} done`;
	return (
		<aside class={`uploads ${small ? 'small' : ''}`} aria-label="Uploads">
			<header>
				<h2>Uploads ({summary})</h2>
				<button type="button" aria-expanded={!small} onClick={() => setSmall(!small)}>
					{small ? 'Show' : 'Hide'}
				</button>
				{!active ? (
					<button type="button" onClick={clearFinished}>
						Clear
					</button>
				) : null}
			</header>
			<ul hidden={small}>
				{items.map((it) => {
					const pct = it.size ? Math.floor((100 * it.sent) / it.size) : it.state === 'done' ? 100 : 0;
					const name = baseName(it.path);
					return (
						<li key={it.id} class={`up up-${it.state}`}>
							<div class="up-line">
								<span class="up-name" title={it.path}>{name}</span>
								<span class="up-state">
									{it.state === 'uploading' ? `${pct}%` : it.state}
									{' · '}
									{humanSize(it.sent)} of {humanSize(it.size)}
								</span>
							</div>
							<progress max="100" value={pct} aria-label={`${name}: ${pct}% uploaded, ${it.state}`} />
							{it.error ? <small class={it.state === 'failed' ? 'up-error' : 'up-note'}>{it.error}</small> : null}
							<div class="up-actions">
								{['uploading', 'retrying', 'queued'].includes(it.state) ? (
									<button type="button" onClick={() => pause(it.id)} aria-label={`Pause ${name}`}>
										Pause
									</button>
								) : null}
								{['paused', 'failed'].includes(it.state) ? (
									<button type="button" onClick={() => resume(it.id)} aria-label={`Resume ${name}`}>
										Resume
									</button>
								) : null}
								{!['done', 'cancelled'].includes(it.state) ? (
									<button type="button" onClick={() => cancel(it.id)} aria-label={`Cancel ${name}`}>
										Cancel
									</button>
								) : null}
							</div>
						</li>
					);
				})}
			</ul>
		</aside>
	);
}

function MkdirDialog({ dir, onClose, onDone }) {
	const [name, setName] = useState('');
	const [submit, busy, error] = useSubmit(async () => {
		await post(fsUrl(joinPath(dir, name.trim())), { op: 'mkdir' });
		notify(`Created folder ${name.trim()}`);
		onDone();
		onClose();
	});
	return (
		<Dialog title="New folder" onClose={onClose}>
			<form onSubmit={submit}>
				<div class="field">
					<label for="mk-name">Folder name</label>
					<input id="mk-name" required autoFocus value={name} onInput={(e) => setName(e.target.value)} />
				</div>
				<ErrorBox error={error} />
				<div class="actions">
					<button type="button" onClick={onClose}>
						Cancel
					</button>
					<button type="submit" class="primary" disabled={busy || !name.trim()}>
						Create
					</button>
				</div>
			</form>
		</Dialog>
	);
}

function MoveDialog({ kind, dir, entry, onClose, onDone }) {
	const from = joinPath(dir, entry.name);
	const [to, setTo] = useState(kind === 'copy' ? joinPath(dir, entry.name + ' copy') : from);
	const [submit, busy, error] = useSubmit(async () => {
		let dest = to.trim();
		if (!dest.startsWith('/')) dest = joinPath(dir, dest);
		const body = kind === 'copy' ? { op: 'copy', to: dest, recursive: entry.type === 'directory' } : { op: 'move', to: dest };
		await post(fsUrl(from), body);
		notify(`${kind === 'copy' ? 'Copied' : 'Moved'} ${entry.name} to ${dest}`);
		onDone();
		onClose();
	});
	return (
		<Dialog title={`${kind === 'copy' ? 'Copy' : 'Rename or move'} ${entry.name}`} onClose={onClose}>
			<form onSubmit={submit}>
				<div class="field">
					<label for="mv-to">{kind === 'copy' ? 'Copy to' : 'New name or path'}</label>
					<input id="mv-to" required autoFocus value={to} onInput={(e) => setTo(e.target.value)} spellcheck={false} />
					<small class="hint">A name stays in this folder; a path starting with / goes anywhere you may write.</small>
				</div>
				<ErrorBox error={error} />
				<div class="actions">
					<button type="button" onClick={onClose}>
						Cancel
					</button>
					<button type="submit" class="primary" disabled={busy || !to.trim() || to.trim() === from}>
						{kind === 'copy' ? 'Copy' : 'Move'}
					</button>
				</div>
			</form>
		</Dialog>
	);
}

const BITS = [
	['Owner', 0o400, 0o200, 0o100],
	['Group', 0o40, 0o20, 0o10],
	['Others', 0o4, 0o2, 0o1],
];

function PermsDialog({ dir, entry, user, onClose, onDone }) {
	const path = joinPath(dir, entry.name);
	const [mode, setMode] = useState(parseInt(entry.mode, 8) || 0);
	const [group, setGroup] = useState(entry.group);
	const [owner, setOwner] = useState(entry.owner);
	const [recursive, setRecursive] = useState(false);
	const groups = [...new Set([entry.group, ...(user.groups || []), user.username])].filter(Boolean);
	const mayChange = user.admin || entry.owner === user.username;
	const flip = (b) => setMode(mode ^ b);
	const octal = (mode & 0o7777).toString(8).padStart(4, '0');
	const [submit, busy, error] = useSubmit(async () => {
		const body = { mode: octal };
		if (group !== entry.group) body.group = group;
		if (user.admin && owner.trim() && owner.trim() !== entry.owner) body.owner = owner.trim();
		if (recursive) body.recursive = true;
		await patch(fsUrl(path), body);
		notify(`Permissions of ${entry.name} changed to ${modeString(entry.type, octal)}`);
		onDone();
		onClose();
	});
	return (
		<Dialog title={`Permissions of ${entry.name}`} onClose={onClose}>
			<form onSubmit={submit}>
				<table class="perms">
					<caption class="visually-hidden">Who may read, write and {entry.type === 'directory' ? 'enter' : 'execute'}</caption>
					<thead>
						<tr>
							<th scope="col">Who</th>
							<th scope="col">Read</th>
							<th scope="col">Write</th>
							<th scope="col">{entry.type === 'directory' ? 'Enter' : 'Execute'}</th>
						</tr>
					</thead>
					<tbody>
						{BITS.map(([who, r, w, x]) => (
							<tr>
								<th scope="row">{who}</th>
								{[[r, 'read'], [w, 'write'], [x, entry.type === 'directory' ? 'enter' : 'execute']].map(([b, what]) => (
									<td>
										<input type="checkbox" checked={!!(mode & b)} disabled={!mayChange} aria-label={`${who}: ${what}`} onChange={() => flip(b)} />
									</td>
								))}
							</tr>
						))}
					</tbody>
				</table>
				<fieldset class="specials">
					<legend>Special</legend>
					<label>
						<input type="checkbox" checked={!!(mode & 0o2000)} disabled={!mayChange} onChange={() => flip(0o2000)} />
						Set group ID (setgid){entry.type === 'directory' ? ': new entries take this folder\'s group' : ''}
					</label>
					{entry.type === 'directory' ? (
						<label>
							<input type="checkbox" checked={!!(mode & 0o1000)} disabled={!mayChange} onChange={() => flip(0o1000)} />
							Sticky: only an entry's owner may delete or rename it
						</label>
					) : null}
				</fieldset>
				<p class="mono" aria-live="polite">
					{modeString(entry.type, octal)} ({octal})
				</p>
				<div class="field">
					<label for="pm-group">Group</label>
					<select id="pm-group" value={group} disabled={!mayChange} onChange={(e) => setGroup(e.target.value)}>
						{groups.map((g) => (
							<option value={g}>{g}</option>
						))}
					</select>
				</div>
				{user.admin ? (
					<div class="field">
						<label for="pm-owner">Owner</label>
						<input id="pm-owner" value={owner} onInput={(e) => setOwner(e.target.value)} spellcheck={false} />
					</div>
				) : null}
				{entry.type === 'directory' ? (
					<label class="check">
						<input type="checkbox" checked={recursive} onChange={(e) => setRecursive(e.target.checked)} />
						Apply to everything inside too
					</label>
				) : null}
				{!mayChange ? <p class="hint">Only the owner ({entry.owner}) or an administrator may change these.</p> : null}
				<ErrorBox error={error} />
				<div class="actions">
					<button type="button" onClick={onClose}>
						Cancel
					</button>
					<button type="submit" class="primary" disabled={busy || !mayChange}>
						Apply
					</button>
				</div>
			</form>
		</Dialog>
	);
}

const EXPIRIES = [
	['1h', '1 hour'],
	['1d', '1 day'],
	['7d', '7 days'],
	['30d', '30 days'],
	['', 'Never'],
];

function ShareDialog({ path, onClose }) {
	const [expires, setExpires] = useState('7d');
	const [created, setCreated] = useState(null);
	const [tick, setTick] = useState(0);
	const [links, loadErr] = useLoad(async () => (await getAll('/v1/shares')).filter((s) => s.path === path), [path, tick]);
	const [submit, busy, error] = useSubmit(async () => {
		const body = { path };
		if (expires) body.expires_in = expires;
		const s = await post('/v1/shares', body);
		setCreated(s);
		setTick(tick + 1);
	});
	const revoke = async (id) => {
		try {
			await del(`/v1/shares/${id}`);
			notify('Link revoked');
			if (created && created.id === id) setCreated(null);
			setTick(tick + 1);
		} catch (e) {
			notify(e.message, 'error');
		}
	};
	return (
		<Dialog title={`Share ${baseName(path)}`} onClose={onClose} wide>
			<p>Anyone with the link can read {baseName(path)}, without an account, until it expires or you revoke it.</p>
			<form onSubmit={submit} class="inline">
				<div class="field">
					<label for="sh-exp">Expires after</label>
					<select id="sh-exp" value={expires} onChange={(e) => setExpires(e.target.value)}>
						{EXPIRIES.map(([v, l]) => (
							<option value={v}>{l}</option>
						))}
					</select>
				</div>
				<button type="submit" class="primary" disabled={busy}>
					Create link
				</button>
			</form>
			<ErrorBox error={error || loadErr} />
			{created ? (
				<div class="created">
					<label for="sh-url">New link</label>
					<div class="copyline">
						<input id="sh-url" readOnly value={created.url} onFocus={(e) => e.target.select()} />
						<CopyButton text={created.url} label="Copy link" />
					</div>
				</div>
			) : null}
			<h3>Links to {baseName(path)}</h3>
			<p class="hint">A link's address is shown only when it is made; here you can revoke it.</p>
			{!links ? <Spinner /> : links.length === 0 ? <Empty>None yet.</Empty> : (
				<table class="plain">
					<thead>
						<tr>
							<th scope="col">Created</th>
							<th scope="col">Expires</th>
							<th scope="col">Uses</th>
							<th scope="col"><span class="visually-hidden">Actions</span></th>
						</tr>
					</thead>
					<tbody>
						{links.map((l) => (
							<tr>
								<td>{fullTime(l.created_at)}</td>
								<td>{l.expires_at ? fullTime(l.expires_at) : 'never'}</td>
								<td>{l.uses}</td>
								<td>
									<button type="button" class="danger" onClick={() => revoke(l.id)} aria-label={`Revoke the link made ${fullTime(l.created_at)}`}>
										Revoke
									</button>
								</td>
							</tr>
						))}
					</tbody>
				</table>
			)}
		</Dialog>
	);
}

const IMAGE = { png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', gif: 'image/gif', webp: 'image/webp', svg: 'image/svg+xml', bmp: 'image/bmp', avif: 'image/avif' };
const TEXT = /\.(txt|md|log|json|ya?ml|toml|ini|cfg|conf|py|r|sh|bash|sql|m|c|h|js|ts|jsx|css|html?|xml|tex|ipynb|out|err|tsv)$/i;
const PREVIEW_MAX = 50 * 1024 * 1024;
const TEXT_BYTES = 256 * 1024;

// A tiny CSV reader for the first rows (quotes, escaped quotes, commas and
// newlines inside quotes); enough to show a table, not to import data.
export function csvRows(text, maxRows, sep = ',') {
	const rows = [];
	let row = [], cell = '', q = false;
	for (let i = 0; i < text.length && rows.length < maxRows; i++) {
		const c = text[i];
		if (q) {
			if (c === '"' && text[i + 1] === '"') {
				cell += '"';
				i++;
			} else if (c === '"') q = false;
			else cell += c;
		} else if (c === '"') q = true;
		else if (c === sep) {
			row.push(cell);
			cell = '';
		} else if (c === '\n' || c === '\r') {
			if (c === '\r' && text[i + 1] === '\n') i++;
			row.push(cell);
			rows.push(row);
			row = [];
			cell = '';
		} else cell += c;
	}
	if ((cell || row.length) && rows.length < maxRows) {
		row.push(cell);
		rows.push(row);
	}
	return rows;
}

function PreviewDialog({ dir, entry, onClose, onAction, download }) {
	const path = joinPath(dir, entry.name);
	const ext = (entry.name.split('.').pop() || '').toLowerCase();
	const kind = IMAGE[ext] ? 'image' : ext === 'pdf' ? 'pdf' : ext === 'csv' || ext === 'tsv' ? 'csv' : TEXT.test(entry.name) || entry.size < 64 * 1024 ? 'text' : 'none';
	const [content, setContent] = useState(null);
	const [error, setError] = useState(null);
	useEffect(() => {
		let url = null;
		let live = true;
		setContent(null);
		setError(null);
		(async () => {
			try {
				if (kind === 'none') return;
				if ((kind === 'image' || kind === 'pdf') && entry.size > PREVIEW_MAX) {
					setContent({ tooBig: true });
					return;
				}
				const headers = kind === 'text' || kind === 'csv' ? { Range: `bytes=0-${TEXT_BYTES - 1}` } : {};
				const res = await fetch(fsUrl(path), { headers, credentials: 'same-origin' });
				if (!res.ok && res.status !== 206) throw new ApiError(res.status, await res.json().catch(() => null));
				if (kind === 'image' || kind === 'pdf') {
					// bytes typed by us: never run as a document of this origin
					const blob = new Blob([await res.arrayBuffer()], { type: kind === 'pdf' ? 'application/pdf' : IMAGE[ext] });
					url = URL.createObjectURL(blob);
					if (live) setContent({ url });
				} else {
					const buf = await res.arrayBuffer();
					let text = new TextDecoder('utf-8', { fatal: false }).decode(buf);
					const cut = entry.size > TEXT_BYTES;
					if (cut) text = text.slice(0, text.lastIndexOf('\n') > 0 ? text.lastIndexOf('\n') : text.length);
					if (live) setContent({ text, cut, binary: /\u0000/.test(text.slice(0, 4096)) });
				}
			} catch (e) {
				if (live) setError(e);
			}
		})();
		return () => {
			live = false;
			if (url) URL.revokeObjectURL(url);
		};
	}, [path]);
	let body;
	if (error) body = <ErrorBox error={error} />;
	else if (kind === 'none' || (content && content.binary)) body = <p>No preview for this kind of file. Download it to open it.</p>;
	else if (!content) body = <Spinner label="Loading the preview…" />;
	else if (content.tooBig) body = <p>This file is too big to preview ({humanSize(entry.size)}).</p>;
	else if (kind === 'image') body = <img class="preview-img" src={content.url} alt={`Preview of ${entry.name}`} />;
	else if (kind === 'pdf') body = <iframe class="preview-pdf" src={content.url} title={`Preview of ${entry.name}`} />;
	else if (kind === 'csv') {
		const rows = csvRows(content.text, 101, ext === 'tsv' ? '\t' : ',');
		body = (
			<div class="preview-table" tabIndex={0} role="region" aria-label={`First rows of ${entry.name}`}>
				<table class="plain" aria-label={`First rows of ${entry.name}`}>
					<thead>
						<tr>
							{(rows[0] || []).map((h) => (
								<th scope="col">{h}</th>
							))}
						</tr>
					</thead>
					<tbody>
						{rows.slice(1).map((r) => (
							<tr>
								{r.map((c) => (
									<td>{c}</td>
								))}
							</tr>
						))}
					</tbody>
				</table>
				<p class="hint">
					{rows.length > 100 || content.cut ? `The first ${Math.max(0, rows.length - 1)} rows.` : `${Math.max(0, rows.length - 1)} rows.`}
				</p>
			</div>
		);
	} else
		body = (
			<>
				<pre class="preview-text" tabIndex={0} aria-label={`Text of ${entry.name}`}>{content.text}</pre>
				{content.cut ? <p class="hint">The first {humanSize(TEXT_BYTES)} of {humanSize(entry.size)}.</p> : null}
			</>
		);
	return (
		<Dialog title={entry.name} onClose={onClose} wide>
			<p class="meta">
				{humanSize(entry.size)} · <span class="mono">{modeString(entry.type, entry.mode)}</span> · {entry.owner}:{entry.group} · modified {fullTime(entry.modified_at)}
			</p>
			<div class="actions left">
				<button type="button" onClick={() => download(entry)}>
					Download
				</button>
				<button type="button" onClick={() => navigate('/jobs/new?input=' + encodeURIComponent(path))}>
					Run a job on this file
				</button>
				<button type="button" onClick={() => onAction('share')}>
					Share
				</button>
				<button type="button" onClick={() => onAction('perms')}>
					Permissions
				</button>
			</div>
			<div class="preview">{body}</div>
		</Dialog>
	);
}

// Picking files for a job's inputs (or a folder for its output).
export function FilePicker({ start, folders, multiple = true, onPick, onClose }) {
	const [dir, setDir] = useState(start);
	const [chosen, setChosen] = useState(new Set());
	const [items, error] = useLoad(() => getAll(fsUrl(dir), 5000), [dir]);
	const sorted = (items || []).slice().sort(compare('name', 1));
	return (
		<Dialog title={folders ? 'Choose a folder' : 'Choose input files'} onClose={onClose} wide>
			<nav aria-label="Folder path" class="crumbs">
				<ol>
					<li>
						<button type="button" class="link" onClick={() => setDir('/')}>/</button>
					</li>
					{dir.split('/').filter(Boolean).map((p, i, all) => (
						<li>
							<button type="button" class="link" onClick={() => setDir('/' + all.slice(0, i + 1).join('/'))}>
								{p}
							</button>
						</li>
					))}
				</ol>
			</nav>
			<ErrorBox error={error} />
			{!items && !error ? <Spinner /> : null}
			<ul class="picker">
				{dir !== '/' ? (
					<li>
						<button type="button" class="link" onClick={() => setDir(parentOf(dir))}>
							.. (up)
						</button>
					</li>
				) : null}
				{sorted.map((e) => {
					const p = joinPath(dir, e.name);
					return (
						<li>
							{e.type === 'directory' ? (
								<button type="button" class="link" onClick={() => setDir(p)}>
									<span class="ficon dir" aria-hidden="true" />
									{e.name}/
								</button>
							) : folders ? (
								<span class="muted">{e.name}</span>
							) : (
								<label>
									<input type={multiple ? 'checkbox' : 'radio'} name="pick" checked={chosen.has(p)}
										onChange={() => {
											const s = multiple ? new Set(chosen) : new Set();
											if (s.has(p)) s.delete(p);
											else s.add(p);
											setChosen(s);
										}} />
									{e.name}
								</label>
							)}
						</li>
					);
				})}
			</ul>
			<div class="actions">
				<button type="button" onClick={onClose}>
					Cancel
				</button>
				<button type="button" class="primary" disabled={!folders && !chosen.size}
					onClick={() => {
						onPick(folders ? [dir] : [...chosen]);
						onClose();
					}}>
					{folders ? `Use ${dir}` : `Add ${chosen.size || ''} file${chosen.size === 1 ? '' : 's'}`}
				</button>
			</div>
		</Dialog>
	);
}
