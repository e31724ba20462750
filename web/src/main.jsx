// main.jsx - the portal's shell: who is logged in (the browser session),
// the navigation, and which page the URL names. Pages that need heavy code
// (the job form's editor, administration) are loaded when first opened, so
// the files page, where people land, stays light.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import './style.css';
import { ApiError, del, setUnauthorizedHandler } from './api.js';
import { homeOf, refreshSession, setSession, useSession, currentSession } from './session.js';
import { navigate, safeNext, useRoute } from './router.js';
import { Spinner, Toasts, ErrorBox, notify } from './ui.jsx';
import { LoginPage, RegisterPage } from './pages/login.jsx';
import { FilesPage } from './pages/files.jsx';
import { JobsPage, JobPage } from './pages/jobs.jsx';

function lazy(load, name = 'default') {
	let Comp = null;
	let failed = null;
	return function Lazy(props) {
		const [, setTick] = useState(0);
		useEffect(() => {
			if (!Comp && !failed)
				load()
					.then((m) => {
						Comp = m[name];
						setTick(1);
					})
					.catch((e) => {
						failed = e;
						setTick(2);
					});
		}, []);
		if (failed) return <ErrorBox error={new Error('This page could not be loaded; reload to try again.')} />;
		return Comp ? <Comp {...props} /> : <Spinner />;
	};
}

const NewJobPage = lazy(() => import('./pages/newjob.jsx'), 'NewJobPage');
const ProjectsPage = lazy(() => import('./pages/projects.jsx'), 'ProjectsPage');
const ProjectPage = lazy(() => import('./pages/projects.jsx'), 'ProjectPage');
const ImagesPage = lazy(() => import('./pages/images.jsx'), 'ImagesPage');
const AccountPage = lazy(() => import('./pages/account.jsx'), 'AccountPage');
const AdminPage = lazy(() => import('./pages/admin.jsx'), 'AdminPage');

function toLogin() {
	const here = location.pathname + location.search;
	navigate(here === '/' || here.startsWith('/login') ? '/login' : `/login?next=${encodeURIComponent(here)}`, { replace: true });
}

setUnauthorizedHandler(() => {
	if (currentSession()) notify('Your session has ended; log in again.', 'error');
	setSession(null);
	toLogin();
});

const NAV = [
	['Files', '/files'],
	['Jobs', '/jobs'],
	['Projects', '/projects'],
	['Images', '/images'],
];

function Header({ user, path }) {
	const [open, setOpen] = useState(false);
	const logout = async () => {
		let end = null;
		try {
			end = await del('/v1/auth/session', { quiet401: true });
		} catch (e) {
			if (!(e instanceof ApiError) || e.status !== 401) notify(e.message, 'error');
		}
		setSession(null);
		// a session of single sign-on ends at the provider too
		if (end && end.logout_url) {
			window.location.assign(end.logout_url);
			return;
		}
		navigate('/login');
	};
	const items = user.admin ? [...NAV, ['Admin', '/admin']] : NAV;
	return (
		<header class="top">
			<a class="skip" href="#main" data-native>
				Skip to content
			</a>
			<a href={homeOf(user)} class="brand" aria-label="cove home">
				<span class="logo" aria-hidden="true" />
				cove
			</a>
			<button type="button" class="menu-toggle" aria-expanded={open} aria-controls="mainnav" onClick={() => setOpen(!open)}>
				Menu
			</button>
			<nav id="mainnav" aria-label="Main" class={open ? 'open' : ''} onClick={() => setOpen(false)}>
				{items.map(([label, href]) => {
					const target = label === 'Files' ? homeOf(user) : href;
					const current = path === href || path.startsWith(href + '/');
					return (
						<a href={target} aria-current={current ? 'page' : undefined}>
							{label}
						</a>
					);
				})}
				<span class="nav-gap" />
				<a href="/account" aria-current={path.startsWith('/account') ? 'page' : undefined}>
					{user.username}
				</a>
				<button type="button" class="link" onClick={logout}>
					Log out
				</button>
			</nav>
		</header>
	);
}

function NotFound() {
	return (
		<section>
			<h1>Page not found</h1>
			<p>
				There is no page at this address. <a href="/">Go to your files</a>.
			</p>
		</section>
	);
}

function Page({ route, user }) {
	const { path, query } = route;
	const seg = path.split('/').filter(Boolean);
	if (path === '/' || path === '/files' || path === '/files/') {
		navigate(homeOf(user), { replace: true });
		return null;
	}
	if (seg[0] === 'files') return <FilesPage path={'/' + seg.slice(1).map(decodeURIComponent).join('/')} query={query} user={user} />;
	if (seg[0] === 'jobs' && seg.length === 1) return <JobsPage query={query} user={user} />;
	if (seg[0] === 'jobs' && seg[1] === 'new') return <NewJobPage query={query} user={user} />;
	if (seg[0] === 'jobs' && seg.length === 2) return <JobPage id={seg[1]} user={user} />;
	if (seg[0] === 'projects' && seg.length === 1) return <ProjectsPage user={user} />;
	if (seg[0] === 'projects' && seg.length === 2) return <ProjectPage name={decodeURIComponent(seg[1])} user={user} />;
	if (seg[0] === 'images') return <ImagesPage parts={seg.slice(1).map(decodeURIComponent)} user={user} />;
	if (seg[0] === 'account') return <AccountPage user={user} />;
	if (seg[0] === 'admin') {
		if (!user.admin)
			return (
				<section>
					<h1>Administrators only</h1>
					<p>This part of cove is for administrators.</p>
				</section>
			);
		return <AdminPage section={seg[1] || 'dashboard'} query={query} user={user} />;
	}
	return <NotFound />;
}

function App() {
	const route = useRoute();
	const s = useSession();
	const [booted, setBooted] = useState(false);
	const [bootError, setBootError] = useState(null);
	useEffect(() => {
		refreshSession()
			.catch((e) => {
				if (!(e instanceof ApiError) || e.status !== 401) setBootError(e);
				setSession(null);
			})
			.finally(() => setBooted(true));
	}, []);
	if (!booted) return <Spinner label="Loading cove…" />;
	const publicPage = route.path === '/login' || route.path === '/register';
	if (!s && !publicPage) {
		if (bootError) return <ErrorBox error={bootError} />;
		toLogin();
		return null;
	}
	if (publicPage) {
		if (s) {
			navigate(safeNext(route.query.get('next'), homeOf(s.user)), { replace: true });
			return null;
		}
		return (
			<main id="main" class="public">
				{route.path === '/login' ? <LoginPage query={route.query} /> : <RegisterPage />}
				<Toasts />
			</main>
		);
	}
	return (
		<>
			<Header user={s.user} path={route.path} />
			<main id="main" tabIndex={-1}>
				<Page route={route} user={s.user} />
			</main>
			<Toasts />
		</>
	);
}

render(<App />, document.getElementById('app'));
