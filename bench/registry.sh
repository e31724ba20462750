#!/usr/bin/env bash
# bench/registry.sh - push and pull speed of cove's registry (release build)
# side by side with Debian's docker-registry (distribution 2.8), in one run,
# with the same client (skopeo) and the same images.
#
# Anchors (Hopsworks thesis, Harbor, 100 images): mean push 3.0 s, 47.6 s,
# 67.4 s and mean pull 2.2 s, 23.5 s, 28.8 s at concurrency 1, 3 and 6.
# Targets: cove at least as fast as docker-registry on every figure, and at
# least 2x faster at concurrency 6.
#
# Images, made here (no network registry): OCI layouts of 3 gzip layers,
#   a busybox-static layer shared by all images (~1 MB),
#   two layers unique to each image, each a tar of LAYER_MIB MiB of random
#   bytes (incompressible, stored gzip) -> about 2*LAYER_MIB+1 MB per image;
# each concurrency level pushes its own fresh set (nothing already there to
# skip), the same set to both registries, then pulls it back to disk
# (skopeo copy docker://... dir:...). One skopeo process per image, as
# `docker push` per image in the thesis; per-image times give mean and p90.
# Then one image with a single BIG_GIB GiB layer (uncompressed tar, pushed
# with --preserve-digests so skopeo does not recompress): MB/s push and pull.
#
# Usage: bench/registry.sh [images per level, default 100] [GiB for the big
#        layer, default 1, 0 to skip] [levels, default "1 3 6"]
#   env: LAYER_MIB (default 2); REGBENCH_LOGIN=token logs skopeo in with a
#        personal API token instead of the password; REGBENCH_SELFTEST=1 puts a second
#        docker-registry in cove's place (checks the script itself)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100}
BIG_GIB=${2:-1}
LEVELS=${3:-"1 3 6"}
LAYER_MIB=${LAYER_MIB:-2}
for t in skopeo docker-registry python3 curl bc; do
	command -v "$t" >/dev/null || { echo "$t missing: run scripts/deps.sh --bench" >&2; exit 1; }
done
make -s build/cove
BIN=$PWD/build/cove
WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/cove-regbench.XXXXXX")
CPORT=$(( 20000 + RANDOM % 20000 ))
DPORT=$(( CPORT + 1 ))
CHOST=127.0.0.1:$CPORT
DHOST=127.0.0.1:$DPORT
PW=Bench-pass-2026
PROJ=bench
SRV= DREG=
cleanup() {
	set +e
	[ -n "$DREG" ] && kill "$DREG" 2>/dev/null && wait "$DREG" 2>/dev/null
	[ -n "$SRV" ] && kill "$SRV" 2>/dev/null && wait "$SRV" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the two registries
dreg_config() { # file storage addr
	printf 'version: 0.1\nlog: {level: error}\nstorage:\n  filesystem: {rootdirectory: %s}\n  delete: {enabled: true}\nhttp: {addr: %s}\n' "$2" "$3" >"$1"
}
if [ -n "${REGBENCH_SELFTEST:-}" ]; then
	# checks this script: a second docker-registry stands in for cove
	dreg_config "$WORK/self.yml" "$WORK/self" "$CHOST"
	docker-registry serve "$WORK/self.yml" >"$WORK/cove.log" 2>&1 &
else
	COVE_ADMIN_PASSWORD=$PW COVE_LOG_LEVEL=warn "$BIN" serve --listen "$CHOST" \
		--data "$WORK/cove" >"$WORK/cove.log" 2>&1 &
fi
SRV=$!
dreg_config "$WORK/dreg.yml" "$WORK/dreg" "$DHOST"
docker-registry serve "$WORK/dreg.yml" >"$WORK/dreg.log" 2>&1 &
DREG=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://$CHOST/v2/" && break; sleep 0.1; done
for _ in $(seq 100); do curl -fs "http://$DHOST/v2/" >/dev/null && break; sleep 0.1; done
curl -fs "http://$DHOST/v2/" >/dev/null || { echo "docker-registry did not start" >&2; cat "$WORK/dreg.log" >&2; exit 1; }
if [ -z "${REGBENCH_SELFTEST:-}" ]; then
	code=$(curl -s -o /dev/null -w '%{http_code}' "http://$CHOST/v2/")
	[ "$code" = 401 ] || { echo "cove answers $code on /v2/ (expected the 401 challenge): no registry in this build?" >&2; exit 1; }
	TOKEN=$(curl -fs "http://$CHOST/v1/auth/login" -H 'Content-Type: application/json' \
		-d "{\"username\":\"admin\",\"password\":\"$PW\"}" | python3 -c 'import json,sys;print(json.load(sys.stdin)["access_token"])')
	curl -fs -X POST "http://$CHOST/v1/projects" -H "Authorization: Bearer $TOKEN" \
		-H 'Content-Type: application/json' -d "{\"name\":\"$PROJ\"}" >/dev/null
fi

# skopeo keeps its state (auth, blob-info cache for root) out of the way
export HOME=$WORK/home REGISTRY_AUTH_FILE=$WORK/auth.json
mkdir -p "$HOME"
echo '{"auths":{}}' >"$REGISTRY_AUTH_FILE"
if [ -z "${REGBENCH_SELFTEST:-}" ]; then
	SECRET=$PW
	if [ "${REGBENCH_LOGIN:-password}" = token ]; then
		SECRET=$(curl -fs -X POST "http://$CHOST/v1/tokens" -H "Authorization: Bearer $TOKEN" \
			-H 'Content-Type: application/json' -d '{"name":"regbench"}' |
			python3 -c 'import json,sys;print(json.load(sys.stdin)["token"])')
	fi
	skopeo login --tls-verify=false -u admin --password-stdin "$CHOST" <<<"$SECRET" >/dev/null
fi

# ---- images
# make_images DIR COUNT: OCI layouts DIR/iNNN (one image each, tag "v1")
make_images() {
	python3 - "$1" "$2" "$LAYER_MIB" <<'PY'
import gzip, hashlib, io, json, os, sys, tarfile
out, count, mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def sha(b): return hashlib.sha256(b).hexdigest()
def layer(files):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as t:
        for name, data, mode in files:
            ti = tarfile.TarInfo(name); ti.size, ti.mode, ti.mtime = len(data), mode, 0
            t.addfile(ti, io.BytesIO(data))
    diff = raw.getvalue()
    gz = io.BytesIO()
    with gzip.GzipFile(fileobj=gz, mode="wb", mtime=0, compresslevel=0) as g:
        g.write(diff)
    return gz.getvalue(), "sha256:" + sha(diff)
bb = open("/bin/busybox", "rb").read()
base = layer([("bin/busybox", bb, 0o755)])
for i in range(count):
    d = os.path.join(out, "i%03d" % i)
    os.makedirs(os.path.join(d, "blobs", "sha256"))
    ls = [base] + [layer([("data/%d.bin" % k, os.urandom(mib << 20), 0o644)]) for k in range(2)]
    cfg = json.dumps({"architecture": "amd64", "os": "linux",
                      "config": {"Cmd": ["/bin/busybox", "sh"]},
                      "rootfs": {"type": "layers", "diff_ids": [x[1] for x in ls]}}).encode()
    man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + sha(cfg), "size": len(cfg)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": "sha256:" + sha(x[0]), "size": len(x[0])} for x in ls]}).encode()
    for b in [x[0] for x in ls] + [cfg, man]:
        with open(os.path.join(d, "blobs", "sha256", sha(b)), "wb") as f: f.write(b)
    open(os.path.join(d, "oci-layout"), "w").write('{"imageLayoutVersion":"1.0.0"}')
    json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": "sha256:" + sha(man), "size": len(man),
        "annotations": {"org.opencontainers.image.ref.name": "v1"}}]}, open(os.path.join(d, "index.json"), "w"))
PY
}

# one timed skopeo copy: prints "seconds" or "FAIL"
one() { # op host repo-prefix image-dir
	local op=$1 host=$2 pre=$3 dir=$4 img t0 t1 src dst
	img=$(basename "$dir")
	if [ "$op" = push ]; then
		src="oci:$dir:v1" dst="docker://$host/$pre-$img:v1"
	else
		src="docker://$host/$pre-$img:v1" dst="dir:$WORK/pulled/$img-$host"
	fi
	t0=$(date +%s.%N)
	if skopeo copy -q --src-tls-verify=false --dest-tls-verify=false "$src" "$dst" >"$WORK/logs/$img.$op.$host" 2>&1; then
		t1=$(date +%s.%N)
		echo "$t1 - $t0" | bc -l
	else
		echo FAIL
		cat "$WORK/logs/$img.$op.$host" >&2
	fi
	[ "$op" = pull ] && rm -rf "$WORK/pulled/$img-$host"
	return 0
}
export -f one
export WORK
mkdir -p "$WORK/logs" "$WORK/pulled"

# CPU accounting: the server's own ticks, and the whole machine's busy ticks
# (what is not the server is the clients: skopeo, and this script)
CLK=$(getconf CLK_TCK)
proc_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat; }

# run_level OP HOST PREFIX LEVEL: per-image times into $WORK/t-OP-HOST-LEVEL,
# CPU ms per image ("server clients") into $WORK/cpu-OP-HOST-LEVEL
run_level() {
	local op=$1 host=$2 pre=$3 c=$4 out=$WORK/t-$1-$2-$4 t0 t1 pid s0 s1 b0 b1
	pid=$SRV; [ "$host" = "$DHOST" ] && pid=$DREG
	s0=$(proc_ticks "$pid"); b0=$(busy_ticks)
	t0=$(date +%s.%N)
	ls -d "$WORK/img$c"/i* | xargs -P "$c" -I{} bash -c "one $op $host $pre {}" >"$out"
	t1=$(date +%s.%N)
	s1=$(proc_ticks "$pid"); b1=$(busy_ticks)
	echo "$(( (s1 - s0) * 1000 / CLK / N )) $(( ((b1 - b0) - (s1 - s0)) * 1000 / CLK / N ))" >"$WORK/cpu-$op-$host-$c"
	if grep -q FAIL "$out"; then
		echo "$op to $host at concurrency $c: $(grep -c FAIL "$out") of $N failed" >&2
		exit 1
	fi
	local who=cove; [ "$host" = "$DHOST" ] && who=docker-registry
	read -r scpu ccpu <"$WORK/cpu-$op-$host-$c"
	printf '  %-4s %-16s c=%s  wall %6.1f s  mean %6.2f s  p90 %6.2f s  CPU/image: server %4d ms, clients %4d ms\n' \
		"$op" "$who" "$c" "$(echo "$t1 - $t0" | bc -l)" "$(stat_of "$out" mean)" "$(stat_of "$out" p90)" "$scpu" "$ccpu"
}
stat_of() { # file mean|p90
	python3 - "$1" "$2" <<'PY'
import math, sys
v = sorted(float(x) for x in open(sys.argv[1]) if x.strip())
if sys.argv[2] == "mean": print("%.3f" % (sum(v) / len(v)))
else: print("%.3f" % v[math.ceil(0.9 * len(v)) - 1])
PY
}

echo "== machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); skopeo $(skopeo --version | awk '{print $3}'), $(docker-registry --version 2>/dev/null | awk '{print $3}')"
[ -z "${REGBENCH_SELFTEST:-}" ] && echo "== cove: skopeo logged in with a ${REGBENCH_LOGIN:-password}"
echo "== $N images per level: busybox layer + 2 x ${LAYER_MIB} MiB random layers (~$((2 * LAYER_MIB + 1)) MB each)"
for c in $LEVELS; do
	mkdir -p "$WORK/img$c"
	make_images "$WORK/img$c" "$N"
	# alternate which registry goes first, so neither always has a warm page cache
	if [ $(( c % 2 )) -eq 1 ]; then order="$CHOST $DHOST"; else order="$DHOST $CHOST"; fi
	for op in push pull; do
		for h in $order; do
			run_level "$op" "$h" "$PROJ/c$c" "$c"
		done
	done
	rm -rf "$WORK/img$c"
done

BIGP= BIGL= DBIGP= DBIGL=
if [ "$BIG_GIB" != 0 ]; then
	echo "== one image with a ${BIG_GIB} GiB layer (uncompressed tar, --preserve-digests)"
	python3 - "$WORK/big" "$BIG_GIB" <<'PY'
import hashlib, json, os, sys
out, gib = sys.argv[1], int(sys.argv[2])
os.makedirs(os.path.join(out, "blobs", "sha256"))
# a tar with one file of random bytes, written in pieces
size = gib << 30
h = hashlib.sha256()
tmp = os.path.join(out, "layer.tmp")
with open(tmp, "wb") as f:
    import tarfile
    ti = tarfile.TarInfo("data/big.bin"); ti.size, ti.mode, ti.mtime = size, 0o644, 0
    hdr = ti.tobuf(format=tarfile.USTAR_FORMAT)
    f.write(hdr); h.update(hdr)
    left = size
    while left:
        piece = os.urandom(min(left, 8 << 20))
        f.write(piece); h.update(piece); left -= len(piece)
    pad = (512 - size % 512) % 512 + 1024
    f.write(b"\0" * pad); h.update(b"\0" * pad)
    lsize = f.tell()
ld = h.hexdigest()
os.rename(tmp, os.path.join(out, "blobs", "sha256", ld))
cfg = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": ["sha256:" + ld]}}).encode()
cd = hashlib.sha256(cfg).hexdigest()
man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + cd, "size": len(cfg)},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": "sha256:" + ld, "size": lsize}]}).encode()
md = hashlib.sha256(man).hexdigest()
for d, b in ((cd, cfg), (md, man)):
    open(os.path.join(out, "blobs", "sha256", d), "wb").write(b)
open(os.path.join(out, "oci-layout"), "w").write('{"imageLayoutVersion":"1.0.0"}')
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
    "digest": "sha256:" + md, "size": len(man), "annotations": {"org.opencontainers.image.ref.name": "v1"}}]},
    open(os.path.join(out, "index.json"), "w"))
PY
	MB=$(du -bs "$WORK/big/blobs" | awk '{print $1 / 1000000}')
	big() { # op host -> MB/s
		local t0 t1 src dst
		if [ "$1" = push ]; then src="oci:$WORK/big:v1" dst="docker://$2/$PROJ/big:v1"
		else src="docker://$2/$PROJ/big:v1" dst="dir:$WORK/big.pulled"; fi
		sync
		t0=$(date +%s.%N)
		skopeo copy -q --preserve-digests --src-tls-verify=false --dest-tls-verify=false "$src" "$dst" >&2
		t1=$(date +%s.%N)
		rm -rf "$WORK/big.pulled"
		echo "$MB / ($t1 - $t0)" | bc -l
	}
	BIGP=$(big push "$CHOST"); DBIGP=$(big push "$DHOST")
	DBIGL=$(big pull "$DHOST"); BIGL=$(big pull "$CHOST")
	printf '  push MB/s  cove %.0f  docker-registry %.0f\n  pull MB/s  cove %.0f  docker-registry %.0f\n' "$BIGP" "$DBIGP" "$BIGL" "$DBIGL"
	rm -rf "$WORK/big"
fi

# ---- the table
thesis() { # op c
	case "$1-$2" in
		push-1) echo 3.0 ;; push-3) echo 47.6 ;; push-6) echo 67.4 ;;
		pull-1) echo 2.2 ;; pull-3) echo 23.5 ;; pull-6) echo 28.8 ;;
		*) echo - ;;
	esac
}
printf '\n%-28s %10s %16s %8s %8s  %s\n' "figure (seconds per image)" "cove" "docker-registry" "ratio" "thesis" "target"
verdict=ok
for op in push pull; do
	for c in $LEVELS; do
		for s in mean p90; do
			a=$(stat_of "$WORK/t-$op-$CHOST-$c" "$s"); b=$(stat_of "$WORK/t-$op-$DHOST-$c" "$s")
			r=$(echo "$b / $a" | bc -l)
			need=1; [ "$c" = 6 ] && need=2
			met=yes; [ "$(echo "$r >= $need" | bc -l)" = 1 ] || { met=NO; verdict=missed; }
			printf '%-28s %10.2f %16.2f %7.2fx %8s  >= %sx docker-registry: %s\n' "$op $s, concurrency $c" "$a" "$b" "$r" \
				"$([ "$s" = mean ] && thesis "$op" "$c" || echo -)" "$need" "$met"
		done
	done
done
if [ -n "$BIGP" ]; then
	for x in "push $BIGP $DBIGP" "pull $BIGL $DBIGL"; do
		set -- $x
		r=$(echo "$2 / $3" | bc -l)
		met=yes; [ "$(echo "$r >= 1" | bc -l)" = 1 ] || { met=NO; verdict=missed; }
		printf '%-28s %10.0f %16.0f %7.2fx %8s  >= 1x docker-registry: %s\n' "$1 MB/s, ${BIG_GIB} GiB layer" "$2" "$3" "$r" - "$met"
	done
fi
echo "(ratio = docker-registry time / cove time, or cove MB/s / docker-registry MB/s: above 1 means cove is faster)"
# When clients and servers share the cores, a level that keeps them all busy
# takes about (server + clients) CPU per image; even a registry that cost
# nothing could not beat docker-registry by more than
# (its server + its clients) / (the clients with cove).
echo
printf '%-28s %10s %16s %s\n' "CPU ms per image" "cove" "docker-registry" "(server; clients = skopeo and the script)"
for op in push pull; do
	for c in $LEVELS; do
		read -r cs cc <"$WORK/cpu-$op-$CHOST-$c"; read -r ds dc <"$WORK/cpu-$op-$DHOST-$c"
		bound=$( [ "$cc" -gt 0 ] && echo "($ds + $dc) / $cc" | bc -l || echo 0)
		printf '%-28s %10s %16s  with a free server at most %.2fx\n' "$op server / clients, c=$c" "$cs / $cc" "$ds / $dc" "$bound"
	done
done
echo "targets: $verdict"
