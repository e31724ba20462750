// format.js - how numbers, modes and times read to a person.

export function humanSize(n) {
	if (n === null || n === undefined) return '';
	if (n < 1024) return `${n} B`;
	const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
	let v = n / 1024;
	let i = 0;
	while (v >= 1024 && i < units.length - 1) {
		v /= 1024;
		i++;
	}
	return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ${units[i]}`;
}

// "2G", "512M", "1.5T" -> bytes (null when not a size)
export function parseSize(s) {
	const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)i?b?\s*$/i.exec(s || '');
	if (!m) return null;
	const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 }[m[2].toLowerCase()];
	return Math.round(parseFloat(m[1]) * mult);
}

// "0755" + directory -> "drwxr-xr-x"; setgid and sticky as ls shows them
export function modeString(type, mode) {
	const m = parseInt(mode, 8);
	if (!Number.isFinite(m)) return '';
	const bit = (b, c) => (m & b ? c : '-');
	let s = type === 'directory' ? 'd' : '-';
	s += bit(0o400, 'r') + bit(0o200, 'w');
	s += m & 0o4000 ? (m & 0o100 ? 's' : 'S') : bit(0o100, 'x');
	s += bit(0o40, 'r') + bit(0o20, 'w');
	s += m & 0o2000 ? (m & 0o10 ? 's' : 'S') : bit(0o10, 'x');
	s += bit(0o4, 'r') + bit(0o2, 'w');
	s += m & 0o1000 ? (m & 0o1 ? 't' : 'T') : bit(0o1, 'x');
	return s;
}

export function shortTime(iso) {
	if (!iso) return '';
	const d = new Date(iso);
	if (isNaN(d)) return '';
	const now = new Date();
	const sameDay = d.toDateString() === now.toDateString();
	if (sameDay) return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
	if (d.getFullYear() === now.getFullYear())
		return d.toLocaleDateString([], { month: 'short', day: 'numeric' }) + ' ' +
			d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
	return d.toLocaleDateString([], { year: 'numeric', month: 'short', day: 'numeric' });
}

export function fullTime(iso) {
	if (!iso) return '';
	const d = new Date(iso);
	return isNaN(d) ? '' : d.toLocaleString();
}

export function duration(seconds) {
	if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '';
	seconds = Math.max(0, Math.round(seconds));
	if (seconds < 60) return `${seconds}s`;
	const m = Math.floor(seconds / 60), s = seconds % 60;
	if (m < 60) return `${m}m ${s}s`;
	const h = Math.floor(m / 60);
	if (h < 48) return `${h}h ${m % 60}m`;
	return `${Math.floor(h / 24)}d ${h % 24}h`;
}

// "90s", "15m", "2h", "7d" -> seconds (null when not a duration)
export function parseDuration(s) {
	const m = /^\s*(\d+)\s*([smhd]?)\s*$/.exec(s || '');
	if (!m) return null;
	return parseInt(m[1], 10) * { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2]];
}

export function jobDuration(j) {
	if (!j.started_at) return '';
	const end = j.finished_at ? new Date(j.finished_at) : new Date();
	return duration((end - new Date(j.started_at)) / 1000);
}

export const TERMINAL = new Set(['succeeded', 'failed', 'cancelled', 'timed_out', 'lost']);

export function parentOf(path) {
	const i = path.replace(/\/+$/, '').lastIndexOf('/');
	return i <= 0 ? '/' : path.slice(0, i);
}

export function joinPath(dir, name) {
	return (dir === '/' ? '' : dir.replace(/\/+$/, '')) + '/' + name;
}

export function baseName(path) {
	const p = path.replace(/\/+$/, '');
	return p.slice(p.lastIndexOf('/') + 1) || '/';
}

// bytes -> what a size field shows: "2G", "512M", or the bytes ("" for 0 = none)
export function sizeText(n) {
	if (!n) return '';
	for (const [u, m] of [['P', 1024 ** 5], ['T', 1024 ** 4], ['G', 1024 ** 3], ['M', 1024 ** 2], ['K', 1024]])
		if (n % m === 0) return `${n / m}${u}`;
	return String(n);
}

// seconds -> what a duration field shows: "2h", "30d", "90s" ("" for 0 = none)
export function durationText(s) {
	if (!s) return '';
	for (const [u, m] of [['d', 86400], ['h', 3600], ['m', 60]]) if (s % m === 0) return `${s / m}${u}`;
	return `${s}s`;
}

// "sha256:0123456789abcdef..." -> "sha256:0123456789ab"
export function shortDigest(d) {
	return d ? d.slice(0, 19) : '';
}
