# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# shellcheck shell=bash
#
# Process trees (helpers/tree.c and the other helpers) and their roles.
#
# Sourced by run.sh (helpers shared by the area files).

declare -A ROLEP=() # role -> "pid pid ..." of the last tree read
TREE_PIDS=()
ROLE_PIDS=()
SEQ=0 # numbers the temp files of helpers

# start_tree [--go] SHAPE ARGS...: ROOT = the helper's pid; TREE_OUT its pid
# file; TREE_GO the file to create to let it build the tree (with --go).
start_tree() {
	local -a go=()
	SEQ=$((SEQ + 1))
	TREE_OUT=$TMP/tree$SEQ
	TREE_GO=
	if [[ $1 == --go ]]; then
		TREE_GO=$TREE_OUT.go
		go=(--go "$TREE_GO")
		shift
	fi
	"$HELPERS/tree" "${go[@]}" --life 300 "$TREE_OUT" "$@" >>"$TMP/helpers.log" 2>&1 {SLEEPFD}>&- &
	ROOT=$!
	disown "$ROOT" 2>/dev/null
	track "$ROOT"
}

# wait_tree [FILE] [MS]: wait (bounded) for the tree's pid file, track its
# pids: TREE_PIDS (all), ROLEP[role].
wait_tree() {
	local pf=${1:-$TREE_OUT} ms=${2:-20000} pid role
	if ! wait_file "$pf" "$ms"; then
		fail "setup: the tree helper did not write its pid file within ${ms} ms: $(tail -n 1 "$TMP/helpers.log" 2>/dev/null)"
		return 1
	fi
	TREE_PIDS=()
	ROLEP=()
	while read -r pid role; do
		TREE_PIDS+=("$pid")
		ROLEP[$role]+="$pid "
	done <"$pf"
	track "${TREE_PIDS[@]}"
}

role() { # ROLE_PIDS = pids of ROLE in the last tree read
	ROLE_PIDS=()
	read -ra ROLE_PIDS <<<"${ROLEP[$1]:-}"
}

# Build a tree tagged before it has descendants: sets ROOT, TREE_PIDS.
tagged_tree() { # SHAPE ARGS...
	start_tree --go "$@"
	tag "$ROOT" --pin-dir "$PIN" || return 1
	: >"$TREE_GO"
	wait_tree || return 1
	check_alive "${TREE_PIDS[@]}" || fail "setup: tree processes died before the root was killed: $(desc "${DEAD[@]}")"
}

# tagged_tree_x SHAPE ARGS: tagged_tree on XPIN.
tagged_tree_x() {
	start_tree --go "$@"
	tag "$ROOT" --pin-dir "$XPIN" || return 1
	: >"$TREE_GO"
	wait_tree
}

# kill_root_expect_dead ROOT PIDS...: SIGKILL ROOT, PIDS must die within the bound.
kill_root_expect_dead() {
	local root=$1
	shift
	safe_kill KILL "$root"
	wait_dead "$BOUND_MS" "$@" ||
		fail "still alive $BOUND_MS ms after the tagged root was killed: $(desc "${ALIVE[@]}")"
}

# start_helper NAME ARGS...: helper NAME in the background (output to the
# helpers log); ROOT = its pid, tracked.
start_helper() {
	local name=$1
	shift
	"$HELPERS/$name" "$@" >>"$TMP/helpers.log" 2>&1 {SLEEPFD}>&- &
	ROOT=$!
	disown "$ROOT" 2>/dev/null
	track "$ROOT"
}
