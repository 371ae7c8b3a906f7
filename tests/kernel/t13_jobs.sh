# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# shellcheck shell=bash
#
# Kernel tests, job control: `bpfguard kill` (a lineage killed on request,
# root included, with a signal, a grace, forks during the kill) and
# `bpfguard wait` (until the lineage is empty; the root's status; across an
# agent restart; untag; timeouts; who may).
#
# Sourced by run.sh: each test_NAME function is a test, run by itself in the
# order of this file (run.sh --list; run.sh NAME).

JOB_MEMBER= # job_root: the member its root forked

# job_root CODE: a bash root that forks one member (sleep), then, once
# $TREE_GO exists, exits CODE (the member lives on until the lineage is
# killed). ROOT, JOB_MEMBER set, both tracked; the root is tagged first.
job_root() {
	local code=$1 out
	SEQ=$((SEQ + 1))
	out=$TMP/job$SEQ
	TREE_GO=$out.go
	bash -c 'sleep 300 & echo $! >"$1.tmp" && mv "$1.tmp" "$1"
		n=0; while [ ! -e "$1.go" ] && [ $n -lt 3000 ]; do sleep 0.05; n=$((n + 1)); done
		exit "$2"' _ "$out" "$code" >>"$TMP/helpers.log" 2>&1 {SLEEPFD}>&- &
	ROOT=$!
	disown "$ROOT" 2>/dev/null
	track "$ROOT"
	wait_file "$out" 10000 || { fail "setup: the job root did not fork its member"; return 1; }
	read -r JOB_MEMBER <"$out"
	track "$JOB_MEMBER"
	tag "$ROOT" --pin-dir "$PIN" || return 1
	check_alive "$ROOT" "$JOB_MEMBER" || { fail "setup: died early: $(desc "${DEAD[@]}")"; return 1; }
}

# bg_cli OUT ARGS...: the CLI in the background (tracked), its output in
# OUT, its exit status in OUT.rc once it is done. BG = its pid.
bg_cli() {
	local out=$1
	shift
	rm -f "$out" "$out.rc"
	(
		"$BPFGUARD" "$@" >"$out" 2>&1 {SLEEPFD}>&-
		echo $? >"$out.rc.tmp" && mv "$out.rc.tmp" "$out.rc"
	) {SLEEPFD}>&- &
	BG=$!
	disown "$BG" 2>/dev/null
	track "$BG"
}

# bg_rc OUT MS: BG_RC = the background CLI's exit status, once it wrote it
# (bounded); fails the test if it did not finish within MS.
bg_rc() {
	BG_RC=
	wait_file "$1.rc" "$2" || { fail "the background '$(head -c 200 "$1")' did not finish within $2 ms"; return 1; }
	read -r BG_RC <"$1.rc"
}

# termer_tagged: a termer root (t06_graceful.sh) tagged plainly, its one
# member ignoring SIGTERM: ROOT, DESC, both alive and tracked.
termer_tagged() {
	start_termer ignore
	tag "$ROOT" --pin-dir "$PIN" || return 1
	: >"$TREE_GO"
	wait_file "$TREE_OUT" 10000 || { fail "setup: the termer descendant did not report"; return 1; }
	read -r DESC _ <"$TREE_OUT"
	track "$DESC"
}

# An untagged bystander (sleep), tracked: BYSTANDER.
bystander() {
	sleep 300 {SLEEPFD}>&- &
	BYSTANDER=$!
	disown "$BYSTANDER" 2>/dev/null
	track "$BYSTANDER"
}

# ---- kill -----------------------------------------------------------------

# The lineage dies on request, its live root included; an unrelated
# process lives; the tag is gone.
test_kill_now() {
	tagged_tree children 3 || return
	bystander
	cli kill "$ROOT" --pin-dir "$PIN"
	[[ $RC == 0 && $OUT == *"killing tag"* ]] || { fail "kill: exit $RC: $ERR $OUT"; return; }
	wait_dead "$BOUND_MS" "$ROOT" "${TREE_PIDS[@]}" ||
		{ fail "still alive $BOUND_MS ms after kill: $(desc "${ALIVE[@]}")"; return; }
	check_alive "$BYSTANDER" || fail "the untagged bystander died"
}

# PID may name any member: the lineage of its innermost tag dies.
test_kill_member() {
	local m
	tagged_tree chain 4 || return
	m=${TREE_PIDS[2]}
	cli kill "$m" --pin-dir "$PIN"
	[[ $RC == 0 ]] || { fail "kill of member $m: exit $RC: $ERR"; return; }
	wait_dead "$BOUND_MS" "$ROOT" "${TREE_PIDS[@]}" ||
		fail "still alive $BOUND_MS ms after kill of a member: $(desc "${ALIVE[@]}")"
}

# The innermost tag only: a nested tag's kill leaves the enclosing lineage.
test_kill_nested() {
	local b
	start_tree --go nested 2 2 # A -> B -> 2 bchild; A -> 2 achild
	tag "$ROOT" --pin-dir "$PIN" || return
	: >"$TREE_GO"
	wait_tree || return
	role b
	b=${ROLE_PIDS[0]}
	tag "$b" --pin-dir "$PIN" || return
	role bchild
	local -a bkids=("${ROLE_PIDS[@]}")
	role achild
	local -a akids=("${ROLE_PIDS[@]}")
	cli kill "${bkids[0]}" --wait --timeout 10s --pin-dir "$PIN"
	[[ $RC == 0 ]] || { fail "kill --wait of the nested tag: exit $RC: $ERR"; return; }
	wait_dead "$BOUND_MS" "$b" "${bkids[@]}" || { fail "the nested lineage still lives: $(desc "${ALIVE[@]}")"; return; }
	check_alive "$ROOT" "${akids[@]}" || { fail "the enclosing lineage was killed too: $(desc "${DEAD[@]}")"; return; }
	# the enclosing tag still guards what is left
	kill_root_expect_dead "$ROOT" "${akids[@]}"
}

# --signal TERM --grace: the root (default TERM action) dies at once, a
# member ignoring TERM lives until the deadline, then SIGKILL.
test_kill_grace() {
	local t0
	termer_tagged || return
	now
	t0=$NOW
	cli kill "$ROOT" --signal TERM --grace 1500ms --pin-dir "$PIN"
	[[ $RC == 0 ]] || { fail "kill --signal TERM --grace: exit $RC: $ERR"; return; }
	wait_dead "$BOUND_MS" "$ROOT" || { fail "the root (TERM: default action) still lives"; return; }
	death_watch "$DESC" "$t0" $((3000 * BOUND)) ||
		{ fail "the member ignoring TERM still lives $((3000 * BOUND)) ms after kill --grace 1500ms"; return; }
	((DIED_AT >= 1000)) || fail "the member ignoring TERM died $DIED_AT ms after kill --grace 1500ms: before the deadline"
}

# A lineage being killed stays in `list` until it is empty, saying so, with
# how its root ended (the exit program's record); then it is gone.
test_list_killing() {
	termer_tagged || return
	cli kill "$ROOT" --signal TERM --grace 60s --pin-dir "$PIN"
	[[ $RC == 0 ]] || { fail "kill --signal TERM --grace: exit $RC: $ERR"; return; }
	wait_dead "$BOUND_MS" "$ROOT" || { fail "the root (TERM: default action) still lives"; return; }
	cli list --json --pin-dir "$PIN"
	[[ $OUT == *'"state":"killing","root_exit":{"exit_signal":"TERM","status":143},'* &&
		$OUT =~ \"descendants\":\[([0-9,]*,)?$DESC[],] ]] ||
		{ fail "list --json during the grace: $(oneline "$OUT")"; return; }
	cli list --pin-dir "$PIN"
	[[ $OUT == *"[killing; the root died of SIGTERM]"* && $OUT == *" $DESC "* ]] ||
		{ fail "list during the grace: $(oneline "$OUT")"; return; }
	# its last member dies long before the deadline: the tag ends then
	safe_kill KILL "$DESC"
	wait_dead "$BOUND_MS" "$DESC" || { fail "setup: the member did not die of SIGKILL"; return; }
	list_empty || fail "the emptied lineage, 60 s before its grace ends: $REASON"
}

# A fork storm in the lineage while it is killed: nothing survives
# (the storm helper, a subreaper, reports any survivor), five rounds.
test_kill_forks() {
	local round out s root ready lready res
	local -a r
	for ((round = 1; round <= 5; round++)); do
		SEQ=$((SEQ + 1))
		out=$TMP/storm$SEQ
		start_helper storm --life 60 --bound "$BOUND_MS" "$out" 3
		s=$ROOT
		wait_file "$out" 30000 || { fail "setup: the storm did not start"; return; }
		read -r root ready lready <"$out"
		track "$root"
		tag "$root" --pin-dir "$PIN" || return
		msleep 0.02
		cli kill "$root" --pin-dir "$PIN"
		[[ $RC == 0 ]] || { fail "round $round: kill: exit $RC: $ERR"; return; }
		wait_dead $((BOUND_MS + 40000)) "$s" || { fail "round $round: the storm helper did not finish"; return; }
		res=
		{ read -r res <"$out.res"; } 2>/dev/null
		read -ra r <<<"$res"
		[[ ${r[0]:-} == ok ]] || { fail "round $round: after kill: $res"; return; }
		((r[1] > ready)) || { fail "setup: round $round: no fork during the storm"; return; }
	done
}

# kill --wait returns once the lineage is empty (exit 0); with a member
# that ignores the signal through a long grace, --timeout gives 124.
test_kill_wait() {
	tagged_tree children 4 || return
	cli kill "$ROOT" --wait --timeout 10s --pin-dir "$PIN"
	[[ $RC == 0 ]] || { fail "kill --wait: exit $RC: $ERR"; return; }
	# no wait here: dead at once, or --wait returned early
	wait_dead 0 "$ROOT" "${TREE_PIDS[@]}" || { fail "kill --wait returned while alive: $(desc "${ALIVE[@]}")"; return; }
	termer_tagged || return
	now
	t0=$NOW
	cli kill "$ROOT" --signal TERM --grace 60s --wait --timeout 700ms --pin-dir "$PIN"
	[[ $RC == 124 ]] || { fail "kill --wait --timeout with a member ignoring TERM: exit $RC, expected 124: $ERR"; return; }
	check_alive "$DESC" || { fail "the member ignoring TERM died before its grace"; return; }
	# a lineage that obeys the signal: --wait returns once it is empty,
	# not when the grace ends an hour later (124 after the timeout)
	tagged_tree children 4 || return
	cli kill "$ROOT" --signal TERM --grace 3600s --wait --timeout $((15 * BOUND))s --pin-dir "$PIN"
	[[ $RC == 0 ]] || { fail "kill --signal TERM --grace 3600s --wait, a lineage that dies of TERM: exit $RC: $ERR"; return; }
	wait_dead 0 "$ROOT" "${TREE_PIDS[@]}" || fail "kill --grace --wait returned while alive: $(desc "${ALIVE[@]}")"
}

# Another user cannot kill a tag (nor learn it exists); the owner can, and
# only what it could kill(2) dies.
test_kill_refused() {
	setup_users || return
	utree "$TUID" children 2 || return
	ucli "$TUID" tag "$ROOT" --pin-dir "$PIN"
	[[ $RC == 0 ]] || { fail "setup: uid $TUID's tag: exit $RC: $ERR"; return; }
	ucli "$TUID2" kill "$ROOT" --pin-dir "$PIN"
	expect_refused "uid $TUID2 kills uid $TUID's tag"
	check_alive "$ROOT" "${TREE_PIDS[@]}" || { fail "uid $TUID2's refused kill killed: $(desc "${DEAD[@]}")"; return; }
	xcli 0 --no-caps kill "$ROOT" --pin-dir "$PIN"
	expect_refused "a capless uid 0 kills uid $TUID's tag"
	check_alive "$ROOT" "${TREE_PIDS[@]}" || { fail "a refused kill killed: $(desc "${DEAD[@]}")"; return; }
	ucli "$TUID" kill "$ROOT" --pin-dir "$PIN"
	[[ $RC == 0 ]] || { fail "the owner's kill: exit $RC: $ERR"; return; }
	wait_dead "$BOUND_MS" "$ROOT" "${TREE_PIDS[@]}" || fail "the owner's kill left: $(desc "${ALIVE[@]}")"
}

# An untagged process: kill and wait say so (1; wait 125).
test_kill_untagged() {
	bystander
	cli kill "$BYSTANDER" --pin-dir "$PIN"
	[[ $RC == 1 && $ERR == *"not tagged"* ]] || { fail "kill of an untagged process: exit $RC: $ERR"; return; }
	cli wait "$BYSTANDER" --pin-dir "$PIN"
	[[ $RC == 125 && $ERR == *"not tagged"* ]] || { fail "wait on an untagged process: exit $RC: $ERR"; return; }
	check_alive "$BYSTANDER" || fail "the untagged process died"
}

# ---- wait -----------------------------------------------------------------

# wait exits with the root's status as a shell reports it: 3 for exit(3),
# once the member is gone too; 137 for a SIGKILLed root.
test_wait_status() {
	local out=$TMP/wait$$.a
	job_root 3 || return
	bg_cli "$out" wait "$ROOT" --pin-dir "$PIN"
	msleep 0.2 # (a wait that starts later gets the same answer)
	: >"$TREE_GO"
	bg_rc "$out" $((10000 * BOUND)) || return
	[[ $BG_RC == 3 ]] || { fail "wait on a root that exits 3: exit $BG_RC: $(oneline "$(<"$out")")"; return; }
	is_alive "$JOB_MEMBER" && { fail "wait returned while the member $JOB_MEMBER lives"; return; }
	job_root 0 || return
	out=$TMP/wait$$.b
	bg_cli "$out" wait "$JOB_MEMBER" --pin-dir "$PIN"
	msleep 0.2
	safe_kill KILL "$ROOT"
	bg_rc "$out" $((10000 * BOUND)) || return
	[[ $BG_RC == 137 ]] || fail "wait on a SIGKILLed root: exit $BG_RC, expected 137: $(oneline "$(<"$out")")"
}

# Started after the root died, while a member lives through a grace: wait
# (naming the member) blocks until the member is gone, with the root's status.
test_wait_after_root() {
	graceful_setup 2s ignore || return
	safe_kill KILL "$ROOT"
	wait_dead "$BOUND_MS" "$ROOT" || { fail "setup: the root still lives"; return; }
	check_alive "$DESC" || { fail "setup: the member ignoring TERM died before its grace"; return; }
	cli wait "$DESC" --timeout 10s --pin-dir "$PIN"
	[[ $RC == 137 ]] || { fail "wait after the root's death: exit $RC, expected 137 (the root's SIGKILL): $ERR"; return; }
	if is_alive "$DESC"; then fail "wait returned while the member lives"; fi
}

# --timeout: 124, and the lineage is untouched.
test_wait_timeout() {
	tagged_tree children 2 || return
	cli wait "$ROOT" --timeout 300ms --pin-dir "$PIN"
	[[ $RC == 124 ]] || { fail "wait --timeout 300ms on a live lineage: exit $RC: $ERR"; return; }
	check_alive "$ROOT" "${TREE_PIDS[@]}" || fail "wait killed: $(desc "${DEAD[@]}")"
}

# An agent restarted during the wait does not end it: the waiter goes on
# with the new agent, and gets the root's status.
test_wait_restart() {
	local out=$TMP/wait$$.d
	job_root 5 || return
	bg_cli "$out" wait "$ROOT" --pin-dir "$PIN"
	msleep 0.3
	stop_agent
	start_agent || { fail "could not restart the agent: $AGENT_WHY"; return; }
	msleep 0.3
	is_alive "$BG" || { fail "the wait ended with the agent: $(oneline "$(<"$out")")"; return; }
	: >"$TREE_GO"
	bg_rc "$out" $((10000 * BOUND)) || return
	[[ $BG_RC == 5 ]] || fail "wait across an agent restart: exit $BG_RC, expected 5: $(oneline "$(<"$out")")"
}

# Untag during the wait: the lineage is let go, wait fails (125) saying so.
test_wait_untag() {
	local out=$TMP/wait$$.e
	tagged_tree children 2 || return
	bg_cli "$out" wait "$ROOT" --pin-dir "$PIN"
	msleep 0.3
	untag "$ROOT" --pin-dir "$PIN" || return
	bg_rc "$out" $((5000 * BOUND)) || return
	[[ $BG_RC == 125 && $(<"$out") == *untagged* ]] || { fail "wait across untag: exit $BG_RC: $(oneline "$(<"$out")")"; return; }
	check_alive "$ROOT" "${TREE_PIDS[@]}" || fail "untag during a wait killed: $(desc "${DEAD[@]}")"
}

# Another user may not wait on (so learn the end of) a tag it cannot see.
test_wait_refused() {
	setup_users || return
	utree "$TUID" children 1 || return
	ucli "$TUID" tag "$ROOT" --pin-dir "$PIN"
	[[ $RC == 0 ]] || { fail "setup: uid $TUID's tag: exit $RC: $ERR"; return; }
	ucli "$TUID2" wait "$ROOT" --timeout 2s --pin-dir "$PIN"
	[[ $RC == 125 && $ERR == *"permission denied"* ]] || { fail "uid $TUID2 waits on uid $TUID's tag: exit $RC: $ERR"; return; }
	ucli "$TUID" wait "$ROOT" --timeout 300ms --pin-dir "$PIN"
	[[ $RC == 124 ]] || fail "the owner's wait --timeout: exit $RC: $ERR"
}

# Waits by tag number (what the library sends after an agent restart) from
# a rootless container of the owner's uid (helpers/asuser --pidns): it learns
# of a lineage it sees there, not of one wholly outside its PID namespace,
# nor of its outcome once ended. In the agent's namespace the owner learns both.
test_wait_pidns() {
	local sock id f errs=()
	setup_users || return
	f=$UDIR/w/wpidns$$
	user_ctlclient || return
	sock=$CTL_SOCK
	utree "$TUID" children 1 || return
	ucli "$TUID" tag "$ROOT" --pin-dir "$PIN"
	[[ $RC == 0 ]] || { fail "setup: uid $TUID's tag: exit $RC: $ERR"; return; }
	tag_id || return
	id=$TAGID
	# waittag ARGS...: ctlclient's answer to a wait on tag $id, as uid $TUID
	waittag() {
		bounded $((15 * BOUND)) "$UDIR/asuser" "$TUID" "$@" "$UDIR/ctlclient" --hold $((5 * BOUND)) "$sock" "waittag:$id" >"$f" 2>&1
		OUT=$(<"$f")
	}
	waittag --pidns
	[[ $OUT == "reply 2 no tag $id, and no outcome of it kept" ]] ||
		errs+=("a live tag outside the caller's PID namespace: $(oneline "$OUT")")
	waittag
	[[ $OUT == "reply 0 waiting for tag $id" ]] || errs+=("the owner's wait in the agent's namespace: $(oneline "$OUT")")
	kill_root_expect_dead "$ROOT" "${TREE_PIDS[@]}" || return
	waittag --pidns
	[[ $OUT == "reply 2 no tag $id, and no outcome of it kept" ]] ||
		errs+=("an ended tag, asked from another PID namespace: $(oneline "$OUT")")
	waittag
	[[ $OUT == "reply 0 tag $id: nothing of its lineage is left" ]] || errs+=("the owner's late wait: $(oneline "$OUT")")
	# a lineage inside the container is seen there
	bounded $((15 * BOUND)) "$UDIR/asuser" "$TUID" --pidns /bin/sh -c \
		"sleep 300 & s=\$!; id=\$('$UDIR/bpfguard' tag \$s --pin-dir '$PIN' | sed -n 's/.*(tag \\([0-9]*\\).*/\\1/p'); '$UDIR/ctlclient' --hold $((5 * BOUND)) '$sock' waittag:\$id; echo \"id \$id\"; kill -9 \$s" >"$f" 2>&1
	OUT=$(<"$f")
	[[ $OUT =~ "reply 0 waiting for tag "([0-9]+).*"id "([0-9]+) && ${BASH_REMATCH[1]} == "${BASH_REMATCH[2]}" ]] ||
		errs+=("a tag made inside the container, asked from there: $(oneline "$OUT")")
	((${#errs[@]} == 0)) || fail "$(IFS=';'; echo "${errs[*]}")"
}

# The Go example (pure Go, go/bpfguard): wait times out (124) on a live
# lineage, kill ends it and returns once it is empty.
test_go_example_jobs() {
	local bin=$EXAMPLES/bpfguard-go
	[[ -x $bin ]] || { fail "no Go example at $bin: run \`make examples\` (or set EXAMPLES)"; return; }
	tagged_tree children 2 || return
	bounded "$CLI_S" "$bin" -pin-dir "$PIN" -timeout 300ms wait "$ROOT" >"$TMP/goex.out" 2>&1
	[[ $BRC == 124 ]] || { fail "bpfguard-go wait -timeout on a live lineage: exit $BRC: $(oneline "$(<"$TMP/goex.out")")"; return; }
	check_alive "$ROOT" "${TREE_PIDS[@]}" || { fail "bpfguard-go wait killed: $(desc "${DEAD[@]}")"; return; }
	# signal: SIGSTOP stops the root and its children, SIGCONT resumes them
	local sig want p
	for sig in 19:T 18:S; do # (resumed, they sleep)
		bounded "$CLI_S" "$bin" -pin-dir "$PIN" -signal "${sig%:*}" signal "$ROOT" >"$TMP/goex.out" 2>&1
		[[ $BRC == 0 && $(<"$TMP/goex.out") == "signalled 3 member(s) of tag "* ]] ||
			{ fail "bpfguard-go -signal ${sig%:*} signal: exit $BRC: $(oneline "$(<"$TMP/goex.out")")"; return; }
		want=${sig#*:}
		for p in "$ROOT" "${TREE_PIDS[@]}"; do
			wait_state "$p" "$want" 5000 ||
				{ fail "bpfguard-go -signal ${sig%:*} signal: $p is in state $S_STATE, expected $want"; return; }
		done
	done
	bounded "$CLI_S" "$bin" -pin-dir "$PIN" kill "$ROOT" >"$TMP/goex.out" 2>&1
	[[ $BRC == 0 ]] || { fail "bpfguard-go kill: exit $BRC: $(oneline "$(<"$TMP/goex.out")")"; return; }
	wait_dead 0 "$ROOT" "${TREE_PIDS[@]}" || fail "bpfguard-go kill returned while alive: $(desc "${ALIVE[@]}")"
}

# ---- exec --init ----------------------------------------------------------

# exec --init: CMD exits 7 leaving a daemon (setsid) and an orphan behind;
# init reaps, has the lineage killed, and exits 7 only once both are gone.
test_exec_init() {
	local out=$TMP/init$$.a d1 d2
	bg_cli "$out" exec --init --pin-dir "$PIN" -- bash -c \
		'setsid sleep 300 & echo $! >"$1.d1"; (sleep 300 & echo $! >"$1.d2"); sleep 0.3; exit 7' _ "$out"
	wait_file "$out.d1" 10000 && wait_file "$out.d2" 10000 || { fail "setup: CMD did not start its daemons: $(oneline "$(<"$out")")"; return; }
	read -r d1 <"$out.d1"
	read -r d2 <"$out.d2"
	track "$d1" "$d2"
	bg_rc "$out" $((10000 * BOUND)) || return
	[[ $BG_RC == 7 ]] || { fail "exec --init: exit $BG_RC, expected CMD's 7: $(oneline "$(<"$out")")"; return; }
	wait_dead 0 "$d1" "$d2" || fail "exec --init exited while CMD's lineage lives: $(desc "${ALIVE[@]}")"
}

# Signals to init reach CMD (its TERM handler exits 42: so does init); a
# CMD killed by a signal gives 128 + it; one not found, 127.
test_exec_init_signals() {
	local out=$TMP/init$$.b
	bg_cli "$out" exec --init --pin-dir "$PIN" -- bash -c \
		'trap "exit 42" TERM; echo ready >"$1.r"; while :; do sleep 0.05; done' _ "$out"
	wait_file "$out.r" 10000 || { fail "setup: CMD did not start: $(oneline "$(<"$out")")"; return; }
	local init
	children_of "$BG" && ((${#KIDS[@]} == 1)) || { fail "setup: no one init process below $BG: ${KIDS[*]}"; return; }
	init=${KIDS[0]}
	track "$init"
	safe_kill TERM "$init"
	bg_rc "$out" $((10000 * BOUND)) || return
	[[ $BG_RC == 42 ]] || { fail "SIGTERM to exec --init: exit $BG_RC, expected CMD's 42: $(oneline "$(<"$out")")"; return; }
	cli exec --init --pin-dir "$PIN" -- bash -c 'kill -KILL $$'
	[[ $RC == 137 ]] || { fail "exec --init of a CMD killed by SIGKILL: exit $RC, expected 137: $ERR"; return; }
	cli exec --init --pin-dir "$PIN" -- /nonexistent/cmd
	[[ $RC == 127 ]] || fail "exec --init of a missing CMD: exit $RC, expected 127: $ERR"
}

# --forward-lineage: a signal to the init goes to every process of CMD's
# lineage, a daemon reparented to the init included, each through the agent;
# without it, to CMD alone (the member's trap does not run). The root's
# trap waits (bounded) for the daemon's line before it exits: the root's
# death kills the lineage, and a daemon slower to run its trap than the
# root would be killed before it wrote it.
test_exec_init_forward() {
	local out=$TMP/init$$.c lines
	local script='f=$1
(trap "echo member >>$f.got; exit 0" USR1; echo m >"$f.m"; while :; do sleep 0.05; done) &
(setsid bash -c "trap \"echo daemon >>$f.got; exit 0\" USR1; echo d >$f.d; while :; do sleep 0.05; done" &)
trap "echo root >>$f.got; wait; n=0; until grep -qs daemon $f.got || ((n++ > 400)); do sleep 0.05; done; exit 7" USR1
echo ready >"$f.r"
while :; do sleep 0.05; done'
	for mode in lineage cmd; do
		rm -f "$out".*
		if [[ $mode == lineage ]]; then
			bg_cli "$out" exec --init --forward-lineage --pin-dir "$PIN" -- bash -c "$script" _ "$out"
		else
			bg_cli "$out" exec --init --pin-dir "$PIN" -- bash -c "$script" _ "$out"
		fi
		wait_file "$out.r" 10000 && wait_file "$out.m" 10000 && wait_file "$out.d" 10000 ||
			{ fail "setup: CMD did not start its member and daemon: $(oneline "$(<"$out")")"; return; }
		local init
		children_of "$BG" && ((${#KIDS[@]} == 1)) || { fail "setup: no one init process below $BG: ${KIDS[*]}"; return; }
		init=${KIDS[0]}
		track "$init"
		safe_kill USR1 "$init"
		if [[ $mode == lineage ]]; then
			bg_rc "$out" $((10000 * BOUND)) || return
			lines=$(sort "$out.got" 2>/dev/null | tr '\n' ' ')
			[[ $BG_RC == 7 && $lines == "daemon member root " ]] ||
				{ fail "SIGUSR1 to exec --init --forward-lineage: exit $BG_RC (expected 7), trapped by: '$lines' (expected daemon, member, root): $(oneline "$(<"$out")")"; return; }
		else
			# CMD traps it and waits for its member, which only SIGKILL
			# at the end stops: the member has not trapped it meanwhile
			wait_file "$out.got" 10000 || { fail "SIGUSR1 to exec --init did not reach CMD"; return; }
			msleep 0.3
			lines=$(sort "$out.got" 2>/dev/null | tr '\n' ' ')
			[[ $lines == "root " ]] || { fail "SIGUSR1 to exec --init (CMD alone): trapped by '$lines', expected root alone"; return; }
			safe_kill KILL "$init"
			bg_rc "$out" $((10000 * BOUND)) || return
		fi
	done
}

# The lineage signal (what exec --init --forward-lineage asks), sent as an
# attacker would: another user is refused and nothing is signalled; the
# owner's SIGSTOP reaches the root and every member, its SIGCONT too, and
# the tag goes on.
test_signal_lineage() {
	local sock p errs=() stopped deadline
	setup_users || return
	user_ctlclient || return
	sock=$CTL_SOCK
	utree "$TUID" children 2 || return
	ucli "$TUID" tag "$ROOT" --pin-dir "$PIN"
	[[ $RC == 0 ]] || { fail "setup: uid $TUID's tag: exit $RC: $ERR"; return; }
	# usig UID SIG: ctlclient's answer to a lineage signal of ROOT, as UID
	usig() {
		bounded $((15 * BOUND)) "$UDIR/asuser" "$1" "$UDIR/ctlclient" --hold $((5 * BOUND)) "$sock" "signal:$ROOT:$2" >"$TMP/usig.out" 2>&1
		OUT=$(<"$TMP/usig.out")
	}
	usig "$TUID2" 9
	[[ $OUT == "reply 1 permission denied"* ]] || errs+=("uid $TUID2's SIGKILL of uid $TUID's lineage: $(oneline "$OUT")")
	check_alive "$ROOT" "${TREE_PIDS[@]}" || { fail "${errs[*]}; the refused signal killed: $(desc "${DEAD[@]}")"; return; }
	usig "$TUID" 19
	[[ $OUT == "reply 0 signalled 3 member(s) of tag "* ]] || errs+=("the owner's SIGSTOP: $(oneline "$OUT")")
	now
	deadline=$((NOW + BOUND_MS))
	while :; do # a stop takes effect as each process next runs
		stopped=0
		for p in "$ROOT" "${TREE_PIDS[@]}"; do
			read_stat "$p" && [[ $S_STATE == T ]] && stopped=$((stopped + 1))
		done
		now
		((stopped == 3 || NOW >= deadline)) && break
		msleep 0.05
	done
	((stopped == 3)) || errs+=("$stopped of 3 processes stopped $BOUND_MS ms after the owner's SIGSTOP")
	usig "$TUID" 18
	[[ $OUT == "reply 0 signalled 3 member(s) of tag "* ]] || errs+=("the owner's SIGCONT: $(oneline "$OUT")")
	((${#errs[@]} == 0)) || { fail "$(IFS=';'; echo "${errs[*]}")"; return; }
	kill_root_expect_dead "$ROOT" "${TREE_PIDS[@]}" || fail "the tag after the lineage signals: $REASON"
}

# Twice the per-uid bound of waiters (16): the first 16 wait, the rest are
# refused at once (125, "too many waiters"), and the agent still answers
# everyone, root first; the kill then ends all 16 waits with the root's 137.
test_wait_flood() {
	local i out busy=0 waiting=0 lim=16 rc
	local -a outs=()
	setup_users || return
	utree "$TUID" children 1 || return
	ucli "$TUID" tag "$ROOT" --pin-dir "$PIN"
	[[ $RC == 0 ]] || { fail "setup: uid $TUID's tag: exit $RC: $ERR"; return; }
	for ((i = 0; i < 2 * lim; i++)); do
		SEQ=$((SEQ + 1))
		out=$UDIR/w/wf$SEQ
		outs+=("$out")
		(
			"$UDIR/asuser" "$TUID" "$UDIR/bpfguard" wait "$ROOT" --timeout $((60 * BOUND))s \
				--pin-dir "$PIN" >"$out" 2>&1 {SLEEPFD}>&-
			echo $? >"$out.rc.tmp" && mv "$out.rc.tmp" "$out.rc"
		) {SLEEPFD}>&- &
		disown "$!" 2>/dev/null
		track "$!"
		msleep 0.05 # within the request rate (20 a second)
	done
	msleep 1
	for out in "${outs[@]}"; do
		if [[ -e $out.rc ]]; then
			read -r rc <"$out.rc"
			[[ $rc == 125 && $(<"$out") == *"too many waiters"* ]] && busy=$((busy + 1))
		else
			waiting=$((waiting + 1))
		fi
	done
	((busy == lim && waiting == lim)) ||
		{ fail "$((2 * lim)) waits from one uid: $waiting waiting, $busy refused as too many (want $lim and $lim)"; return; }
	cli status --pin-dir "$PIN"
	[[ $RC == 0 ]] || { fail "root's status with $lim waiters: exit $RC: $ERR"; return; }
	ucli "$TUID" kill "$ROOT" --pin-dir "$PIN"
	[[ $RC == 0 ]] || { fail "the owner's kill: exit $RC: $ERR"; return; }
	for out in "${outs[@]}"; do
		wait_file "$out.rc" $((10000 * BOUND)) || { fail "a waiter did not end after the kill: $(oneline "$(<"$out")")"; return; }
		read -r rc <"$out.rc"
		[[ $rc == 125 || $rc == 137 ]] || { fail "a waiter ended $rc after the kill (want 137): $(oneline "$(<"$out")")"; return; }
	done
	users_quiet --full "$TUID" || fail "$REASON"
}
