# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# shellcheck shell=bash
#
# Kernel tests, accounting and --max-procs: what a lineage did since its tag
# (processes born, exited, alive now and at most, CPU time of the exited),
# in `list --json` and on the lineage_dead event; and a cap on its live
# processes, root included, beyond which a fork is killed at birth, exact
# under concurrent forks and kept across an agent restart.
#
# Sourced by run.sh: each test_NAME function is a test, run by itself in the
# order of this file (run.sh --list; run.sh NAME).

# acct_of ROOT: from `list --json`, the accounting of ROOT's tag: ACCT_MAX
# (its --max-procs), ACCT_BORN, ACCT_EXITED, ACCT_LIVE, ACCT_PEAK, ACCT_CPU
# (ms). ACCT_LINE: all of them, for messages.
acct_of() {
	local re="\"pid\":$1,\"tag\":[0-9]+,[^{}]*\\{[^{}]*\\},\"state\":\"[a-z]+\"(,\"root_exit\":\\{[^{}]*\\})?,\"max_procs\":([0-9]+),\"acct\":\\{\"born\":([0-9]+),\"exited\":([0-9]+),\"live\":([0-9]+),\"peak\":([0-9]+),\"cpu_exited_ms\":([0-9]+)\\}\\}"
	cli list --json --pin-dir "$PIN"
	[[ $RC == 0 ]] || { fail "list --json: exit $RC: $ERR"; return 1; }
	[[ $OUT =~ $re ]] || { fail "list --json: no accounting for the tag of $1: $(oneline "$OUT")"; return 1; }
	ACCT_MAX=${BASH_REMATCH[2]} ACCT_BORN=${BASH_REMATCH[3]} ACCT_EXITED=${BASH_REMATCH[4]}
	ACCT_LIVE=${BASH_REMATCH[5]} ACCT_PEAK=${BASH_REMATCH[6]} ACCT_CPU=${BASH_REMATCH[7]}
	ACCT_LINE="max_procs $ACCT_MAX, born $ACCT_BORN, exited $ACCT_EXITED, live $ACCT_LIVE, peak $ACCT_PEAK, cpu ${ACCT_CPU}ms"
}

# acct_is ROOT WHAT MAX BORN EXITED LIVE PEAK: acct_of ROOT says so.
acct_is() {
	acct_of "$1" || return 1
	[[ "$ACCT_MAX $ACCT_BORN $ACCT_EXITED $ACCT_LIVE $ACCT_PEAK" == "$3 $4 $5 $6 $7" ]] ||
		{ fail "$2: accounting of $1's tag: $ACCT_LINE; expected max_procs $3, born $4, exited $5, live $6, peak $7"; return 1; }
}

# fifo_root FILE SCRIPT: a bash root that waits for a line on FILE.fifo (no
# fork before it), then runs SCRIPT with $1 = FILE. ROOT; GO_FD is the
# fifo's writing end: `go_root` lets it start.
fifo_root() {
	rm -f "$1".*
	mkfifo "$1.fifo" || { fail "setup: mkfifo $1.fifo"; return 1; }
	bash -c 'exec 3<"$1.fifo"; read -r _ <&3; exec 3<&-; '"$2" _ "$1" \
		>>"$TMP/helpers.log" 2>&1 {SLEEPFD}>&- &
	ROOT=$!
	disown "$ROOT" 2>/dev/null
	track "$ROOT"
	exec {GO_FD}<>"$1.fifo"
}

# limit_kills: CNT[limit_kills] from a status.
limit_kills() {
	cli status --pin-dir "$PIN"
	[[ $RC == 0 ]] || { fail "status: exit $RC: $ERR"; return 1; }
	counters limit_kills
}

go_root() {
	echo go >&"$GO_FD"
	exec {GO_FD}>&-
}

# A lineage with --max-procs 4, forking one child at a time (the paced
# forker): the root and the first 3 children live, each of the next 5 dies at
# birth: counted (limit_kills), an event, a log line. A child killed frees its
# slot; an agent restart keeps the cap and the counts (pinned).
test_max_procs() {
	local cap=4 i lk0 tid ev=$TMP/maxprocs.ev
	local -a kept=()
	local -A CNT=()
	setup_users || return
	limit_kills || return
	lk0=${CNT[limit_kills]}
	qforker_start 0 || return
	tag "$ROOT" --pin-dir "$PIN" --max-procs "$cap" || { qforker_stop; return; }
	tag_id || { qforker_stop; return; }
	tid=$TAGID
	events_start "$ev" || { qforker_stop; return; }
	log_mark
	for ((i = 1; i <= 2 * cap; i++)); do
		qforker_fork "$i" || { qforker_stop; return; }
		if ((i < cap)); then
			kept+=("$QF_PID")
		else
			wait_dead "$BOUND_MS" "$QF_PID" ||
				{ fail "child $i of a lineage with --max-procs $cap (root included) lives: $(desc "$QF_PID")"; qforker_stop; return; }
		fi
	done
	check_alive "$ROOT" "${kept[@]}" ||
		{ fail "processes within --max-procs $cap died: $(desc "${DEAD[@]}")"; qforker_stop; return; }
	limit_kills || { qforker_stop; return; }
	((CNT[limit_kills] - lk0 == cap + 1)) ||
		{ fail "limit_kills rose by $((CNT[limit_kills] - lk0)), expected $((cap + 1))"; qforker_stop; return; }
	acct_is "$ROOT" "after $((2 * cap)) forks" "$cap" $((2 * cap)) $((cap + 1)) "$cap" "$cap" ||
		{ qforker_stop; return; }
	wait_grep "$ev" "\"event\":\"limit\",\"tag\":$tid,\"pid\":$QF_PID," 5000 ||
		{ fail "no limit event for $QF_PID: $(oneline "$(grep '"limit"' "$ev")")"; qforker_stop; return; }
	events_stop "$EV_PID" || { qforker_stop; return; }
	grep "\"pid\":$QF_PID," "$ev" | grep -q "\"reason\":\"max_procs\",\"max_procs\":$cap}" ||
		{ fail "limit event for $QF_PID: $(oneline "$(grep '"limit"' "$ev")"), expected reason max_procs, max_procs $cap"; qforker_stop; return; }
	wait_log "beyond their lineage's --max-procs, killed at birth" 5000 ||
		{ fail "no log line for the children beyond --max-procs: $(agent_log_tail)"; qforker_stop; return; }

	# a member killed frees its slot, also for an agent restarted since
	safe_kill KILL "${kept[0]}"
	wait_dead "$BOUND_MS" "${kept[0]}" || { fail "setup: ${kept[0]} outlived SIGKILL"; qforker_stop; return; }
	stop_agent
	start_agent || { fail "restart: $AGENT_WHY"; qforker_stop; return; }
	qforker_fork $((2 * cap + 1)) || { qforker_stop; return; }
	kept[0]=$QF_PID
	qforker_fork $((2 * cap + 2)) || { qforker_stop; return; }
	wait_dead "$BOUND_MS" "$QF_PID" ||
		{ fail "after a restart, a child beyond --max-procs $cap lives: $(desc "$QF_PID")"; qforker_stop; return; }
	check_alive "$ROOT" "${kept[@]}" ||
		{ fail "after a restart, processes within --max-procs $cap died: $(desc "${DEAD[@]}")"; qforker_stop; return; }
	acct_is "$ROOT" "after the restart" "$cap" $((2 * cap + 2)) $((cap + 3)) "$cap" "$cap" ||
		{ qforker_stop; return; }
	qforker_stop
	kill_root_expect_dead "$ROOT" "${kept[@]}"
}

# A fork storm against --max-procs 10: 4 forkers, each forking 16 sleepers as
# fast as it can, all at once (twice and more the cap in flight), then
# sleeping itself (a forker left without children must not exit). The cap is one atomic count: exactly 10 live
# (the root, the 4 forkers, 5 sleepers), the 59 others die at birth.
test_max_procs_storm() {
	local cap=10 f=$TMP/mps$$ i n lk0 deadline alive p
	local -a pids=()
	local -A CNT=()
	limit_kills || return
	lk0=${CNT[limit_kills]}
	# the forkers start together once all four are born (within the cap)
	fifo_root "$f" 'exec 4<>"$1.f2"
		for f in 1 2 3 4; do
			( read -r _ <&4; exec 4<&-
			  for ((i = 0; i < 16; i++)); do sleep 300 & echo $! >>"$1.$f"; done
			  : >"$1.$f.done"; exec sleep 300 ) &
		done; printf "x\nx\nx\nx\n" >&4; exec 4<&-; wait' || return
	mkfifo "$f.f2" || { fail "setup: mkfifo $f.f2"; go_root; return; }
	tag "$ROOT" --pin-dir "$PIN" --max-procs "$cap" || { go_root; return; }
	go_root
	for i in 1 2 3 4; do
		wait_file "$f.$i.done" $((10000 * BOUND)) || { fail "setup: forker $i did not finish its forks"; return; }
	done
	for i in 1 2 3 4; do
		while read -r p; do pids+=("$p"); done <"$f.$i"
	done
	((${#pids[@]} == 64)) || { fail "setup: ${#pids[@]} sleepers forked, expected 64"; return; }
	for p in "${pids[@]}"; do track "$p"; done
	# the kills at birth (by the agent, in user mode) settle within the bound
	now
	deadline=$((NOW + BOUND_MS))
	while :; do
		alive=0
		for p in "${pids[@]}"; do is_alive "$p" && alive=$((alive + 1)); done
		limit_kills || return
		n=$((CNT[limit_kills] - lk0))
		((alive == cap - 5 && n == 64 + 4 + 1 - cap)) && break
		now
		((NOW < deadline)) ||
			{ fail "$alive of 64 sleepers alive (expected $((cap - 5))), limit_kills +$n (expected $((64 + 5 - cap)))"; safe_kill KILL "$ROOT"; return; }
		msleep 0.05
	done
	acct_is "$ROOT" "after the storm" "$cap" 68 $((68 + 1 - cap)) "$cap" "$cap" || { safe_kill KILL "$ROOT"; return; }
	safe_kill KILL "$ROOT"
	wait_dead "$BOUND_MS" "${pids[@]}" || fail "sleepers outlived their root: $(desc "${ALIVE[@]}")"
}

# What a lineage did: 3 short children, one that burns 300 ms of CPU, 2 that
# sleep; a tag nested on one of the sleepers counts on its own and in the
# enclosing tag; the lineage_dead event carries the totals once all is dead.
test_acct_lineage() {
	local f=$TMP/acct$$ s1 s2 tid ev=$TMP/acct.ev
	fifo_root "$f" '/bin/true; /bin/true; /bin/true
		( while :; do
			read -r -a st </proc/$BASHPID/stat
			((st[13] + st[14] >= 30)) && exit 0
			for ((i = 0; i < 5000; i++)); do :; done
		  done )
		sleep 300 & echo $! >"$1.s1"
		sleep 300 & echo $! >"$1.s2"
		: >"$1.ready"; wait' || return
	tag "$ROOT" --pin-dir "$PIN" || { go_root; return; }
	tag_id || { go_root; return; }
	tid=$TAGID
	go_root
	wait_file "$f.ready" $((20000 * BOUND)) || { fail "setup: the root did not run its children"; safe_kill KILL "$ROOT"; return; }
	read -r s1 <"$f.s1"
	read -r s2 <"$f.s2"
	track "$s1" "$s2"
	acct_is "$ROOT" "6 forks, 4 exited" 0 6 4 3 3 || { safe_kill KILL "$ROOT"; return; }
	((ACCT_CPU >= 250)) ||
		{ fail "cpu_exited_ms $ACCT_CPU, expected >= 250 (a child burned 300 ms): $ACCT_LINE"; safe_kill KILL "$ROOT"; return; }
	# nested: its own counts from its tag on, the enclosing ones unchanged
	tag "$s1" --pin-dir "$PIN" || { safe_kill KILL "$ROOT"; return; }
	acct_is "$s1" "a tag nested on a sleeper" 0 0 0 1 1 || { safe_kill KILL "$ROOT"; return; }
	acct_is "$ROOT" "after the nested tag" 0 6 4 3 3 || { safe_kill KILL "$ROOT"; return; }
	safe_kill KILL "$s1"
	wait_dead "$BOUND_MS" "$s1" || { fail "setup: $s1 outlived SIGKILL"; safe_kill KILL "$ROOT"; return; }
	acct_is "$ROOT" "after the nested root's death" 0 6 5 2 3 || { safe_kill KILL "$ROOT"; return; }
	events_start "$ev" || { safe_kill KILL "$ROOT"; return; }
	safe_kill KILL "$ROOT"
	wait_dead "$BOUND_MS" "$ROOT" "$s2" || { fail "the lineage outlived its root: $(desc "${ALIVE[@]}")"; return; }
	wait_grep "$ev" "\"event\":\"lineage_dead\",\"tag\":$tid,\"pid\":$ROOT," 10000 ||
		{ fail "no lineage_dead event: $(oneline "$(<"$ev")")"; events_stop "$EV_PID"; return; }
	events_stop "$EV_PID" || return
	grep "\"event\":\"lineage_dead\",\"tag\":[0-9]*,\"pid\":$ROOT," "$ev" |
		grep -Eq '"acct":\{"born":6,"exited":7,"live":0,"peak":3,"cpu_exited_ms":(2[5-9][0-9]|[3-9][0-9][0-9]|[0-9]{4,})\}\}$' ||
		fail "lineage_dead accounting: $(oneline "$(grep '"lineage_dead"' "$ev")"), expected born 6, exited 7, live 0, peak 3, cpu >= 250 ms"
}
