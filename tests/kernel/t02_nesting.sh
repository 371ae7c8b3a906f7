# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# shellcheck shell=bash
#
# Kernel tests, nested tags: inner roots, long tag chains and the nesting
# bound, merges, deep enrolment, forwarding records repaired at restart.
#
# Sourced by run.sh: each test_NAME function is a test, run by itself in the
# order of this file (run.sh --list; run.sh NAME).

test_nested() {
	local a b
	local -a bkids akids all
	# 1: kill the inner root B: B's subtree dies, A and A's other children live
	tagged_tree nested 2 2 || return
	a=$ROOT
	role b
	b=${ROLE_PIDS[0]}
	role bchild
	bkids=("${ROLE_PIDS[@]}")
	role achild
	akids=("${ROLE_PIDS[@]}")
	tag "$b" --pin-dir "$PIN" || return
	kill_root_expect_dead "$b" "${bkids[@]}" || { REASON="inner tag: $REASON"; return 1; }
	msleep 0.5
	check_alive "$a" "${akids[@]}" ||
		{ fail "killing the nested root killed the outer root or its other children: $(desc "${DEAD[@]}")"; return; }
	kill_root_expect_dead "$a" "${akids[@]}" || { REASON="outer tag after the inner root died: $REASON"; return 1; }
	# 2: kill the outer root A: everything below dies, B's subtree too
	tagged_tree nested 2 2 || return
	a=$ROOT
	all=("${TREE_PIDS[@]}")
	role b
	tag --pin-dir "$PIN" "${ROLE_PIDS[0]}" || return
	kill_root_expect_dead "$a" "${all[@]}" || { REASON="outer root: $REASON"; return 1; }
}

NEST_MAX=8                              # BG_MAX_NEST (include/bpfguard.h)
NEST_ERR="tags nest at most $NEST_MAX deep" # the refusal's line
FWD_OLD=8                               # the forward bound lookups once had

# chain_pids N: start a chain of N processes below a root (tree chain N) and
# read it: CHAIN = root, chain1 .. chainN (outermost first).
chain_pids() {
	local i
	start_tree chain "$1"
	wait_tree || return 1
	CHAIN=("$ROOT")
	for ((i = 1; i <= $1; i++)); do
		role "chain$i"
		((${#ROLE_PIDS[@]} == 1)) || { fail "setup: no single chain$i in the tree"; return 1; }
		CHAIN+=("${ROLE_PIDS[0]}")
	done
	check_alive "${CHAIN[@]}" || { fail "setup: chain members died: $(desc "${DEAD[@]}")"; return 1; }
}

# nest_tag PID: tag it; NESTED=0 if tagged, 1 if refused for the nesting
# bound (exit 1 and the one line that says so); anything else fails.
nest_tag() {
	cli tag "$1" --pin-dir "$PIN"
	NESTED=0
	((RC == 0)) && return 0
	if ((RC == 1)) && [[ $ERR == *"$NEST_ERR"* && $ERR != *$'\n'* ]]; then
		NESTED=1
		return 0
	fi
	fail "tag $1: exit $RC: $(oneline "$ERR")"
}

# lineage_is ROOT PIDS...: `list` shows every PID as ROOT's descendant.
lineage_is() {
	local root=$1 p
	shift
	list_roots "$PIN" || return 1
	[[ -n ${LROOT[$root]:-} ]] || { fail "list: $root is not a tagged root"; return 1; }
	for p; do
		[[ ${LDESC[$root]} == *" $p "* ]] ||
			{ fail "list: $p is not in the lineage of $root (it lists:${LDESC[$root]})"; return 1; }
	done
}

# The accidental case: every process of a chain twice as long as the old
# forward bound tagged outermost first (past the nesting bound: refused),
# untagged innermost first, the top killed: nothing below it survives.
test_chain_untag() {
	local n=$((2 * FWD_OLD + 1)) i
	local -a tagged=()
	chain_pids "$n" || return
	for ((i = 0; i <= n; i++)); do
		nest_tag "${CHAIN[i]}" || return
		if ((NESTED)); then
			((${#tagged[@]} >= NEST_MAX)) ||
				{ fail "tag at depth $((${#tagged[@]} + 1)) refused: $ERR"; return; }
		else
			tagged+=("${CHAIN[i]}")
		fi
	done
	((${#tagged[@]} >= NEST_MAX)) || { fail "only ${#tagged[@]} nested tags accepted"; return; }
	for ((i = ${#tagged[@]} - 1; i >= 1; i--)); do
		untag "${tagged[i]}" --pin-dir "$PIN" || return
	done
	lineage_is "$ROOT" "${CHAIN[@]:1}" || return
	kill_root_expect_dead "$ROOT" "${CHAIN[@]:1}"
}

# tag_levels LEVELS...: nest_tag each CHAIN[level] in order; TAGGED = the
# levels tagged, REFUSED = the levels refused for the nesting bound.
tag_levels() {
	local k
	TAGGED=() REFUSED=()
	for k; do
		nest_tag "${CHAIN[k]}" || return 1
		if ((NESTED)); then REFUSED+=("$k"); else TAGGED+=("$k"); fi
	done
}

# untag_levels LEVELS...: untag each CHAIN[level] in order.
untag_levels() {
	local k
	for k; do
		untag "${CHAIN[k]}" --pin-dir "$PIN" || return 1
	done
}

# The attack: a member of the root's lineage nests tags down its own chain,
# twice the nesting bound deep, and untags them innermost first, twice over.
# Past the bound every tag is refused with one clear line; nothing of the
# lineage drops out: the root's death kills the whole chain.
test_nest_attack() {
	local n=$((2 * NEST_MAX + 1)) k round
	local -a levels
	chain_pids "$n" || return
	tag "${CHAIN[0]}" --pin-dir "$PIN" || return
	for round in 1 2; do
		levels=()
		for ((k = 1; k <= n; k++)); do levels+=("$k"); done
		tag_levels "${levels[@]}" || return
		# the root's tag is one level: NEST_MAX - 1 more fit below it
		((${#TAGGED[@]} == NEST_MAX - 1)) ||
			{ fail "round $round: ${#TAGGED[@]} nested tags accepted below the root (levels ${TAGGED[*]}), want $((NEST_MAX - 1))"; return; }
		((TAGGED[-1] < REFUSED[0])) || { fail "round $round: refusals before acceptances: ${REFUSED[*]}"; return; }
		levels=()
		for ((k = ${#TAGGED[@]} - 1; k >= 0; k--)); do levels+=("${TAGGED[k]}"); done
		untag_levels "${levels[@]}" || return
	done
	lineage_is "$ROOT" "${CHAIN[@]:1}" || return
	kill_root_expect_dead "$ROOT" "${CHAIN[@]:1}"
}

# Tagging an ancestor of tagged roots pushes their tags down below the new
# one: past the bound it is refused whole (after its enrolment), and the
# tags below stay as they were, nested and enforcing.
test_nest_pushdown() {
	local n=$((2 * NEST_MAX + 1)) k top
	local -a levels=()
	chain_pids "$n" || return
	for ((k = n; k >= 0; k--)); do levels+=("$k"); done
	tag_levels "${levels[@]}" || return # innermost first: each pushes the rest down
	((${#TAGGED[@]} == NEST_MAX)) || { fail "${#TAGGED[@]} tags accepted bottom-up, want $NEST_MAX"; return; }
	top=${TAGGED[-1]} # the outermost accepted level
	((top == n - NEST_MAX + 1)) || { fail "accepted levels ${TAGGED[*]}"; return; }
	# nothing half done: the refused levels are not tagged, the others nest
	# in chain order, each inside the next one up
	list_roots "$PIN" || return
	for k in "${REFUSED[@]}"; do
		[[ -z ${LROOT[${CHAIN[k]}]:-} ]] || { fail "refused level $k is tagged (tag ${LROOT[${CHAIN[k]}]})"; return; }
	done
	[[ ${LPARENT[${CHAIN[top]}]:-x} == 0 ]] || { fail "level $top's tag is not top level: parent ${LPARENT[${CHAIN[top]}]:-none}"; return; }
	for ((k = top + 1; k <= n; k++)); do
		[[ ${LPARENT[${CHAIN[k]}]:-x} == "${LROOT[${CHAIN[k - 1]}]:-y}" ]] ||
			{ fail "level $k's tag hangs from ${LPARENT[${CHAIN[k]}]:-none}, not level $((k - 1))'s ${LROOT[${CHAIN[k - 1]}]:-none}"; return; }
	done
	# the middle one's death kills below it only; the top's kills the rest
	k=$((top + NEST_MAX / 2))
	kill_root_expect_dead "${CHAIN[k]}" "${CHAIN[@]:k+1}" || return
	check_alive "${CHAIN[@]:0:k}" || { fail "killing level $k killed above it: $(desc "${DEAD[@]}")"; return; }
	kill_root_expect_dead "${CHAIN[top]}" "${CHAIN[@]:top+1:k-top-1}" || return
	check_alive "${CHAIN[@]:0:top}" || fail "killing level $top killed above it: $(desc "${DEAD[@]}")"
}

# Untags of middle tags in a pseudo-random order, interleaved with tags at
# random levels (nested at birth, or pushing tags below down), 3x the nesting
# bound of levels, twice the old forward bound of merges: the nesting `list`
# shows is the chain's, every level stays in the top's lineage, a remaining
# inner root's death kills below it only, the top's kills everything.
test_merge_random() {
	local n=$((3 * NEST_MAX)) seed=${SEED:-} seed0 untags=0 steps=0 k i pick prev
	local -a on=() lv=()
	[[ -n $seed ]] || seed=$RANDOM
	seed0=$seed
	msg "merge_random: seed $seed0 (SEED=$seed0 replays it)"
	chain_pids "$n" || return
	tag "${CHAIN[0]}" --pin-dir "$PIN" || return
	on[0]=1
	mr_rnd() { seed=$(((seed * 1103515245 + 12345) % 2147483648)); R=$((seed / 65536 % $1)); }
	while ((untags < 2 * FWD_OLD && steps < 20 * n)); do
		steps=$((steps + 1))
		lv=()
		for ((k = 0; k <= n; k++)); do [[ -n ${on[k]:-} ]] && lv+=("$k"); done
		mr_rnd 4
		if ((${#lv[@]} < NEST_MAX || R == 0)); then
			# tag a random untagged level: refused iff the chain is full
			mr_rnd "$n"
			k=$((R + 1))
			[[ -n ${on[k]:-} ]] && continue
			nest_tag "${CHAIN[k]}" || { REASON="seed $seed0: $REASON"; return 1; }
			if ((NESTED != (${#lv[@]} >= NEST_MAX))); then
				fail "seed $seed0: tag level $k with ${#lv[@]} tags on the chain: refused=$NESTED"
				return
			fi
			((NESTED)) || on[k]=1
		elif ((${#lv[@]} > 2)); then
			mr_rnd $((${#lv[@]} - 2)) # a middle one: not the top, not the innermost
			k=${lv[R + 1]}
			untag "${CHAIN[k]}" --pin-dir "$PIN" || { REASON="seed $seed0: $REASON"; return 1; }
			unset 'on[k]'
			untags=$((untags + 1))
		fi
	done
	((untags >= 2 * FWD_OLD)) || { fail "seed $seed0: only $untags untags in $steps steps"; return; }
	lv=()
	for ((k = 0; k <= n; k++)); do [[ -n ${on[k]:-} ]] && lv+=("$k"); done
	list_roots "$PIN" || return
	prev=0
	for k in "${lv[@]}"; do
		pick=${CHAIN[k]}
		[[ -n ${LROOT[$pick]:-} && ${LPARENT[$pick]} == "$prev" ]] ||
			{ fail "seed $seed0: level $k: tag ${LROOT[$pick]:-none} under ${LPARENT[$pick]:-none}, want under $prev (tagged levels ${lv[*]})"; return; }
		prev=${LROOT[$pick]}
	done
	lineage_is "$ROOT" "${CHAIN[@]:1}" || { REASON="seed $seed0: $REASON"; return 1; }
	i=${lv[-1]}
	((i > 0)) || { fail "seed $seed0: no inner tag left"; return; }
	kill_root_expect_dead "${CHAIN[i]}" "${CHAIN[@]:i+1}" || { REASON="seed $seed0: innermost root (level $i): $REASON"; return 1; }
	check_alive "${CHAIN[@]:0:i}" || { fail "seed $seed0: killing level $i killed above it: $(desc "${DEAD[@]}")"; return; }
	kill_root_expect_dead "$ROOT" "${CHAIN[@]:1:i-1}" || REASON="seed $seed0: top: $REASON"
}

# A chain more than twice BG_MAX_DEPTH (128) deep, built before its top is
# tagged, pids running upwards, then downwards (as after a pid wrap: the
# enrolment iterator meets the deep end first, one BG_MAX_DEPTH stretch per
# pass): every level is enrolled, and dies with the top.
test_deep_enrol() {
	local n=300 order pf line p prev
	local -a pids
	for order in up down; do
		SEQ=$((SEQ + 1))
		pf=$TMP/deep$SEQ
		"$HELPERS/deepchain" --life 300 "$pf" "$n" ${order/up/} >>"$TMP/helpers.log" 2>&1 {SLEEPFD}>&- &
		ROOT=$!
		disown "$ROOT" 2>/dev/null
		track "$ROOT"
		wait_file "$pf" 30000 || { fail "$order: setup: deepchain wrote no pid file: $(tail -n 1 "$TMP/helpers.log")"; return; }
		pids=()
		while read -r p line; do pids+=("$p"); done <"$pf"
		track "${pids[@]}"
		((${#pids[@]} == n)) || { fail "$order: setup: ${#pids[@]} levels, want $n"; return; }
		prev=$((1 << 30))
		for p in "${pids[@]}"; do
			if [[ $order == down ]] && ((p >= prev)); then
				fail "setup: pid $p is not below its parent's $prev"
				return
			fi
			prev=$p
		done
		check_alive "${pids[@]}" || { fail "$order: setup: levels died: $(desc "${DEAD[@]}")"; return; }
		tag "$ROOT" --pin-dir "$PIN" || return
		lineage_is "$ROOT" "${pids[@]}" || { REASON="$order: $REASON"; return 1; }
		kill_root_expect_dead "$ROOT" "${pids[@]}" || { REASON="$order: $REASON"; return 1; }
	done
}

# What an agent killed in the middle of its untag writes leaves, or an older
# agent's chains of merges: records forwarding through merged ones, here a
# chain of twice BG_MAX_FORWARD (4) forwards, written into the pinned map
# while no agent runs. The next agent repoints them as it starts: nothing
# drops out of the lineage, the root's death kills the whole chain.
test_repair_chain() {
	local fwd=4 n k line
	local -a ids=()
	n=$((2 * fwd + 1))
	chain_pids "$n" || return
	for ((k = 0; k < n - 1; k++)); do
		tag "${CHAIN[k]}" --pin-dir "$PIN" || return
		[[ $OUT =~ \(tag\ ([0-9]+) ]] || { fail "tag ${CHAIN[k]}: no tag id in '$OUT'"; return; }
		ids+=("${BASH_REMATCH[1]}")
	done
	for ((k = n - 2; k >= 1; k--)); do untag "${CHAIN[k]}" --pin-dir "$PIN" || return; done
	stop_agent
	for ((k = 2; k < n - 1; k++)); do
		"$HELPERS/tagrec" "$PIN" "${ids[k]}" "${ids[k - 1]}" 2>"$TMP/tagrec.err" ||
			{ fail "setup: tagrec: $(<"$TMP/tagrec.err")"; return; }
	done
	line=$("$HELPERS/tagrec" "$PIN" "${ids[n - 2]}")
	[[ $line == "2 ${ids[n - 3]}" ]] || { fail "setup: tag ${ids[n - 2]} reads '$line'"; return; }
	start_agent || { fail "restart: $AGENT_WHY"; return; }
	lineage_is "$ROOT" "${CHAIN[@]:1}" || return
	for ((k = 1; k < n - 1; k++)); do
		line=$("$HELPERS/tagrec" "$PIN" "${ids[k]}")
		[[ $line == "2 ${ids[0]}" ]] || { fail "tag ${ids[k]} reads '$line' after the restart, want '2 ${ids[0]}'"; return; }
	done
	grep -q "repointed $((n - 3)) tag record" "$AGENT_LOG" ||
		{ fail "the agent did not say it repointed $((n - 3)) records: $(grep -m1 repointed "$AGENT_LOG")"; return; }
	kill_root_expect_dead "$ROOT" "${CHAIN[@]:1}"
}
