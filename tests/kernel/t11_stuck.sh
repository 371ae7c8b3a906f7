# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# shellcheck shell=bash
#
# Kernel tests, stuck members: ones SIGKILL cannot end for a while.
#
# Sourced by run.sh: each test_NAME function is a test, run by itself in the
# order of this file (run.sh --list; run.sh NAME).

# A member SIGKILL cannot end for a while: a FUSE lookup the test's own server
# (helpers/fusehang, in a private mount namespace: nobody else sees the mount)
# reads and does not answer. Once SIGKILL is pending the requester waits for
# the answer in uninterruptible sleep (request_wait_answer). Any user can make
# one in a user namespace: the agent must never wait for it.

FSRV= # the FUSE server's pid
FDIR= # its directory: FDIR/mnt is served, FDIR/srv its report

# fuse_start: start the server, wait (bounded) until it has mounted.
fuse_start() {
	[[ -c /dev/fuse ]] || { fail "setup: no /dev/fuse (CONFIG_FUSE_FS): cannot make a member SIGKILL does not end"; return 1; }
	SEQ=$((SEQ + 1))
	FDIR=$TMP/fuse$SEQ
	mkdir -p "$FDIR/mnt" || { fail "setup: cannot make $FDIR/mnt"; return 1; }
	"$HELPERS/fusehang" serve --life 300 "$FDIR/mnt" "$FDIR/srv" >>"$TMP/helpers.log" 2>&1 {SLEEPFD}>&- &
	FSRV=$!
	disown "$FSRV" 2>/dev/null
	track "$FSRV"
	wait_file "$FDIR/srv" 10000 ||
		{ fail "setup: the FUSE server did not mount within 10 s: $(tail -n 1 "$TMP/helpers.log")"; return 1; }
}

# fuse_held N: wait (bounded) until the server holds N lookups unanswered.
fuse_held() {
	local deadline n=0
	now
	deadline=$((NOW + 10000))
	while :; do
		{ read -r n <"$FDIR/srv.got"; } 2>/dev/null
		((${n:-0} >= $1)) && return 0
		now
		((NOW >= deadline)) && { fail "setup: the FUSE server holds ${n:-0} lookup(s) after 10 s, expected $1"; return 1; }
		msleep 0.01
	done
}

# fuse_release: answer the held lookups (their processes can die now).
fuse_release() { safe_kill USR1 "$FSRV"; }

# fuse_stop: stop the server (which also frees anything still held: closing
# /dev/fuse aborts the connection); its mount goes with its namespace.
fuse_stop() {
	[[ -n $FSRV ]] || return 0
	safe_kill TERM "$FSRV"
	wait_dead 5000 "$FSRV" || safe_kill KILL "$FSRV"
	FSRV=
}

# stuck_tree NAME NORMAL: a lineage, tagged before it has descendants, whose
# root forks NORMAL sleepers and one child blocked in the lookup of NAME on
# the FUSE mount (NAME "-": no such child). ROOT, TAGID; roles root, normal,
# stuck (ROLEP).
stuck_tree() {
	local path=-
	[[ $1 == - ]] || path=/proc/$FSRV/root$FDIR/mnt/$1
	SEQ=$((SEQ + 1))
	TREE_OUT=$TMP/stree$SEQ
	"$HELPERS/fusehang" tree --go "$TREE_OUT.go" --life 300 "$TREE_OUT" "$path" "$2" >>"$TMP/helpers.log" 2>&1 {SLEEPFD}>&- &
	ROOT=$!
	disown "$ROOT" 2>/dev/null
	track "$ROOT"
	tag "$ROOT" --pin-dir "$PIN" || return 1
	tag_id || return 1
	: >"$TREE_OUT.go"
	wait_tree "$TREE_OUT"
}

# Two lineages die, one with a stuck member: the others die within the
# usual bound, the second lineage ends, status answers all along; the stuck
# one is counted and reported once (event and log line), however often it
# is signalled again; once released it dies and its lineage ends.
stuck_member_case() {
	local f ev r1 r2 t1 t2 stuck before deadline n why
	local -a normal1 kids2
	local -A CNT=()
	log_mark
	fuse_start || return
	quick_status || return
	counters kills_stuck || return
	before=${CNT[kills_stuck]}
	f=$TMP/ev.stuck$SEQ
	events_start "$f" || return
	ev=$EV_PID
	stuck_tree x 3 || return
	r1=$ROOT t1=$TAGID
	role normal
	normal1=("${ROLE_PIDS[@]}")
	role stuck
	stuck=${ROLE_PIDS[0]:-}
	[[ -n $stuck ]] && ((${#normal1[@]} == 3)) || { fail "setup: the tree has no stuck member or not 3 normal ones"; return; }
	fuse_held 1 || return
	tagged_tree children 3 || return
	tag_id || return
	r2=$ROOT t2=$TAGID kids2=("${TREE_PIDS[@]}")
	check_alive "$stuck" "${normal1[@]}" || { fail "setup: died before the root was killed: $(desc "${DEAD[@]}")"; return; }

	safe_kill KILL "$r1" "$r2"
	wait_dead "$BOUND_MS" "${normal1[@]}" "${kids2[@]}" ||
		{ fail "beside a stuck member, still alive $BOUND_MS ms after the roots were killed: $(desc "${ALIVE[@]}")"; return; }
	wait_grep "$f" "\"event\":\"lineage_dead\",\"tag\":$t2," "$BOUND_MS" ||
		{ fail "tag $t2 did not end within $BOUND_MS ms while tag $t1 had a stuck member: $(oneline "$(tail -n 3 "$f")")"; return; }
	now
	deadline=$((NOW + 10000 * BOUND))
	while :; do
		quick_status || return
		counters kills_stuck || return
		((CNT[kills_stuck] > before)) && break
		now
		((NOW < deadline)) || { fail "kills_stuck still $before $((10 * BOUND)) s after the kill of a member that does not die"; return; }
		msleep 0.2
	done
	is_alive "$stuck" || { fail "setup: the member blocked in FUSE died before it was released (no stuck member was made)"; return; }
	wait_grep "$f" '"event":"stuck"' 5000 || { fail "kills_stuck rose but no stuck event came"; return; }
	msleep 2.5 # two more ticks: the agent signals it again, reports nothing again
	quick_status || return
	counters kills_stuck || return
	((CNT[kills_stuck] == before + 1)) || { fail "kills_stuck rose from $before to ${CNT[kills_stuck]}: one member is stuck"; return; }
	n=$(log_since | grep -c "pid $stuck .*still alive")
	((n == 1)) || { fail "$n log lines about the stuck pid $stuck, expected 1: $(oneline "$(log_since | grep "still alive")")"; return; }
	is_alive "$stuck" || { fail "setup: the member blocked in FUSE died before it was released"; return; }
	grep -qF "\"event\":\"lineage_dead\",\"tag\":$t1," "$f" && { fail "tag $t1 reported dead while its member $stuck lives"; return; }

	fuse_release
	wait_dead "$BOUND_MS" "$stuck" || { fail "the stuck member $stuck still alive $BOUND_MS ms after it was released"; return; }
	wait_grep "$f" "\"event\":\"lineage_dead\",\"tag\":$t1," $((BOUND_MS + 2000)) ||
		{ fail "tag $t1 did not end once its stuck member died: $(oneline "$(tail -n 3 "$f")")"; return; }
	events_stop "$ev" || return
	why=$(json_check --lines "$f" --one event=stuck tag="$t1" pid="$stuck" comm=fusehang 'stuck_ms=*' \
		--none event=stuck pid!="$stuck" --one event=lineage_dead tag="$t1" \
		--one event=lineage_dead tag="$t2") || { fail "events: $why"; return; }
	list_roots "$PIN" || return
	[[ -z ${LROOT[$r1]:-} && -z ${LROOT[$r2]:-} ]] || fail "a dead root is still listed"
}

test_stuck_member() {
	stuck_member_case
	local rc=$?
	fuse_stop
	return $rc
}

# A member that blocks in its own exit, after its exit hook: it closes a
# file whose FLUSH the FUSE server holds (helpers/fusehang, a name with 'f').
# It runs no more code but still holds its files: its lineage is not empty,
# `kill --wait` times out (124), the tag stays listed as being killed, and
# once the FLUSH is answered the member is gone and so is the tag.
exiting_member_case() {
	local stuck
	fuse_start || return
	stuck_tree f 1 || return
	role stuck
	stuck=${ROLE_PIDS[0]:-}
	[[ -n $stuck ]] || { fail "setup: the tree has no member holding the FUSE file"; return; }
	cli kill "$ROOT" --wait --timeout 2s --pin-dir "$PIN"
	[[ $RC == 124 ]] || { fail "kill --wait while a member is blocked in its exit: exit $RC, expected 124: $ERR"; return; }
	fuse_held 1 || return
	is_alive "$stuck" || { fail "setup: the member blocked in its exit is gone"; return; }
	cli list --pin-dir "$PIN"
	[[ $OUT == *"[killing"* ]] || { fail "list while a member is still exiting: $(oneline "$OUT")"; return; }
	fuse_release
	wait_dead "$BOUND_MS" "$stuck" || { fail "the member $stuck still exits $BOUND_MS ms after its FLUSH was answered"; return; }
	list_empty || fail "the member is gone: $REASON"
}

test_exiting_member() {
	exiting_member_case
	local rc=$?
	fuse_stop
	return $rc
}

# The agent restarts while a member is stuck: it stops at once on SIGTERM;
# the next one takes the death up again from the pinned deaths map without
# stalling (status answers, a lineage killed meanwhile dies), reports the
# member again (it cannot know the last agent did), and ends the lineage
# once the member dies.
stuck_restart_case() {
	local f ev r1 t1 stuck before deadline
	local -a normal1
	local -A CNT=()
	fuse_start || return
	quick_status || return
	counters kills_stuck || return
	before=${CNT[kills_stuck]}
	stuck_tree x 2 || return
	r1=$ROOT t1=$TAGID
	role normal
	normal1=("${ROLE_PIDS[@]}")
	role stuck
	stuck=${ROLE_PIDS[0]:-}
	[[ -n $stuck ]] || { fail "setup: the tree has no stuck member"; return; }
	fuse_held 1 || return
	safe_kill KILL "$r1"
	wait_dead "$BOUND_MS" "${normal1[@]}" ||
		{ fail "beside a stuck member, still alive $BOUND_MS ms after the root was killed: $(desc "${ALIVE[@]}")"; return; }
	now
	deadline=$((NOW + 10000 * BOUND))
	until quick_status && counters kills_stuck && ((CNT[kills_stuck] > before)); do
		[[ $RC == 0 ]] || return
		now
		((NOW < deadline)) || { fail "kills_stuck still $before $((10 * BOUND)) s after the kill"; return; }
		msleep 0.2
	done
	stop_agent
	((AGENT_FORCED == 0)) || { fail "the agent did not stop on SIGTERM while a member was stuck"; return; }
	start_agent || { fail "restart beside a stuck member: $AGENT_WHY"; return; }
	f=$TMP/ev.srestart$SEQ
	events_start "$f" || return
	ev=$EV_PID
	tagged_tree children 2 || return
	kill_root_expect_dead "$ROOT" "${TREE_PIDS[@]}" || { REASON="after a restart beside a stuck member: $REASON"; return 1; }
	wait_grep "$f" "\"event\":\"stuck\",\"tag\":$t1,\"pid\":$stuck," $((10000 * BOUND)) ||
		{ fail "the restarted agent did not report the stuck member $stuck: $(oneline "$(tail -n 3 "$f")")"; return; }
	quick_status || return
	counters kills_stuck || return
	((CNT[kills_stuck] == before + 2)) || { fail "kills_stuck went from $before to ${CNT[kills_stuck]}: expected one count per agent"; return; }
	is_alive "$stuck" || { fail "setup: the member blocked in FUSE died before it was released"; return; }
	fuse_release
	wait_dead "$BOUND_MS" "$stuck" || { fail "the stuck member $stuck still alive $BOUND_MS ms after it was released"; return; }
	wait_grep "$f" "\"event\":\"lineage_dead\",\"tag\":$t1," $((BOUND_MS + 2000)) ||
		{ fail "the restarted agent did not end tag $t1 once its stuck member died: $(oneline "$(tail -n 3 "$f")")"; return; }
	events_stop "$ev"
}

test_stuck_restart() {
	stuck_restart_case
	local rc=$?
	fuse_stop
	return $rc
}

# Many lineages die at once (MANY of them, above twice the 256 deaths the
# agent once took per pass and the chunk it walks per wake-up), three with a
# stuck member: every other member dies within the bound (the stuck ones
# starve nobody), status answers, every lineage ends, the stuck ones too
# once released.
many_deaths_case() {
	local many=520 i f ev n deadline
	local -a roots=() kids=() stuck=()
	fuse_start || return
	f=$TMP/ev.many$SEQ
	events_start "$f" || return
	ev=$EV_PID
	for ((i = 0; i < 3; i++)); do
		stuck_tree "x$i" 1 || return
		roots+=("$ROOT")
		role normal
		kids+=("${ROLE_PIDS[@]}")
		role stuck
		stuck+=("${ROLE_PIDS[@]}")
	done
	((${#stuck[@]} == 3)) || { fail "setup: ${#stuck[@]} stuck members, expected 3"; return; }
	fuse_held 3 || return
	# the plain lineages from one helper (a root, tagged, then its child):
	# three programs per lineage took minutes in the qemu guests
	SEQ=$((SEQ + 1))
	"$HELPERS/forest" --life 300 "$TMP/forest$SEQ" "$many" "$PIN" >>"$TMP/helpers.log" 2>&1 {SLEEPFD}>&- &
	i=$!
	disown "$i" 2>/dev/null
	track "$i"
	wait_file "$TMP/forest$SEQ" 60000 ||
		{ fail "setup: forest did not start $many tagged lineages within $((60 * BOUND)) s: $(tail -n 1 "$TMP/helpers.log")"; return; }
	while read -r r c; do
		track "$r"
		track "$c"
		roots+=("$r")
		kids+=("$c")
	done <"$TMP/forest$SEQ"
	((${#kids[@]} == many + 3)) || { fail "setup: ${#kids[@]} members, expected $((many + 3))"; return; }
	check_alive "${kids[@]}" "${stuck[@]}" || { fail "setup: died before the roots were killed: $(desc "${DEAD[@]}")"; return; }

	safe_kill KILL "${roots[@]}"
	quick_status || return
	wait_dead $((2 * BOUND_MS)) "${kids[@]}" ||
		{ fail "$((many + 3)) lineages killed at once, 3 with a stuck member: still alive $((2 * BOUND_MS)) ms later: $(desc "${ALIVE[@]}")"; return; }
	quick_status || return
	now
	deadline=$((NOW + 4 * BOUND_MS))
	while n=$(grep -c '"event":"lineage_dead"' "$f"); ((n < many)); do
		now
		((NOW < deadline)) || { fail "$n of $many lineages without a stuck member ended within $((4 * BOUND_MS)) ms"; return; }
		msleep 0.1
	done
	now
	deadline=$((NOW + 10000 * BOUND))
	while n=$(grep -c '"event":"stuck"' "$f"); ((n < 3)); do
		now
		((NOW < deadline)) || { fail "$n stuck events $((10 * BOUND)) s after the kill, expected 3"; return; }
		msleep 0.1
	done
	quick_status || return
	check_alive "${stuck[@]}" || { fail "setup: stuck members died before they were released: $(desc "${DEAD[@]}")"; return; }
	fuse_release
	wait_dead "$BOUND_MS" "${stuck[@]}" || { fail "stuck members alive $BOUND_MS ms after their release: $(desc "${ALIVE[@]}")"; return; }
	now
	deadline=$((NOW + 2 * BOUND_MS))
	while n=$(grep -c '"event":"lineage_dead"' "$f"); ((n < many + 3)); do
		now
		((NOW < deadline)) || { fail "$n of $((many + 3)) lineages ended once the stuck members died"; return; }
		msleep 0.1
	done
	events_stop "$ev" || return
	n=$(grep -c '"event":"stuck"' "$f")
	((n == 3)) || fail "$n stuck events, expected 3"
}

test_many_deaths() {
	many_deaths_case
	local rc=$?
	fuse_stop
	return $rc
}
