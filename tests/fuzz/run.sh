#!/usr/bin/env bash
# Runs each libFuzzer harness given for FUZZ_SECONDS (default 30) on a
# working copy of its seed corpus, one at a time (never two fuzzers at once).
# libFuzzer's output goes to build/fuzz/<name>.log; a crash, leak or timeout
# leaves its input in build/fuzz/artifacts/<name>/ and fails the run.
set -uo pipefail
cd "$(dirname "$0")/../.."
secs=${FUZZ_SECONDS:-30}
fail=0
mkdir -p build/fuzz
for bin in "$@"; do
	name=$(basename "$bin")
	seeds=tests/fuzz/corpus/$name
	work=build/fuzz/corpus/$name
	art=build/fuzz/artifacts/$name/
	log=build/fuzz/$name.log
	mkdir -p "$work" "$art"
	[ -d "$seeds" ] && cp -n "$seeds"/* "$work"/ 2>/dev/null
	"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=1024 -max_len=65536 \
		-print_final_stats=1 -artifact_prefix="$art" "$work" "$seeds" >"$log" 2>&1
	rc=$?
	stats=$(grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE)' "$log" | tail -1)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	if [ $rc -ne 0 ]; then
		echo "fuzz: $name FAILED (rc $rc), see $log and $art" >&2
		grep -E 'ERROR|SUMMARY|runtime error|assert' "$log" | head -5 >&2
		fail=1
	else
		echo "fuzz: $name ok: ${execs:-?} runs, ${eps:-?}/s; ${stats#* }"
	fi
done
exit $fail
