# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# shellcheck shell=bash
#
# Kernel tests, the agent's life: kernel mode, a second agent, restarts, unload.
#
# Sourced by run.sh: each test_NAME function is a test, run by itself in the
# order of this file (run.sh --list; run.sh NAME).

# Kernel mode on its own pin dir, beside the suite's agent (whatever MODE is):
# where the kernel has bpf_send_signal_task, a kernel-mode agent kills a
# tagged root's lineage from the exit program (kernel_kills > 0); elsewhere
# `agent --mode kernel` refuses to start (exit 1, a message about the kernel).
#
# Not tested: a child forked by a descendant after the root died but before
# that descendant was signalled (the fork program's "doomed lineage" kill).
# The window is the few microseconds between copy_process()'s last signal
# check and the sched_process_fork tracepoint, racing the exit program's
# in-kernel kill; nothing a black-box test can widen (a signalled process
# cannot fork any more), so such a test could only be probabilistic.
test_mode_kernel() {
	local kpin=$PIN-kernel klog=$TMP/kmode.log bad rc line found=0
	rm -rf "$kpin" 2>/dev/null
	cli status --pin-dir "$PIN"
	if [[ $RC != 0 ]] || ! parse_status; then
		fail "setup: no status from the suite's agent: exit $RC: $ERR"
		return
	fi
	if ! has_feature send_signal_task; then
		bounded 10 "$BPFGUARD" agent --mode kernel --pin-dir "$kpin" >"$TMP/kmode.out" 2>"$TMP/kmode.err"
		rc=$BRC
		if [[ -e $kpin ]]; then
			bounded 15 "$BPFGUARD" unload --pin-dir "$kpin" >/dev/null 2>&1
			rm -rf "$kpin" 2>/dev/null
		fi
		[[ $rc != 124 ]] || { fail "agent --mode kernel kept running on a kernel without send_signal_task (expected exit 1)"; return; }
		[[ $rc == 1 ]] || { fail "agent --mode kernel: exit $rc, expected 1 (no send_signal_task): $(oneline "$(<"$TMP/kmode.err")")"; return; }
		# not the informational "<6>bpfguard: kernel R: ..." probe line: the error
		while IFS= read -r line; do
			[[ $line == "<6>"* || $line == "<7>"* ]] && continue
			[[ ${line,,} == *kernel* ]] && { found=1; break; }
		done <"$TMP/kmode.err"
		((found)) ||
			{ fail "agent --mode kernel: no error about the kernel on stderr: $(oneline "$(<"$TMP/kmode.err")")"; return; }
	else
		# --mode kernel comes after MODE's --mode: it wins
		launch_agent "$kpin" "$klog" --mode kernel || { fail "agent --mode kernel did not start: $AGENT_WHY"; return; }
		KAGENT_PID=$L_PID
		kernel_mode_run "$kpin"
		bad=$?
		if [[ -n $KAGENT_PID ]]; then
			cli unload --pin-dir "$kpin"
			if [[ $RC != 0 ]]; then
				((bad)) || fail "unload of the kernel-mode agent: exit $RC: $ERR"
				bad=1
			fi
			if ! wait_dead 5000 "$KAGENT_PID"; then
				((bad)) || fail "the kernel-mode agent still runs 5 s after unload"
				bad=1
			fi
			halt_agent "$KAGENT_PID"
			KAGENT_PID=
		fi
		if [[ -e $kpin ]]; then
			((bad)) || fail "the pin dir $kpin remains after unload"
			bad=1
			bounded 15 "$BPFGUARD" unload --pin-dir "$kpin" >/dev/null 2>&1
			rm -rf "$kpin" 2>/dev/null
		fi
		((bad == 0)) || { [[ -s $klog ]] && tail -n 5 "$klog" | sed 's/^/  | /' >&2; return 1; }
	fi
	cli agent --mode bogus --pin-dir "$kpin"
	rm -rf "$kpin" 2>/dev/null
	[[ $RC == 2 ]] || fail "agent --mode bogus: exit $RC, expected 2"
}

# The kernel-mode agent on KPIN is up: tag a tree there, kill the root.
kernel_mode_run() {
	local kpin=$1
	cli status --pin-dir "$kpin"
	[[ $RC == 0 ]] || { fail "status of the kernel-mode agent: exit $RC: $ERR"; return; }
	[[ $OUT =~ mode\ kernel ]] || { fail "agent --mode kernel: status does not say mode kernel: $(oneline "$OUT")"; return; }
	# the exit program signals where its tracepoint runs before exit_mm()
	# (Linux 6.16, which gave it group_dead); before, the agent's iterator
	local hook=0
	[[ $OUT =~ features:.*\ exit_group_dead ]] && hook=1
	if ((hook)); then
		[[ $OUT == *"kill:    the exit program signals"* ]] ||
			{ fail "kernel mode with exit_group_dead: status does not say the exit program signals: $(oneline "$OUT")"; return; }
	else
		[[ $OUT == *"kill:    the agent's task iterator signals"* ]] ||
			{ fail "kernel mode without exit_group_dead: status does not say the agent's iterator signals: $(oneline "$OUT")"; return; }
	fi
	start_tree --go children 3
	tag "$ROOT" --pin-dir "$kpin" || return
	: >"$TREE_GO"
	wait_tree || return
	((${#TREE_PIDS[@]} == 3)) || { fail "setup: expected 3 children, got ${#TREE_PIDS[@]}"; return; }
	check_alive "${TREE_PIDS[@]}" || { fail "setup: children died before the root was killed: $(desc "${DEAD[@]}")"; return; }
	kill_root_expect_dead "$ROOT" "${TREE_PIDS[@]}" || { REASON="kernel mode: $REASON"; return 1; }
	cli status --pin-dir "$kpin"
	[[ $RC == 0 ]] || { fail "status of the kernel-mode agent after the kill: exit $RC: $ERR"; return; }
	counter kernel_kills || { fail "kernel mode: no kernel_kills=N in status: $(oneline "$OUT")"; return; }
	if ((!hook)); then
		((COUNTER == 0)) || fail "kernel mode before Linux 6.16: kernel_kills=$COUNTER, but the exit program must not signal there"
		return
	fi
	((COUNTER > 0)) || {
		counter kernel_kills_failed
		fail "kernel mode: kernel_kills=0 after a tagged root with 3 children died (kernel_kills_failed=$COUNTER): the kernel killed nothing"
		return
	}
}

# What the kernel kills by itself, with the agent stopped (SIGSTOP), on an
# agent of its own: where the exit program signals (kernel mode, Linux >=
# 6.16), a chain dies to its end (each member's exit signals its child), and
# of a root's 128 children exactly 64 die, the bound per exiting thread; the
# rest die once the agent runs again. Elsewhere nothing dies until then.
test_kernel_down_tree() {
	local kpin=$PIN-down klog=$TMP/down.log hook=0 mode=user n dead ok=1
	local -a chain flat
	rm -rf "$kpin" 2>/dev/null
	cli status --pin-dir "$PIN"
	parse_status || { fail "setup: no status from the suite's agent: exit $RC: $ERR"; return; }
	if has_feature send_signal_task && has_feature task_from_pid; then
		mode=kernel
		has_feature exit_group_dead && hook=1
	fi
	launch_agent "$kpin" "$klog" --mode "$mode" || { fail "a --mode $mode agent did not start: $AGENT_WHY"; return; }
	local apid=$L_PID
	start_tree --go chain 6
	local croot=$ROOT cgo=$TREE_GO cout=$TREE_OUT
	tag "$croot" --pin-dir "$kpin" || ok=0
	start_tree --go children 128
	local froot=$ROOT
	((ok)) && tag "$froot" --pin-dir "$kpin" || ok=0
	if ((ok)); then
		: >"$cgo"
		: >"$TREE_GO"
		wait_tree && flat=("${TREE_PIDS[@]}") && wait_tree "$cout" && chain=("${TREE_PIDS[@]}") || ok=0
	fi
	((ok)) && { ((${#chain[@]} == 6 && ${#flat[@]} == 128)) ||
		{ fail "setup: expected 6 and 128 descendants, got ${#chain[@]} and ${#flat[@]}"; ok=0; }; }
	if ((ok)); then
		kill -STOP "$apid"
		safe_kill KILL "$croot" "$froot"
		if ((hook)); then
			wait_dead "$BOUND_MS" "${chain[@]}" ||
				{ fail "agent stopped: the exit programs left the chain's members alive: $(desc "${ALIVE[@]}")"; ok=0; }
			# the root's exit signals 64; wait for them, then nobody else dies
			now
			local deadline=$((NOW + BOUND_MS))
			while :; do
				n=0
				for p in "${flat[@]}"; do is_alive "$p" || n=$((n + 1)); done
				now
				((n >= 64 || NOW >= deadline)) && break
				msleep 0.01
			done
			msleep 0.3
			dead=0
			for p in "${flat[@]}"; do is_alive "$p" || dead=$((dead + 1)); done
			((ok && dead != 64)) && { fail "agent stopped: $dead of the root's 128 children died, expected the bound, 64"; ok=0; }
		else
			msleep 0.5
			check_alive "${chain[@]}" "${flat[@]}" ||
				{ fail "agent stopped, --mode $mode: members died, but only the agent kills here: $(desc "${DEAD[@]}")"; ok=0; }
		fi
		kill -CONT "$apid"
		((ok)) && { wait_dead "$BOUND_MS" "${chain[@]}" "${flat[@]}" ||
			{ fail "agent running again: still alive: $(desc "${ALIVE[@]}")"; ok=0; }; }
	fi
	kill -CONT "$apid" 2>/dev/null
	cli unload --pin-dir "$kpin"
	[[ $RC == 0 ]] || { ((ok)) && fail "unload of the test's agent: exit $RC: $ERR"; ok=0; }
	wait_dead $((5000 * BOUND)) "$apid" || halt_agent "$apid"
	[[ -e $kpin ]] && { bounded 15 "$BPFGUARD" unload --pin-dir "$kpin" >/dev/null 2>&1; rm -rf "$kpin" 2>/dev/null; }
	((ok)) || { [[ -s $klog ]] && tail -n 5 "$klog" | sed 's/^/  | /' >&2; return 1; }
}

test_second_agent() {
	local a2 rc
	tagged_tree children 2 || return
	"$BPFGUARD" agent --pin-dir "$PIN" "${MODE_ARGS[@]}" >"$TMP/agent2.log" 2>&1 {SLEEPFD}>&- &
	a2=$!
	track "$a2"
	if ! wait_dead 10000 "$a2"; then
		safe_kill TERM "$a2"
		wait_dead 3000 "$a2" || safe_kill KILL "$a2"
		wait_dead 3000 "$a2"
		wait "$a2" 2>/dev/null
		fail "a second agent on the same pin dir kept running for 10 s"
		return
	fi
	wait "$a2" 2>/dev/null
	rc=$?
	[[ $rc != 0 ]] || { fail "a second agent on the same pin dir exited 0"; return; }
	agent_ok || { fail "the first agent is not running after a second one was refused"; return; }
	kill_root_expect_dead "$ROOT" "${TREE_PIDS[@]}" || REASON="after a refused second agent: $REASON"
}

test_agent_restart() {
	local root
	local -a kids
	# 1: tag, restart the agent, kill the root
	tagged_tree children 3 || return
	stop_agent
	((AGENT_FORCED == 0)) || { fail "the agent ignored SIGTERM"; return; }
	[[ -d $PIN ]] || { fail "stopping the agent removed the pin dir"; return; }
	cli status --pin-dir "$PIN"
	[[ $RC == 1 ]] || { fail "status with the agent stopped: exit $RC, expected 1"; return; }
	start_agent || { fail "restart: $AGENT_WHY"; return; }
	kill_root_expect_dead "$ROOT" "${TREE_PIDS[@]}" || { REASON="tag made before a restart: $REASON"; return 1; }

	# 2: the root dies while the agent is down
	tagged_tree children 3 || return
	root=$ROOT
	kids=("${TREE_PIDS[@]}")
	stop_agent
	safe_kill KILL "$root"
	wait_dead "$BOUND_MS" "$root" || { fail "setup: the root did not die"; return; }
	msleep 0.2
	start_agent || { fail "restart: $AGENT_WHY"; return; }
	wait_dead "$BOUND_MS" "${kids[@]}" ||
		{ fail "root killed while the agent was down: still alive $BOUND_MS ms after the agent restarted: $(desc "${ALIVE[@]}")"; return; }

	# 3: descendants created while the agent is down
	start_tree --go children 3
	tag "$ROOT" --pin-dir "$PIN" || return
	stop_agent
	: >"$TREE_GO"
	wait_tree || return
	start_agent || { fail "restart: $AGENT_WHY"; return; }
	check_alive "${TREE_PIDS[@]}" || { fail "setup: children died: $(desc "${DEAD[@]}")"; return; }
	kill_root_expect_dead "$ROOT" "${TREE_PIDS[@]}" || REASON="children forked while the agent was down: $REASON"
}

test_unload() {
	tagged_tree children 2 || return
	cli unload --pin-dir "$PIN"
	[[ $RC == 0 ]] || { fail "unload: exit $RC: $ERR"; return; }
	if ! wait_dead 5000 "$AGENT_PID"; then
		fail "the agent still runs 5 s after unload"
		return
	fi
	wait "$AGENT_PID" 2>/dev/null
	AGENT_PID=
	[[ ! -e $PIN ]] || { fail "the pin dir remains after unload: $(ls "$PIN" | head -5 | tr '\n' ' ')"; return; }
	cli status --pin-dir "$PIN"
	[[ $RC == 1 ]] || { fail "status after unload: exit $RC, expected 1"; return; }
	safe_kill KILL "$ROOT"
	wait_dead "$BOUND_MS" "$ROOT" || { fail "setup: the root did not die"; return; }
	msleep 0.5
	check_alive "${TREE_PIDS[@]}" || { fail "processes were killed after unload: $(desc "${DEAD[@]}")"; return; }
	start_agent || fail "the agent does not start again after unload: $AGENT_WHY"
}
