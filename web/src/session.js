// session.js - the logged-in browser session, shared by every page:
// {user, csrf_token, ...} from GET /v1/auth/session, or null.
import { useEffect, useState } from 'preact/hooks';
import { get, setCsrf } from './api.js';

const listeners = new Set();
let session;

export function setSession(s) {
	session = s;
	setCsrf(s ? s.csrf_token : null);
	for (const fn of listeners) fn(s);
}

export function currentSession() {
	return session;
}

export function useSession() {
	const [s, set] = useState(session);
	useEffect(() => {
		listeners.add(set);
		set(session);
		return () => listeners.delete(set);
	}, []);
	return s;
}

export async function refreshSession() {
	const s = await get('/v1/auth/session', { quiet401: true });
	setSession(s);
	return s;
}

export function homeOf(user) {
	return `/files/home/${encodeURIComponent(user.username)}`;
}
