# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# shellcheck shell=bash
#
# Kernel tests, the libraries: libbpfguard, the Go examples, the pure-Go client.
#
# Sourced by run.sh: each test_NAME function is a test, run by itself in the
# order of this file (run.sh --list; run.sh NAME).

# helpers/libdemo, linked with the library, starts a tree with
# bpfguard_exec, checks through the library that it is tagged, and once we
# have looked too (the CLI's list, our own pid + start time records) kills
# the root; then it tests tag/untag/tag_pidfd and the error codes on
# processes of its own. Its checks are its own; ours are independent of them.
test_library() {
	local out go lp rc root comma why deadline
	local -a kids
	SEQ=$((SEQ + 1))
	out=$TMP/libdemo$SEQ
	go=$out.go
	"$HELPERS/libdemo" --pin-dir "$PIN" --go "$go" "$out" "$HELPERS/tree" daemon \
		>"$out.log" 2>&1 {SLEEPFD}>&- &
	lp=$!
	track "$lp"
	now
	deadline=$((NOW + 30000))
	until [[ -e $out ]]; do
		if ! is_alive "$lp"; then
			wait "$lp" 2>/dev/null
			fail "libdemo exited $? before its tree was up: $(oneline "$(grep -a FAIL "$out.log" || tail -n 2 "$out.log")")"
			return
		fi
		now
		((NOW >= deadline)) && { fail "libdemo wrote no pid file within 30 s: $(oneline "$(tail -n 2 "$out.log")")"; return; }
		msleep 0.01
	done
	wait_tree "$out" || return
	role root
	root=${ROLE_PIDS[0]:-}
	role daemon
	kids=("${ROLE_PIDS[@]}")
	[[ -n $root && ${#kids[@]} == 1 ]] || { fail "setup: libdemo's pid file has no root or no daemon: $(oneline "$(<"$out")")"; return; }
	check_alive "${TREE_PIDS[@]}" || { fail "the tree died before its root was killed: $(desc "${DEAD[@]}")"; return; }
	comma=$(
		IFS=,
		echo "${kids[*]}"
	)
	cli list --json --pin-dir "$PIN"
	[[ $RC == 0 ]] || { fail "list --json: exit $RC: $ERR"; return; }
	why=$(json_check "$TMP/cli.out" "$root:$comma") ||
		{ fail "the CLI does not list the tree bpfguard_exec started as tagged: $why"; return; }
	: >"$go"
	wait_dead 60000 "$lp" || { fail "libdemo still runs 60 s after it was let go"; return; }
	wait "$lp" 2>/dev/null
	rc=$?
	[[ $rc == 0 ]] || { fail "libdemo exit $rc: $(oneline "$(grep -a FAIL "$out.log" || tail -n 2 "$out.log")")"; return; }
	grep -q '^libdemo: all checks passed$' "$out.log" ||
		{ fail "libdemo exited 0 without its last line: $(oneline "$(tail -n 2 "$out.log")")"; return; }
	wait_dead "$BOUND_MS" "${TREE_PIDS[@]}" ||
		fail "still alive $BOUND_MS ms after libdemo killed the root bpfguard_exec started: $(desc "${ALIVE[@]}")"
}

# The Go examples (make examples): examples/go (pure Go: go/bpfguard's
# Command and Start) and examples/cgo (cgo: libbpfguard's bpfguard_exec, in
# a multi-threaded Go program) start a tree, which dies with its root; their
# tag tags a process the Go program did not start, whose tree dies with it.
test_go_example() {
	local b
	for b in bpfguard-go bpfguard-cgo; do
		go_example_case "$EXAMPLES/$b" || { REASON="$b: $REASON"; return 1; }
	done
}

go_example_case() {
	local bin=$1 out gp root line deadline rc why comma
	if [[ ! -x $bin ]]; then
		if command -v go >/dev/null 2>&1; then
			fail "no Go example at $bin: run \`make examples\` (or set EXAMPLES)"
		else
			fail "no Go example at $bin, and no Go toolchain to build it: \`make deps\` installs golang-go, then \`make examples\`"
		fi
		return
	fi
	SEQ=$((SEQ + 1))
	out=$TMP/goex$SEQ
	"$bin" -pin-dir "$PIN" exec -- "$HELPERS/tree" --life 300 "$out.tree" children 3 \
		>"$out.log" 2>&1 {SLEEPFD}>&- &
	gp=$!
	track "$gp"
	now
	deadline=$((NOW + 10000 * BOUND)) # (the pure Go one starts a second Go runtime first)
	root=
	while [[ -z $root ]]; do
		line=
		{ read -r line <"$out.log"; } 2>/dev/null
		[[ $line =~ ^pid\ ([0-9]+):\ tagged\ ([0-9]+) && ${BASH_REMATCH[1]} == "${BASH_REMATCH[2]}" ]] &&
			root=${BASH_REMATCH[1]}
		[[ -n $root ]] && break
		if ! is_alive "$gp"; then
			wait "$gp" 2>/dev/null
			fail "exec exited $? before reporting a tagged child: $(oneline "$(<"$out.log")")"
			return
		fi
		now
		((NOW >= deadline)) && { fail "exec printed no 'pid N: tagged N' within $((10 * BOUND)) s: $(oneline "$(<"$out.log")")"; return; }
		msleep 0.01
	done
	track "$root"
	wait_tree "$out.tree" || return
	((${#TREE_PIDS[@]} == 3)) || { fail "setup: expected 3 children, got ${#TREE_PIDS[@]}"; return; }
	comma=$(
		IFS=,
		echo "${TREE_PIDS[*]}"
	)
	cli list --json --pin-dir "$PIN"
	[[ $RC == 0 ]] || { fail "list --json: exit $RC: $ERR"; return; }
	why=$(json_check "$TMP/cli.out" "$root:$comma") ||
		{ fail "the tree exec started is not listed as tagged: $why"; return; }
	kill_root_expect_dead "$root" "${TREE_PIDS[@]}" || { REASON="exec: $REASON"; return 1; }
	wait_dead 10000 "$gp" || { fail "it still runs 10 s after its child was killed"; return; }
	wait "$gp" 2>/dev/null
	rc=$?
	[[ $rc == 137 ]] || { fail "exec exited $rc after its child was SIGKILLed, expected 137"; return; }

	start_tree --go children 2
	bounded 15 "$bin" -pin-dir "$PIN" tag "$ROOT" >"$out.tag" 2>&1
	[[ $BRC == 0 ]] || { fail "tag: exit $BRC: $(oneline "$(<"$out.tag")")"; return; }
	grep -q "^tagged $ROOT " "$out.tag" || { fail "tag: no 'tagged $ROOT' line: $(oneline "$(<"$out.tag")")"; return; }
	: >"$TREE_GO"
	wait_tree || return
	kill_root_expect_dead "$ROOT" "${TREE_PIDS[@]}" || REASON="tag: $REASON"
}

# go/bpfguard, the pure-Go client: its test binary (make: go test -c) runs
# its agent tests against the suite's agent: every call, Command and Start,
# and the seed case: a Go parent tagged before its main ran (Command), or
# tagging itself, is SIGKILLed; its child, which ignores every catchable
# signal, dies, and so does a child it started from a locked OS thread that
# exited (which PR_SET_PDEATHSIG would have killed then). The tests hold
# their processes by pidfd; they also list them here with their start times,
# and none may outlive them (checked here, by our own means).
GO_CLIENT_TESTS=(TestAgentTagListStatusUntag TestAgentTagPidfd TestAgentAdopt
	TestAgentCommandParentKilled TestAgentSelfTagParentKilled TestAgentCommandStatus TestAgentKillWait
	TestAgentSignalLineage TestAgentRelease TestAgentMaxProcs)
test_go_client() {
	local out pids t p st
	local -a left=() missing=()
	[[ -x $GOCLIENT ]] ||
		{ fail "no Go client test binary at $GOCLIENT: make builds it with go (make deps installs golang-go)"; return; }
	SEQ=$((SEQ + 1))
	out=$TMP/goclient$SEQ
	pids=$out.pids
	: >"$pids"
	bounded $((120 * BOUND)) env BPFGUARD_TEST_PIN_DIR="$PIN" BPFGUARD_TEST_REQUIRE=1 \
		BPFGUARD_TEST_BOUND="$BOUND" BPFGUARD_TEST_MODE="${MODE:-}" BPFGUARD_TEST_PIDS="$pids" \
		"$GOCLIENT" -test.run '^TestAgent' -test.v -test.count=1 >"$out.log" 2>&1
	while read -r p st; do
		[[ $p =~ ^[0-9]+$ ]] || continue
		if read_stat "$p" && [[ $S_START == "$st" && $S_STATE != Z && $S_STATE != X ]]; then
			START[$p]=$st
			PIDS+=("$p") # killed at cleanup
			left+=("$p")
		fi
	done <"$pids"
	((${#left[@]} == 0)) || { fail "processes of the Go tests outlive them: $(desc "${left[@]}")"; return; }
	[[ -s $pids ]] || { fail "the Go tests recorded no process: $(oneline "$(tail -n 3 "$out.log")")"; return; }
	[[ $BRC == 0 ]] ||
		{ fail "the Go client tests exit $BRC: $(oneline "$(grep -aE -- '--- FAIL|_test.go:[0-9]+:' "$out.log" || tail -n 3 "$out.log")")"; return; }
	for t in "${GO_CLIENT_TESTS[@]}"; do
		grep -q -- "^--- PASS: $t " "$out.log" || missing+=("$t")
	done
	((${#missing[@]} == 0)) || { fail "Go client tests that did not pass: ${missing[*]}: $(oneline "$(tail -n 3 "$out.log")")"; return; }
	! grep -q -- "--- SKIP" "$out.log" || fail "Go client tests skipped: $(oneline "$(grep -a -A1 -- '--- SKIP' "$out.log")")"
}
