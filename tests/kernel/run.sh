#!/bin/bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# Kernel (black-box) tests for bpfguard: the real binary, real BPF programs,
# real processes. Must run as root.
#
# Needs only bash (>= 5: EPOCHREALTIME) and busybox-level tools (grep, sed,
# head, tail, tr, ls, rm, mkdir, mktemp -d, mkfifo, sleep): it also runs inside
# the minimal qemu guests of tests/qemu/matrix.sh. No python, no coreutils,
# no procps; bounded runs use the function `bounded`, not timeout(1).
#
#   tests/kernel/run.sh            run every test
#   tests/kernel/run.sh NAME...    run only those tests
#   tests/kernel/run.sh --list     list the tests
#
# Layout: this file is the runner only. lib/*.sh are the helpers the tests
# share (processes, waits, agents, trees, users, json); the tests are the
# test_NAME functions of the area files t[0-9][0-9]_AREA.sh (t01_basic.sh,
# t07_users.sh, ...), found, not listed: file order, then the order they are
# defined in. A new test is a test_NAME function in the file of its area.
#
# Each test must pass run alone and must not depend on an earlier one. The
# agent on PIN is shared; a test that needs other options or maps starts a
# side agent on a pin dir of its own (xagent_start). After each test the
# runner kills the processes it tracked, then checks what it left behind
# (check_clean): a leftover fails the test, and the next one gets a fresh
# shared agent on fresh pins.
#
# Environment:
#   BPFGUARD    the binary (default: <repo>/build/bpfguard)
#   HELPERS     directory of the compiled helpers (tests/kernel/helpers/*.c,
#               and gothread and bpfguard-go.test, go/bpfguard's test binary,
#               built from Go by make) (default:
#               <repo>/build/tests); if a C one is missing there, they are all
#               compiled into the temp dir (needs cc)
#   EXAMPLES    directory of the built examples (`make examples`; default:
#               HELPERS/../examples)
#   MODE        user|kernel|auto: passed as --mode to the suite's agent (and to
#               every agent it restarts); empty (default): the agent's default
#               (auto). The mode in use is printed before the first test.
#   AGENT_ARGS  extra arguments for the agent (e.g. -v)
#   AGENT_WRAP  a command every agent is started under, e.g. "valgrind
#               --log-file=DIR/a.%p.log" (word-split; tests/run-all.sh)
#   BOUND       integer factor (default 1) for the bounds that wait on the
#               agent, for a slowed-down agent (valgrind): its start, stop,
#               answers and kills
#   KEEP_TMP=1  keep the temp dir (agent and helper logs) for debugging
#   TREES       random_trees: how many random trees (default 500)
#   SEED        random_trees: the seed (default: a random one, printed)
#
# Output: a "mode M (...)" line, one "PASS name (S s)" or "FAIL name: reason"
# line per test, a "slowest: ..." line (the five longest tests), then the last
# line "N passed, M failed". Exit status 0 iff nothing
# failed.
#
# Safety: every process the tests signal was created by this script and is
# identified by pid AND start time; pid 1, this shell and its ancestors are
# never signalled. The agent uses a private pin dir, removed at exit.

set -u
shopt -s nullglob

HERE=${BASH_SOURCE[0]}
[[ $HERE == */* ]] && HERE=${HERE%/*} || HERE=.
REPO=$(cd "$HERE/../.." && pwd)
BPFGUARD=${BPFGUARD:-$REPO/build/bpfguard}
HELPERS=${HELPERS:-$REPO/build/tests}
EXAMPLES=${EXAMPLES:-${HELPERS%/}/../examples}
# No '.' in names under bpffs: it refuses them (EPERM), they are reserved.
PIN=/sys/fs/bpf/bpfguard-test-$$
BOUND=${BOUND:-1}
[[ $BOUND =~ ^[1-9][0-9]*$ ]] || BOUND=1
BOUND_MS=$((5000 * BOUND)) # default bound for "these processes must die"
CLI_S=$((15 * BOUND))      # bound on one CLI command
XPIN=$PIN-x                # pin dir of the fault tests' second agent
MODE=${MODE:-}
MODE_ARGS=() # --mode for every agent the suite starts
[[ -n $MODE ]] && MODE_ARGS=(--mode "$MODE")

GOHELPER= # the Go helper (gothread), built by make with go
GOCLIENT= # go/bpfguard's test binary (go test -c), built by make with go
TMP=
CLEANED=0

# The helpers, then the area files (at the top level: a `declare -A` in a
# sourced file must make a global).
AREAS=("$HERE"/t[0-9][0-9]_*.sh)
for f in "$HERE"/lib/*.sh "${AREAS[@]}"; do
	# shellcheck source=/dev/null
	source "$f" || { echo "run.sh: cannot source $f" >&2; exit 1; }
done
unset f

# discover: TESTS = the test_* functions of the area files, in file order,
# then in the order they are defined there (declare -F sorts by name;
# extdebug gives each one's file and line).
TESTS=()
discover() {
	local fn line file i n=0 l
	local -A area=()
	local -a order=()
	for i in "${!AREAS[@]}"; do
		area[${AREAS[i]}]=$i
		while IFS= read -r l; do # a name defined twice would hide a test
			[[ $l =~ ^test_[a-zA-Z0-9_]+\(\) ]] && n=$((n + 1))
		done <"${AREAS[i]}"
	done
	# (here-strings, not process substitution: the guests have no /dev/fd)
	shopt -s extdebug
	while read -r _ _ fn; do
		[[ $fn == test_* ]] || continue
		read -r _ line file <<<"$(declare -F "$fn")"
		[[ -n ${area[$file]:-} ]] || die "$fn is defined in $file, not in an area file"
		order[area[$file] * 100000 + line]=${fn#test_}
	done <<<"$(declare -F)"
	shopt -u extdebug
	TESTS=("${order[@]}")
	((${#TESTS[@]})) || die "no test_* function in $HERE/t[0-9][0-9]_*.sh"
	((${#TESTS[@]} == n)) || die "$n test_NAME() definitions in the area files but ${#TESTS[@]} tests: a name is defined twice"
}

cleanup() {
	((CLEANED)) && return
	CLEANED=1
	# bounded; a second ^C (or a signal sent to the process group as well as
	# to us, as timeout(1) does) must not abandon the agent and the pins
	trap - EXIT
	trap '' INT TERM
	[[ -n $TMP ]] || return
	kill_tracked
	stop_agent
	side_agents_stop
	unload_pins "$PIN"
	local d
	for d in "${TUSERS[@]}"; do
		bounded 15 userdel "$d" >"$TMP/userdel.log" 2>&1
		((BRC == 0)) || msg "warning: could not remove user $d: $(head -n 2 "$TMP/userdel.log")"
	done
	rm -rf "$PIN" "$PIN-none" "$PIN-kernel" "$PIN-obs" "$XPIN" 2>/dev/null
	[[ -e $PIN ]] && msg "warning: could not remove $PIN"
	[[ -n $SLEEPFD ]] && exec {SLEEPFD}>&-
	if [[ ${KEEP_TMP:-0} == 1 ]]; then
		msg "temp files kept in $TMP"
	else
		rm -rf "$TMP"
	fi
}

# check_clean: what a test left behind once its processes are killed (the
# runner kills every process a test tracked: that is not a leftover). The
# next test must start as if it ran first: no side agent or its pins, the
# shared agent with the suite's options, holding no tag and tracking no
# process (waited for, bounded: the deaths are being processed), answering
# the test users (their request budget refills within the bound). LEFT = what
# was not so; the side agents are stopped and, if the shared agent is not
# clean, it is started again on fresh pins.
LEFT=()
check_clean() {
	local why=$REASON deadline tags='' tracked='' u d
	LEFT=()
	[[ -n $XAGENT_PID$KAGENT_PID$OAGENT_PID ]] && LEFT+=("a side agent (pid $XAGENT_PID$KAGENT_PID$OAGENT_PID)")
	for d in "$XPIN" "$PIN-kernel" "$PIN-obs"; do
		[[ -e $d ]] && LEFT+=("the pin dir $d")
	done
	side_agents_stop
	[[ -n $AGENT_EXTRA ]] && LEFT+=("the shared agent running with '$AGENT_EXTRA'")
	now
	deadline=$((NOW + 2 * BOUND_MS))
	while :; do
		cli status --pin-dir "$PIN"
		tags='?' tracked='?'
		[[ $RC == 0 && $OUT =~ tags:\ +([0-9]+)\ active,\ ([0-9]+)\ tracked ]] &&
			tags=${BASH_REMATCH[1]} tracked=${BASH_REMATCH[2]}
		[[ $tags == 0 && $tracked == 0 ]] && break
		now
		((NOW < deadline)) || break
		msleep 0.05
	done
	if [[ $tags != 0 || $tracked != 0 ]]; then
		cli list --pin-dir "$PIN"
		LEFT+=("$tags tag(s) and $tracked tracked process(es) on the shared agent $((2 * BOUND_MS)) ms after its processes were killed: $(oneline "$OUT")")
	fi
	for u in $TUID $TUID2; do
		users_quiet "$u" || LEFT+=("$REASON")
	done
	REASON=$why
	((${#LEFT[@]} == 0)) && return 0
	fresh_agent || msg "could not restart the agent: $AGENT_WHY"
	return 1
}

# ms_s MS: milliseconds as seconds, one decimal.
ms_s() { printf '%d.%d' $(($1 / 1000)) $(($1 % 1000 / 100)); }

# slowest: the five tests that took longest (where the suite's time goes).
declare -A TOOK=()
slowest() {
	local t line=
	for t in $(for t in "${!TOOK[@]}"; do echo "${TOOK[$t]} $t"; done | sort -rn | head -n 5 | cut -d' ' -f2); do
		line+=" $t $(ms_s "${TOOK[$t]}") s,"
	done
	[[ -n $line ]] && echo "slowest:${line%,}"
}

run_one() {
	local name=$1 ok run_t0
	now
	run_t0=$NOW
	REASON=
	if [[ -z $AGENT_PID ]] && ! start_agent; then
		echo "FAIL $name: no agent (it could not be restarted: ${AGENT_WHY%%$'\n'*})"
		return 1
	fi
	"test_$name"
	ok=$?
	((ok == 0)) || [[ -n $REASON ]] || REASON="failed (status $ok)"
	((ok == 0)) && [[ -n $REASON ]] && ok=1
	kill_tracked
	if agent_ok && ! check_clean; then
		ok=1
		REASON+="${REASON:+; }left behind: $(printf '%s; ' "${LEFT[@]}")"
		REASON=${REASON%; }
	fi
	if ! agent_ok; then
		ok=1
		REASON+="${REASON:+; }the agent is not running after the test"
		msg "agent log ($AGENT_LOG):"
		agent_log_tail 15
		fresh_agent || msg "could not restart the agent: $AGENT_WHY"
	fi
	now
	TOOK[$name]=$((NOW - run_t0))
	if ((ok == 0)); then
		echo "PASS $name ($(ms_s "${TOOK[$name]}") s)"
	else
		echo "FAIL $name: $REASON"
		[[ -n $AGENT_LOG ]] && agent_log_tail 5
	fi
	return $ok
}

main() {
	local -a selected=()
	local t p passed=0 failed=0 found

	if [[ ${1:-} == --list ]]; then
		printf '%s\n' "${TESTS[@]}"
		exit 0
	fi
	for t; do
		found=0
		for p in "${TESTS[@]}"; do [[ $p == "$t" ]] && found=1; done
		((found)) || { msg "unknown test '$t' (run.sh --list)"; exit 2; }
		selected+=("$t")
	done
	((${#selected[@]})) || selected=("${TESTS[@]}")

	((EUID == 0)) || die "must run as root (the tests load BPF programs)"
	[[ -x $BPFGUARD ]] || die "no bpfguard binary at $BPFGUARD (run make, or set BPFGUARD)"

	TMP=$(mktemp -d /tmp/bpfguard-ktest.XXXXXX) || die "mktemp failed"
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	mkfifo "$TMP/sleep.fifo" || die "mkfifo failed"
	exec {SLEEPFD}<>"$TMP/sleep.fifo"

	# pid 1, this shell and its ancestors are never signalled
	p=$$
	while [[ $p =~ ^[0-9]+$ ]] && ((p > 1)); do
		ANCESTOR[$p]=1
		read_stat "$p" || break
		p=$S_PPID
	done

	GOHELPER=$HELPERS/gothread # Go: not compiled below
	GOCLIENT=$HELPERS/bpfguard-go.test
	found=1
	for t in tree jsoncheck termer libdemo asuser storm states dethread uidhop ctlclient randtree fakeagent deepchain tagrec; do
		[[ -x $HELPERS/$t ]] || found=0
	done
	if ((found == 0)); then
		msg "a C helper is missing in $HELPERS: compiling the helpers into $TMP"
		HELPERS=$TMP/helpers
		mkdir -p "$HELPERS"
		for p in "$REPO"/tests/kernel/helpers/*.c; do
			t=${p##*/}
			t=${t%.c}
			# libdemo links libbpfguard: its sources, as make builds them
			cc -O2 -Wall -Wextra -Werror -D_GNU_SOURCE -pthread -I"$REPO/include" \
				-I"$REPO/user" -o "$HELPERS/$t" "$p" "$REPO"/user/{libbpfguard,control,parse}.c ||
				die "cannot compile $p"
		done
	fi

	for p in "$PIN" "$PIN-kernel" "$PIN-obs" "$XPIN"; do # leftovers of an earlier run with the same pid
		[[ -e $p ]] || continue
		bounded 15 "$BPFGUARD" unload --pin-dir "$p" >/dev/null 2>&1
		rm -rf "$p"
	done
	start_agent || die "cannot start the agent ($BPFGUARD agent --pin-dir $PIN ${MODE_ARGS[*]}): $AGENT_WHY"
	parse_status || die "cannot read the mode from the agent's status: $(oneline "$OUT")"
	echo "mode $AGENT_MODE (MODE=${MODE:-auto}; kernel $S_KREL, features:${FEATURES% })"
	msg "agent $AGENT_PID on $PIN; running ${#selected[@]} tests"

	for t in "${selected[@]}"; do
		if run_one "$t"; then
			passed=$((passed + 1))
		else
			failed=$((failed + 1))
		fi
	done
	cleanup
	slowest
	echo "$passed passed, $failed failed"
	((failed == 0))
}

discover
main "$@"
