#!/usr/bin/env bash
# Installs everything cove needs to build, run and test: Debian packages,
# DuckDB's shared library from the npm registry (Debian has no libduckdb),
# and the npm packages of the portal's build and browser tests (lockfiles).
# Idempotent: when everything is present it only checks and returns (< 1 s).
# This is the one place that installs things.
#
#   scripts/deps.sh          build, run and test
#   scripts/deps.sh --bench  also what the benchmarks compare against (nginx, Slurm, docker-registry)
set -euo pipefail

PKGS=(
	build-essential pkg-config
	# the fuzz harnesses (make fuzz): clang with libFuzzer and its sanitizers
	clang libclang-rt-14-dev
	libmicrohttpd-dev libjansson-dev libsqlite3-dev libpq-dev
	libcurl4-gnutls-dev librhonabwy-dev libgnutls28-dev nettle-dev
	libargon2-dev libcmocka-dev libseccomp-dev libarchive-dev
	python3 python3-pytest python3-requests
	sqlite3 curl wrk hyperfine bc unzip
	# the TLS tests make their CA and certificates with openssl
	openssl
	# the job sandbox and the applications jobs run
	bubblewrap python3-pandas python3-numpy octave ffmpeg
	# images: a tiny root file system for the image tests, layer tools
	busybox-static zstd
	# real registry clients for the registry tests, and the images they build;
	# the reference registry the conformance suite also runs against
	skopeo podman buildah docker-registry
	# the portal's browser tests: Debian's Chromium (never a downloaded one)
	chromium fonts-dejavu-core
	# /metrics checked by promtool and scraped by a real Prometheus
	prometheus
)
# npm (to fetch DuckDB) from Debian only when the machine has none: some
# images ship Node.js with its own npm, which Debian's npm package conflicts with.
command -v npm >/dev/null 2>&1 || PKGS+=(nodejs npm)
if [ "${1:-}" = "--bench" ]; then
	# docker-registry: the reference registry bench/registry.sh compares with
	# (the conformance suite also runs against it when it is installed)
	PKGS+=(nginx-light libnginx-mod-http-brotli-static slurm-wlm munge)
fi

# DuckDB: the C library shipped inside this npm package, installed where the
# sandbox sees it (the host's /usr is visible read-only inside jobs).
DUCKDB_PKG=@duckdb/node-bindings-linux-x64@1.5.6-r.1
DUCKDB_DIR=/usr/local/lib/cove
DUCKDB_LIB=$DUCKDB_DIR/node_modules/@duckdb/node-bindings-linux-x64/libduckdb.so

# npm trees pinned by a lockfile: the portal's build (web/) and its browser
# tests (tests/browser/), the OpenID provider of the SSO tests (tests/oidc/);
# installed again only when the lockfile changed.
ROOT=$(cd "$(dirname "$0")/.." && pwd)
NPM_DIRS=(web tests/browser tests/oidc)
if [ "${1:-}" = "--bench" ]; then
	NPM_DIRS+=(bench)
fi
npm_stale() {
	local d=$ROOT/$1
	[ -f "$d/package-lock.json" ] || return 1
	[ "$(cat "$d/node_modules/.cove-lock" 2>/dev/null)" != "$(sha256sum <"$d/package-lock.json")" ]
}

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$p")
done
stale=()
for d in "${NPM_DIRS[@]}"; do
	if npm_stale "$d"; then stale+=("$d"); fi
done

if [ ${#missing[@]} -eq 0 ] && [ -f "$DUCKDB_LIB" ] && [ ${#stale[@]} -eq 0 ]; then
	exit 0
fi

if [ "$(id -u)" -ne 0 ] && { [ ${#missing[@]} -gt 0 ] || [ ! -f "$DUCKDB_LIB" ]; }; then
	echo "deps.sh: missing: ${missing[*]} ${DUCKDB_LIB}" >&2
	echo "deps.sh: run as root (or install them) to continue" >&2
	exit 1
fi

if [ ${#missing[@]} -gt 0 ]; then
	echo "deps.sh: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -f "$DUCKDB_LIB" ]; then
	echo "deps.sh: installing $DUCKDB_PKG into $DUCKDB_DIR"
	mkdir -p "$DUCKDB_DIR"
	npm install --silent --no-audit --no-fund --prefix "$DUCKDB_DIR" "$DUCKDB_PKG" >/dev/null
	test -f "$DUCKDB_LIB"
fi

for d in "${stale[@]}"; do
	echo "deps.sh: installing $d's npm packages (npm ci)"
	(cd "$ROOT/$d" && npm ci --silent --no-audit --no-fund >/dev/null)
	sha256sum <"$ROOT/$d/package-lock.json" >"$ROOT/$d/node_modules/.cove-lock"
done
