# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# shellcheck shell=bash
#
# Kernel tests, graceful termination: tag --signal SIG --grace DURATION.
#
# Sourced by run.sh: each test_NAME function is a test, run by itself in the
# order of this file (run.sh --list; run.sh NAME).

DESC= # the termer descendant of a graceful test

# start_termer MODE [MARKER]: the termer helper, whose root forks one
# descendant handling (MODE handle: it writes MARKER on SIGTERM and exits 0)
# or ignoring (MODE ignore) SIGTERM once TREE_GO exists. ROOT = the root's
# pid, TREE_OUT the pid file the descendant writes once its disposition is in
# place, TREE_GO the go file.
start_termer() {
	SEQ=$((SEQ + 1))
	TREE_OUT=$TMP/termer$SEQ
	TREE_GO=$TREE_OUT.go
	"$HELPERS/termer" --go "$TREE_GO" --life 300 "$TREE_OUT" "$@" >>"$TMP/helpers.log" 2>&1 {SLEEPFD}>&- &
	ROOT=$!
	disown "$ROOT" 2>/dev/null
	track "$ROOT"
}

# graceful_setup GRACE MODE [MARKER]: a termer root tagged with --signal TERM
# --grace GRACE before its descendant exists; DESC = the descendant, alive,
# its SIGTERM disposition in place.
graceful_setup() {
	local grace=$1 role
	shift
	DESC=
	start_termer "$@"
	tag "$ROOT" --signal TERM --grace "$grace" --pin-dir "$PIN" || return 1
	: >"$TREE_GO"
	if ! wait_file "$TREE_OUT" 10000; then
		fail "setup: the termer helper's descendant did not report within 10 s: $(tail -n 1 "$TMP/helpers.log" 2>/dev/null)"
		return 1
	fi
	read -r DESC role <"$TREE_OUT"
	[[ $DESC =~ ^[0-9]+$ ]] || { fail "setup: bad termer pid file: $(oneline "$(<"$TREE_OUT")")"; return 1; }
	track "$DESC"
	check_alive "$ROOT" "$DESC" || { fail "setup: died before the root was killed: $(desc "${DEAD[@]}")"; return 1; }
}

# A descendant that handles SIGTERM exits through its handler long before
# the deadline: SIGTERM at the root's death, not SIGKILL, not at the deadline;
# and the tag ends then, not when the grace would (an hour later).
test_graceful_term() {
	local marker got='' t0
	SEQ=$((SEQ + 1))
	marker=$TMP/marker$SEQ
	graceful_setup 3600s handle "$marker" || return
	[[ ! -e $marker ]] || { fail "setup: the marker exists before the root was killed"; return; }
	safe_kill KILL "$ROOT"
	now
	t0=$NOW
	if ! death_watch "$DESC" "$t0" 1500; then
		fail "the descendant handling SIGTERM still lives 1500 ms after the tagged root (--signal TERM --grace 3600s) was killed: no SIGTERM at the root's death"
		return
	fi
	{ read -r got <"$marker"; } 2>/dev/null
	[[ -e $marker ]] ||
		{ fail "the descendant died $DIED_AT ms after the root was killed, but not through its SIGTERM handler (no marker: SIGKILL instead of SIGTERM?)"; return; }
	[[ $got == 15 ]] || { fail "the descendant's handler caught signal '$got', expected 15 (SIGTERM)"; return; }
	list_empty || fail "the lineage is dead, its grace runs another hour: $REASON"
}

# A descendant that ignores SIGTERM lives through the grace and is SIGKILLed
# at the deadline.
test_graceful_ignore() {
	local t0
	graceful_setup 1500ms ignore || return
	safe_kill KILL "$ROOT"
	now
	t0=$NOW
	if ! death_watch "$DESC" "$t0" 3000; then
		fail "the descendant ignoring SIGTERM still lives 3000 ms after the tagged root (--grace 1500ms) was killed: no SIGKILL at the deadline"
		return
	fi
	((DIED_AT >= 1000)) ||
		fail "the descendant ignoring SIGTERM died $DIED_AT ms after the tagged root (--grace 1500ms) was killed: before the deadline"
}

# The deadline survives the agent: the root dies while the agent is down, an
# agent started after the deadline SIGKILLs at once.
test_graceful_restart() {
	local t0 t1 s why=''
	graceful_setup 1500ms ignore || return
	stop_agent
	((AGENT_FORCED == 0)) || why="setup: the agent ignored SIGTERM"
	if [[ -z $why ]]; then
		safe_kill KILL "$ROOT"
		now
		t0=$NOW
		wait_dead 2000 "$ROOT" || why="setup: the root did not die"
	fi
	if [[ -z $why ]]; then
		# past the deadline; with no agent, nothing SIGKILLs (kernel mode
		# sent SIGTERM in-kernel, which the descendant ignores)
		now
		if ((NOW - t0 < 2000)); then
			printf -v s '%d.%03d' $(((2000 - NOW + t0) / 1000)) $(((2000 - NOW + t0) % 1000))
			msleep "$s"
		fi
		now
		is_alive "$DESC" ||
			why="the descendant ignoring SIGTERM died within $((NOW - t0)) ms of the root's death while the agent was down (got something other than SIGTERM?)"
	fi
	# restore the suite's agent whatever happened
	start_agent || { fail "restart: $AGENT_WHY${why:+ (and before: $why)}"; return; }
	now
	t1=$NOW
	[[ -z $why ]] || { fail "$why"; return; }
	wait_dead 2000 "$DESC" ||
		fail "the descendant still lives 2000 ms after an agent started $((t1 - t0)) ms after the tagged root's death (--grace 1500ms: the deadline had passed)"
}

# Bad --signal and --grace values are usage errors for tag and exec (exit 2,
# one line on stderr); the good forms are accepted (controls).
test_graceful_bad_input() {
	local v root kid n
	local -a opts errs=()
	local -a bad=(
		"--signal BOGUS --grace 2s"
		"--signal 0 --grace 2s"
		"--signal TERM --grace -1s"
		"--signal TERM --grace 10x"
		"--signal TERM --grace 2h"
	)
	# the last two would leave a doomed exec tag for minutes: tag only
	local -a good=(
		"--signal TERM --grace 500ms"
		"--signal SIGTERM --grace 2s"
		"--signal 15 --grace 500ms"
		"--signal TERM --grace 1m"
		"--signal SIGTERM --grace 1h"
	)
	start_tree children 1
	wait_tree || return
	root=$ROOT
	kid=${TREE_PIDS[0]}
	for v in "${bad[@]}"; do
		read -ra opts <<<"$v"
		cli tag "$root" "${opts[@]}" --pin-dir "$PIN"
		[[ $RC == 0 ]] && bounded 15 "$BPFGUARD" untag "$root" --pin-dir "$PIN" >/dev/null 2>&1
		n=$(grep -c '' "$TMP/cli.err")
		if [[ $RC != 2 ]]; then
			errs+=("'tag PID $v' exit $RC (want 2)")
		elif [[ $n != 1 ]]; then
			errs+=("'tag PID $v' printed $n lines on stderr (want 1)")
		fi
		cli exec "${opts[@]}" --pin-dir "$PIN" -- "$BASH" -c 'exit 7'
		n=$(grep -c '' "$TMP/cli.err")
		if [[ $RC != 2 ]]; then
			errs+=("'exec $v -- CMD' exit $RC (want 2)")
		elif [[ $n != 1 ]]; then
			errs+=("'exec $v -- CMD' printed $n lines on stderr (want 1)")
		fi
	done
	for n in 0 1 2 3 4; do
		read -ra opts <<<"${good[n]}"
		cli tag "$root" "${opts[@]}" --pin-dir "$PIN"
		[[ $RC == 0 ]] || errs+=("control: 'tag PID ${good[n]}' exit $RC (want 0): $(oneline "$ERR")")
		((n < 3)) || continue
		cli exec "${opts[@]}" --pin-dir "$PIN" -- "$BASH" -c 'exit 7'
		[[ $RC == 7 ]] || errs+=("control: 'exec ${good[n]} -- CMD' exit $RC (want CMD's 7): $(oneline "$ERR")")
	done
	cli untag "$root" --pin-dir "$PIN"
	[[ $RC == 0 ]] || errs+=("control: untag after the good tags: exit $RC: $(oneline "$ERR")")
	agent_ok || errs+=("the agent is not running after the bad input")
	check_alive "$root" "$kid" || errs+=("the tree died: $(desc "${DEAD[@]}")")
	((${#errs[@]} == 0)) || fail "$(IFS=';'; echo "${errs[*]}")"
}
