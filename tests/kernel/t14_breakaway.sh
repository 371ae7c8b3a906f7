# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# shellcheck shell=bash
#
# Kernel tests, breakaway by leave: `bpfguard release PID` takes a member
# and its descendants (present and future) out of its lineage, and `exec
# --breakaway` runs a command outside the lineage it is started in; both
# only where every tag left allows it (--allow-breakaway), or for the tag's
# owner from outside, or root. Nothing else escapes: the rest of the lineage
# still dies with its root.
#
# Sourced by run.sh: each test_NAME function is a test, run by itself in the
# order of this file (run.sh --list; run.sh NAME).

# A chain root -> chain1 -> chain2 -> chain3 -> chain4, chain3 tagged too
# (nested). Root releases chain2: chain2 and below survive the root's death,
# chain1 dies; the nested tag goes on at the top level (its root's death
# still kills chain4); an event and a log line name the release.
test_release_member() {
	local c1 c2 c3 c4 ev=$TMP/release.ev
	tagged_tree chain 4 || return
	role chain1 && c1=${ROLE_PIDS[0]}
	role chain2 && c2=${ROLE_PIDS[0]}
	role chain3 && c3=${ROLE_PIDS[0]}
	role chain4 && c4=${ROLE_PIDS[0]}
	tag "$c3" --pin-dir "$PIN" || return
	events_start "$ev" || return
	log_mark
	cli release "$c2" --pin-dir "$PIN"
	[[ $RC == 0 && $OUT == "released $c2 from tag "*" (1 process(es), 1 nested tag(s))" ]] ||
		{ fail "release of member $c2: exit $RC: $(oneline "$OUT $ERR")"; return; }
	wait_grep "$ev" '"event":"release"' 5000 ||
		{ fail "no release event: $(oneline "$(<"$ev")")"; return; }
	events_stop "$EV_PID" || return
	grep -q "\"event\":\"release\",\"tag\":[0-9]*,\"pid\":$c2,\"comm\":\"[^\"]*\",\"uid\":0,\"processes\":1,\"tags\":1" "$ev" ||
		{ fail "release event: $(oneline "$(grep '"release"' "$ev")")"; return; }
	wait_log "released pid $c2 from tag" 5000 || { fail "no log line for the release: $(agent_log_tail)"; return; }
	# released twice: it is in no lineage now
	cli release "$c2" --pin-dir "$PIN"
	[[ $RC == 1 && $ERR == *"not in a tagged lineage"* ]] ||
		{ fail "second release of $c2: exit $RC, expected 1 (not in a lineage): $ERR"; return; }
	safe_kill KILL "$ROOT"
	wait_dead "$BOUND_MS" "$c1" || { fail "chain1 $c1 outlived its root after chain2's release"; return; }
	msleep 0.3
	check_alive "$c2" "$c3" "$c4" ||
		{ fail "released processes died with the root they left: $(desc "${DEAD[@]}")"; return; }
	# chain3's own tag still guards chain4
	kill_root_expect_dead "$c3" "$c4"
}

# brk_root UID OUT: a bash root run as UID with one child, BRK, which once
# OUT.go exists runs `bpfguard exec --breakaway -- sh` as its own child
# (that sh writes its pid into OUT.ok, then sleeps) and, whatever came of
# it, stays a member (it waits, or sleeps once refused). ROOT, BRK tracked.
brk_root() {
	local uid=$1 out=$2
	rm -f "$out".*
	"$UDIR/asuser" "$uid" /bin/bash -c '
		( while [ ! -e "$1.go" ]; do sleep 0.02; done
		  "$2" exec --breakaway --pin-dir "$3" -- /bin/sh -c "echo \$\$ >\"\$0.ok.tmp\" && mv \"\$0.ok.tmp\" \"\$0.ok\"; exec sleep 300" "$1" 2>"$1.err"
		  echo $? >"$1.rc"; exec sleep 300 ) &
		echo $! >"$1.pid.tmp" && mv "$1.pid.tmp" "$1.pid"
		wait; sleep 300' _ "$out" "$UDIR/bpfguard" "$PIN" >>"$TMP/helpers.log" 2>&1 {SLEEPFD}>&- &
	ROOT=$!
	disown "$ROOT" 2>/dev/null
	track "$ROOT"
	wait_file "$out.pid" 10000 || { fail "setup: the breakaway root did not start its child"; return 1; }
	read -r BRK <"$out.pid"
	track "$BRK"
}

# brk_try OUT: let BRK try; BRK_RESULT = "ok" (BRK_OUT: the pid that left,
# running its command, tracked) or "refused: RC: its stderr".
brk_try() {
	local out=$1 deadline
	: >"$out.go"
	now
	deadline=$((NOW + 10000 * BOUND))
	while :; do
		if [[ -e $out.ok ]]; then
			read -r BRK_OUT <"$out.ok"
			track "$BRK_OUT"
			BRK_RESULT=ok
			return
		fi
		[[ -s $out.rc ]] && { BRK_RESULT="refused: $(<"$out.rc"): $(oneline "$(<"$out.err")")"; return; }
		now
		((NOW < deadline)) || { BRK_RESULT="neither released nor refused within $((10 * BOUND)) s"; return; }
		msleep 0.02
	done
}

# Who may leave, as an attacker would try it: a member of an unprivileged
# tag made without --allow-breakaway is refused (exit 1, a line naming the
# flag) and still dies with the root; with the flag it leaves and outlives
# the root. A root-made tag over the user's processes likewise. Another
# user may not release what it may not signal, flag or not; the owner may
# from outside the lineage without the flag.
test_release_who() {
	local out mode flags
	setup_users || return
	out=$UDIR/w/brk
	for mode in user-noflag user-flag root-noflag root-flag; do
		brk_root "$TUID" "$out.$mode" || return
		flags=
		[[ $mode == *-flag ]] && flags=--allow-breakaway
		if [[ $mode == user-* ]]; then
			ucli "$TUID" tag "$ROOT" --pin-dir "$PIN" $flags
		else
			cli tag "$ROOT" --pin-dir "$PIN" $flags
		fi
		[[ $RC == 0 ]] || { fail "setup ($mode): tag of $ROOT: exit $RC: $ERR"; return; }
		# uid TUID2 may signal none of them: refused, flag or not
		ucli "$TUID2" release "$BRK" --pin-dir "$PIN"
		expect_refused "$mode: uid $TUID2's release of uid $TUID's $BRK"
		brk_try "$out.$mode"
		if [[ $mode == *-noflag ]]; then
			[[ $BRK_RESULT == "refused: 1: bpfguard: permission denied: the tag was not made with --allow-breakaway"* ]] ||
				{ fail "$mode: exec --breakaway from inside: $BRK_RESULT (expected refused, naming --allow-breakaway)"; return; }
		else
			[[ $BRK_RESULT == ok ]] || { fail "$mode: exec --breakaway from inside: $BRK_RESULT"; return; }
		fi
		safe_kill KILL "$ROOT"
		wait_dead "$BOUND_MS" "$BRK" || { fail "$mode: the member $BRK outlived its root"; return; }
		if [[ $mode == *-flag ]]; then
			msleep 0.3
			check_alive "$BRK_OUT" || { fail "$mode: the released $BRK_OUT died with the root it left"; return; }
			safe_kill KILL "$BRK_OUT"
		fi
	done
	# the owner, from outside the lineage, needs no flag
	utree "$TUID" chain 2 || return
	ucli "$TUID" tag "$ROOT" --pin-dir "$PIN"
	[[ $RC == 0 ]] || { fail "setup: uid $TUID's tag: exit $RC: $ERR"; return; }
	role chain1
	ucli "$TUID" release "${ROLE_PIDS[0]}" --pin-dir "$PIN"
	[[ $RC == 0 ]] || { fail "the owner's release from outside: exit $RC: $ERR"; return; }
	role chain2
	local c2=${ROLE_PIDS[0]}
	safe_kill KILL "$ROOT"
	msleep 0.3
	check_alive "$c2" || fail "released by the owner, $c2 died with the root"
}

# A nested tag that allows breakaway inside one that does not: leaving the
# inner lineage would leave the outer one too, so it is refused.
test_release_nested() {
	local out
	setup_users || return
	out=$UDIR/w/brkn
	brk_root "$TUID" "$out" || return
	ucli "$TUID" tag "$ROOT" --pin-dir "$PIN"
	[[ $RC == 0 ]] || { fail "setup: outer tag: exit $RC: $ERR"; return; }
	ucli "$TUID" tag "$BRK" --pin-dir "$PIN" --allow-breakaway
	[[ $RC == 0 && $OUT == *nested* ]] || { fail "setup: inner tag: exit $RC: $(oneline "$OUT $ERR")"; return; }
	brk_try "$out"
	[[ $BRK_RESULT == "refused: 1: bpfguard: permission denied: the tag was not made with --allow-breakaway"* ]] ||
		{ fail "exec --breakaway under a tag that allows it, inside one that does not: $BRK_RESULT"; return; }
	kill_root_expect_dead "$ROOT" "$BRK"
}

# The release of a process that is forking: every child it forked, before,
# during and after the release, is outside the lineage (none dies with the
# root); its sibling, still a member, dies.
test_release_forking() {
	local f=$TMP/forker$$ forker sib p
	local -a kids
	rm -f "$f".*
	bash -c '(while :; do sleep 300 & sleep 0.005; done) & echo $! >"$1.f"
		sleep 300 & echo $! >"$1.s"
		while [ ! -e "$1.go" ]; do sleep 0.05; done; exit 0' _ "$f" >>"$TMP/helpers.log" 2>&1 {SLEEPFD}>&- &
	ROOT=$!
	disown "$ROOT" 2>/dev/null
	track "$ROOT"
	wait_file "$f.f" 10000 && wait_file "$f.s" 10000 || { fail "setup: no forker"; return; }
	read -r forker <"$f.f"
	read -r sib <"$f.s"
	track "$forker" "$sib"
	tag "$ROOT" --pin-dir "$PIN" || return
	msleep 0.2
	cli release "$forker" --pin-dir "$PIN"
	[[ $RC == 0 ]] || { fail "release of the forking $forker: exit $RC: $ERR"; return; }
	msleep 0.2
	safe_kill STOP "$forker"
	wait_state "$forker" T 5000 || { fail "setup: the forker did not stop: $S_STATE"; return; }
	children_of "$forker"
	kids=()
	for p in "${KIDS[@]}"; do # its `sleep 300`s, not a `sleep 0.005` ending
		[[ $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null) == "sleep 300 " ]] && kids+=("$p")
	done
	track "${kids[@]}"
	((${#kids[@]} >= 3)) || { fail "setup: the forker forked only ${#kids[@]} children"; return; }
	safe_kill KILL "$ROOT"
	wait_dead "$BOUND_MS" "$sib" || { fail "the member $sib outlived the root"; return; }
	msleep 0.3
	check_alive "$forker" "${kids[@]}" ||
		{ fail "of the released forker's ${#kids[@]} children, died with the root: $(desc "${DEAD[@]}")"; return; }
	safe_kill KILL "$forker" "${kids[@]}"
}

# A lineage being killed (a kill with a grace, its members ignoring the
# signal) lets nothing leave it: the release is refused (exit 1) and the
# member still dies at the deadline.
test_release_during_kill() {
	local f=$TMP/rdk$$ m
	rm -f "$f".*
	bash -c 'trap "" TERM; (trap "" TERM; while :; do sleep 0.05; done) & echo $! >"$1.m"; wait' _ "$f" \
		>>"$TMP/helpers.log" 2>&1 {SLEEPFD}>&- &
	ROOT=$!
	disown "$ROOT" 2>/dev/null
	track "$ROOT"
	wait_file "$f.m" 10000 || { fail "setup: no member"; return; }
	read -r m <"$f.m"
	track "$m"
	tag "$ROOT" --pin-dir "$PIN" --allow-breakaway || return
	cli kill "$ROOT" --signal TERM --grace 2s --pin-dir "$PIN"
	[[ $RC == 0 ]] || { fail "setup: kill with a grace: exit $RC: $ERR"; return; }
	cli release "$m" --pin-dir "$PIN"
	[[ $RC == 1 && $ERR == *"is being killed"* ]] ||
		{ fail "release of $m during its lineage's kill: exit $RC, expected 1 (being killed): $(oneline "$OUT $ERR")"; return; }
	wait_dead $((2000 + BOUND_MS)) "$ROOT" "$m" || fail "the member $m (not released) outlived the grace: $(desc "${ALIVE[@]}")"
}
