#!/usr/bin/env bash
# bench/jobs.sh - cove's job system against Slurm on this machine, side by
# side in one run.
#
# Anchors: a throwaway single-node Slurm started here (same cores, same
# moment), and the Kuspace thesis (115 submissions/s at 50 concurrent
# clients). Targets: >= 50x the thesis for submissions (5,750/s, no
# errors); >= 5x Slurm for trivial jobs completed per second; p50
# submit-to-running < 20 ms.
#
# Usage: bench/jobs.sh [seconds of the wrk submission test, default 10] [jobs per cove burst, default 500]
#   environment: SLURM_SUBMITS (sbatch calls for Slurm's submission rate, 500),
#   SLURM_BURST (jobs in Slurm's completion burst, 100: its rate is steady,
#   bounded by its scheduling passes), SEQ (sequential samples, 50),
#   BENCH_LIMIT (whole run, seconds, 1500), COVE_BIN (another cove binary
#   to measure instead of this tree's release build).
#
# Order: Slurm's measurements, Slurm torn down, then cove's, then the
# sandbox's start cost; a table at the end. Everything this starts is
# stopped on exit (trap), also on failure or timeout.
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C # $EPOCHREALTIME with a decimal point
DUR=${1:-10}
N=${2:-500}
SUBN=${SLURM_SUBMITS:-500}
SBURST=${SLURM_BURST:-100}
SEQ=${SEQ:-50}
LIMIT=${BENCH_LIMIT:-1500}
CLIENTS=50

bash scripts/deps.sh --bench
for c in wrk hyperfine bwrap curl python3 ss munged mungekey slurmctld slurmd sbatch squeue scancel sinfo srun; do
	command -v "$c" >/dev/null || { echo "jobs.sh: $c missing: run scripts/deps.sh --bench" >&2; exit 1; }
done
[ "$(id -u)" -eq 0 ] || { echo "jobs.sh: run as root (Slurm's daemons and the sandbox's uids need it)" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/cove-jobsbench.XXXXXX")
chmod 0711 "$WORK" # munged wants its socket's directories searchable
CONF=$WORK/slurm/slurm.conf
MUNGED= CTLD= SLURMD= SRV= WATCH=

log() { printf '== %s\n' "$*"; }
now() { printf '%s' "$EPOCHREALTIME"; }
# a port nobody listens on
free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 20000))
		ss -Hltn "sport = :$p" | grep -q . || { echo "$p"; return; }
	done
}
# stop one process we started: TERM, up to 10 s, then KILL
stop_pid() {
	local pid=$1 i
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}
teardown_slurm() {
	if [ -n "$CTLD" ] && kill -0 "$CTLD" 2>/dev/null; then
		SLURM_CONF=$CONF timeout 10 scancel --user=root >/dev/null 2>&1 || true
		for _ in $(seq 50); do
			[ -z "$(SLURM_CONF=$CONF timeout 5 squeue -h -o %i 2>/dev/null)" ] && break
			sleep 0.2
		done
	fi
	stop_pid "$SLURMD"; SLURMD=
	stop_pid "$CTLD"; CTLD=
	# slurmstepd daemonizes away from slurmd: kill only the ones started by
	# this run (their environment carries our SLURM_CONF)
	local p
	for p in $(pgrep -x slurmstepd || true); do
		{ tr '\0' '\n' <"/proc/$p/environ"; } 2>/dev/null | grep -qx "SLURM_CONF=$CONF" &&
			kill -KILL "$p" 2>/dev/null || true
	done
	stop_pid "$MUNGED"; MUNGED=
}
cleanup() {
	set +e
	stop_pid "$SRV"
	teardown_slurm
	[ -n "$WATCH" ] && kill "$WATCH" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# the whole run is bounded: past LIMIT seconds, give up (each phase is also
# bounded on its own)
(
	trap 'kill $s 2>/dev/null; exit 0' TERM
	sleep "$LIMIT" & s=$!
	wait $s
	echo "jobs.sh: over ${LIMIT}s, giving up" >&2
	kill -TERM $$
) &
WATCH=$!

# percentiles (nearest rank) of numbers in seconds on stdin -> "p50 p99 n" in ms
pct() {
	python3 -c '
import math, sys
v = sorted(float(x) for x in sys.stdin.read().split())
if not v: print("- - 0"); sys.exit()
p = lambda q: v[max(0, math.ceil(q / 100 * len(v)) - 1)] * 1000
print("%.1f %.1f %d" % (p(50), p(99), len(v)))'
}

echo "== machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); the clients share the cores with the servers"

######################################################################
# Slurm
######################################################################
log "Slurm: munged with its own key and socket, slurmctld and slurmd from $WORK"
mkdir -p "$WORK/munge" "$WORK/slurm/state" "$WORK/slurm/spool" "$WORK/slurm/jobs" "$WORK/s"
chmod 0711 "$WORK/munge"
mungekey -c -k "$WORK/munge/munge.key" -b 1024
chmod 0400 "$WORK/munge/munge.key"
MSOCK=$WORK/munge/munge.sock
munged -F --force --socket="$MSOCK" --key-file="$WORK/munge/munge.key" \
	--pid-file="$WORK/munge/munged.pid" --seed-file="$WORK/munge/munged.seed" \
	--num-threads=4 2>"$WORK/munge/munged.log" &
MUNGED=$!
for _ in $(seq 100); do munge -n -S "$MSOCK" >/dev/null 2>&1 && break; sleep 0.1; done
munge -n -S "$MSOCK" | unmunge -S "$MSOCK" >/dev/null ||
	{ echo "jobs.sh: munged did not start:" >&2; cat "$WORK/munge/munged.log" >&2; exit 1; }

CTLD_PORT=$(free_port)
SLURMD_PORT=$(free_port)
# RealMemory: this machine's memory as free -m counts it, or what slurmd
# itself finds if that is less (a node configured with more than slurmd
# finds is drained as "Low RealMemory" and never becomes idle)
MEM=$(free -m | awk '/^Mem:/ {print $2}')
DMEM=$(slurmd -C 2>/dev/null | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' | head -n 1)
[ -n "$DMEM" ] && [ "$DMEM" -lt "$MEM" ] && MEM=$DMEM
touch "$WORK/slurm/plugstack.conf"
cat >"$CONF" <<EOF
# generated by bench/jobs.sh: a throwaway one-node cluster on this machine
ClusterName=covebench
# the controller and the one node are this machine, reached on loopback; own
# ports so that a system Slurm (6817/6818) or another run does not collide
SlurmctldHost=localhost
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
# everything runs as root (the benchmark is run as root, jobs too)
SlurmUser=root
SlurmdUser=root
# munge authentication against our own munged (own key, own socket)
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MSOCK
# no MPI, no cgroups: proctrack/linuxproc finds a job's processes through
# /proc (cove uses cgroups, but that cost is Slurm-side noise here);
# task/none binds nothing
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
# no slurmdbd: sacct is not available, completion is seen through squeue
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
# no site SPANK plugins from /etc/slurm
PlugStackConfig=$WORK/slurm/plugstack.conf
# one-core jobs share the node core by core: 2 cores = 2 jobs at a time,
# like cove, whose jobs ask for 1 CPU by default
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
# Slurm starts batch jobs only in scheduling passes, never at submission:
# the main pass runs in slurmctld's 1-second background loop
# (batch_sched_delay=0: in every loop, not every 3 s, the default), and
# bf_interval=1 adds a backfill pass every second (default 30 s). That is as
# fast as Slurm's batch scheduling can be configured; sched_min_interval=0
# removes the (2 us) floor between passes. The two 1-second timers drift in
# and out of phase, so a run sees one or two useful passes a second: with 2
# one-core slots and 50 ms jobs, 2 or 4 jobs/s (runs of one machine differ
# by that factor of two).
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,bf_interval=1,sched_min_interval=0
# a node that registers comes back up by itself; a dead slurmd is noticed
# within 30 s (nothing here waits on it, it only bounds a broken setup)
ReturnToService=2
SlurmdTimeout=30
# finished jobs leave the controller's memory after 2 s (default 300 s), so
# thousands of trivial jobs do not pile up in it
MinJobAge=2
MaxJobCount=200000
KillWait=5
InactiveLimit=0
StateSaveLocation=$WORK/slurm/state
SlurmdSpoolDir=$WORK/slurm/spool
SlurmctldPidFile=$WORK/slurm/slurmctld.pid
SlurmdPidFile=$WORK/slurm/slurmd.pid
# the daemons run in the foreground (-D) and log to stderr, into files here
SlurmctldDebug=info
SlurmdDebug=info
# the node: this machine's cores (nproc) and memory (free -m, see above)
NodeName=localhost CPUs=$(nproc) RealMemory=$MEM State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$CONF
slurmctld -D -c -f "$CONF" 2>"$WORK/slurm/slurmctld.log" &
CTLD=$!
slurmd -D -N localhost -f "$CONF" 2>"$WORK/slurm/slurmd.log" &
SLURMD=$!
state=
for _ in $(seq 150); do
	state=$(timeout 5 sinfo -h -N -n localhost -o %T 2>/dev/null || true)
	[ "$state" = idle ] && break
	sleep 0.2
done
if [ "$state" != idle ]; then
	echo "jobs.sh: the Slurm node is not idle after 30 s (state '$state')" >&2
	tail -n 20 "$WORK/slurm/slurmctld.log" "$WORK/slurm/slurmd.log" >&2
	exit 1
fi
SD=$WORK/s
cd "$WORK/slurm/jobs" # where jobs start (their output goes to /dev/null)

# (a) submissions per second: SUBN sbatch from 50 concurrent clients; one
# sbatch process per submission (how Slurm is used), each a munge credential
# and an RPC. The jobs then run (2 at a time), as cove's do.
log "Slurm (a): $SUBN x sbatch --wrap true from $CLIENTS clients"
t0=$(now)
seq "$SUBN" | timeout 300 xargs -P "$CLIENTS" -n 1 \
	sbatch --parsable -o /dev/null -e /dev/null --wrap true --comment \
	>"$SD/sub.ids" 2>"$SD/sub.err" || true
t1=$(now)
S_SUBOK=$(grep -c '^[0-9]' "$SD/sub.ids" || true)
S_SUBFAIL=$((SUBN - S_SUBOK))
S_SUBRATE=$(python3 -c "print('%.1f' % ($S_SUBOK / ($t1 - $t0)))")
echo "   $S_SUBOK submitted in $(python3 -c "print('%.2f' % ($t1 - $t0))") s: $S_SUBRATE/s, $S_SUBFAIL failed"
[ "$S_SUBFAIL" -eq 0 ] || sort "$SD/sub.err" | uniq -c | sort -rn | head -3
# clear the queue for the next measure: cancel what still waits
timeout 30 scancel --user=root --state=PENDING >/dev/null 2>&1 || true
for _ in $(seq 300); do [ -z "$(timeout 5 squeue -h -o %i 2>/dev/null)" ] && break; sleep 0.2; done

# (b) trivial jobs completed per second: SBURST jobs submitted at once from
# 50 clients, time until squeue lists none (polled every 0.1 s). Each job
# runs `date +%s.%N > file` (one exec, like `true`) so that it also records
# when it started, for the latency under load; the submit time is taken just
# before its sbatch.
log "Slurm (b): burst of $SBURST trivial jobs, until all have completed"
cat >"$SD/sub_ts.sh" <<'EOF'
#!/bin/bash
t=$EPOCHREALTIME
sbatch -Q -o /dev/null -e /dev/null --wrap "date +%s.%N > $SD/start.$1" >/dev/null 2>&1 &&
	echo "$1 $t" >>"$SD/submit.txt"
EOF
chmod +x "$SD/sub_ts.sh"
export SD
t0=$(now)
seq "$SBURST" | timeout 300 xargs -P "$CLIENTS" -n 1 "$SD/sub_ts.sh" || true
S_BURSTOK=$(wc -l <"$SD/submit.txt")
deadline=$(( $(date +%s) + 300 ))
while [ -n "$(timeout 5 squeue -h -o %i 2>/dev/null)" ] && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.1; done
t1=$(now)
[ "$(date +%s)" -lt "$deadline" ] || echo "   (gave up waiting after 300 s)"
S_DONE=$(ls "$SD" | grep -c '^start\.' || true)
S_RATE=$(python3 -c "print('%.2f' % ($S_DONE / ($t1 - $t0)))")
read -r S_BP50 S_BP99 _ < <(while read -r i t; do
	[ -s "$SD/start.$i" ] && echo "$(cat "$SD/start.$i") - $t" | bc -l; done <"$SD/submit.txt" | pct)
echo "   $S_DONE of $S_BURSTOK jobs done in $(python3 -c "print('%.1f' % ($t1 - $t0))") s: $S_RATE/s; submit->start p50 $S_BP50 ms p99 $S_BP99 ms"

# (c) submit-to-start latency, sequentially: submit one job, wait until it
# has written its start time (the latency), then until squeue no longer
# lists it (the whole path), SEQ times. The wrapper's timestamp, not
# scontrol's SubmitTime/StartTime, which have 1 s resolution.
log "Slurm (c): $SEQ jobs one after the other (sbatch, then srun)"
: >"$SD/seq.txt"
for i in $(seq "$SEQ"); do
	t0=$(now)
	id=$(sbatch --parsable -o /dev/null -e /dev/null --wrap "date +%s.%N > $SD/seq.$i" 2>/dev/null) || continue
	end=$(( $(date +%s) + 20 ))
	until [ -s "$SD/seq.$i" ] || [ "$(date +%s)" -ge "$end" ]; do sleep 0.005; done
	[ -s "$SD/seq.$i" ] || { echo "   job $id did not start within 20 s"; continue; }
	while [ -n "$(timeout 5 squeue -h -j "$id" -o %i 2>/dev/null)" ] && [ "$(date +%s)" -lt "$end" ]; do sleep 0.02; done
	t2=$(now)
	echo "$t0 $(cat "$SD/seq.$i") $t2" >>"$SD/seq.txt"
done
read -r S_SP50 S_SP99 S_SN < <(awk '{print $2 - $1}' "$SD/seq.txt" | pct)
read -r S_WP50 S_WP99 _ < <(awk '{print $3 - $1}' "$SD/seq.txt" | pct)
echo "   sbatch: submit->start p50 $S_SP50 ms p99 $S_SP99 ms; submit->gone from squeue p50 $S_WP50 ms ($S_SN jobs)"
# srun allocates at once (interactive allocations are tried at submission,
# unlike batch jobs) and waits for the end: Slurm's fastest whole job path
: >"$SD/srun.txt"
for i in $(seq "$SEQ"); do
	t0=$(now)
	timeout 20 srun -Q true >/dev/null 2>&1 || continue
	t1=$(now)
	echo "$t1 - $t0" | bc -l >>"$SD/srun.txt"
done
read -r S_RP50 S_RP99 S_RN < <(pct <"$SD/srun.txt")
echo "   srun true: whole job p50 $S_RP50 ms p99 $S_RP99 ms ($S_RN jobs)"
cd - >/dev/null
teardown_slurm
unset SLURM_CONF

######################################################################
# cove
######################################################################
# COVE_BIN: measure another build of cove (default: this tree's release build)
if [ -n "${COVE_BIN:-}" ]; then
	BIN=$(realpath "$COVE_BIN")
else
	make -s build/cove
	BIN=$PWD/build/cove
fi
PW=Bench-pass-2026
PORT= URL= TOKEN=
start_cove() { # $1: data directory
	PORT=$(free_port)
	URL=http://127.0.0.1:$PORT
	# no backpressure limit in the way of the submission test: it measures
	# the API, not the queue cap (defaults 200,000 / 20,000 a user); jobs get
	# every CPU of the machine (1 CPU each by default), like Slurm's node
	COVE_ADMIN_PASSWORD=$PW COVE_LOG_LEVEL=warn COVE_MAX_QUEUED=100000000 \
		COVE_MAX_QUEUED_USER=100000000 "$BIN" serve --listen "127.0.0.1:$PORT" \
		--data "$1" >>"$WORK/server.log" 2>&1 &
	SRV=$!
	# up to 60 s: the machine may still be busy with the jobs of the last test
	for _ in $(seq 600); do curl -fs "$URL/healthz" >/dev/null && break; sleep 0.1; done
	curl -fs "$URL/healthz" >/dev/null || { echo "jobs.sh: cove did not answer on $URL; its log:" >&2; tail -20 "$WORK/server.log" >&2; }
	TOKEN=$(curl -fs "$URL/v1/auth/login" -H 'Content-Type: application/json' \
		-d "{\"username\":\"admin\",\"password\":\"$PW\"}" |
		python3 -c 'import json,sys;print(json.load(sys.stdin)["access_token"])') || TOKEN=
	[ -n "$TOKEN" ]
}

# The cove client for (b) and (c): keep-alive connections, 50 threads for a
# burst. Assumes the contract: POST /v1/jobs -> 201 {"id","state"}, 429
# with Retry-After under backpressure; GET /v1/jobs/{id} -> {"state",
# "submitted_at","started_at","finished_at"} (RFC 3339, ms); GET
# /v1/jobs?state=S&limit=1000[&cursor=C] -> {"items","next_cursor"}. Active
# states: queued, starting, running.
cat >"$WORK/client.py" <<'EOF'
import http.client, json, math, os, sys, threading, time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
PORT, TOKEN = int(os.environ["PORT"]), os.environ["TOKEN"]
H = {"Authorization": "Bearer " + TOKEN, "Content-Type": "application/json"}
BODY = json.dumps({"app": "bash", "script": "true"})
ACTIVE = ("queued", "starting", "running")
tl = threading.local()

def req(method, path, body=None):
    c = getattr(tl, "c", None)
    if c is None:
        c = tl.c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60)
    try:
        c.request(method, path, body=body, headers=H)
        r = c.getresponse()
        data = r.read()
    except (http.client.HTTPException, OSError):
        c.close()
        tl.c = None
        return 0, b"", None
    return r.status, data, r

def ts(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() if s else None

def submit(_=None):
    """-> (id or None, number of 429s)"""
    busy = 0
    for _ in range(100):
        st, data, r = req("POST", "/v1/jobs", BODY)
        if st == 201:
            return json.loads(data)["id"], busy
        if st != 429:
            sys.stderr.write("POST /v1/jobs: %s %s\n" % (st, data[:200]))
            return None, busy
        busy += 1
        time.sleep(float(r.getheader("Retry-After") or 1))
    return None, busy

def count_active(pages=300):
    n = 0
    for s in ACTIVE:
        cur = ""
        for _ in range(pages):
            st, data, _r = req("GET", "/v1/jobs?state=%s&limit=1000%s" % (s, cur))
            if st != 200:
                break  # e.g. a state the API does not filter on
            o = json.loads(data)
            n += len(o.get("items", []))
            if not o.get("next_cursor"):
                break
            cur = "&cursor=" + o["next_cursor"]
    return n

def pct(v, q):
    v = sorted(v)
    return v[max(0, math.ceil(q / 100 * len(v)) - 1)] * 1000 if v else float("nan")

def burst(n, limit):
    t0 = time.time()
    with ThreadPoolExecutor(50) as ex:
        res = list(ex.map(submit, range(n)))
    t1 = time.time()
    ids = [i for i, _ in res if i]
    deadline = t0 + limit
    while count_active() and time.time() < deadline:
        time.sleep(0.05)
    t2 = time.time()
    with ThreadPoolExecutor(50) as ex:
        jobs = list(ex.map(lambda i: json.loads(req("GET", "/v1/jobs/" + i)[1] or b"{}"), ids))
    states = {}
    lat = []
    for j in jobs:
        states[j.get("state")] = states.get(j.get("state"), 0) + 1
        if j.get("started_at") and j.get("submitted_at"):
            lat.append(ts(j["started_at"]) - ts(j["submitted_at"]))
    done = sum(v for k, v in states.items() if k not in ACTIVE)
    print("submitted %d" % len(ids))
    print("errors %d" % (n - len(ids)))
    print("busy429 %d" % sum(b for _, b in res))
    print("submit_s %.3f" % (t1 - t0))
    print("total_s %.3f" % (t2 - t0))
    print("timed_out %d" % (t2 >= deadline))
    print("done %d" % done)
    print("rate %.2f" % (done / (t2 - t0)))
    print("p50 %.1f" % pct(lat, 50))
    print("p99 %.1f" % pct(lat, 99))
    print("states %s" % ",".join("%s=%d" % kv for kv in sorted(states.items(), key=str)))

def seq(m, limit):
    srv, run, whole = [], [], []
    fail = 0
    for _ in range(m):
        t0 = time.time()
        i, _b = submit()
        if not i:
            fail += 1
            continue
        t_run = None
        deadline = t0 + limit
        while time.time() < deadline:
            st, data, _r = req("GET", "/v1/jobs/" + i)
            j = json.loads(data) if st == 200 else {}
            s = j.get("state")
            if t_run is None and s and s not in ("queued", "starting"):
                t_run = time.time()
            if s and s not in ACTIVE:
                break
            time.sleep(0.001)
        else:
            fail += 1
            continue
        t_end = time.time()
        if j.get("started_at"):
            srv.append(ts(j["started_at"]) - ts(j["submitted_at"]))
        run.append(t_run - t0)
        whole.append(t_end - t0)
    print("n %d" % len(whole))
    print("failed %d" % fail)
    print("p50 %.1f" % pct(srv, 50))
    print("p99 %.1f" % pct(srv, 99))
    print("run_p50 %.1f" % pct(run, 50))
    print("run_p99 %.1f" % pct(run, 99))
    print("whole_p50 %.1f" % pct(whole, 50))
    print("whole_p99 %.1f" % pct(whole, 99))

if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "count":
        print(count_active())
    elif mode == "burst":
        burst(int(sys.argv[2]), float(sys.argv[3]))
    elif mode == "seq":
        seq(int(sys.argv[2]), float(sys.argv[3]))
EOF
kv() { awk -v k="$1" '$1 == k {print $2}' "$2"; }

COVE=0
C_SUBRATE= C_SUBRATE2= C_NON201_2= C_NON201= C_429= C_BACKLOG= C_RATE= C_BP50= C_BP99= C_SP50= C_SP99= C_WP50= C_WP99= C_RUNP50=
if ! start_cove "$WORK/data1"; then
	echo "== cove: the server did not start or log in; cove figures skipped" >&2
	tail -n 20 "$WORK/server.log" >&2
else
	code=$(curl -s -o "$WORK/probe.json" -w '%{http_code}' -X POST "$URL/v1/jobs" \
		-H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
		-d '{"app":"bash","script":"true"}')
	if [ "$code" = 404 ]; then
		echo "== cove: POST /v1/jobs answered 404: this build has no jobs API yet; cove's figures are pending"
	elif [ "$code" != 201 ]; then
		echo "== cove: POST /v1/jobs answered $code ($(head -c 300 "$WORK/probe.json")); cove's figures skipped"
	else
		COVE=1
	fi
fi

if [ "$COVE" = 1 ]; then
	export PORT TOKEN
	# (a) submissions per second: wrk, 50 connections, POST with the token;
	# every answer but 201 counts as an error (429s separately). The jobs
	# then run, 2 at a time, on the same 2 cores: that load is part of it.
	cat >"$WORK/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"app":"bash","script":"true"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $TOKEN"
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) bad = 0; busy = 0 end
function response(status, headers, body)
	if status ~= 201 then bad = bad + 1 end
	if status == 429 then busy = busy + 1 end
end
function done(summary, latency, requests)
	local b, t = 0, 0
	for _, th in ipairs(threads) do b = b + th:get("bad"); t = t + th:get("busy") end
	io.write(string.format("NON201 %d\nBUSY429 %d\n", b, t))
end
LUA
	log "cove (a): POST /v1/jobs, $CLIENTS connections, ${DUR}s (the jobs run meanwhile)"
	timeout $((DUR + 60)) wrk -t2 -c"$CLIENTS" -d"${DUR}s" --latency -s "$WORK/post.lua" "$URL/v1/jobs" |
		tee "$WORK/wrk.txt" | grep -E "Requests/sec|Latency |Non-2xx|Socket errors|  50%|  99%|NON201|BUSY429" || true
	C_SUBRATE=$(awk '/Requests\/sec/ {printf "%.0f", $2}' "$WORK/wrk.txt")
	C_NON201=$(awk '$1 == "NON201" {print $2}' "$WORK/wrk.txt")
	C_429=$(awk '$1 == "BUSY429" {print $2}' "$WORK/wrk.txt")
	C_SOCKERR=$(awk '/Socket errors/ {s = 0; for (i = 4; i <= NF; i += 2) s += $i; print s}' "$WORK/wrk.txt")
	C_NON201=$(( ${C_NON201:-0} + ${C_SOCKERR:-0} ))
	C_TOTAL=$(awk '/requests in/ {print $1}' "$WORK/wrk.txt")
	C_BACKLOG=$(timeout 120 python3 "$WORK/client.py" count || echo "?")
	echo "   $C_TOTAL requests, $C_NON201 not 201 (429: ${C_429:-0}); $C_BACKLOG jobs still queued or running at the end, the rest done"
	# a fresh server for the rest: the backlog of (a) would take minutes
	# to drain (jobs already started finish on their own)
	stop_pid "$SRV"; SRV=
	start_cove "$WORK/data1b" || { echo "jobs.sh: a cove server did not start" >&2; exit 1; }
	# (a') the API alone: the same submissions into a queue that runs one
	# job at a time, so that sandboxes do not take the cores meanwhile
	curl -fs -X POST "$URL/v1/queues" -H "Authorization: Bearer $TOKEN" \
		-H 'Content-Type: application/json' -d '{"name":"hold","max_running":1}' >/dev/null
	sed -e "s/Bearer [^\"]*/Bearer $TOKEN/" -e 's/"script":"true"}/"script":"true","queue":"hold"}/' \
		"$WORK/post.lua" >"$WORK/post-hold.lua"
	log "cove (a'): the same into a queue running one job at a time (the API's own rate)"
	timeout $((DUR + 60)) wrk -t2 -c"$CLIENTS" -d"${DUR}s" --latency -s "$WORK/post-hold.lua" "$URL/v1/jobs" |
		tee "$WORK/wrk2.txt" | grep -E "Requests/sec|Latency |Non-2xx|Socket errors|  50%|  99%|NON201|BUSY429" || true
	C_SUBRATE2=$(awk '/Requests\/sec/ {printf "%.0f", $2}' "$WORK/wrk2.txt")
	C_NON201_2=$(awk '$1 == "NON201" {print $2}' "$WORK/wrk2.txt")
	stop_pid "$SRV"; SRV=
	start_cove "$WORK/data2" || { echo "jobs.sh: the second cove server did not start" >&2; exit 1; }
	export PORT TOKEN

	log "cove (b): burst of $N trivial jobs, until none is queued or running"
	timeout 400 python3 "$WORK/client.py" burst "$N" 300 >"$WORK/burst.txt" || true
	cat "$WORK/burst.txt" | sed 's/^/   /' | tr '\n' ' '; echo
	C_RATE=$(kv rate "$WORK/burst.txt"); C_BP50=$(kv p50 "$WORK/burst.txt"); C_BP99=$(kv p99 "$WORK/burst.txt")

	log "cove (c): $SEQ jobs one after the other (submit, poll until running, then until over)"
	timeout 400 python3 "$WORK/client.py" seq "$SEQ" 20 >"$WORK/seq.txt" || true
	cat "$WORK/seq.txt" | sed 's/^/   /' | tr '\n' ' '; echo
	C_SP50=$(kv p50 "$WORK/seq.txt"); C_SP99=$(kv p99 "$WORK/seq.txt")
	C_RUNP50=$(kv run_p50 "$WORK/seq.txt")
	C_WP50=$(kv whole_p50 "$WORK/seq.txt"); C_WP99=$(kv whole_p99 "$WORK/seq.txt")
	stop_pid "$SRV"; SRV=
fi

# (d) the sandbox's start cost: a bare fork+exec of /bin/true against the
# same command in bubblewrap as cove's local executor builds it
# (src/exec/sandbox.c: keep the two in step). Not reproduced here: the
# job's passwd/group/hosts files (--ro-bind-data), --json-status-fd, the
# seccomp filter (--seccomp), the cgroups and the shim (`cove __shim`)
# around it, and cove runs it as an unprivileged host uid, not root. The
# whole cove path, shim and all, is the sequential figure of (c).
log "sandbox start cost (hyperfine)"
SANDBOX="bwrap --unshare-user --unshare-pid --unshare-ipc --unshare-uts --unshare-cgroup-try --unshare-net"
SANDBOX+=" --uid 1000 --gid 1000 --hostname bench --die-with-parent --new-session --cap-drop ALL --ro-bind /usr /usr"
for l in bin sbin lib lib64 lib32 libx32; do if [ -e "/usr/$l" ]; then SANDBOX+=" --symlink usr/$l /$l"; fi; done
SANDBOX+=" --proc /proc --dev /dev --size 1073741824 --tmpfs /tmp --symlink ../tmp /var/tmp --chdir / --clearenv"
SANDBOX+=" --setenv PATH /usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin --setenv HOME /tmp /usr/bin/true"
if $SANDBOX; then
	timeout 300 hyperfine -N --style basic --warmup 20 --runs 300 '/bin/true' "$SANDBOX" \
		--export-json "$WORK/hf.json" >/dev/null 2>&1 || true
else
	echo "   the sandbox does not start here: $SANDBOX"
fi
read -r H_BARE H_BWRAP < <(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))["results"]
print("%.2f %.2f" % (r[0]["median"] * 1000, r[1]["median"] * 1000))' "$WORK/hf.json" 2>/dev/null || echo "- -")

######################################################################
# the table
######################################################################
# ratio a/b, "-" when either is missing
ratio() {
	python3 -c '
import sys
try:
    a, b = float(sys.argv[1]), float(sys.argv[2])
    print("%.2fx" % (a / b) if b else "-")
except ValueError:
    print("-")' "${1:--}" "${2:--}"
}
P="pending"
[ "$COVE" = 1 ] && P="-"
row() { # label cove slurm [thesis] [target]
	local c=${2:-$P} s=${3:--} t=${4:--}
	printf '%-46s %9s %9s %9s %7s %9s  %s\n' "$1" "$c" "$s" "$(ratio "$c" "$s")" "$t" "$(ratio "$c" "$t")" "${5:-}"
}
echo
printf '%-46s %9s %9s %9s %7s %9s  %s\n' "figure" "cove" "Slurm" "c/Slurm" "thesis" "c/thesis" "target"
row "submissions/s, 50 clients" "$C_SUBRATE" "$S_SUBRATE" 115 ">= 5750/s (50x thesis)"
row "submissions/s, API alone" "$C_SUBRATE2" "$S_SUBRATE" 115 ">= 5750/s (50x thesis)"
row "  failed submissions (not 201 / sbatch error)" "${C_NON201:-}" "$S_SUBFAIL" "" "0"
row "  failed submissions, API alone" "${C_NON201_2:-}" "$S_SUBFAIL" "" "0"
row "trivial jobs completed/s (burst)" "$C_RATE" "$S_RATE" "" ">= 5x Slurm"
row "submit->start p50 ms, one at a time" "$C_SP50" "$S_SP50" "" "< 20 ms"
row "submit->start p99 ms, one at a time" "$C_SP99" "$S_SP99"
# under a burst the latency is mostly queueing (2 jobs at a time), and the
# bursts differ in size: no ratio
nr() { printf '%-46s %9s %9s %9s\n' "$1" "${2:-$P}" "${3:--}" "-"; }
nr "submit->start p50 ms, burst ($N vs $SBURST jobs)" "$C_BP50" "$S_BP50"
nr "submit->start p99 ms, burst ($N vs $SBURST jobs)" "$C_BP99" "$S_BP99"
row "whole job p50 ms, one at a time (sbatch)" "$C_WP50" "$S_WP50"
row "whole job p99 ms, one at a time (sbatch)" "$C_WP99" "$S_WP99"
row "whole job p50 ms, one at a time (srun true)" "$C_WP50" "$S_RP50"
echo
echo "sandbox start (median of 300): bare /bin/true $H_BARE ms, in bwrap $H_BWRAP ms ($(ratio "$H_BWRAP" "$H_BARE") the bare start);"
echo "  cove's whole job path (submit, start, run, seen over) one at a time: p50 ${C_WP50:-$P} ms"
echo "(Slurm: $SUBN submissions, a burst of $SBURST jobs; cove: wrk ${DUR}s, a burst of $N jobs;"
echo " $SEQ sequential jobs each; both run 2 one-core jobs at a time on $(nproc) cores."
[ "$COVE" = 1 ] && echo " cove's submission test left $C_BACKLOG jobs queued or running (they ran meanwhile, loading the machine)."
echo " Slurm starts batch jobs only in its scheduling passes, once or twice a second: see the comments in this script.)"
