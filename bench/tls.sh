#!/usr/bin/env bash
# bench/tls.sh - what https costs cove (release build), in one run:
#   1. GET /v1/me with a Bearer token, keep-alive, 100 connections: cove over
#      TLS beside cove over plain http. Target: TLS >= 0.7x plain.
#   2. new TLS connections per second, a full handshake each (wrk sends
#      "Connection: close" and never resumes a session): cove's /healthz
#      beside nginx answering a constant string with the same certificate
#      (ECDSA P-256), the same protocols (TLS 1.2/1.3) and no session cache
#      or tickets. Target: cove >= 0.5x nginx.
# Prints the machine's state (cores, load, date, commit) beside the figures.
#
# Usage: bench/tls.sh [seconds per load test, default 10]
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10}
CONNS=100
HS_CONNS=${HS_CONNS:-50}
command -v wrk >/dev/null || { echo "wrk missing: run scripts/deps.sh --bench" >&2; exit 1; }
command -v openssl >/dev/null || { echo "openssl missing: run scripts/deps.sh" >&2; exit 1; }
NGINX=/usr/sbin/nginx
[ -x "$NGINX" ] || { echo "no $NGINX: run scripts/deps.sh --bench" >&2; exit 1; }
make -s build/cove
BIN=$PWD/build/cove
WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/cove-bench-tls.XXXXXX")
PORT=$(( 20000 + RANDOM % 20000 ))
TPORT=$(( PORT + 1 ))
NPORT=$(( PORT + 2 ))
PW=Bench-pass-2026
SRV= TSRV= NGX=
cleanup() {
	for p in $NGX $TSRV $SRV; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- a CA and a server certificate, both ECDSA P-256 ------------------------
cd "$WORK"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
	-out ca.pem -days 2 -subj "/CN=bench CA" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key \
	-out srv.csr -subj "/CN=localhost" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >ext.cnf
openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem \
	-days 2 -extfile ext.cnf 2>/dev/null
cat srv.pem ca.pem >chain.pem
cd - >/dev/null

# --- nginx: same certificate, full handshakes only ---------------------------
mkdir -p "$WORK/nginx"
cat >"$WORK/nginx/nginx.conf" <<NGINX
daemon off;
master_process on;
worker_processes 2;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path $WORK/nginx/body;
	proxy_temp_path $WORK/nginx/proxy;
	fastcgi_temp_path $WORK/nginx/fastcgi;
	uwsgi_temp_path $WORK/nginx/uwsgi;
	scgi_temp_path $WORK/nginx/scgi;
	keepalive_requests 1000000;
	server {
		listen 127.0.0.1:$NPORT ssl;
		ssl_certificate $WORK/chain.pem;
		ssl_certificate_key $WORK/srv.key;
		ssl_protocols TLSv1.2 TLSv1.3;
		ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305;
		ssl_session_cache off;
		ssl_session_tickets off;
		default_type text/plain;
		location / { return 200 "ok\n"; }
	}
}
NGINX
"$NGINX" -p "$WORK/nginx" -e "$WORK/nginx/error.log" -c "$WORK/nginx/nginx.conf" &
NGX=$!

COVE_ADMIN_PASSWORD=$PW COVE_LOG_LEVEL=warn "$BIN" serve --listen 127.0.0.1:$PORT \
	--data "$WORK/data" >"$WORK/server.log" 2>&1 &
SRV=$!
COVE_ADMIN_PASSWORD=$PW COVE_LOG_LEVEL=warn "$BIN" serve --listen 127.0.0.1:$TPORT \
	--data "$WORK/tdata" --tls-cert "$WORK/chain.pem" --tls-key "$WORK/srv.key" \
	>"$WORK/tserver.log" 2>&1 &
TSRV=$!
URL=http://127.0.0.1:$PORT
TURL=https://127.0.0.1:$TPORT
NURL=https://127.0.0.1:$NPORT
C="curl -fs --cacert $WORK/ca.pem"
for _ in $(seq 100); do $C "$URL/healthz" >/dev/null && $C "$TURL/healthz" >/dev/null &&
	$C "$NURL/" >/dev/null && break; sleep 0.1; done
$C "$URL/healthz" >/dev/null || { echo "cove did not start:" >&2; cat "$WORK/server.log" >&2; exit 1; }
$C "$TURL/healthz" >/dev/null || { echo "cove (TLS) did not start:" >&2; cat "$WORK/tserver.log" >&2; exit 1; }
[ "$($C "$NURL/")" = ok ] || { echo "nginx did not start:" >&2; cat "$WORK/nginx/error.log" >&2; exit 1; }
token() {
	$C "$1/v1/auth/login" -H 'Content-Type: application/json' \
		-d "{\"username\":\"admin\",\"password\":\"$PW\"}" |
		python3 -c 'import json,sys;print(json.load(sys.stdin)["access_token"])'
}
TOKEN=$(token "$URL")
TTOKEN=$(token "$TURL")
$C "$URL/v1/me" -H "Authorization: Bearer $TOKEN" >/dev/null
$C "$TURL/v1/me" -H "Authorization: Bearer $TTOKEN" >/dev/null

run_wrk() { # name, connections, then wrk arguments
	local name=$1 conns=$2; shift 2
	wrk -t2 -c"$conns" -d"${DUR}s" --latency "$@" >"$WORK/$name.txt"
}
ms() {
	awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0;
		else if (v ~ /m$/) n *= 60000; else if (v ~ /s$/) n *= 1000; printf "%.2f", n }'
}
rps() { awk '/Requests\/sec/ {print $2}' "$WORK/$1.txt"; }
p99() { ms "$(awk '/  99%/ {print $2}' "$WORK/$1.txt")"; }
errs() {
	awk '/Non-2xx/ {n += $NF} /Socket errors/ {gsub(",", ""); n += $4 + $6 + $8 + $10} END {print n + 0}' "$WORK/$1.txt"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

echo "== cove $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src || echo ' (modified)'), $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "== machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg) before the run; wrk shares the cores with the servers"
echo "== $($NGINX -v 2>&1 | sed 's/.*\///' | sed 's/^/nginx /'), $(openssl version | cut -d' ' -f1-2), GnuTLS $(pkg-config --modversion gnutls)"
run_wrk me_plain $CONNS -H "Authorization: Bearer $TOKEN" "$URL/v1/me"
run_wrk me_tls $CONNS -H "Authorization: Bearer $TTOKEN" "$TURL/v1/me"
run_wrk hs_cove "$HS_CONNS" -H "Connection: close" "$TURL/healthz"
run_wrk hs_nginx "$HS_CONNS" -H "Connection: close" "$NURL/"
echo "== load after the run: $(cut -d' ' -f1-3 /proc/loadavg)"

printf '\n%-44s %11s %8s %11s %8s %6s %7s\n' "GET /v1/me, keep-alive, $CONNS conns, ${DUR}s" "TLS req/s" "p99 ms" "http req/s" "p99 ms" "ratio" "target"
r=$(ratio "$(rps me_tls)" "$(rps me_plain)")
printf '%-44s %11s %8s %11s %8s %6s %7s\n' "cove https vs cove http" "$(rps me_tls)" "$(p99 me_tls)" \
	"$(rps me_plain)" "$(p99 me_plain)" "$r" ">=0.70"
printf '\n%-44s %11s %8s %11s %8s %6s %7s\n' "new TLS connections (full handshake each), $HS_CONNS conns" "cove conn/s" "p99 ms" "nginx conn/s" "p99 ms" "ratio" "target"
r2=$(ratio "$(rps hs_cove)" "$(rps hs_nginx)")
printf '%-44s %11s %8s %11s %8s %6s %7s\n' "cove /healthz vs nginx constant" "$(rps hs_cove)" "$(p99 hs_cove)" \
	"$(rps hs_nginx)" "$(p99 hs_nginx)" "$r2" ">=0.50"
e="$(errs me_tls)/$(errs me_plain)/$(errs hs_cove)/$(errs hs_nginx)"
[ "$e" = "0/0/0/0" ] || echo "(errors: me_tls/me_plain/hs_cove/hs_nginx: $e)"
echo "Anchor: TLS >= 0.7x plain with keep-alive; >= 0.5x nginx's full handshakes per second."
