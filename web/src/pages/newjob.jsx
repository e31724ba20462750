// newjob.jsx - the job form: an application (cards from /v1/apps), the
// script in an editor that highlights its language (or the arguments, for
// applications that take arguments), inputs picked from the file space,
// the output folder, resources, queue, project and environment. "Run
// again" and "run a job on this file" arrive here with the form filled.
import { useEffect, useRef, useState } from 'preact/hooks';
import { get, post } from '../api.js';
import { duration, humanSize, parseDuration, parseSize } from '../format.js';
import { navigate } from '../router.js';
import { ErrorBox, PageTitle, Spinner, useLoad } from '../ui.jsx';
import { FilePicker } from './files.jsx';

const EXAMPLES = {
	duckdb: "SELECT * FROM read_csv('{input}') LIMIT 10;",
	sqlite: '.mode csv\n.import {input} t\nSELECT count(*) FROM t;',
	python: 'import pandas as pd\ndf = pd.read_csv("{input}")\nprint(df.describe())\ndf.describe().to_csv("{output}/summary.csv")',
	bash: 'echo "hello from $(hostname)"\nwc -l {inputs}',
	octave: "x = csvread('{input}', 1, 1);\nprintf('%.2f\\n', mean(x));",
};

function Editor({ app, value, onChange }) {
	const host = useRef();
	const ed = useRef(null);
	const [failed, setFailed] = useState(false);
	useEffect(() => {
		let dead = false;
		import('../editor.js')
			.then((m) => {
				if (dead || !host.current) return;
				ed.current = m.createEditor(host.current, { doc: value, app, label: 'Script', placeholder: EXAMPLES[app] || '', onChange });
			})
			.catch(() => setFailed(true));
		return () => {
			dead = true;
			if (ed.current) ed.current.destroy();
		};
	}, []);
	useEffect(() => {
		if (ed.current) ed.current.setApp(app);
	}, [app]);
	if (failed)
		return <textarea id="script" aria-label="Script" rows={12} class="mono" value={value} onInput={(e) => onChange(e.target.value)} />;
	return <div ref={host} class="editor" />;
}

function bytesToSize(n) {
	if (!n) return '';
	for (const [u, m] of [['T', 1024 ** 4], ['G', 1024 ** 3], ['M', 1024 ** 2], ['K', 1024]]) if (n % m === 0) return `${n / m}${u}`;
	return String(n);
}

export function NewJobPage({ query, user }) {
	const [apps, appsErr] = useLoad(() => get('/v1/apps'), []);
	const [queues] = useLoad(() => get('/v1/queues'), []);
	const [f, setF] = useState({ app: '', name: '', script: '', args: '', inputs: query.getAll('input'), output: '', cpu: '', memory: '', time: '', queue: '', project: '', env: [] });
	const [editorKey, setEditorKey] = useState(0);
	const [picker, setPicker] = useState(null);
	const [addPath, setAddPath] = useState('');
	const [busy, setBusy] = useState(false);
	const [error, setError] = useState(null);
	const [prefillErr, setPrefillErr] = useState(null);
	const set = (k) => (e) => setF({ ...f, [k]: e.target.value });

	// "Run again": the form as that job was submitted
	useEffect(() => {
		const from = query.get('from');
		if (!from) return;
		get(`/v1/jobs/${encodeURIComponent(from)}`)
			.then((j) => {
				const script = j.args && j.args.length === 1 ? j.args[0] : '';
				setF({
					app: j.app,
					name: j.name || '',
					script,
					args: j.args && j.args.length !== 1 ? j.args.join('\n') : script,
					inputs: j.inputs || [],
					output: '',
					cpu: String(j.resources.cpu || ''),
					memory: bytesToSize(j.resources.memory),
					time: j.resources.time ? `${j.resources.time}s` : '',
					queue: j.queue || '',
					project: j.project || '',
					env: Object.entries(j.env || {}),
				});
				setEditorKey((k) => k + 1);
			})
			.catch(setPrefillErr);
	}, []);
	useEffect(() => {
		if (apps && !f.app && apps.items.length) setF((x) => ({ ...x, app: (apps.items.find((a) => a.name === 'python') || apps.items[0]).name }));
	}, [apps]);

	const app = apps ? apps.items.find((a) => a.name === f.app) : null;
	const takesArgs = app && app.input === 'args';
	const projects = (user.projects || []).filter((p) => p.role !== 'guest');

	const submit = async (e) => {
		e.preventDefault();
		setBusy(true);
		setError(null);
		try {
			const body = { app: f.app };
			if (takesArgs) body.args = f.args.split('\n').map((s) => s.trim()).filter(Boolean);
			else body.script = f.script;
			if (f.name.trim()) body.name = f.name.trim();
			if (f.inputs.length) body.inputs = f.inputs;
			if (f.output.trim()) body.output = f.output.trim();
			if (f.cpu.trim()) {
				const c = Number(f.cpu);
				if (!(c > 0)) throw new Error('CPU must be a positive number, like 1 or 0.5.');
				body.cpu = c;
			}
			if (f.memory.trim()) {
				if (parseSize(f.memory) === null) throw new Error('Memory must be a size, like 512M or 2G.');
				body.memory = f.memory.trim();
			}
			if (f.time.trim()) {
				if (parseDuration(f.time) === null) throw new Error('Time must be a duration, like 90s, 15m or 2h.');
				body.time = f.time.trim();
			}
			if (f.queue) body.queue = f.queue;
			if (f.project) body.project = f.project;
			const env = {};
			for (const [k, v] of f.env) if (k.trim()) env[k.trim()] = v;
			if (Object.keys(env).length) body.env = env;
			const j = await post('/v1/jobs', body);
			navigate(`/jobs/${j.id}`);
		} catch (err) {
			setError(err);
			setBusy(false);
		}
	};

	if (appsErr) return <ErrorBox error={appsErr} />;
	if (!apps) return <Spinner label="Loading applications…" />;
	const queue = queues ? queues.items.find((q) => q.name === (f.queue || 'default')) : null;
	return (
		<section class="newjob">
			<PageTitle>New job</PageTitle>
			<ErrorBox error={prefillErr} />
			<form onSubmit={submit}>
				<fieldset class="apps">
					<legend>Application</legend>
					<div class="cards" role="radiogroup" aria-label="Application">
						{apps.items.map((a) => (
							<label class={`card-pick ${f.app === a.name ? 'on' : ''}`}>
								<input type="radio" name="app" value={a.name} checked={f.app === a.name} onChange={() => setF({ ...f, app: a.name })} />
								<span class="card-title">{a.name}</span>
								<span class="card-sub">{a.description}</span>
								{a.version ? <span class="card-ver">{a.version}</span> : null}
							</label>
						))}
					</div>
				</fieldset>
				<div class="field">
					<label for="j-name">Name (optional)</label>
					<input id="j-name" value={f.name} onInput={set('name')} maxLength={200} />
				</div>
				{takesArgs ? (
					<div class="field">
						<label for="j-args">Arguments, one per line</label>
						<textarea id="j-args" class="mono" rows={6} value={f.args} onInput={set('args')} spellcheck={false} />
						<small class="hint">{'{input}'}, {'{inputs}'} and {'{output}'} are replaced by the paths inside the job.</small>
					</div>
				) : (
					<div class="field">
						<span class="label" id="script-label">Script</span>
						<Editor key={editorKey} app={f.app} value={f.script} onChange={(v) => setF((x) => ({ ...x, script: v }))} />
						<small class="hint">
							{'{input}'}, {'{inputs}'} and {'{output}'} are replaced by the paths inside the job. In the editor, Esc then Tab moves on.
						</small>
					</div>
				)}
				<fieldset>
					<legend>Inputs</legend>
					{f.inputs.length ? (
						<ul class="inputs">
							{f.inputs.map((p) => (
								<li>
									<span class="mono">{p}</span>
									<button type="button" class="link" aria-label={`Remove input ${p}`} onClick={() => setF({ ...f, inputs: f.inputs.filter((x) => x !== p) })}>
										Remove
									</button>
								</li>
							))}
						</ul>
					) : (
						<p class="hint">No inputs: the job sees none of your files.</p>
					)}
					<div class="inline">
						<button type="button" onClick={() => setPicker('inputs')}>
							Choose files…
						</button>
						<label for="j-addpath" class="visually-hidden">Input path</label>
						<input id="j-addpath" placeholder="/home/you/data.csv" value={addPath} onInput={(e) => setAddPath(e.target.value)} spellcheck={false} />
						<button type="button" disabled={!addPath.trim().startsWith('/')}
							onClick={() => {
								if (!f.inputs.includes(addPath.trim())) setF({ ...f, inputs: [...f.inputs, addPath.trim()] });
								setAddPath('');
							}}>
							Add path
						</button>
					</div>
				</fieldset>
				<div class="field">
					<label for="j-output">Output folder</label>
					<div class="inline">
						<input id="j-output" value={f.output} onInput={set('output')} placeholder={`/home/${user.username}/jobs/<job id>`} spellcheck={false} />
						<button type="button" onClick={() => setPicker('output')}>
							Choose…
						</button>
					</div>
					<small class="hint">A new folder; what the job writes there is copied back, owned by you.</small>
				</div>
				<fieldset class="resources">
					<legend>Resources</legend>
					<div class="field">
						<label for="j-cpu">CPU</label>
						<input id="j-cpu" inputMode="decimal" value={f.cpu} onInput={set('cpu')} placeholder={queue ? String(queue.default.cpu) : '1'} />
					</div>
					<div class="field">
						<label for="j-mem">Memory</label>
						<input id="j-mem" value={f.memory} onInput={set('memory')} placeholder={queue ? humanSize(queue.default.memory) : '1G'} />
					</div>
					<div class="field">
						<label for="j-time">Time limit</label>
						<input id="j-time" value={f.time} onInput={set('time')} placeholder={queue ? duration(queue.default.time) : '1h'} />
					</div>
					<div class="field">
						<label for="j-queue">Queue</label>
						<select id="j-queue" value={f.queue} onChange={set('queue')}>
							<option value="">default</option>
							{(queues ? queues.items : []).filter((q) => q.name !== 'default').map((q) => (
								<option value={q.name}>{q.name}</option>
							))}
						</select>
					</div>
					<div class="field">
						<label for="j-project">Project</label>
						<select id="j-project" value={f.project} onChange={set('project')}>
							<option value="">none (personal)</option>
							{projects.map((p) => (
								<option value={p.name}>{p.name}</option>
							))}
						</select>
					</div>
				</fieldset>
				<fieldset>
					<legend>Environment</legend>
					{f.env.map(([k, v], i) => (
						<div class="inline env">
							<label class="visually-hidden" for={`env-k${i}`}>Variable {i + 1} name</label>
							<input id={`env-k${i}`} class="mono" placeholder="NAME" value={k}
								onInput={(e) => setF({ ...f, env: f.env.map((p, j) => (j === i ? [e.target.value, p[1]] : p)) })} />
							<label class="visually-hidden" for={`env-v${i}`}>Variable {i + 1} value</label>
							<input id={`env-v${i}`} class="mono" placeholder="value" value={v}
								onInput={(e) => setF({ ...f, env: f.env.map((p, j) => (j === i ? [p[0], e.target.value] : p)) })} />
							<button type="button" class="link" aria-label={`Remove variable ${k || i + 1}`} onClick={() => setF({ ...f, env: f.env.filter((_, j) => j !== i) })}>
								Remove
							</button>
						</div>
					))}
					<button type="button" onClick={() => setF({ ...f, env: [...f.env, ['', '']] })}>
						Add variable
					</button>
				</fieldset>
				<ErrorBox error={error} />
				<div class="actions left">
					<button type="submit" class="primary" disabled={busy || !f.app}>
						{busy ? 'Submitting…' : 'Run job'}
					</button>
				</div>
			</form>
			{picker === 'inputs' ? (
				<FilePicker start={`/home/${user.username}`} onClose={() => setPicker(null)}
					onPick={(paths) => setF((x) => ({ ...x, inputs: [...new Set([...x.inputs, ...paths])] }))} />
			) : null}
			{picker === 'output' ? (
				<FilePicker start={`/home/${user.username}`} folders onClose={() => setPicker(null)}
					onPick={([d]) => setF((x) => ({ ...x, output: d.replace(/\/$/, '') + '/results' }))} />
			) : null}
		</section>
	);
}
