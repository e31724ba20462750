#!/usr/bin/env bash
# bench/soak.sh - a mixed workload for a long time (30 minutes by default),
# in the release build and then in the sanitizer build: logins, listings,
# uploads, downloads, jobs and registry pushes at once (bench/soak.py).
# Passes when the server's resident memory is flat after warm-up (within
# 10%), its open descriptors flat (within 8), and no answer was an error
# other than intended ones (429 back-pressure is counted, not an error); the
# sanitizer build must also stop with no report. Prints each build's curve
# every 10 s and a summary with its start and end.
#
# Usage: bench/soak.sh [minutes per build, default 30] [release|debug|both, default both]
set -euo pipefail
cd "$(dirname "$0")/.."
MIN=${1:-30}
WHICH=${2:-both}
PW=Soak-admin-2026
status=0
run() { # $1 label, $2 binary
	local label=$1 bin=$2
	local work port srv
	work=$(mktemp -d "${TMPDIR:-/var/tmp}/cove-soak.XXXXXX")
	port=$(( 20000 + RANDOM % 20000 ))
	# ASan's quarantine (256 MiB by default) would read as growth: keep it small
	COVE_ADMIN_PASSWORD=$PW ASAN_OPTIONS=quarantine_size_mb=16:detect_leaks=1 \
		"$bin" serve --listen 127.0.0.1:$port --data "$work/data" --log-level warn \
		>"$work/server.log" 2>&1 &
	srv=$!
	for _ in $(seq 100); do curl -fs http://127.0.0.1:$port/healthz >/dev/null && break; sleep 0.1; done
	echo "== $label build: $bin, pid $srv, $(date -u +%FT%TZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), commit $(git rev-parse --short HEAD)"
	local rc=0
	/usr/bin/python3 bench/soak.py --url http://127.0.0.1:$port --pid $srv --minutes "$MIN" \
		--admin-password $PW --label "[$label]" || rc=$?
	kill -TERM $srv; wait $srv || rc=1
	if grep -q -e 'ERROR: AddressSanitizer' -e 'ERROR: LeakSanitizer' -e 'runtime error:' "$work/server.log"; then
		echo "[$label] sanitizer report:"; grep -m5 -A20 -e 'ERROR: ' -e 'runtime error:' "$work/server.log"; rc=1
	fi
	rm -rf "$work"
	[ $rc = 0 ] || status=1
}
if [ "$WHICH" != debug ]; then make -s build/cove; run release "$PWD/build/cove"; fi
if [ "$WHICH" != release ]; then make -s build/debug/cove; run sanitizer "$PWD/build/debug/cove"; fi
exit $status
