// router.js - the browser-side router: the URL is the state. Links to our
// own pages are followed with history.pushState (no reload); every page URL
// is also served by the server as the same document, so a reload or a
// shared link opens the same page.
import { useEffect, useState } from 'preact/hooks';

const listeners = new Set();

function current() {
	return { path: location.pathname, query: new URLSearchParams(location.search) };
}

function emit() {
	const r = current();
	for (const fn of listeners) fn(r);
}

export function navigate(url, { replace = false } = {}) {
	if (replace) history.replaceState(null, '', url);
	else history.pushState(null, '', url);
	emit();
	window.scrollTo(0, 0);
	// a new page: the focus moves to its content (as a page load would
	// start over), not to wherever the removed link was; a control of the
	// page that changed the URL (a filter) keeps it
	requestAnimationFrame(() => {
		const main = document.getElementById('main');
		if (main && !main.contains(document.activeElement)) main.focus({ preventScroll: true });
	});
}

export function useRoute() {
	const [r, setR] = useState(current);
	useEffect(() => {
		listeners.add(setR);
		return () => listeners.delete(setR);
	}, []);
	return r;
}

// Only paths of our own: "/x", never "//host" or "https://..." (open
// redirects through ?next=).
export function safeNext(next, fallback) {
	if (typeof next === 'string' && next.startsWith('/') && !next.startsWith('//') && !next.startsWith('/\\'))
		return next;
	return fallback;
}

addEventListener('popstate', emit);

// Clicks on <a href="/..."> of our own pages stay in the application.
document.addEventListener('click', (e) => {
	if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
	const a = e.target.closest && e.target.closest('a[href]');
	if (!a || a.target || a.hasAttribute('download') || a.dataset.native !== undefined) return;
	const url = new URL(a.href, location.href);
	if (url.origin !== location.origin) return;
	if (url.pathname.startsWith('/v1/') || url.pathname.startsWith('/v2/') || url.pathname.startsWith('/s/')) return;
	e.preventDefault();
	if (url.pathname + url.search !== location.pathname + location.search) navigate(url.pathname + url.search + url.hash);
});
