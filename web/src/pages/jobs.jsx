// jobs.jsx - the list of jobs (filters in the URL, kept up to date while
// the page is open) and a job's own page: its state and timeline, the log
// as it is written (Server-Sent Events), resources, inputs and outputs
// linked into the file browser, cancel, and "run again".
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, get, post } from '../api.js';
import { TERMINAL, duration, fullTime, humanSize, jobDuration, shortTime } from '../format.js';
import { navigate } from '../router.js';
import { Confirm, Empty, ErrorBox, PageTitle, Spinner, StateBadge, notify, useLoad } from '../ui.jsx';
import { filesHref } from './files.jsx';

const STATES = ['queued', 'starting', 'running', 'succeeded', 'failed', 'cancelled', 'timed_out', 'lost'];
const POLL_MS = 2000;

function useVisibleInterval(fn, ms, deps) {
	useEffect(() => {
		let t = null;
		const tick = () => {
			if (!document.hidden) fn();
		};
		t = setInterval(tick, ms);
		return () => clearInterval(t);
	}, deps);
}

export function JobsPage({ query, user }) {
	const filters = { state: query.get('state') || '', app: query.get('app') || '', queue: query.get('queue') || '', project: query.get('project') || '' };
	const [jobs, setJobs] = useState(null);
	const [next, setNext] = useState(null);
	const [more, setMore] = useState([]);
	const [error, setError] = useState(null);
	const [apps] = useLoad(() => get('/v1/apps'), []);
	const [queues] = useLoad(() => get('/v1/queues'), []);
	const qs = () => {
		const q = new URLSearchParams({ limit: '100' });
		for (const [k, v] of Object.entries(filters)) if (v) q.set(k, v);
		// "mine and my projects'": the API's scope=all
		if (filters.project === '*') {
			q.delete('project');
			q.set('scope', 'all');
		}
		return q;
	};
	const load = async () => {
		try {
			const page = await get('/v1/jobs?' + qs());
			setJobs(page.items);
			if (!more.length) setNext(page.next_cursor);
			setError(null);
		} catch (e) {
			setError(e);
		}
	};
	useEffect(() => {
		setJobs(null);
		setMore([]);
		load();
	}, [query.toString()]);
	useVisibleInterval(load, POLL_MS, [query.toString(), more.length]);
	const loadMore = async () => {
		const q = qs();
		q.set('cursor', next);
		try {
			const page = await get('/v1/jobs?' + q);
			setMore(more.concat(page.items));
			setNext(page.next_cursor);
		} catch (e) {
			setError(e);
		}
	};
	const setFilter = (k, v) => {
		const q = new URLSearchParams(query);
		if (v) q.set(k, v);
		else q.delete(k);
		navigate('/jobs' + (q.toString() ? '?' + q : ''), { replace: true });
	};
	const all = jobs ? jobs.concat(more.filter((m) => !jobs.some((j) => j.id === m.id))) : null;
	const projects = user.projects || [];
	return (
		<section>
			<PageTitle actions={<a class="button primary" href="/jobs/new">New job</a>}>Jobs</PageTitle>
			<form class="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filter jobs">
				<div class="field">
					<label for="jf-state">State</label>
					<select id="jf-state" value={filters.state} onChange={(e) => setFilter('state', e.target.value)}>
						<option value="">any</option>
						{STATES.map((s) => (
							<option value={s}>{s.replace('_', ' ')}</option>
						))}
					</select>
				</div>
				<div class="field">
					<label for="jf-app">Application</label>
					<select id="jf-app" value={filters.app} onChange={(e) => setFilter('app', e.target.value)}>
						<option value="">any</option>
						{(apps ? apps.items : []).map((a) => (
							<option value={a.name}>{a.name}</option>
						))}
					</select>
				</div>
				<div class="field">
					<label for="jf-queue">Queue</label>
					<select id="jf-queue" value={filters.queue} onChange={(e) => setFilter('queue', e.target.value)}>
						<option value="">any</option>
						{(queues ? queues.items : []).map((q) => (
							<option value={q.name}>{q.name}</option>
						))}
					</select>
				</div>
				<div class="field">
					<label for="jf-project">Project</label>
					<select id="jf-project" value={filters.project} onChange={(e) => setFilter('project', e.target.value)}>
						<option value="">my jobs</option>
						{projects.length ? <option value="*">mine and my projects'</option> : null}
						{projects.map((p) => (
							<option value={p.name}>{p.name}</option>
						))}
					</select>
				</div>
			</form>
			<ErrorBox error={error} />
			{!all && !error ? <Spinner label="Loading jobs…" /> : null}
			{all && !all.length ? (
				<Empty>
					No jobs {Object.values(filters).some(Boolean) ? 'match these filters' : 'yet'}. <a href="/jobs/new">Run one</a>.
				</Empty>
			) : null}
			{all && all.length ? (
				<div class="table-wrap">
				<table class="listing jobs" aria-label="Jobs">
					<thead>
						<tr>
							<th scope="col">Job</th>
							<th scope="col">State</th>
							<th scope="col">Application</th>
							<th scope="col" class="hide-s">User</th>
							<th scope="col" class="hide-m">Project</th>
							<th scope="col" class="hide-m">Queue</th>
							<th scope="col" class="hide-s">Submitted</th>
							<th scope="col" class="num hide-s">Took</th>
						</tr>
					</thead>
					<tbody>
						{all.map((j) => (
							<tr key={j.id}>
								<td>
									<a href={`/jobs/${j.id}`}>{j.name || j.id}</a>
									{j.name ? <div class="mono small muted id">{j.id}</div> : null}
								</td>
								<td>
									<StateBadge state={j.state} />
								</td>
								<td>{j.app}</td>
								<td class="hide-s">{j.user}</td>
								<td class="hide-m">{j.project || ''}</td>
								<td class="hide-m">{j.queue}</td>
								<td class="hide-s" title={fullTime(j.submitted_at)}>
									{shortTime(j.submitted_at)}
								</td>
								<td class="num hide-s">{jobDuration(j)}</td>
							</tr>
						))}
					</tbody>
				</table>
				</div>
			) : null}
			{next ? (
				<button type="button" onClick={loadMore}>
					Show older jobs
				</button>
			) : null}
		</section>
	);
}

// ---- one job ---------------------------------------------------------------------

const LOG_DOM_MAX = 20000; // lines kept on the page; the whole log downloads

function LogView({ id, over, onEnd }) {
	const preRef = useRef();
	const pending = useRef([]);
	const shown = useRef(0);
	const [follow, setFollow] = useState(true);
	const [status, setStatus] = useState('connecting');
	const [count, setCount] = useState(0);
	const followRef = useRef(true);
	followRef.current = follow;

	const flush = () => {
		const pre = preRef.current;
		if (!pre || !followRef.current || !pending.current.length) return;
		const frag = document.createDocumentFragment();
		for (const ev of pending.current) {
			const span = document.createElement('span');
			span.className = ev.stream === 'stderr' || ev.stream === 'E' ? 'err' : 'out';
			span.textContent = ev.line + '\n';
			frag.appendChild(span);
		}
		shown.current += pending.current.length;
		pending.current = [];
		pre.appendChild(frag);
		while (pre.childNodes.length > LOG_DOM_MAX) pre.removeChild(pre.firstChild);
		pre.scrollTop = pre.scrollHeight;
		setCount(shown.current);
	};

	useEffect(() => {
		let frame = 0;
		const es = new EventSource(`/v1/jobs/${encodeURIComponent(id)}/logs?follow=1`);
		es.addEventListener('open', () => setStatus('live'));
		es.addEventListener('log', (e) => {
			try {
				pending.current.push(JSON.parse(e.data));
			} catch {
				return;
			}
			if (!frame)
				frame = requestAnimationFrame(() => {
					frame = 0;
					flush();
				});
		});
		es.addEventListener('end', (e) => {
			es.close();
			setStatus('ended');
			try {
				onEnd(JSON.parse(e.data));
			} catch {
				onEnd(null);
			}
			requestAnimationFrame(flush);
		});
		es.onerror = () => {
			if (es.readyState === EventSource.CLOSED) setStatus('closed');
			else setStatus('reconnecting');
		};
		return () => {
			es.close();
			if (frame) cancelAnimationFrame(frame);
		};
	}, [id]);

	useEffect(() => {
		if (follow) flush();
	}, [follow]);

	return (
		<div class="log">
			<div class="log-head">
				<h2 id="log-title">Log</h2>
				<span class="muted small" aria-live="polite">
					{status === 'live' ? (over ? 'complete' : 'live') : status === 'ended' ? 'complete' : status} · {count} lines
				</span>
				<span class="nav-gap" />
				<button type="button" aria-pressed={!follow} onClick={() => setFollow(!follow)}>
					{follow ? 'Pause' : 'Follow'}
				</button>
				<a class="button" href={`/v1/jobs/${encodeURIComponent(id)}/logs`} download={`${id}.log`}>
					Download log
				</a>
			</div>
			<pre ref={preRef} class="log-text" tabIndex={0} aria-labelledby="log-title" role="log" aria-live="off" />
			{!follow && pending.current.length ? <p class="hint">Paused: new lines wait until you follow again.</p> : null}
		</div>
	);
}

export function JobPage({ id, user }) {
	const [job, setJob] = useState(null);
	const [error, setError] = useState(null);
	const [confirm, setConfirm] = useState(false);
	// the job's state: fetched, then long-polled until it is over
	useEffect(() => {
		let live = true;
		(async () => {
			let wait = 0;
			for (;;) {
				try {
					const j = await get(`/v1/jobs/${encodeURIComponent(id)}${wait ? '?wait=' + wait : ''}`);
					if (!live) return;
					setJob(j);
					setError(null);
					if (TERMINAL.has(j.state)) return;
					// ?wait= answers when the job ends: while it has not started,
					// ask every second, to show it starting and running
					if (j.state === 'queued' || j.state === 'starting') {
						wait = 0;
						await new Promise((r) => setTimeout(r, 1000));
					} else {
						wait = 20;
					}
				} catch (e) {
					if (!live) return;
					setError(e);
					if (e instanceof ApiError && (e.status === 404 || e.status === 403)) return;
					await new Promise((r) => setTimeout(r, 3000));
				}
			}
		})();
		return () => {
			live = false;
		};
	}, [id]);
	if (error && !job) return <ErrorBox error={error} />;
	if (!job) return <Spinner label="Loading the job…" />;
	const over = TERMINAL.has(job.state);
	const refresh = () => get(`/v1/jobs/${encodeURIComponent(id)}`).then(setJob).catch(() => {});
	return (
		<section class="job">
			<PageTitle
				actions={
					<>
						{!over ? (
							<button type="button" class="danger" onClick={() => setConfirm(true)}>
								Cancel job
							</button>
						) : null}
						<a class="button" href={`/jobs/new?from=${encodeURIComponent(job.id)}`}>
							Run again
						</a>
					</>
				}
			>
				{job.name || `Job ${job.id}`}
			</PageTitle>
			<p class="job-state">
				<StateBadge state={job.state} />
				<span>{job.reason}</span>
				{job.exit_code !== null && job.exit_code !== undefined && !/exit code/.test(job.reason || '') ? (
					<span class="muted">exit code {job.exit_code}</span>
				) : null}
			</p>
			<ErrorBox error={error} />
			<div class="job-grid">
				<dl class="facts">
					<dt>ID</dt>
					<dd class="mono">{job.id}</dd>
					<dt>Application</dt>
					<dd>
						{job.app}
						{job.image ? ` in ${job.image}` : ''}
					</dd>
					<dt>User</dt>
					<dd>{job.user}</dd>
					{job.project ? (
						<>
							<dt>Project</dt>
							<dd>
								<a href={`/projects/${encodeURIComponent(job.project)}`}>{job.project}</a>
							</dd>
						</>
					) : null}
					<dt>Queue</dt>
					<dd>{job.queue}</dd>
					<dt>Requested</dt>
					<dd>
						{job.resources.cpu} CPU · {humanSize(job.resources.memory)} · {duration(job.resources.time)}
					</dd>
					<dt>Used</dt>
					<dd>
						{job.usage && job.usage.cpu_seconds !== null && job.usage.cpu_seconds !== undefined ? `${job.usage.cpu_seconds.toFixed(2)} CPU-seconds` : '—'}
						{job.usage && job.usage.peak_memory ? ` · peak ${humanSize(job.usage.peak_memory)}` : ''}
						{job.started_at ? ` · ran ${jobDuration(job)}` : ''}
					</dd>
					<dt>Inputs</dt>
					<dd>
						{job.inputs.length
							? job.inputs.map((p) => (
									<div>
										<a href={filesHref(p)}>{p}</a>
									</div>
							  ))
							: 'none'}
					</dd>
					<dt>Output</dt>
					<dd>
						{job.output ? <a href={filesHref(job.output)}>{job.output}</a> : 'none'}
						{over && job.output_files !== null && job.output_files !== undefined ? ` (${job.output_files} ${job.output_files === 1 ? 'file' : 'files'})` : ''}
						{job.output_error ? <div class="error-text">{job.output_error}</div> : null}
					</dd>
				</dl>
				<div>
					<h2>Timeline</h2>
					<ol class="timeline">
						{(job.history || []).map((h) => (
							<li>
								<StateBadge state={h.state} />
								<time datetime={h.at} title={fullTime(h.at)}>
									{shortTime(h.at)}
								</time>
								<span>{h.reason}</span>
							</li>
						))}
					</ol>
				</div>
			</div>
			{job.args && job.args.length ? (
				<details class="script" open={job.args.join('\n').length < 2000}>
					<summary>{job.args.length === 1 ? 'Script' : 'Arguments'}</summary>
					<pre class="preview-text" tabIndex={0} aria-label={job.args.length === 1 ? 'Script' : 'Arguments'}>
						{job.args.length === 1 ? job.args[0] : job.args.join('\n')}
					</pre>
				</details>
			) : null}
			{Object.keys(job.env || {}).length ? (
				<details class="script">
					<summary>Environment</summary>
					<pre class="preview-text" tabIndex={0} aria-label="Environment">
						{Object.entries(job.env).map(([k, v]) => `${k}=${v}`).join('\n')}
					</pre>
				</details>
			) : null}
			<LogView id={job.id} over={over} onEnd={refresh} />
			{confirm ? (
				<Confirm
					title="Cancel this job?"
					message="Every process of the job is stopped; what it wrote so far is still copied to its output folder."
					action="Cancel job"
					onClose={() => setConfirm(false)}
					onConfirm={async () => {
						setJob(await post(`/v1/jobs/${encodeURIComponent(job.id)}/cancel`, {}));
						notify('Job cancelled');
					}}
				/>
			) : null}
		</section>
	);
}
