// ui.jsx - the portal's small set of shared pieces: dialogs (native
// <dialog>: focus stays inside, Escape closes), notices read out by screen
// readers, loading and error states, sortable tables, usage bars.
// Every text shown here is rendered as text: nothing from the server is
// ever turned into markup.
import { useEffect, useRef, useState } from 'preact/hooks';
import { del } from './api.js';
import { humanSize } from './format.js';

// ---- notices (toasts) ---------------------------------------------------------

const toastListeners = new Set();
let toastSeq = 0;

export function notify(text, kind = 'info') {
	const t = { id: ++toastSeq, text, kind };
	for (const fn of toastListeners) fn(t);
}

export function Toasts() {
	const [items, setItems] = useState([]);
	useEffect(() => {
		const add = (t) => {
			setItems((xs) => [...xs.slice(-3), t]);
			setTimeout(() => setItems((xs) => xs.filter((x) => x.id !== t.id)), t.kind === 'error' ? 8000 : 4000);
		};
		toastListeners.add(add);
		return () => toastListeners.delete(add);
	}, []);
	return (
		<div class="toasts" role="status" aria-live="polite">
			{items.map((t) => (
				<div key={t.id} class={`toast toast-${t.kind}`}>{t.text}</div>
			))}
		</div>
	);
}

// ---- states -------------------------------------------------------------------

export function Spinner({ label = 'Loading…' }) {
	return (
		<p class="spinner" role="status">
			<span class="spin" aria-hidden="true" />
			{label}
		</p>
	);
}

export function ErrorBox({ error, children }) {
	if (!error && !children) return null;
	return (
		<div class="error" role="alert">
			{error ? (error.message || String(error)) : null}
			{children}
		</div>
	);
}

// Load something when deps change: [value, error, loading, reload]
export function useLoad(fn, deps) {
	const [state, setState] = useState({ value: undefined, error: null, loading: true });
	const [tick, setTick] = useState(0);
	useEffect(() => {
		let live = true;
		setState((s) => ({ ...s, loading: true, error: null }));
		Promise.resolve()
			.then(fn)
			.then((value) => live && setState({ value, error: null, loading: false }))
			.catch((error) => live && setState({ value: undefined, error, loading: false }));
		return () => {
			live = false;
		};
	}, [...deps, tick]);
	return [state.value, state.error, state.loading, () => setTick((t) => t + 1)];
}

// ---- dialogs -----------------------------------------------------------------

export function Dialog({ title, onClose, children, wide }) {
	const ref = useRef();
	useEffect(() => {
		const d = ref.current;
		if (d && !d.open) d.showModal();
		const cancel = (e) => {
			e.preventDefault();
			onClose();
		};
		d.addEventListener('cancel', cancel);
		return () => d.removeEventListener('cancel', cancel);
	}, []);
	const id = useRef('dlg' + Math.random().toString(36).slice(2)).current;
	return (
		<dialog ref={ref} class={wide ? 'wide' : ''} aria-labelledby={id}>
			<header class="dialog-head">
				<h2 id={id}>{title}</h2>
				<button type="button" class="icon" aria-label="Close" onClick={onClose}>
					×
				</button>
			</header>
			<div class="dialog-body">{children}</div>
		</dialog>
	);
}

// A dialog asking to confirm something that cannot be undone.
export function Confirm({ title, message, action = 'Delete', danger = true, onConfirm, onClose }) {
	const [busy, setBusy] = useState(false);
	const [error, setError] = useState(null);
	const go = async () => {
		setBusy(true);
		setError(null);
		try {
			await onConfirm();
			onClose();
		} catch (e) {
			setError(e);
			setBusy(false);
		}
	};
	return (
		<Dialog title={title} onClose={onClose}>
			<p>{message}</p>
			<ErrorBox error={error} />
			<div class="actions">
				<button type="button" onClick={onClose}>
					Cancel
				</button>
				<button type="button" class={danger ? 'danger' : 'primary'} disabled={busy} onClick={go}>
					{busy ? 'Working…' : action}
				</button>
			</div>
		</Dialog>
	);
}

// Confirm, then DELETE url; on success say done and call onDone.
export function ConfirmDelete({ title, message, action = 'Delete', url, done, onClose, onDone }) {
	return (
		<Confirm
			title={title}
			message={message}
			action={action}
			onClose={onClose}
			onConfirm={async () => {
				await del(url);
				notify(done);
				if (onDone) onDone();
			}}
		/>
	);
}

// A form whose submit calls fn (async); shows its error and a busy state.
export function useSubmit(fn) {
	const [busy, setBusy] = useState(false);
	const [error, setError] = useState(null);
	const submit = async (e) => {
		if (e) e.preventDefault();
		setBusy(true);
		setError(null);
		try {
			await fn();
		} catch (err) {
			setError(err);
		} finally {
			setBusy(false);
		}
	};
	return [submit, busy, error, setError];
}

export function Field({ label, children, hint, id }) {
	const fid = id || 'f' + label.toLowerCase().replace(/[^a-z0-9]+/g, '-');
	return (
		<div class="field">
			<label for={fid}>{label}</label>
			{children(fid)}
			{hint ? <small class="hint">{hint}</small> : null}
		</div>
	);
}

// ---- copying -----------------------------------------------------------------

export function CopyButton({ text, label = 'Copy' }) {
	const [done, setDone] = useState(false);
	const copy = async () => {
		try {
			await navigator.clipboard.writeText(text);
		} catch {
			// no clipboard permission (plain http on another host): select instead
			const ta = document.createElement('textarea');
			ta.value = text;
			document.body.appendChild(ta);
			ta.select();
			document.execCommand('copy');
			ta.remove();
		}
		setDone(true);
		setTimeout(() => setDone(false), 1500);
	};
	return (
		<button type="button" onClick={copy}>
			{done ? 'Copied' : label}
		</button>
	);
}

// ---- tables ------------------------------------------------------------------

// Sorting state for a table: [key, dir, setSort(key)], dir 1 or -1.
export function useSort(initial, initialDir = 1) {
	const [sort, setSortState] = useState({ key: initial, dir: initialDir });
	const setSort = (key) =>
		setSortState((s) => (s.key === key ? { key, dir: -s.dir } : { key, dir: 1 }));
	return [sort.key, sort.dir, setSort];
}

export function SortHeader({ label, k, sortKey, dir, onSort, class: cls }) {
	const active = sortKey === k;
	return (
		<th scope="col" class={cls} aria-sort={active ? (dir > 0 ? 'ascending' : 'descending') : 'none'}>
			<button type="button" class="sort" onClick={() => onSort(k)}>
				{label}
				<span aria-hidden="true" class="sort-mark">
					{active ? (dir > 0 ? '▲' : '▼') : ''}
				</span>
			</button>
		</th>
	);
}

export function StateBadge({ state }) {
	return <span class={`badge state-${state}`}>{(state || '').replace('_', ' ')}</span>;
}

// used against limit (0 = none) as a labelled bar
export function UsageBar({ label, used, limit }) {
	const pct = limit > 0 ? Math.min(100, (100 * used) / limit) : 0;
	return (
		<div class="usage">
			<div class="usage-label">
				<span>{label}</span>
				<span>
					{humanSize(used)}
					{limit > 0 ? ` of ${humanSize(limit)}` : ' (no limit)'}
				</span>
			</div>
			{limit > 0 ? (
				<progress max="100" value={pct} aria-label={`${label}: ${pct.toFixed(0)}% used`} class={pct > 90 ? 'full' : ''} />
			) : null}
		</div>
	);
}

export function Empty({ children }) {
	return <p class="empty">{children}</p>;
}

export function PageTitle({ children, actions }) {
	useEffect(() => {
		const t = typeof children === 'string' ? children : Array.isArray(children) ? children.filter((c) => typeof c === 'string').join('') : '';
		if (t) document.title = `${t} · cove`;
	}, [children]);
	return (
		<div class="page-head">
			<h1>{children}</h1>
			{actions ? <div class="page-actions">{actions}</div> : null}
		</div>
	);
}
