#!/usr/bin/env bash
# Build the libFuzzer targets of tests/fuzz one by one, then run them FUZZ_JOBS
# at a time (default: one per CPU).
#
#   tests/fuzz/run.sh [TARGET...]    (default: every tests/fuzz/fuzz_*.c)
#
# Each target runs FUZZ_RUNS inputs (default 10000000) or, when FUZZ_SECONDS
# is set, for that many seconds. It starts from its seeds
# (tests/fuzz/corpus/TARGET, only read) and from what earlier runs found
# ($OUT/fuzz/corpus/TARGET, where new inputs go); a crashing input is written
# to $OUT/fuzz/artifacts/TARGET/. Nothing is written into the tree.
# One line per target, then the total:
#   fuzz TARGET: ok, N executions in S s (R/s), corpus C inputs, seeds K
#   fuzz TARGET: FAIL, <why>
#   N passed, M failed
# A target that does not build, runs no input or ends in any other way
# than a clean finish is a failure. Exit status: non-zero if any failed.
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
out=${OUT:-build}
[[ $out = /* ]] || out=$top/$out
fuzz=$out/fuzz

if (($# == 0)); then
	for src in "$top"/tests/fuzz/fuzz_*.c; do
		[[ -e $src ]] && set -- "$@" "$(basename "$src" .c)"
	done
fi
if (($# == 0)); then
	echo "fuzz: no targets in tests/fuzz"
	echo "0 passed, 1 failed"
	exit 1
fi

if [[ -n ${FUZZ_SECONDS:-} ]]; then
	[[ $FUZZ_SECONDS =~ ^[1-9][0-9]*$ ]] || { echo "FUZZ_SECONDS: a number of seconds" >&2; exit 2; }
	bound=(-max_total_time="$FUZZ_SECONDS")
	what="$FUZZ_SECONDS s each"
else
	runs=${FUZZ_RUNS:-10000000}
	[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "FUZZ_RUNS: a number of executions" >&2; exit 2; }
	bound=(-runs="$runs")
	what="$runs executions each"
fi

log=$(mktemp -d /tmp/bpfguard-fuzz.XXXXXX)
trap 'rm -rf "$log"' EXIT

passed=0
failed=0

# fuzz_one TARGET: build and run one target; its report lines go to
# $log/TARGET.out, the last of them "fuzz TARGET: ok, ..." or
# "fuzz TARGET: FAIL, why".
fuzz_one() {
	local t=$1 bin=$fuzz/$1 seeds=$top/tests/fuzz/corpus/$1 corpus=$fuzz/corpus/$1
	local art=$fuzz/artifacts/$1 start rc secs execs why artifact ninputs nseeds cov
	if [[ ! -d $seeds ]] || [[ -z $(ls -A "$seeds") ]]; then
		echo "fuzz $t: FAIL, no seed corpus in tests/fuzz/corpus/$t"
		return
	fi
	mkdir -p "$corpus" "$art"
	start=$(date +%s)
	# -close_fd_mask=1: the targets' own printing goes nowhere; reports
	# still reach stderr. Every input is bounded: 10 s is a hang.
	"$bin" "${bound[@]}" -timeout=10 -close_fd_mask=1 -print_final_stats=1 \
		-artifact_prefix="$art/" "$corpus" "$seeds" >"$log/$t" 2>&1
	rc=$?
	secs=$(($(date +%s) - start))
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log/$t" | tail -n 1)
	if ((rc != 0)); then
		grep -aE 'CHECK failed|ERROR|runtime error|SUMMARY|Test unit written to' "$log/$t" |
			head -n 12
		why=$(grep -aoE 'CHECK failed: .*' "$log/$t" | head -n 1)
		[[ -n $why ]] || why=$(grep -aoE 'SUMMARY: .*|ERROR: libFuzzer: .*' "$log/$t" | head -n 1)
		artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log/$t" | head -n 1)
		echo "fuzz $t: FAIL, exit $rc after ${secs} s: ${why:-no report}${artifact:+ (rerun: $bin $artifact)}"
		return
	fi
	if [[ ! $execs =~ ^[0-9]+$ ]] || ((execs == 0)); then
		tail -n 20 "$log/$t"
		echo "fuzz $t: FAIL, ran no input"
		return
	fi
	ninputs=$(find "$corpus" -type f | wc -l)
	nseeds=$(find "$seeds" -type f | wc -l)
	cov=$(grep -aoE '^#[0-9]+[[:space:]]+DONE[[:space:]]+cov: [0-9]+ ft: [0-9]+' "$log/$t" | sed 's/.*DONE[[:space:]]*//')
	echo "fuzz $t: ok, $execs executions in $secs s ($((execs / (secs > 0 ? secs : 1)))/s)," \
		"corpus $ninputs inputs, seeds $nseeds${cov:+, $cov}"
}

# Built one by one, so that one that does not build fails alone; then run
# FUZZ_JOBS at a time (default: one per CPU; each target is one process).
jobs=${FUZZ_JOBS:-$(nproc)}
[[ $jobs =~ ^[1-9][0-9]*$ ]] || { echo "FUZZ_JOBS: a number of targets at a time" >&2; exit 2; }
echo "fuzz: ${#@} target(s), $what, $jobs at a time"
built=()
for t in "$@"; do
	if make -C "$top" --no-print-directory OUT="$out" "$fuzz/$t" >"$log/$t.build" 2>&1; then
		built+=("$t")
	else
		tail -n 20 "$log/$t.build"
		echo "fuzz $t: FAIL, does not build (make $fuzz/$t)" >"$log/$t.out"
	fi
done
running=0
for t in "${built[@]}"; do
	if ((running >= jobs)); then
		wait -n
		running=$((running - 1))
	fi
	fuzz_one "$t" >"$log/$t.out" 2>&1 &
	running=$((running + 1))
done
wait
for t in "$@"; do
	cat "$log/$t.out"
	if grep -q "^fuzz $t: ok," "$log/$t.out"; then
		passed=$((passed + 1))
	else
		grep -q "^fuzz $t: FAIL," "$log/$t.out" || echo "fuzz $t: FAIL, gave no result"
		failed=$((failed + 1))
	fi
done
echo "$passed passed, $failed failed"
((failed == 0))
