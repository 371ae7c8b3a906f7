#!/bin/bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# `make bench`: run the benchmark harness (tests/bench/: bench.c, the runner;
# one sec_*.c per section; lib/, what they share) and keep a copy of its
# output. Figures only: it never fails on a number.
#
#   OUT=build bash tests/bench/run.sh
#
# Environment (passed through to the harness, see bench.c for all knobs):
#   BENCH_QUICK=1                 short run (20/20/5 latency trials, < 2 minutes)
#   BENCH_TRIALS_1/_100/_1000     latency trials per mechanism
#   BENCH_SECTIONS=1,3            only those sections
#   BENCH_KEEP=1                  keep the agent logs (/tmp/bpfguard-bench-PID)
#
# The table goes to stdout and to $OUT/bench/last-run.txt; progress to stderr.

set -u
HERE=${BASH_SOURCE[0]}
[[ $HERE == */* ]] && HERE=${HERE%/*} || HERE=.
REPO=$(cd "$HERE/../.." && pwd)
OUT=${OUT:-build}
[[ $OUT == /* ]] || OUT=$REPO/$OUT

if [[ $(id -u) != 0 ]]; then
	echo "bench: must run as root (loads BPF, creates cgroups, signals its own processes)" >&2
	exit 1
fi
for f in "$OUT/bpfguard" "$OUT/bench/bench" "$OUT/bench/victim"; do
	[[ -x $f ]] || { echo "bench: $f missing: run \`make bench\`" >&2; exit 1; }
done

export BPFGUARD=${BPFGUARD:-$OUT/bpfguard}
export BENCH_VICTIM=${BENCH_VICTIM:-$OUT/bench/victim}
set -o pipefail
"$OUT/bench/bench" | tee "$OUT/bench/last-run.txt"
