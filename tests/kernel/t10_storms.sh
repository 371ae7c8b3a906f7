# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# shellcheck shell=bash
#
# Kernel tests, storms and races: fork storms, pid reuse, exec from a
# thread, Go threads, credential changes, stopped/traced/D-state members,
# zombies, random trees.
#
# Sourced by run.sh: each test_NAME function is a test, run by itself in the
# order of this file (run.sh --list; run.sh NAME).

STORM_WHY=    # why a round of the fork storm failed
STORM_LATE=0  # lingerers born late in the fork storms
STORM_FORKS=0 # forks in the fork storms

# One round of the fork storm (the storm helper, a child subreaper, forks the
# root R; R's descendants fork short-lived children, and now and then a
# lingerer that sleeps, in a tight loop). R is tagged mid-storm and
# SIGKILLed; every orphan of the storm reparents to the helper, which reports
# whether any descendant outlived the bound. STORM_WHY = why the round
# failed; STORM_LATE += the lingerers born between the storm's start and R's
# death.
storm_round() {
	local out s root ready lready res
	local -a r
	SEQ=$((SEQ + 1))
	out=$TMP/storm$SEQ
	STORM_WHY=
	start_helper storm --life 60 --bound "$BOUND_MS" "$out" 3
	s=$ROOT
	if ! wait_file "$out" 30000; then
		STORM_WHY="setup: the storm did not start within 30 s: $(tail -n 1 "$TMP/helpers.log")"
		return 1
	fi
	read -r root ready lready <"$out"
	track "$root"
	if ! tag "$root" --pin-dir "$PIN"; then
		STORM_WHY=$REASON
		safe_kill KILL "$root" # the helper then kills the storm itself
		wait_dead 40000 "$s"
		return 1
	fi
	msleep 0.02 # the storm goes on under the tag
	safe_kill KILL "$root"
	# the helper's bound, then (on survivors) its own kill loop
	if ! wait_dead $((BOUND_MS + 40000)) "$s"; then
		STORM_WHY="the storm helper did not finish $((BOUND_MS + 40000)) ms after the root was killed"
		return 1
	fi
	res=
	{ read -r res <"$out.res"; } 2>/dev/null
	read -ra r <<<"$res"
	case ${r[0]:-} in
	ok) ;;
	survivors)
		STORM_WHY="${r[1]} descendant(s) of the killed root still alive $BOUND_MS ms after its death (${r[2]} forks, ${r[3]} lingerers in the storm):${r[*]:5}"
		return 1
		;;
	*)
		STORM_WHY="the storm helper gave no result ('$res'): $(tail -n 1 "$TMP/helpers.log")"
		return 1
		;;
	esac
	((r[1] > ready)) || { STORM_WHY="setup: no fork between the storm's start ($ready forks) and the root's death (${r[1]})"; return 1; }
	STORM_LATE=$((STORM_LATE + r[2] - lready))
	STORM_FORKS=$((STORM_FORKS + r[1]))
}

# Descendants fork short-lived children in a tight loop while the tagged
# root is SIGKILLed: nobody survives, 50 rounds in a row (STORM_ROUNDS: the
# qemu guests run 20, each some 20x slower under TCG).
test_fork_storm() {
	local round rounds=${STORM_ROUNDS:-50}
	[[ $rounds =~ ^[1-9][0-9]*$ ]] || { fail "setup: STORM_ROUNDS must be a positive number, not '$rounds'"; return; }
	STORM_LATE=0 STORM_FORKS=0
	for ((round = 1; round <= rounds; round++)); do
		storm_round || { fail "round $round of $rounds: $STORM_WHY"; return; }
	done
	msg "fork_storm: $rounds rounds, $STORM_FORKS forks, $STORM_LATE lingerers born after a storm was under way"
	((STORM_LATE > 0)) || fail "setup: in $rounds rounds, no lingerer was born between a storm's start and its root's death"
}

# grab_pid PID: start an unrelated tree helper (--go: no children yet) under
# PID, by writing PID-1 to ns_last_pid right before the fork; retried, since
# any fork on the machine can take the pid first.
grab_pid() {
	local want=$1 try
	for ((try = 0; try < 50; try++)); do
		echo $((want - 1)) >/proc/sys/kernel/ns_last_pid 2>/dev/null
		start_tree --go children 2
		[[ $ROOT == "$want" ]] && return 0
		safe_kill KILL "$ROOT"
		wait_dead 5000 "$ROOT"
	done
	fail "setup: could not get pid $want reused in 50 tries (busy machine?)"
}

# VARIANT tag: a tagged root dies (its children die), an unrelated process
# gets its pid. VARIANT untag: the same after untagging the root (its
# children live on). The newcomer must not inherit the tag.
root_reuse_case() {
	local variant=$1 old new try
	local -a oldkids newkids
	tagged_tree children 2 || return
	old=$ROOT
	oldkids=("${TREE_PIDS[@]}")
	cli list --json --pin-dir "$PIN"
	[[ $RC == 0 ]] || { fail "list --json: exit $RC: $ERR"; return; }
	json_mentions "$TMP/cli.out" "$old" || { fail "setup: list --json does not show the tagged root $old: $(oneline "$OUT")"; return; }
	if [[ $variant == untag ]]; then
		untag "$old" --pin-dir "$PIN" || return
	fi
	safe_kill KILL "$old"
	wait_dead "$BOUND_MS" "$old" || { fail "setup: the root did not die"; return; }
	if [[ $variant == tag ]]; then
		wait_dead "$BOUND_MS" "${oldkids[@]}" ||
			{ fail "still alive $BOUND_MS ms after the tagged root was killed: $(desc "${ALIVE[@]}")"; return; }
	fi
	for ((try = 0; try < 500 * BOUND; try++)); do # this shell reaps it
		[[ -e /proc/$old ]] || break
		# a child of ours that ends makes bash reap every dead child
		# (waitpid(-1)), should a SIGCHLD have gone unhandled
		((try % 50 == 49)) && /bin/true
		msleep 0.01
	done
	[[ ! -e /proc/$old ]] || { fail "setup: the root $old was not reaped"; return; }
	# the dead lineage's entry (state killing, the dead root's pid) leaves
	# the list once the agent has seen it empty: a slow agent (valgrind)
	# takes a tick or more, and the newcomer is judged after that
	unlisted "$old" "$BOUND_MS" || { fail "the dead root $old is still listed $BOUND_MS ms after its lineage died: $(oneline "$OUT")"; return; }
	grab_pid "$old" || return
	new=$ROOT
	: >"$TREE_GO"
	wait_tree || return
	newkids=("${TREE_PIDS[@]}")
	cli list --json --pin-dir "$PIN"
	[[ $RC == 0 ]] || { fail "list --json: exit $RC: $ERR"; return; }
	for try in "$new" "${newkids[@]}"; do
		json_mentions "$TMP/cli.out" "$try" &&
			{ fail "list --json shows $try, of the process that reused the dead root's pid $old: $(oneline "$OUT")"; return; }
	done
	cli untag "$new" --pin-dir "$PIN"
	[[ $RC == 1 ]] || { fail "untag of the process that reused the dead root's pid $old: exit $RC (want 1, not tagged): $OUT$ERR"; return; }
	msleep 0.5
	check_alive "$new" "${newkids[@]}" || { fail "processes of the one that reused the dead root's pid were killed: $(desc "${DEAD[@]}")"; return; }
	safe_kill KILL "${newkids[0]}"
	wait_dead "$BOUND_MS" "${newkids[0]}" || { fail "setup: a child did not die"; return; }
	msleep 0.3
	check_alive "$new" "${newkids[1]}" || { fail "a child of the pid-reusing process died and others were killed: $(desc "${DEAD[@]}")"; return; }
	safe_kill KILL "$new"
	wait_dead "$BOUND_MS" "$new" || { fail "setup: the pid-reusing process did not die"; return; }
	msleep 0.5
	check_alive "${newkids[1]}" || { fail "the process that reused the dead root's pid died and its child was killed: $(desc "${DEAD[@]}")"; return; }
	if [[ $variant == untag ]]; then
		check_alive "${oldkids[@]}" || fail "children of the untagged root were killed: $(desc "${DEAD[@]}")"
	fi
}

test_root_pid_reuse() {
	[[ -w /proc/sys/kernel/ns_last_pid ]] || { fail "setup: /proc/sys/kernel/ns_last_pid is not writable"; return; }
	root_reuse_case tag || { REASON="tagged root: $REASON"; return 1; }
	root_reuse_case untag || { REASON="tagged, untagged, then the root died: $REASON"; return 1; }
}

# A non-leader thread of the tagged root execs: de_thread() kills the other
# threads and gives the exec'ing thread the leader's pid. The process did not
# exit: its children live; killing it afterwards kills them.
test_dethread_exec() {
	local out before p oldtid
	local -a kids tasks
	SEQ=$((SEQ + 1))
	out=$TMP/dethread$SEQ
	start_helper dethread --life 300 "$out" 2
	wait_tree "$out" || return
	kids=("${TREE_PIDS[@]}")
	((${#kids[@]} == 2)) || { fail "setup: expected 2 children, got ${#kids[@]}"; return; }
	tag "$ROOT" --pin-dir "$PIN" || return
	cli status --pin-dir "$PIN"
	counter root_exits || { fail "status: no root_exits=N: $(oneline "$OUT")"; return; }
	before=$COUNTER
	: >"$out.go"
	wait_file "$out.exec" 10000 ||
		{ fail "setup: the helper's second thread did not exec within 10 s: $(tail -n 1 "$TMP/helpers.log")"; return; }
	read -r p oldtid <"$out.exec"
	[[ $p == "$ROOT" && $oldtid =~ ^[0-9]+$ && $oldtid != "$ROOT" ]] ||
		{ fail "setup: the exec'd image reports pid $p, old tid $oldtid (root $ROOT): not an exec from a non-leader thread"; return; }
	tasks=(/proc/"$ROOT"/task/*)
	((${#tasks[@]} == 1)) || { fail "setup: the exec'd process has ${#tasks[@]} threads, expected 1"; return; }
	is_alive "$ROOT" || { fail "after the exec, the root is dead or has another start time"; return; }
	msleep 0.5
	check_alive "${kids[@]}" ||
		{ fail "children killed when a non-leader thread of their tagged root exec'd (the process did not exit): $(desc "${DEAD[@]}")"; return; }
	cli status --pin-dir "$PIN"
	counter root_exits
	[[ $COUNTER == "$before" ]] || { fail "root_exits went from $before to $COUNTER over the exec: it counted as the root's death"; return; }
	cli list --json --pin-dir "$PIN"
	json_mentions "$TMP/cli.out" "$ROOT" || { fail "after the exec, list --json does not show the root $ROOT: $(oneline "$OUT")"; return; }
	kill_root_expect_dead "$ROOT" "${kids[@]}" || REASON="the exec'd root was killed: $REASON"
}

# The Go Pdeathsig case: a goroutine locked to its OS thread starts a child
# and returns locked, so the runtime ends the thread. VARIANT before: tagged
# before the child exists; after: tagged once the thread is gone.
go_thread_case() {
	local variant=$1 out v role gopid='' tid='' child='' pd='' how=''
	local -a go=()
	SEQ=$((SEQ + 1))
	out=$TMP/gothread$SEQ
	[[ $variant == before ]] && go=(--go "$out.go")
	"$GOHELPER" "${go[@]}" --life 300 "$out" >>"$TMP/helpers.log" 2>&1 {SLEEPFD}>&- &
	ROOT=$!
	disown "$ROOT" 2>/dev/null
	track "$ROOT"
	if [[ $variant == before ]]; then
		tag "$ROOT" --pin-dir "$PIN" || return
		: >"$out.go"
	fi
	wait_file "$out" 20000 ||
		{ fail "setup: the Go helper did not report within 20 s: $(tail -n 1 "$TMP/helpers.log")"; return; }
	while read -r v role; do
		case $role in
		main) gopid=$v ;;
		thread) tid=$v ;;
		child) child=$v ;;
		pdeathsig) pd=$v ;;
		pdeathsig-signal) how=$v ;;
		esac
	done <"$out"
	[[ $child =~ ^[0-9]+$ ]] || { fail "setup: bad Go helper output: $(oneline "$(<"$out")")"; return; }
	track "$child"
	[[ $gopid == "$ROOT" ]] || { fail "setup: the Go helper reports pid $gopid, it is $ROOT"; return; }
	[[ $tid =~ ^[0-9]+$ && $tid != "$ROOT" && ! -e /proc/$ROOT/task/$tid ]] ||
		{ fail "setup: the locked thread ($tid) of the Go process did not exit"; return; }
	# the kernel's own parent-death signal fired: the thread really is gone
	[[ $how == 9 && ! -e /proc/$pd ]] ||
		{ fail "setup: the Pdeathsig child $pd did not die by SIGKILL when its thread exited (signal '$how')"; return; }
	if [[ $variant == after ]]; then
		tag "$ROOT" --pin-dir "$PIN" || return
	fi
	msleep 1
	group_alive "$ROOT" || { fail "setup: the Go process died"; return; }
	check_alive "$child" ||
		{ fail "the child was killed when the OS thread that started it exited, while the tagged Go process lives"; return; }
	kill_root_expect_dead "$ROOT" "$child"
}

test_go_thread_child() {
	[[ -x $GOHELPER ]] ||
		{ fail "no Go helper at $GOHELPER: make builds it with go (make deps installs golang-go)"; return; }
	go_thread_case before || { REASON="tagged before the child started: $REASON"; return 1; }
	go_thread_case after || { REASON="tagged after the thread exited: $REASON"; return 1; }
}

# Descendants that change credentials die with the root: one drops to an
# unprivileged uid and execs a setuid-root binary, one calls setresuid; each
# forks a child after the change. The kernel clears PR_SET_PDEATHSIG on both
# changes: it would not have fired.
test_setuid_child() {
	local suid=$TMP/uidhop-suid out pid role sig r u1=4242 u2=4243
	local -A who=() pds=()
	local -a kids=()
	[[ -x $HELPERS/uidhop ]] || { fail "setup: no $HELPERS/uidhop"; return; }
	if ! { cp "$HELPERS/uidhop" "$suid" && chown 0:0 "$suid" && chmod 4755 "$suid"; }; then
		fail "setup: cannot make $suid setuid root"
		return
	fi
	SEQ=$((SEQ + 1))
	out=$TMP/uidhop$SEQ
	start_helper uidhop --go "$out.go" --life 300 "$out" "$suid" "$u1" "$u2"
	tag "$ROOT" --pin-dir "$PIN" || return
	: >"$out.go"
	wait_file "$out" 20000 || { fail "setup: the uidhop helper did not report within 20 s: $(tail -n 1 "$TMP/helpers.log")"; return; }
	while read -r pid role sig; do
		who[$role]=$pid
		pds[$role]=$sig
		kids+=("$pid")
	done <"$out"
	track "${kids[@]}"
	for r in suid suidkid setuid setuidkid; do
		[[ ${who[$r]:-} =~ ^[0-9]+$ ]] || { fail "setup: no $r in the helper's output: $(oneline "$(<"$out")")"; return; }
	done
	for r in suid suidkid; do
		status_field "${who[$r]}" Uid
		[[ $FIELD == "$u1 0 0 0" ]] || { fail "setup: $r (${who[$r]}) has uids '$FIELD', want real $u1, effective 0 (setuid root)"; return; }
	done
	for r in setuid setuidkid; do
		status_field "${who[$r]}" Uid
		[[ $FIELD == "$u2 $u2 $u2 $u2" ]] || { fail "setup: $r (${who[$r]}) has uids '$FIELD', want $u2"; return; }
	done
	[[ ${pds[suid]} == 0 && ${pds[setuid]} == 0 ]] ||
		{ fail "setup: PR_GET_PDEATHSIG after the change: suid ${pds[suid]}, setuid ${pds[setuid]} (want 0: cleared)"; return; }
	check_alive "${kids[@]}" || { fail "setup: died before the root was killed: $(desc "${DEAD[@]}")"; return; }
	kill_root_expect_dead "$ROOT" "${kids[@]}"
}

# VARIANT before: tagged before the tree exists; after: tagged once every
# descendant is stopped, traced or in D (the enrolment walks them).
states_case() {
	local variant=$1 out p otr r
	local -A who=()
	local -a all
	SEQ=$((SEQ + 1))
	out=$TMP/states$SEQ
	if [[ $variant == before ]]; then
		start_helper states --go "$out.go" --life 300 "$out"
		tag "$ROOT" --pin-dir "$PIN" || return
		: >"$out.go"
	else
		start_helper states --life 300 "$out"
	fi
	wait_tree "$out" || return
	all=("${TREE_PIDS[@]}")
	for r in stopped tracee tracer outtracee vforker vchild; do
		role "$r"
		who[$r]=${ROLE_PIDS[0]:-}
		[[ -n ${who[$r]} ]] || { fail "setup: no $r in the helper's output"; return; }
	done
	safe_kill STOP "${who[stopped]}"
	wait_state "${who[stopped]}" T 5000 || { fail "setup: the SIGSTOPped descendant is in state $S_STATE, not T"; return; }
	wait_state "${who[tracee]}" t 5000 || { fail "setup: the traced descendant is in state $S_STATE, not t"; return; }
	status_field "${who[tracee]}" TracerPid
	[[ $FIELD == "${who[tracer]}" ]] || { fail "setup: the tracee's TracerPid is '$FIELD', not ${who[tracer]}"; return; }
	# the tracer outside the lineage: created here, not by the root
	"$HELPERS/states" --life 300 trace "${who[outtracee]}" "$out.ready" >>"$TMP/helpers.log" 2>&1 {SLEEPFD}>&- &
	otr=$!
	disown "$otr" 2>/dev/null
	track "$otr"
	wait_file "$out.ready" 10000 || { fail "setup: the outside tracer did not stop its tracee within 10 s: $(tail -n 1 "$TMP/helpers.log")"; return; }
	wait_state "${who[outtracee]}" t 5000 || { fail "setup: the descendant traced from outside is in state $S_STATE, not t"; return; }
	status_field "${who[outtracee]}" TracerPid
	[[ $FIELD == "$otr" ]] || { fail "setup: the outside tracee's TracerPid is '$FIELD', not $otr"; return; }
	wait_state "${who[vforker]}" D 5000 || { fail "setup: the vfork parent is in state $S_STATE, not D"; return; }
	check_alive "${all[@]}" || { fail "setup: died before the root was killed: $(desc "${DEAD[@]}")"; return; }
	if [[ $variant == after ]]; then
		tag "$ROOT" --pin-dir "$PIN" || return
	fi
	kill_root_expect_dead "$ROOT" "${all[@]}" || return
	msleep 0.5
	is_alive "$otr" || { fail "the tracer outside the lineage ($otr) was killed"; return; }
	safe_kill KILL "$otr"
}

test_stopped_traced_dstate() {
	states_case before || { REASON="tagged before the tree existed: $REASON"; return 1; }
	states_case after || { REASON="tagged with the descendants already stopped, traced, in D: $REASON"; return 1; }
}

# A root with unreaped (zombie) children and live ones: the zombies have
# passed their exit hook, so enrolment must not record them (an entry that no
# exit hook would ever delete); the sweep must not chase them either.
test_zombie_children() {
	local f=$TMP/zomb$$ r k line
	local -a kids
	# the 20 exit a second after their parent has exec'd sleep, which never reaps
	/bin/sh -c "i=0; while [ \$i -lt 20 ]; do sleep 1 & i=\$((i+1)); done; for i in 1 2 3; do sleep 300 & echo \$! >>$f; done; exec sleep 300" \
		>>"$TMP/helpers.log" 2>&1 {SLEEPFD}>&- &
	r=$!
	disown "$r" 2>/dev/null
	track "$r"
	now
	local deadline=$((NOW + 10000))
	until [[ -e $f ]] && (($(wc -l <"$f") >= 3)) && [[ $(<"/proc/$r/comm") == sleep ]]; do
		now
		((NOW < deadline)) || { fail "setup: the root did not start its children"; return; }
		msleep 0.01
	done
	kids=()
	while read -r k; do kids+=("$k"); done <"$f"
	track "${kids[@]}"
	local z=0
	until ((z == 20)); do
		z=0
		children_of "$r"
		for k in "${KIDS[@]}"; do read_stat "$k" && [[ $S_STATE == Z ]] && z=$((z + 1)); done
		now
		((NOW < deadline)) || { fail "setup: $z zombie children, want 20"; return; }
		msleep 0.05
	done
	log_mark
	tag "$r" --pin-dir "$PIN" || return
	cli list --json --pin-dir "$PIN"
	line=$(sed -n "s/.*\"pid\":$r,[^]]*\"descendants\":\[\([0-9,]*\)\].*/\1/p" <<<"$OUT")
	[[ $line == "${kids[0]},${kids[1]},${kids[2]}" || $(tr ',' '\n' <<<"$line" | sort | tr '\n' ' ') == "$(printf '%s\n' "${kids[@]}" | sort | tr '\n' ' ')" ]] ||
		{ fail "tracked descendants are '$line', want the 3 live ones ${kids[*]}"; return; }
	kill_root_expect_dead "$r" "${kids[@]}" || return
	now
	deadline=$((NOW + 5000))
	until line=$(log_since | grep "tag .*: root died, killed" | tail -n 1) && [[ $line == *" in "[0-9]*" sweep"* ]] &&
		grep -q "root died" <<<"$line"; do
		now
		((NOW < deadline)) || { fail "no kill line in the agent's log"; return; }
		msleep 0.05
	done
	[[ $line =~ in\ ([0-9]+)\ sweep ]] && ((BASH_REMATCH[1] <= 2)) ||
		fail "the sweep chased zombies: $line"
}

# TREES random process trees (helpers/randtree.c) from SEED: each grown with
# forks, daemons, setsid, exec, threads, tagged and untagged (nested too) at
# random, then random tagged roots SIGKILLed; exactly the processes its
# model of the lineage rules names must die, within the bound, and nothing
# else. A failed tree is reported with the seed that replays it alone.
test_random_trees() {
	local trees=${TREES:-500} seed=${SEED:-} out secs line
	[[ $trees =~ ^[1-9][0-9]*$ ]] || { fail "setup: TREES must be a positive number, not '$trees'"; return; }
	if [[ -z $seed ]]; then
		seed=$(((RANDOM << 30) | (RANDOM << 15) | RANDOM))
	elif [[ ! $seed =~ ^[0-9]+$ ]]; then
		fail "setup: SEED must be a number, not '$seed'"
		return
	fi
	SEQ=$((SEQ + 1))
	out=$TMP/randtree$SEQ.out
	msg "random_trees: seed $seed, $trees trees (SEED=$seed TREES=$trees replays them)"
	secs=$((trees * 3 + 120)) # a bound: ~0.1 s a tree here
	bounded "$secs" "$HELPERS/randtree" "$BPFGUARD" "$PIN" "$seed" "$trees" "$BOUND_MS" \
		>"$out" 2>&1
	line=$(grep -a '^stats:' "$out" | tail -n 1)
	[[ -n $line ]] && msg "random_trees: $line"
	line=$(tail -n 1 "$out")
	if ((BRC == 124)); then
		fail "seed $seed: randtree did not finish $trees trees within $secs s; last line: $(oneline "$line")"
	elif ((BRC != 0)); then
		line=$(grep -a -m 1 '^FAIL' "$out") # it names the seed and the tree
		if [[ -n $line ]]; then
			fail "$(oneline "${line#FAIL }") [$(tail -n 1 "$out")]"
		else
			fail "seed $seed: randtree exit $BRC: $(oneline "$(tail -n 3 "$out")")"
		fi
	elif [[ $line != "$trees trees, 0 failed" ]]; then
		fail "seed $seed: randtree exited 0 but its last line is '$(oneline "$line")'"
	fi
	[[ -z $REASON ]] && return 0
	msg "randtree output (first 30 lines):"
	head -n 30 "$out" | cut -c1-400 | sed 's/^/  | /' >&2
	return 1
}
