# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# shellcheck shell=bash
#
# Kernel tests, faults: the agent SIGKILLed, a full ring buffer and full
# maps, request bursts, misbehaving and flooding clients.
#
# Sourced by run.sh: each test_NAME function is a test, run by itself in the
# order of this file (run.sh --list; run.sh NAME).

declare -A FROLE=() # role -> pid, from the forker (test_agent_sigkill)

# The forker: a tree in bash that forks on demand (the guests have nothing
# more). The root (this shell) forks a sleeper a1 and a subshell b, which
# forks a sleeper b1. Then the root and b each wait (at most 300 s) for a
# line on their fifo (FIFO_A, FIFO_B) and fork one more sleeper (a2, b2).
# Every process appends "PID ROLE" to OUT. Nothing else forks: no churn.
write_forker() {
	cat >"$TMP/forker.sh" <<'EOF'
out=$1
exec 3<>"$2" 4<>"$3" # read-write: opening a fifo so never blocks
sleep 300 &
echo "$! a1" >>"$out"
(
	exec 3<&-
	echo "$BASHPID b" >>"$out"
	sleep 300 &
	echo "$! b1" >>"$out"
	read -r -t 300 -u 4 _ && {
		sleep 300 &
		echo "$! b2" >>"$out"
	}
	wait
) &
exec 4<&-
read -r -t 300 -u 3 _ && {
	sleep 300 &
	echo "$! a2" >>"$out"
}
wait
EOF
}

# wait_roles FILE MS ROLE...: wait (bounded) until the forker's FILE names
# every ROLE; FROLE[role] = its pid, tracked.
wait_roles() {
	local f=$1 ms=$2 deadline pid role r missing
	shift 2
	now
	deadline=$((NOW + ms * BOUND))
	while :; do
		FROLE=()
		if [[ -e $f ]]; then
			while read -r pid role; do FROLE[$role]=$pid; done <"$f"
		fi
		missing=
		for r; do [[ -n ${FROLE[$r]:-} ]] || missing+=" $r"; done
		[[ -z $missing ]] && break
		now
		((NOW >= deadline)) && { fail "setup: the forker did not report$missing within $ms ms"; return 1; }
		msleep 0.01
	done
	for r; do track "${FROLE[$r]}"; done
}

fifo_go() { # FIFO: write a line into a fifo its reader holds open (never blocks)
	local fd
	exec {fd}<>"$1" || return 1
	echo go >&"$fd"
	exec {fd}>&-
}

# The agent is SIGKILLed while tags exist (a root with descendants, a nested
# tag). The pinned links keep the BPF side recording: the children forked
# while no agent runs, below the outer and the nested root, belong to their
# lineages. An agent restarted on the same pin dir lists every tag and every
# descendant, and kills them all when the root dies. (test_agent_restart
# covers a root that dies while the agent is down.)
test_agent_sigkill() {
	local f root b r rc why='' want
	local -a all
	SEQ=$((SEQ + 1))
	f=$TMP/forker$SEQ
	mkfifo "$f.a" "$f.b" || { fail "setup: mkfifo failed"; return; }
	write_forker
	"$BASH" "$TMP/forker.sh" "$f" "$f.a" "$f.b" >>"$TMP/helpers.log" 2>&1 {SLEEPFD}>&- &
	root=$!
	disown "$root" 2>/dev/null
	track "$root"
	wait_roles "$f" 10000 a1 b b1 || return
	b=${FROLE[b]}
	tag "$root" --pin-dir "$PIN" || return
	tag "$b" --pin-dir "$PIN" || return
	[[ $OUT == *nested* ]] || { fail "tagging $b below the tagged $root: not reported as nested: $OUT"; return; }

	safe_kill KILL "$AGENT_PID"
	wait_dead "$BOUND_MS" "$AGENT_PID" || { fail "setup: the agent survived SIGKILL"; return; }
	wait "$AGENT_PID" 2>/dev/null
	rc=$?
	AGENT_PID=
	[[ $rc == 137 ]] || why="setup: the agent exited with status $rc, not by SIGKILL"
	if [[ -z $why ]]; then
		cli status --pin-dir "$PIN"
		[[ $RC == 1 ]] || why="status with the agent SIGKILLed: exit $RC, expected 1"
	fi
	# both roots' lineages fork while no agent runs
	if [[ -z $why ]] && { ! fifo_go "$f.a" || ! fifo_go "$f.b"; }; then
		why="setup: cannot write to the forker's fifos"
	fi
	[[ -z $why ]] && ! wait_roles "$f" 10000 a1 b b1 a2 b2 && why=$REASON
	start_agent || { fail "restart after SIGKILL: $AGENT_WHY${why:+ (and before: $why)}"; return; }
	[[ -z $why ]] || { fail "$why"; return; }
	all=("$b" "${FROLE[a1]}" "${FROLE[b1]}" "${FROLE[a2]}" "${FROLE[b2]}")
	check_alive "$root" "${all[@]}" || { fail "setup: died before the root was killed: $(desc "${DEAD[@]}")"; return; }

	list_roots "$PIN" || return
	[[ -n ${LROOT[$root]:-} ]] || { fail "the restarted agent does not list the tagged root $root: $(oneline "$OUT")"; return; }
	[[ -n ${LROOT[$b]:-} ]] || { fail "the restarted agent does not list the nested tag's root $b: $(oneline "$OUT")"; return; }
	[[ ${LPARENT[$b]} == "${LROOT[$root]}" ]] ||
		{ fail "the nested tag of $b has parent tag ${LPARENT[$b]}, expected $root's tag ${LROOT[$root]}"; return; }
	for r in "${all[@]}"; do
		[[ ${LDESC[$root]} == *" $r "* ]] ||
			{ fail "the restarted agent does not list $r (${FROLE[*]}) below $root: $(oneline "$OUT")"; return; }
	done
	for r in b1 b2; do
		want=${FROLE[$r]}
		[[ ${LDESC[$b]} == *" $want "* ]] ||
			{ fail "the restarted agent does not list $r ($want) below the nested root $b: $(oneline "$OUT")"; return; }
	done
	for r in a1 a2; do
		want=${FROLE[$r]}
		[[ ${LDESC[$b]} != *" $want "* ]] ||
			{ fail "the restarted agent lists $r ($want), a child of $root, below the nested root $b"; return; }
	done
	kill_root_expect_dead "$root" "${all[@]}" || REASON="after the agent was SIGKILLed and restarted: $REASON"
}

# The page size, from the kernel (the guests have no getconf).
page_size() {
	local l
	PAGE=4096
	while read -r l; do
		[[ $l =~ ^KernelPageSize:\ +([0-9]+)\ kB ]] && { PAGE=$((BASH_REMATCH[1] * 1024)); return; }
	done </proc/self/smaps
}

# A ring buffer of one page overflows: a burst of 200 tagged roots, each
# with a child, dies while the agent cannot read the ring (it is SIGSTOPped,
# so the overflow does not depend on timing). No kill is lost: the deaths
# map, not the ring, is the agent's work list. ringbuf_drops counts every
# record that did not fit (a record takes 32 bytes: 24 plus the ring's
# header). Bad --ring-size values are usage errors, and a pinned ring keeps
# its size across a restart.
test_ring_full() {
	local n=200 i v lines cap why='' errs=()
	local -a roots=() kids=() outs=()
	local -A CNT=() C0=()
	page_size
	for v in 0 1000 $((PAGE - 1)) $((PAGE * 3)) $((PAGE * 2 + 1)) abc -$PAGE "${PAGE}x" " $PAGE" 2147483648 ""; do
		cli agent --ring-size "$v" --pin-dir "$XPIN"
		lines=$(grep -c '' "$TMP/cli.err")
		[[ $RC == 2 && $lines == 1 ]] ||
			errs+=("agent --ring-size '$v': exit $RC with $lines line(s) on stderr (want 2 and 1)")
	done
	[[ ! -e $XPIN ]] || errs+=("a refused agent created $XPIN")
	((${#errs[@]} == 0)) || { fail "$(IFS=';'; echo "${errs[*]}")"; return; }

	xagent_start --ring-size "$PAGE" || { fail "agent --ring-size $PAGE: $AGENT_WHY"; return; }
	grep -q "ring buffer $PAGE bytes" "$XAGENT_LOG" ||
		{ fail "agent --ring-size $PAGE: its log does not say 'ring buffer $PAGE bytes'"; return; }
	for ((i = 0; i < n; i++)); do
		start_tree children 1
		roots+=("$ROOT")
		outs+=("$TREE_OUT")
	done
	for ((i = 0; i < n; i++)); do
		if ! wait_tree "${outs[i]}"; then
			v=dead
			is_alive "${roots[i]}" && v=alive
			REASON="tree $((i + 1)) of $n (root ${roots[i]}, $v): $REASON"
			return 1
		fi
		kids+=("${TREE_PIDS[@]}")
	done
	for ((i = 0; i < n; i++)); do
		tag "${roots[i]}" --pin-dir "$XPIN" || return
	done
	check_alive "${kids[@]}" || { fail "setup: children died before their roots: $(desc "${DEAD[@]}")"; return; }
	cli status --pin-dir "$XPIN"
	[[ $RC == 0 ]] || { fail "status before the burst: exit $RC: $ERR"; return; }
	counters ringbuf_drops root_exits deaths_map_full || return
	for v in "${!CNT[@]}"; do C0[$v]=${CNT[$v]}; done

	safe_kill STOP "$XAGENT_PID"
	safe_kill KILL "${roots[@]}"
	wait_dead "$BOUND_MS" "${roots[@]}" || why="setup: roots still alive: $(desc "${ALIVE[@]}")"
	safe_kill CONT "$XAGENT_PID"
	[[ -z $why ]] || { fail "$why"; return; }
	wait_dead "$BOUND_MS" "${kids[@]}" ||
		{ fail "${#ALIVE[@]} of $n children still alive $BOUND_MS ms after their tagged roots died in a burst that overflowed the ring: $(desc "${ALIVE[@]}")"; return; }

	cli status --pin-dir "$XPIN"
	[[ $RC == 0 ]] || { fail "status after the burst: exit $RC: $ERR"; return; }
	counters ringbuf_drops root_exits deaths_map_full || return
	cap=$((PAGE / 32))
	((CNT[root_exits] - C0[root_exits] == n)) ||
		errs+=("root_exits went from ${C0[root_exits]} to ${CNT[root_exits]}, expected +$n")
	((CNT[ringbuf_drops] - C0[ringbuf_drops] >= n - cap)) ||
		errs+=("ringbuf_drops went from ${C0[ringbuf_drops]} to ${CNT[ringbuf_drops]}: $n deaths into a ring of $cap records while the agent was stopped must drop at least $((n - cap))")
	((CNT[deaths_map_full] == C0[deaths_map_full])) ||
		errs+=("deaths_map_full went from ${C0[deaths_map_full]} to ${CNT[deaths_map_full]}")
	((${#errs[@]} == 0)) || { fail "$(IFS=';'; echo "${errs[*]}")"; return; }
	msg "ring_full: $n deaths into a ring of $cap records: ringbuf_drops +$((CNT[ringbuf_drops] - C0[ringbuf_drops]))"

	# the pinned ring keeps its size: a restart asking for another is told so
	halt_agent "$XAGENT_PID"
	XAGENT_PID=
	xagent_launch --ring-size $((PAGE * 2)) || { fail "restart with --ring-size $((PAGE * 2)): $AGENT_WHY"; return; }
	if ! grep -q "ring buffer $PAGE bytes" "$XAGENT_LOG" || ! grep -q "events keeps its pinned size $PAGE" "$XAGENT_LOG"; then
		fail "an agent restarted with --ring-size $((PAGE * 2)) on a pinned ring of $PAGE does not keep it and say so: $(oneline "$(<"$XAGENT_LOG")")"
		return
	fi
	xagent_stop
}

# Full maps are loud, never silently partial. A procs map of 16 entries: a
# root whose tree does not fit is refused (exit 1, "procs map full") and left
# untagged, not half-tagged; children forked into the full map are not
# recorded, and procs_map_full counts each one (status warns). A tags map of
# 4: tag/untag cycles, top-level and nested, do not use it up, and a fifth
# active tag is refused with "tags map full".
test_map_full() {
	local n=30 i p root lines listed=0 drops
	local -a big kids=() desc=()
	local -A CNT=() C0=()
	xagent_start --max-procs 16 || { fail "agent --max-procs 16: $AGENT_WHY"; return; }
	# 1: a tree of n + 1 processes does not fit
	start_tree children "$n"
	wait_tree || return
	root=$ROOT
	big=("${TREE_PIDS[@]}")
	cli status --pin-dir "$XPIN"
	counters procs_map_full || return
	C0[procs_map_full]=${CNT[procs_map_full]}
	cli tag "$root" --pin-dir "$XPIN"
	lines=$(grep -c '' "$TMP/cli.err")
	[[ $RC == 1 && $lines == 1 ]] || { fail "tagging a root with $n children into 16 slots: exit $RC with $lines line(s) on stderr (want 1 and 1): $(oneline "$ERR")"; return; }
	[[ $ERR == *"procs map full"*"--max-procs"* ]] || { fail "tagging a root that does not fit: unclear message: $ERR"; return; }
	status_counts "$XPIN" || return
	counters procs_map_full || return
	((S_TAGS == 0)) || { fail "a refused tag counts as active: $(oneline "$OUT")"; return; }
	((CNT[procs_map_full] > C0[procs_map_full])) || { fail "procs_map_full did not grow when a tag did not fit: $(oneline "$OUT")"; return; }
	[[ $OUT == *"WARNING: a map was full"* ]] || { fail "status does not warn of the full map: $(oneline "$OUT")"; return; }
	list_roots "$XPIN" || return
	[[ -z ${LROOT[$root]:-} ]] || { fail "list shows the root of a refused tag"; return; }
	safe_kill KILL "$root"
	wait_dead "$BOUND_MS" "$root" || { fail "setup: the root did not die"; return; }
	msleep 0.5
	check_alive "${big[@]}" || { fail "the root of a refused tag died and killed some of its children: half-tagged: $(desc "${DEAD[@]}")"; return; }
	safe_kill KILL "${big[@]}" # their entries go at their exit
	wait_dead "$BOUND_MS" "${big[@]}" || { fail "setup: the children did not die"; return; }

	# 2: children forked into the full map
	start_tree --go children "$n"
	tag "$ROOT" --pin-dir "$XPIN" || return
	cli status --pin-dir "$XPIN"
	counters procs_map_full || return
	C0[procs_map_full]=${CNT[procs_map_full]}
	: >"$TREE_GO"
	wait_tree || return
	kids=("${TREE_PIDS[@]}")
	status_counts "$XPIN" || return
	counters procs_map_full || return
	drops=$((CNT[procs_map_full] - C0[procs_map_full]))
	[[ $OUT == *"WARNING: a map was full"* ]] || { fail "status does not warn of the full map: $(oneline "$OUT")"; return; }
	list_roots "$XPIN" || return
	[[ -n ${LROOT[$ROOT]:-} ]] || { fail "list does not show the tagged root $ROOT"; return; }
	for p in "${kids[@]}"; do
		[[ ${LDESC[$ROOT]} == *" $p "* ]] && desc+=("$p")
	done
	listed=${#desc[@]}
	((drops > 0 && listed > 0 && listed + drops == n)) ||
		{ fail "$n children forked into a map of 16: $listed recorded (list; status says $S_TRACKED) + $drops counted in procs_map_full, expected $n with both > 0"; return; }
	((S_TRACKED == listed)) || { fail "status says $S_TRACKED tracked descendants, list shows $listed"; return; }
	msg "map_full: $n children forked into 16 slots: $listed recorded, $drops counted in procs_map_full"
	kill_root_expect_dead "$ROOT" "${desc[@]}" || { REASON="the recorded children: $REASON"; return 1; }
	kill_tracked
	xagent_stop

	# 3: tags come and go in a map of 4
	xagent_start --max-tags 4 || { fail "agent --max-tags 4: $AGENT_WHY"; return; }
	start_tree children 4
	wait_tree || return
	kids=("${TREE_PIDS[@]}")
	for ((i = 0; i < 10; i++)); do
		if ! tag "$ROOT" --pin-dir "$XPIN" || ! untag "$ROOT" --pin-dir "$XPIN"; then
			REASON="cycle $((i + 1)) of tag/untag with --max-tags 4: $REASON"
			return 1
		fi
	done
	tag "$ROOT" --pin-dir "$XPIN" || return
	for ((i = 0; i < 10; i++)); do
		if ! tag "${kids[0]}" --pin-dir "$XPIN" || ! untag "${kids[0]}" --pin-dir "$XPIN"; then
			REASON="cycle $((i + 1)) of a nested tag/untag with --max-tags 4: $REASON"
			return 1
		fi
	done
	for i in 0 1 2; do
		tag "${kids[i]}" --pin-dir "$XPIN" || { REASON="active tag $((i + 2)) of 4: $REASON"; return 1; }
	done
	cli tag "${kids[3]}" --pin-dir "$XPIN"
	[[ $RC == 1 && $ERR == *"tags map full"*"--max-tags"* ]] ||
		{ fail "a fifth active tag with --max-tags 4: exit $RC, expected 1 and 'tags map full': $(oneline "$ERR")"; return; }
	kill_root_expect_dead "$ROOT" "${kids[@]}" || return
	xagent_stop
}

# Untagging a top-level root frees its tag slot: an agent with room for 2
# tags survives 6 tag/untag cycles (and a nested untag keeps its forwarding
# record only while needed).
test_tag_slots() {
	local pin=$PIN-obs log=$TMP/agent-slots.log i
	launch_agent "$pin" "$log" --max-tags 2 || { fail "a second agent (--max-tags 2): $AGENT_WHY"; return; }
	OAGENT_PID=$L_PID
	start_tree children 1
	wait_tree || return
	for ((i = 1; i <= 6; i++)); do
		cli tag "$ROOT" --pin-dir "$pin"
		[[ $RC == 0 ]] || { fail "cycle $i: tag: exit $RC: $ERR"; break; }
		cli untag "$ROOT" --pin-dir "$pin"
		[[ $RC == 0 ]] || { fail "cycle $i: untag: exit $RC: $ERR"; break; }
	done
	halt_agent "$OAGENT_PID"
	OAGENT_PID=
	bounded 15 "$BPFGUARD" unload --pin-dir "$pin" >/dev/null 2>&1
	[[ -z $REASON ]]
}

# burst_client OUT PID...: 50 requests in a row: request j tags or untags
# process j mod N, each process alternating tag, untag, ... from tag. One
# line "OP PID EXIT" per request, then "end".
burst_client() {
	local out=$1 j p op
	shift
	local -a t=("$@")
	local -A on=()
	for ((j = 0; j < 50; j++)); do
		p=${t[j % ${#t[@]}]}
		if [[ -n ${on[$p]:-} ]]; then
			op=untag
			unset "on[$p]"
		else
			op=tag
			on[$p]=1
		fi
		"$BPFGUARD" "$op" "$p" --pin-dir "$PIN" >/dev/null 2>>"$out.err"
		echo "$op $p $?" >>"$out"
	done
	echo end >>"$out"
}

# 20 clients at once send 1000 tag/untag requests in all, each about its own
# 7 processes (so the final state does not depend on how they interleave):
# every request succeeds, and the final list holds exactly the processes
# whose last request was a tag (process 0 of each client gets 8 requests,
# the others 7). Status is answered, bounded, during and after the burst.
test_request_burst() {
	local nc=20 per=7 c i p op pid rc line nst=0 busy deadline got want base
	local -a tp=() cl=() errs=()
	SEQ=$((SEQ + 1))
	base=$TMP/burst$SEQ
	for ((i = 0; i < nc * per; i++)); do
		sleep 300 {SLEEPFD}>&- &
		tp[i]=$!
		disown "$!" 2>/dev/null
		track "$!"
	done
	for ((c = 0; c < nc; c++)); do
		burst_client "$base.$c" "${tp[@]:c*per:per}" {SLEEPFD}>&- &
		cl[c]=$!
		track "$!"
	done
	now
	deadline=$((NOW + 300000 * BOUND))
	while :; do
		busy=0
		for p in "${cl[@]}"; do is_alive "$p" && busy=1 && break; done
		((busy)) || break
		bounded $((5 * BOUND)) "$BPFGUARD" status --pin-dir "$PIN" >"$TMP/st.out" 2>&1
		((BRC == 0)) || { errs+=("status during the burst: exit $BRC (bound $((5 * BOUND)) s): $(oneline "$(<"$TMP/st.out")")"); break; }
		nst=$((nst + 1))
		now
		((NOW < deadline)) || { errs+=("the clients were not done after $((300 * BOUND)) s"); break; }
		msleep 0.05
	done
	((${#errs[@]} == 0)) || { fail "$(IFS=';'; echo "${errs[*]}")"; return; }
	((nst > 0)) || { fail "setup: the burst was over before one status request was made"; return; }
	for ((c = 0; c < nc; c++)); do
		wait "${cl[c]}" 2>/dev/null
		got=0
		while read -r op pid rc; do
			[[ $op == end ]] && break
			got=$((got + 1))
			[[ $rc == 0 ]] || errs+=("client $c: $op $pid: exit $rc: $(head -n 1 "$base.$c.err" 2>/dev/null)")
		done <"$base.$c"
		line=$(tail -n 1 "$base.$c")
		[[ $got == 50 && $line == end ]] || errs+=("client $c made $got requests (last line '$line'), expected 50 and the end")
	done
	((${#errs[@]} == 0)) || { fail "${#errs[@]} problem(s): $(IFS=';'; echo "${errs[*]:0:5}")"; return; }
	bounded $((5 * BOUND)) "$BPFGUARD" status --pin-dir "$PIN" >"$TMP/st.out" 2>&1
	((BRC == 0)) || { fail "status after the burst: exit $BRC (bound $((5 * BOUND)) s)"; return; }
	list_roots "$PIN" || return
	for ((i = 0; i < nc * per; i++)); do
		p=${tp[i]}
		want=1
		((i % per == 0)) && want=0
		got=0
		[[ -n ${LROOT[$p]:-} ]] && got=1
		((got == want)) || errs+=("$p (process $((i % per)) of client $((i / per))) is $( ((got)) && echo tagged || echo untagged)")
	done
	msg "request_burst: $nst status request(s) answered during the burst"
	((${#errs[@]} == 0)) ||
		fail "after 1000 requests from $nc clients (and $nst status requests), ${#errs[@]} of $((nc * per)) processes are in the wrong state: $(IFS=';'; echo "${errs[*]:0:5}")"
}

# Clients that misbehave: garbage, 1 MiB of garbage, half a request and then
# silence, a connection that never speaks, a request carrying 4 extra fds.
# Each gets an error answer or is dropped after the agent's timeout. While
# the stalled ones hold their connections a status request is answered (the
# agent must not serve one client at a time). Afterwards the agent runs,
# holds no extra descriptor, and its tag still works.
test_bad_clients() {
	local sock m i out line fd0 fd1 ok
	local -a fds stall=() souts=() smode=() dropped=() errs=()
	[[ $(<"$AGENT_LOG") =~ (/run/bpfguard/[^ ]*\.sock) ]] ||
		{ fail "setup: the agent's log names no control socket"; return; }
	sock=${BASH_REMATCH[1]}
	[[ -S $sock ]] || { fail "setup: $sock is not a socket"; return; }
	tagged_tree children 2 || return
	fds=(/proc/"$AGENT_PID"/fd/*)
	fd0=${#fds[@]}
	for m in silent half silent half silent half; do
		SEQ=$((SEQ + 1))
		out=$TMP/bad$SEQ
		"$HELPERS/ctlclient" --ready "$out.ready" --hold $((30 * BOUND)) "$sock" "$m" >"$out" 2>&1 {SLEEPFD}>&- &
		stall+=("$!")
		disown "$!" 2>/dev/null
		track "$!"
		souts+=("$out")
		smode+=("$m")
	done
	for out in "${souts[@]}"; do
		wait_file "$out.ready" 10000 || { fail "setup: a stalling client did not connect: $(oneline "$(<"$out")")"; return; }
	done
	cli status --pin-dir "$PIN"
	[[ $RC == 0 ]] || { fail "status while 6 clients stall: exit $RC: $ERR"; return; }
	for i in "${!stall[@]}"; do
		is_alive "${stall[i]}" || dropped+=("${smode[i]}: $(<"${souts[i]}")")
	done
	((${#dropped[@]} == 0)) ||
		{ fail "status was answered only after ${#dropped[@]} stalled client(s) had been dropped (the agent serves one client at a time): $(IFS=';'; echo "${dropped[*]}")"; return; }

	for m in garbage huge fds; do
		bounded $((15 * BOUND)) "$HELPERS/ctlclient" --hold $((10 * BOUND)) "$sock" "$m" >"$TMP/bad.out" 2>&1
		line=$(<"$TMP/bad.out")
		ok=0
		case $m in
		fds) [[ $BRC == 0 && $line =~ ^reply\ 0\  ]] && ok=1 ;;
		*) [[ $BRC == 0 && ($line =~ ^reply\ [1-9] || $line == closed) ]] && ok=1 ;;
		esac
		((ok)) || errs+=("$m client: exit $BRC: $(oneline "$line")")
	done

	# the stalled clients are answered with an error, or dropped, in time
	wait_dead $((30000 * BOUND)) "${stall[@]}" ||
		errs+=("${#ALIVE[@]} stalled client(s) still connected after $((30 * BOUND)) s")
	for i in "${!stall[@]}"; do
		line=$(<"${souts[i]}")
		[[ $line =~ ^reply\ [1-9] || $line == closed ]] || errs+=("${smode[i]} client: $(oneline "$line")")
	done
	agent_ok || errs+=("the agent is not running after the bad clients")
	fds=(/proc/"$AGENT_PID"/fd/*)
	fd1=${#fds[@]}
	((fd1 == fd0)) || errs+=("the agent held $fd0 descriptors before the bad clients, $fd1 after")
	((${#errs[@]} == 0)) || { fail "$(IFS=';'; echo "${errs[*]}")"; return; }
	kill_root_expect_dead "$ROOT" "${TREE_PIDS[@]}" || REASON="the tag made before the bad clients: $REASON"
}

# Sixteen unprivileged clients (two users, eight processes each: helpers/flood.c)
# loop connect/status/close and connect/garbage/close as fast as they can
# until root's requests and a kill are done (12 s at most, scaled by BOUND).
# Meanwhile root's status and tag are answered (within
# the CLI's bound), a tagged root's descendants die within the usual bound,
# part of the flood is refused (EBUSY: the per-uid limits), and the agent's
# log holds a bounded number of refusal lines and says how many it left out.
test_client_flood() {
	local secs=$((12 * BOUND)) sock u out extra line n0 n1 nsup max t0 t1 busy=0 rounds=0
	local -a fl=() reps=() kids errs=()
	setup_users || return
	[[ $(<"$AGENT_LOG") =~ (/run/bpfguard/[^ ]*\.sock) ]] ||
		{ fail "setup: the agent's log names no control socket"; return; }
	sock=${BASH_REMATCH[1]}
	cp "$HELPERS/flood" "$UDIR/" || { fail "setup: cannot copy the flood helper"; return; }
	tagged_tree children 3 || return
	kids=("${TREE_PIDS[@]}")
	rm -f "$UDIR/w/flood.stop"
	sleep 300 {SLEEPFD}>&- &
	extra=$!
	disown "$extra" 2>/dev/null
	track "$extra"
	log_mark
	n0=$(grep -c 'refused .* from uid' "$AGENT_LOG")
	now
	t0=$NOW
	for u in "$TUID" "$TUID" "$TUID2" "$TUID2"; do
		SEQ=$((SEQ + 1))
		out=$UDIR/w/flood$SEQ
		"$UDIR/asuser" "$u" "$UDIR/flood" --procs 4 --ready "$out.ready" --stop "$UDIR/w/flood.stop" \
			"$sock" "$secs" "$out" \
			>>"$TMP/helpers.log" 2>&1 {SLEEPFD}>&- &
		fl+=("$!")
		disown "$!" 2>/dev/null
		track "$!"
		reps+=("$out")
	done
	for out in "${reps[@]}"; do
		wait_file "$out.ready" 10000 || { fail "setup: a flood client did not start: $(tail -n 2 "$TMP/helpers.log")"; return; }
	done
	msleep 1 # the flood is under way
	cli status --pin-dir "$PIN"
	[[ $RC == 0 ]] || errs+=("root's status during the flood: exit $RC (bound $CLI_S s): $ERR")
	cli tag "$extra" --pin-dir "$PIN"
	[[ $RC == 0 ]] || errs+=("root's tag during the flood: exit $RC (bound $CLI_S s): $ERR")
	kill_root_expect_dead "$ROOT" "${kids[@]}" || errs+=("during the flood: $REASON")
	check_alive "${fl[@]}" ||
		errs+=("the flood was over before root's requests and the kill were done (raise its length)")
	: >"$UDIR/w/flood.stop"
	wait_dead $(((secs + 20) * 1000)) "${fl[@]}" || errs+=("${#ALIVE[@]} flood client(s) still running $((secs + 20)) s on")
	now
	t1=$NOW
	for out in "${reps[@]}"; do
		line=$(<"$out") 2>/dev/null
		[[ $line =~ ^rounds\ ([0-9]+)\ ok\ ([0-9]+)\ busy\ ([0-9]+) ]] ||
			{ errs+=("a flood client's report: '$line'"); continue; }
		rounds=$((rounds + BASH_REMATCH[1]))
		busy=$((busy + BASH_REMATCH[3]))
	done
	msg "client_flood: $rounds rounds from 16 clients in $(((t1 - t0) / 1000)) s, $busy answered EBUSY"
	((busy > 0)) || errs+=("none of $rounds flood rounds was refused as too many (EBUSY)")
	# the summary line comes within a tick or two of the last refusal
	wait_log "suppressed" $((5000 * BOUND)) ||
		errs+=("the agent's log has no 'suppressed' line after the flood")
	n1=$(grep -c 'refused .* from uid' "$AGENT_LOG")
	nsup=$(log_since | grep -c 'suppressed')
	# at most 10 lines a second, and the seconds at both ends
	max=$((10 * ((t1 - t0) / 1000 + 3)))
	((n1 - n0 <= max)) || errs+=("the agent logged $((n1 - n0)) refusal lines in $(((t1 - t0) / 1000)) s (at most $max)")
	((nsup <= (t1 - t0) / 1000 + 3)) || errs+=("$nsup 'suppressed' lines in $(((t1 - t0) / 1000)) s")
	agent_ok || errs+=("the agent does not answer after the flood")
	users_quiet --full "$TUID" "$TUID2" || errs+=("$REASON")
	((${#errs[@]} == 0)) || fail "$(IFS=';'; echo "${errs[*]}")"
}

# One unprivileged user opens twice its connection limit (8) of connections
# that never speak (helpers/ctlclient silent): 8 are answered EBUSY at once,
# the 8 others are held until the agent's request timeout (ETIMEDOUT), never
# dropped for the newcomers. Meanwhile root and another user are answered.
test_client_limits() {
	local sock i out line busy=0 timedout=0 lim=8 deadline
	local -a cl=() outs=() errs=()
	setup_users || return
	user_ctlclient || return
	sock=$CTL_SOCK
	for ((i = 0; i < 2 * lim; i++)); do
		SEQ=$((SEQ + 1))
		out=$UDIR/w/lim$SEQ
		"$UDIR/asuser" "$TUID" "$UDIR/ctlclient" --ready "$out.ready" --hold $((30 * BOUND)) "$sock" silent \
			>"$out" 2>&1 {SLEEPFD}>&- &
		cl+=("$!")
		disown "$!" 2>/dev/null
		track "$!"
		outs+=("$out")
	done
	for out in "${outs[@]}"; do
		wait_file "$out.ready" 10000 || { fail "setup: a client did not connect: $(oneline "$(<"$out")")"; return; }
	done
	# the refused ones are answered at once; wait (bounded) for all of them
	now
	deadline=$((NOW + 3000 * BOUND))
	while :; do
		busy=0
		for out in "${outs[@]}"; do
			[[ $(<"$out") == "reply 16 "* ]] && busy=$((busy + 1))
		done
		now
		((busy >= lim || NOW >= deadline)) && break
		msleep 0.05
	done
	cli status --pin-dir "$PIN"
	[[ $RC == 0 ]] || errs+=("root's status while uid $TUID holds its connections: exit $RC: $ERR")
	ucli "$TUID2" status --pin-dir "$PIN"
	[[ $RC == 0 ]] || errs+=("uid $TUID2's status while uid $TUID holds its connections: exit $RC: $ERR")
	wait_dead $((30000 * BOUND)) "${cl[@]}" || errs+=("${#ALIVE[@]} client(s) still connected after $((30 * BOUND)) s")
	busy=0
	for out in "${outs[@]}"; do
		line=$(<"$out")
		case $line in
		"reply 16 too many connections from uid $TUID") busy=$((busy + 1)) ;;
		"reply 110 "*) timedout=$((timedout + 1)) ;;
		*) errs+=("a client of uid $TUID: $(oneline "$line")") ;;
		esac
	done
	((busy == lim && timedout == lim)) ||
		errs+=("of $((2 * lim)) silent connections from uid $TUID, $busy were refused as too many and $timedout timed out (want $lim and $lim)")
	agent_ok || errs+=("the agent does not answer afterwards")
	users_quiet "$TUID" "$TUID2" || errs+=("$REASON")
	((${#errs[@]} == 0)) || fail "$(IFS=';'; echo "${errs[*]}")"
}
