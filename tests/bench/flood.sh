#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# Figures, not a test: a tagged root's kill latency while unprivileged
# clients flood the control socket, against the same latency with no flood,
# in blocks interleaved in one run (the machine drifts between blocks).
#
#   tests/bench/flood.sh [TRIALS_PER_BLOCK] [BLOCKS] [CLIENTS] [MODE]
#   (defaults 10, 4, 16, user; root; make bench-flood FLOOD_ARGS="...")
#
# Each trial: a tree helper with one child is started, tagged, and its root
# SIGKILLed; the time is from the SIGKILL to the child seen dead (gone, or a
# zombie) by a 1 ms poll of /proc, so figures include the poll's step. The
# flood: CLIENTS processes of tests/kernel/helpers/flood.c as uid 65534,
# looping connect, status, garbage, close, for the whole block. Prints p50
# and p99 per condition and their ratio, and the agent's log size.
set -u
trials=${1:-10} blocks=${2:-4} nc=${3:-16} mode=${4:-user}
top=$(cd "$(dirname "$0")/../.." && pwd)
out=${OUT:-$top/build}
[[ $out = /* ]] || out=$top/$out
bin=$out/bpfguard helpers=$out/tests
((EUID == 0)) || { echo "flood.sh: run as root" >&2; exit 2; }
for f in "$bin" "$helpers/tree" "$helpers/flood" "$helpers/asuser"; do
	[[ -x $f ]] || { echo "flood.sh: $f missing (make all test-bins)" >&2; exit 2; }
done

pin=/sys/fs/bpf/bpfguard-flood-$$
d=$(mktemp -d /tmp/bpfguard-flood.XXXXXX)
agent=
cleanup() {
	[[ -n $agent ]] && kill "$agent" 2>/dev/null && wait "$agent" 2>/dev/null
	"$bin" unload --pin-dir "$pin" >/dev/null 2>&1
	rm -rf "$d" "$pin"
}
trap cleanup EXIT
chmod 755 "$d" && mkdir -m 1777 "$d/w" && cp "$helpers/flood" "$helpers/asuser" "$d/" || exit 1

ms_now() { local t=${EPOCHREALTIME/./}; echo $((10#$t)); } # microseconds

"$bin" agent --pin-dir "$pin" --mode "$mode" >"$d/agent.log" 2>&1 &
agent=$!
for _ in $(seq 200); do "$bin" status --pin-dir "$pin" >/dev/null 2>&1 && break; sleep 0.05; done
sock=$(grep -o '/run/bpfguard/[^ ]*\.sock' "$d/agent.log" | head -n 1)
[[ -S $sock ]] || { echo "flood.sh: the agent did not start: $(tail -n 2 "$d/agent.log")" >&2; exit 1; }

# one trial: prints the latency in microseconds, or nothing on a setup failure
trial() {
	local f=$d/tree$1 root kid st t0 t1 i
	"$helpers/tree" --life 60 "$f" children 1 >/dev/null 2>&1 &
	root=$!
	for ((i = 0; i < 500 && ! -e $f; i++)); do sleep 0.01; done
	kid=$(awk '$2 == "child" { print $1 }' "$f" 2>/dev/null)
	[[ -n $kid ]] && "$bin" tag "$root" --pin-dir "$pin" >/dev/null 2>&1 || { kill -9 "$root"; wait "$root"; return; }
	t0=$(ms_now)
	kill -9 "$root"
	while { read -r st <"/proc/$kid/stat"; } 2>/dev/null; do
		st=${st##*) }
		[[ ${st:0:1} == Z ]] && break
		sleep 0.001
	done
	t1=$(ms_now)
	wait "$root" 2>/dev/null
	echo $((t1 - t0))
}

# pct FILE Q: the Q-th percentile (nearest rank) of the numbers in FILE
pct() { sort -n "$1" | awk -v q="$2" '{ v[NR] = $1 } END { i = int(NR * q / 100 + 0.999); if (i < 1) i = 1; print v[i] }'; }

: >"$d/quiet" && : >"$d/flood"
n=0
for ((b = 0; b < blocks; b++)); do
	for cond in quiet flood; do
		fp=()
		if [[ $cond == flood ]]; then
			for ((c = 0; c < nc; c++)); do
				"$d/asuser" 65534 "$d/flood" --procs 1 "$sock" 600 "$d/w/rep$b.$c" >/dev/null 2>&1 &
				fp+=("$!")
			done
			sleep 1 # the flood under way
		fi
		for ((t = 0; t < trials; t++)); do
			n=$((n + 1))
			trial "$n" >>"$d/$cond"
		done
		for p in "${fp[@]}"; do kill "$p" 2>/dev/null; done
		for p in "${fp[@]}"; do wait "$p" 2>/dev/null; done
	done
done

printf 'kill latency, root SIGKILL to its one child dead (us), mode %s, %d flood clients as uid 65534\n' "$mode" "$nc"
for cond in quiet flood; do
	printf '  %-6s %3d trials  p50 %6d  p99 %6d\n' "$cond" "$(grep -c . "$d/$cond")" \
		"$(pct "$d/$cond" 50)" "$(pct "$d/$cond" 99)"
done
awk -v a="$(pct "$d/flood" 50)" -v b="$(pct "$d/quiet" 50)" -v c="$(pct "$d/flood" 99)" \
	-v e="$(pct "$d/quiet" 99)" 'BEGIN { printf "  ratio flood/quiet: p50 %.2fx, p99 %.2fx\n", a / b, c / e }'
echo "  agent log: $(grep -c '' "$d/agent.log") lines, $(grep -c suppressed "$d/agent.log") 'suppressed' lines"
