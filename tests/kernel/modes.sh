#!/bin/bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# The kernel suite (run.sh) once per mode the running kernel supports: user,
# and kernel where it has bpf_send_signal_task. make test T=..., make stress.
#
#   tests/kernel/modes.sh [NAME...]    (no NAME: every test)
#
# Environment: as run.sh (BPFGUARD, HELPERS, ...; MODE is set here). Names
# are checked before anything runs (unknown: one line on stderr, exit 2).
# Output: each run's lines under "== kernel suite, --mode M", then the total
# "N passed, M failed" as the last line. Exit status 0 iff nothing failed.

set -u
here=${BASH_SOURCE[0]%/*}
[[ $here == "${BASH_SOURCE[0]}" ]] && here=.

declare -A known=()
while read -r t; do known[$t]=1; done < <(bash "$here/run.sh" --list)
for t; do
	[[ -n ${known[$t]:-} ]] || { echo "modes.sh: unknown test '$t' (tests/kernel/run.sh --list)" >&2; exit 2; }
done

modes=(user)
grep -qw bpf_send_signal_task /proc/kallsyms 2>/dev/null && modes+=(kernel)
passed=0 failed=0
log=$(mktemp /tmp/bpfguard-modes.XXXXXX) || exit 1
trap 'rm -f "$log"' EXIT
for m in "${modes[@]}"; do
	echo "== kernel suite, --mode $m${*:+: $*}"
	MODE=$m bash "$here/run.sh" "$@" 2>&1 | tee "$log"
	line=$(tail -n 1 "$log")
	if [[ $line =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
		passed=$((passed + BASH_REMATCH[1])) failed=$((failed + BASH_REMATCH[2]))
	else
		failed=$((failed + 1)) # the run itself failed (no agent, not root...)
	fi
done
echo "$passed passed, $failed failed"
((failed == 0))
