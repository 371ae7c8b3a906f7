# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# shellcheck shell=bash
#
# Kernel tests, basic trees: a tagged root's descendants die with it
# (children, chains, daemons, exec, threads, descendants older than the
# tag); untagged ones, and unrelated processes, live.
#
# Sourced by run.sh: each test_NAME function is a test, run by itself in the
# order of this file (run.sh --list; run.sh NAME).

test_simple_children() {
	tagged_tree children 3 || return
	((${#TREE_PIDS[@]} == 3)) || { fail "setup: expected 3 children, got ${#TREE_PIDS[@]}"; return; }
	kill_root_expect_dead "$ROOT" "${TREE_PIDS[@]}"
}

test_chain6() {
	start_tree --go chain 6
	tag --pin-dir "$PIN" "$ROOT" || return
	: >"$TREE_GO"
	wait_tree || return
	((${#TREE_PIDS[@]} == 6)) || { fail "setup: expected 6 processes, got ${#TREE_PIDS[@]}"; return; }
	check_alive "${TREE_PIDS[@]}" || { fail "chain died before the root was killed: $(desc "${DEAD[@]}")"; return; }
	kill_root_expect_dead "$ROOT" "${TREE_PIDS[@]}"
}

test_daemon() {
	local d c deadline
	tagged_tree daemon || return
	d=${TREE_PIDS[0]}
	read_stat "$ROOT" || { fail "setup: root gone"; return; }
	local root_sid=$S_SID
	read_stat "$d" || { fail "setup: daemon gone"; return; }
	[[ $S_PPID != "$ROOT" ]] || { fail "setup: the daemon was not reparented"; return; }
	[[ $S_SID != "$root_sid" ]] || { fail "setup: the daemon did not setsid"; return; }
	# let it exec /bin/sleep: the lineage must survive exec
	now
	deadline=$((NOW + 3000))
	while :; do
		c=
		{ read -r c <"/proc/$d/comm"; } 2>/dev/null
		[[ $c == sleep ]] && break
		now
		((NOW >= deadline)) && { fail "setup: the daemon did not exec sleep (comm '$c')"; return; }
		msleep 0.01
	done
	kill_root_expect_dead "$ROOT" "$d"
}

test_preexisting() {
	start_tree nested 2 2 # A -> B -> 2 children; A -> 2 children
	wait_tree || return
	check_alive "${TREE_PIDS[@]}" || { fail "setup: tree died: $(desc "${DEAD[@]}")"; return; }
	tag "$ROOT" --pin-dir "$PIN" || return
	kill_root_expect_dead "$ROOT" "${TREE_PIDS[@]}"
}

test_preexisting_late() {
	# a descendant that existed before the tag forks after the tag
	local -a pre
	start_tree late
	wait_tree || return
	pre=("${TREE_PIDS[@]}")
	tag "$ROOT" --pin-dir "$PIN" || return
	: >"$TREE_OUT.go2"
	wait_tree "$TREE_OUT.2" || return
	check_alive "${pre[@]}" "${TREE_PIDS[@]}" || { fail "setup: tree died: $(desc "${DEAD[@]}")"; return; }
	kill_root_expect_dead "$ROOT" "${pre[@]}" "${TREE_PIDS[@]}"
}

test_many_children() {
	start_tree --go children 1000
	tag "$ROOT" --pin-dir "$PIN" || return
	: >"$TREE_GO"
	wait_tree "" 30000 || return
	((${#TREE_PIDS[@]} == 1000)) || { fail "setup: expected 1000 children, got ${#TREE_PIDS[@]}"; return; }
	check_alive "${TREE_PIDS[@]}" || { fail "children died before the root was killed: $(desc "${DEAD[@]}")"; return; }
	kill_root_expect_dead "$ROOT" "${TREE_PIDS[@]}"
}

test_many_preexisting() {
	start_tree children 1000
	wait_tree "" 30000 || return
	((${#TREE_PIDS[@]} == 1000)) || { fail "setup: expected 1000 children, got ${#TREE_PIDS[@]}"; return; }
	tag "$ROOT" --pin-dir "$PIN" || return
	check_alive "${TREE_PIDS[@]}" || { fail "children died before the root was killed: $(desc "${DEAD[@]}")"; return; }
	kill_root_expect_dead "$ROOT" "${TREE_PIDS[@]}"
}

# The syscall sweep lists at most 256 members per run (BG_SWEEP_OUT) and
# runs again from where it stopped: a lineage of more than twice that dies
# whole, and its first sweep finds every member (the agent's log says how
# many sweeps found members not signalled before: one; each later sweep
# only signals again those still dying). In kernel mode the exit program
# signals 64 of them (BG_HOOK_SIGNALS) and the sweep the rest.
test_sweep_batches() {
	local n=600 line
	start_tree --go children "$n"
	tag "$ROOT" --pin-dir "$PIN" || return
	tag_id || return
	: >"$TREE_GO"
	wait_tree "" 60000 || return
	((${#TREE_PIDS[@]} == n)) || { fail "setup: expected $n children, got ${#TREE_PIDS[@]}"; return; }
	log_mark
	kill_root_expect_dead "$ROOT" "${TREE_PIDS[@]}" || return
	wait_log "tag $TAGID: root died, killed" 10000 ||
		{ fail "no 'tag $TAGID: root died, killed' line in the agent's log"; return; }
	line=$(log_since | grep -F "tag $TAGID: root died, killed")
	msg "agent: ${line#*bpfguard: }"
	[[ $line == *"(1 found new ones)"* ]] ||
		fail "more than one sweep found members not signalled before: ${line#*bpfguard: }"
}

test_exec() {
	local f go shpid c rc n deadline
	local -a sleeps=()
	SEQ=$((SEQ + 1))
	f=$TMP/exec$SEQ.pids
	go=$TMP/exec$SEQ.go
	# shellcheck disable=SC2016
	"$BPFGUARD" exec --pin-dir "$PIN" -- sh -c \
		'sleep 300 & echo $! >>"$1"; sleep 300 & echo $! >>"$1"
		 i=0; while [ ! -e "$2" ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done; exit 0' \
		sh "$f" "$go" >>"$TMP/helpers.log" 2>&1 {SLEEPFD}>&- &
	shpid=$!
	track "$shpid"
	now
	deadline=$((NOW + 10000))
	while :; do
		n=0
		[[ -e $f ]] && n=$(grep -c . "$f")
		((n >= 2)) && break
		if ! is_alive "$shpid"; then
			wait "$shpid" 2>/dev/null
			fail "bpfguard exec exited (status $?) before running the command: $(tail -n 1 "$TMP/helpers.log")"
			return
		fi
		now
		((NOW >= deadline)) && { fail "setup: the shell did not start its sleeps within 10 s"; return; }
		msleep 0.01
	done
	mapfile -t sleeps <"$f"
	track "${sleeps[@]}"
	c=
	{ read -r c <"/proc/$shpid/comm"; } 2>/dev/null
	[[ $c == sh ]] || { fail "bpfguard exec did not exec the command in its own process (pid $shpid is '$c')"; return; }
	check_alive "${sleeps[@]}" || { fail "the sleeps died too early: $(desc "${DEAD[@]}")"; return; }
	: >"$go" # the shell exits normally
	wait_dead 10000 "$shpid" || { fail "the wrapped shell did not exit"; return; }
	wait "$shpid" 2>/dev/null
	rc=$?
	wait_dead "$BOUND_MS" "${sleeps[@]}" ||
		{ fail "still alive $BOUND_MS ms after the exec'd shell exited: $(desc "${ALIVE[@]}")"; return; }
	[[ $rc == 0 ]] || fail "bpfguard exec -- sh ... exited $rc, expected the command's status 0"
}

test_threads() {
	local t state
	tagged_tree threads 3 1200 || return
	# the pid file is written once the main thread has pthread_exit()ed;
	# another thread ends the process 1.2 s later
	msleep 0.3
	if ! group_alive "$ROOT"; then
		fail "setup: the helper's thread group ended before 300 ms"
		return
	fi
	check_alive "${TREE_PIDS[@]}" ||
		{ fail "children killed while the thread group lived (main thread had exited): $(desc "${DEAD[@]}")"; return; }
	{ read -r t <"/proc/$ROOT/task/$ROOT/stat"; } 2>/dev/null
	state=${t##*) }
	[[ ${state:0:1} == Z ]] || { fail "setup: the main thread has not exited (state ${state:0:1})"; return; }
	wait_group_dead 5000 "$ROOT" || { fail "setup: the helper did not exit by itself"; return; }
	wait_dead "$BOUND_MS" "${TREE_PIDS[@]}" ||
		fail "still alive $BOUND_MS ms after the tagged process exited: $(desc "${ALIVE[@]}")"
}

# A member whose main thread has exited while another thread runs: its leader
# is PF_EXITING, which bpf_send_signal_task refuses. The kernel signals it
# through a live thread: where the exit program kills (kernel mode, Linux >=
# 6.16), no kernel kill fails; in either mode the member and its children die.
test_leader_exited_member() {
	local out sh t st state before
	SEQ=$((SEQ + 1))
	out=$TMP/lem$SEQ
	# sh (the root) -> tree (the member; its main thread exits, the process
	# ends 19 s later) -> 2 children
	sh -c '"$0" --life 300 "$1" threads 2 19000 & echo $! >"$1.p" && mv "$1.p" "$1.pid"; wait' \
		"$HELPERS/tree" "$out" >>"$TMP/helpers.log" 2>&1 {SLEEPFD}>&- &
	sh=$!
	disown "$sh" 2>/dev/null
	track "$sh"
	wait_file "$out.pid" 10000 || { fail "setup: the shell did not start the helper"; return; }
	read -r t <"$out.pid"
	track_group "$t"
	wait_tree "$out" || return
	{ read -r st <"/proc/$t/task/$t/stat"; } 2>/dev/null
	state=${st##*) }
	[[ ${state:0:1} == Z ]] || { fail "setup: the member's main thread has not exited (state ${state:0:1})"; return; }
	group_alive "$t" || { fail "setup: the member's thread group ended"; return; }
	tag "$sh" --pin-dir "$PIN" || return
	cli status --pin-dir "$PIN"
	counter kernel_kills_failed || { fail "no kernel_kills_failed=N in status: $(oneline "$OUT")"; return; }
	before=$COUNTER
	kill_root_expect_dead "$sh" "${TREE_PIDS[@]}" || return
	wait_group_dead "$BOUND_MS" "$t" ||
		{ fail "the member whose main thread had exited is alive $BOUND_MS ms after its root was killed"; return; }
	[[ $AGENT_MODE == kernel ]] && has_feature exit_group_dead || return 0
	cli status --pin-dir "$PIN"
	counter kernel_kills_failed || { fail "no kernel_kills_failed=N in status: $(oneline "$OUT")"; return; }
	((COUNTER == before)) ||
		fail "kernel_kills_failed $before -> $COUNTER: the exit program could not signal the member whose main thread had exited"
}

test_untagged() {
	start_tree children 3
	wait_tree || return
	safe_kill KILL "$ROOT"
	wait_dead "$BOUND_MS" "$ROOT" || { fail "setup: the root did not die"; return; }
	msleep 0.5
	check_alive "${TREE_PIDS[@]}" || fail "children of an untagged process were killed: $(desc "${DEAD[@]}")"
}

test_untag() {
	tagged_tree children 3 || return
	untag "$ROOT" --pin-dir "$PIN" || return
	safe_kill KILL "$ROOT"
	wait_dead "$BOUND_MS" "$ROOT" || { fail "setup: the root did not die"; return; }
	msleep 0.5
	check_alive "${TREE_PIDS[@]}" || fail "children of an untagged root were killed: $(desc "${DEAD[@]}")"
}

test_no_leak() {
	local root sroot sl
	local -a kids sib
	tagged_tree children 3 || return
	root=$ROOT
	kids=("${TREE_PIDS[@]}")
	# unrelated processes created by the runner after the tag
	start_tree children 2
	sroot=$ROOT
	wait_tree || return
	sib=("${TREE_PIDS[@]}")
	sleep 300 {SLEEPFD}>&- &
	sl=$!
	disown "$sl" 2>/dev/null
	track "$sl"
	kill_root_expect_dead "$root" "${kids[@]}" || return
	msleep 0.5
	check_alive "$sroot" "${sib[@]}" "$sl" || fail "non-descendants were killed: $(desc "${DEAD[@]}")"
}

test_pid_reuse() {
	# A descendant dies and its pid is reused by an unrelated process: killing
	# the root must not kill the newcomer.
	local victim p try got=
	local -a rest
	[[ -w /proc/sys/kernel/ns_last_pid ]] || { fail "setup: /proc/sys/kernel/ns_last_pid is not writable"; return; }
	tagged_tree children 3 || return
	victim=${TREE_PIDS[0]}
	rest=("${TREE_PIDS[@]:1}")
	safe_kill KILL "$victim"
	wait_dead "$BOUND_MS" "$victim" || { fail "setup: the victim did not die"; return; }
	for ((try = 0; try < 200 * BOUND; try++)); do # the root reaps it (SIGCHLD ignored)
		[[ -e /proc/$victim ]] || break
		msleep 0.01
	done
	[[ ! -e /proc/$victim ]] || { fail "setup: the victim $victim was not reaped"; return; }
	msleep 0.1 # let the exit be processed
	for ((try = 0; try < 20; try++)); do
		echo $((victim - 1)) >/proc/sys/kernel/ns_last_pid 2>/dev/null
		sleep 300 {SLEEPFD}>&- &
		p=$!
		disown "$p" 2>/dev/null
		track "$p"
		if [[ $p == "$victim" ]]; then
			got=$p
			break
		fi
		safe_kill KILL "$p"
	done
	[[ -n $got ]] || { fail "setup: could not get pid $victim reused in 20 tries (busy machine?)"; return; }
	kill_root_expect_dead "$ROOT" "${rest[@]}" || return
	msleep 0.5
	is_alive "$got" || fail "an unrelated process that reused a dead descendant's pid ($got) was killed"
}
