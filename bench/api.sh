#!/usr/bin/env bash
# bench/api.sh - speed of the platform core (release build), side by side
# with nginx answering a constant string, in one run.
#
# Anchors (Kuspace thesis): 3,057 requests/s on its landing route (mean
# latency 33 ms) and 1,470 requests/s on a token-checked listing, both at
# 100 connections. Targets:
#   - GET /healthz          >= 40% of nginx's rate in the same run
#   - GET /v1/me (Bearer)   >= 20,000 requests/s, p99 < 20 ms
#   - concurrent registrations: only the intended 409s, every 201 exists
# Registration hashes with Argon2id (memory-hard, slow by design); its rate
# is reported, not compared. The Argon2id cost is the server's default
# unless COVE_ARGON2_MEMORY_KIB / _PASSES / _LANES are set, and is printed.
#
# Usage: bench/api.sh [seconds per load test, default 10] [registrations, default 2000]
#        (REG_CLIENTS=50 and REG_DUP_PCT=10 in the environment change the
#        registration clients and the share of deliberate duplicates)
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10}
NREG=${2:-2000}
REG_CLIENTS=${REG_CLIENTS:-50}
REG_DUP_PCT=${REG_DUP_PCT:-10}
CONNS=100
command -v wrk >/dev/null || { echo "wrk missing: run scripts/deps.sh --bench" >&2; exit 1; }
NGINX=/usr/sbin/nginx
# nginx (nginx-light) may still be being installed by scripts/deps.sh --bench:
# wait for it, checking every 30 s, for at most 20 minutes.
for i in $(seq 40); do
	[ -x "$NGINX" ] && break
	[ "$i" = 40 ] && { echo "no $NGINX after 20 minutes: run scripts/deps.sh --bench" >&2; exit 1; }
	echo "waiting for $NGINX (scripts/deps.sh --bench installs nginx-light) ..." >&2
	sleep 30
done
make -s build/cove
BIN=$PWD/build/cove
WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/cove-bench-api.XXXXXX")
PORT=$(( 20000 + RANDOM % 20000 ))
NPORT=$(( PORT + 1 ))
URL=http://127.0.0.1:$PORT
NURL=http://127.0.0.1:$NPORT
PW=Bench-pass-2026
SRV= NGX=
cleanup() {
	[ -n "$NGX" ] && kill "$NGX" 2>/dev/null && wait "$NGX" 2>/dev/null
	[ -n "$SRV" ] && kill "$SRV" 2>/dev/null && wait "$SRV" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- a throwaway nginx: own config, own prefix, never the system service ----
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
		listen 127.0.0.1:$NPORT;
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
for _ in $(seq 100); do curl -fs "$URL/healthz" >/dev/null && break; sleep 0.1; done
for _ in $(seq 100); do curl -fs "$NURL/" >/dev/null && break; sleep 0.1; done
curl -fs "$URL/healthz" >/dev/null || { echo "cove did not start:" >&2; cat "$WORK/server.log" >&2; exit 1; }
[ "$(curl -fs "$NURL/")" = ok ] || { echo "nginx did not start:" >&2; cat "$WORK/nginx/error.log" >&2; exit 1; }
TOKEN=$(curl -fs "$URL/v1/auth/login" -H 'Content-Type: application/json' \
	-d "{\"username\":\"admin\",\"password\":\"$PW\"}" | python3 -c 'import json,sys;print(json.load(sys.stdin)["access_token"])')
AUTH="Authorization: Bearer $TOKEN"
curl -fs "$URL/v1/me" -H "$AUTH" >/dev/null
# a wrong token must be refused, or the /v1/me figure would mean nothing.
# The signature is changed well inside it: its last base64url character
# also carries 4 unused bits, so changing only that one may not change it.
FORGED=$(python3 -c 'import sys; t=sys.argv[1]; i=len(t)-10; print(t[:i]+("A" if t[i]!="A" else "B")+t[i+1:])' "$TOKEN")
code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/v1/me" -H "Authorization: Bearer $FORGED")
[ "$code" = 401 ] || { echo "a forged token got $code, not 401" >&2; exit 1; }

# wrk figures: requests/s, mean and p99 latency in ms, non-2xx and socket errors
run_wrk() { # name, then wrk arguments
	local name=$1; shift
	wrk -t2 -c$CONNS -d"${DUR}s" --latency "$@" >"$WORK/$name.txt"
	grep -E "Requests/sec|Latency |Non-2xx|Socket errors|  50%|  99%" "$WORK/$name.txt"
}
ms() { # wrk's latency (850.00us, 1.20ms, 2.00s) in ms
	awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0;
		else if (v ~ /m$/) n *= 60000; else if (v ~ /s$/) n *= 1000; printf "%.2f", n }'
}
rps() { awk '/Requests\/sec/ {print $2}' "$WORK/$1.txt"; }
mean() { ms "$(awk '/Latency / {print $2; exit}' "$WORK/$1.txt")"; }
p99() { ms "$(awk '/  99%/ {print $2}' "$WORK/$1.txt")"; }
errs() { # non-2xx + socket errors
	awk '/Non-2xx/ {n += $NF} /Socket errors/ {gsub(",", ""); n += $4 + $6 + $8 + $10} END {print n + 0}' "$WORK/$1.txt"
}

echo "== machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); wrk shares the cores with both servers"
echo "== nginx $("$NGINX" -v 2>&1 | sed 's/.*\///'), constant string, $CONNS connections, ${DUR}s"
run_wrk nginx "$NURL/"
echo "== cove GET /healthz, $CONNS connections, ${DUR}s"
run_wrk healthz "$URL/healthz"
echo "== cove GET /v1/me with a Bearer access token, $CONNS connections, ${DUR}s"
run_wrk me -H "$AUTH" "$URL/v1/me"

echo "== registrations: $NREG POST /v1/auth/register from $REG_CLIENTS clients, ${REG_DUP_PCT}% deliberate duplicates"
argon_default() { "$BIN" serve --help | awk -v f="--argon2-$1" '$1 == f {gsub(/\)/, "", $NF); print $NF}'; }
ARGON="memory ${COVE_ARGON2_MEMORY_KIB:-$(argon_default memory)} KiB, passes ${COVE_ARGON2_PASSES:-$(argon_default passes)}, lanes ${COVE_ARGON2_LANES:-$(argon_default lanes)}"
[ -n "${COVE_ARGON2_MEMORY_KIB:-}${COVE_ARGON2_PASSES:-}${COVE_ARGON2_LANES:-}" ] && ARGON="$ARGON (NOT the default: set in the environment)" || ARGON="$ARGON (the default)"
echo "   Argon2id: $ARGON"
python3 - "$URL" "$TOKEN" "$NREG" "$REG_CLIENTS" "$REG_DUP_PCT" "$WORK/reg.txt" <<'PY'
import concurrent.futures, http.client, json, random, sys, threading, time, urllib.parse
url, token, n, clients, dup_pct, out = sys.argv[1:7]
n, clients, dup_pct = int(n), int(clients), int(dup_pct)
u = urllib.parse.urlparse(url)
tag = "%06x" % random.getrandbits(24)
ndup = n * dup_pct // 100
unique = ["r%s-%05d" % (tag, i) for i in range(n - ndup)]
# every duplicate repeats a name also sent once on its own; shuffled, so that
# most pairs are in flight at the same time
names = unique + random.sample(unique, ndup)
random.shuffle(names)
local = threading.local()

def conn():
    if not hasattr(local, "c"):
        local.c = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
    return local.c

def register(name):
    body = json.dumps({"username": name, "email": name + "@example.org",
                       "password": "Reg-pass-" + name})
    for attempt in range(2):
        try:
            c = conn()
            c.request("POST", "/v1/auth/register", body, {"Content-Type": "application/json"})
            r = c.getresponse()
            r.read()
            return name, r.status
        except (http.client.HTTPException, OSError) as e:
            local.__dict__.pop("c", None)
            err = type(e).__name__
    return name, err

t0 = time.monotonic()
with concurrent.futures.ThreadPoolExecutor(clients) as ex:
    results = list(ex.map(register, names))
dt = time.monotonic() - t0
status = {}
created = set()
for name, st in results:
    status[st] = status.get(st, 0) + 1
    if st == 201:
        created.add(name)

# every 201 must exist afterwards: list all users through the admin API
h = {"Authorization": "Bearer " + token}
c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
seen, cursor = set(), None
while True:
    c.request("GET", "/v1/users?limit=1000" + ("&cursor=" + cursor if cursor else ""), headers=h)
    r = c.getresponse()
    page = json.loads(r.read())
    seen.update(x["username"] for x in page["items"])
    cursor = page.get("next_cursor")
    if not cursor:
        break
missing = created - seen
# and a sample of them can log in with the password they registered
sample = random.sample(sorted(created), min(10, len(created)))
bad_login = 0
for name in sample:
    c.request("POST", "/v1/auth/login", json.dumps({"username": name, "password": "Reg-pass-" + name}),
              {"Content-Type": "application/json"})
    r = c.getresponse(); r.read()
    bad_login += r.status != 200
ok = (status.get(201, 0) == len(unique) and status.get(409, 0) == ndup
      and sum(status.values()) == n and not missing and not bad_login)
print("   statuses: " + ", ".join("%s: %d" % (k, v) for k, v in sorted(status.items(), key=str)))
print("   expected: 201: %d, 409: %d; 201s missing from GET /v1/users: %d; sample logins failed: %d/%d"
      % (len(unique), ndup, len(missing), bad_login, len(sample)))
print("   %d requests in %.1f s: %.1f registrations/s (all requests), %s" % (n, dt, n / dt, "OK" if ok else "FAILED"))
with open(out, "w") as f:
    f.write("%.2f %d %s\n" % (n / dt, len(missing), "OK" if ok else "FAILED"))
PY
read -r REG MISSING REGOK <"$WORK/reg.txt"

NG=$(rps nginx) HZ=$(rps healthz) ME=$(rps me)
printf '\n%-40s %10s %8s %8s %7s %12s %8s\n' "figure" "req/s" "mean ms" "p99 ms" "errors" "anchor" "ratio"
printf '%-40s %10.0f %8s %8s %7s %12s %8s\n' "nginx, constant string" "$NG" "$(mean nginx)" "$(p99 nginx)" "$(errs nginx)" "" ""
printf '%-40s %10.0f %8s %8s %7s %12s %7.2fx\n' "cove GET /healthz vs nginx (>= 0.40)" "$HZ" "$(mean healthz)" "$(p99 healthz)" "$(errs healthz)" "nginx" "$(echo "$HZ / $NG" | bc -l)"
printf '%-40s %10s %8s %8s %7s %12s %7.1fx\n' "  /healthz vs Kuspace landing route" "" "" "" "" "3057, 33 ms" "$(echo "$HZ / 3057" | bc -l)"
printf '%-40s %10.0f %8s %8s %7s %12s %7.1fx\n' "cove GET /v1/me, Bearer (>= 20000, p99<20)" "$ME" "$(mean me)" "$(p99 me)" "$(errs me)" "1470" "$(echo "$ME / 1470" | bc -l)"
printf '%-40s %10s %8s %8s %7s %12s %7.2fx\n' "  /v1/me vs nginx" "" "" "" "" "nginx" "$(echo "$ME / $NG" | bc -l)"
printf '%-40s %10.1f %8s %8s %7s %12s %8s\n' "registrations/s, $REG_CLIENTS clients" "$REG" "" "" "$REGOK" "none" ""
echo "(Argon2id: $ARGON; registrations count every request, 201s and the intended 409s)"
[ "$REGOK" = OK ]
