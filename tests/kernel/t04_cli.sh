# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# shellcheck shell=bash
#
# Kernel tests, the CLI: list, status, adopt, bad input, --help, option order.
#
# Sourced by run.sh: each test_NAME function is a test, run by itself in the
# order of this file (run.sh --list; run.sh NAME).

PF_KTHREAD=0x00200000

test_list() {
	local a b why comma others
	local -a bkids
	tagged_tree nested 2 2 || return
	a=$ROOT
	role b
	b=${ROLE_PIDS[0]}
	role bchild
	bkids=("${ROLE_PIDS[@]}")
	tag "$b" --pin-dir "$PIN" || return
	cli list --json --pin-dir "$PIN"
	[[ $RC == 0 ]] || { fail "list --json: exit $RC: $ERR"; return; }
	comma=$(
		IFS=,
		echo "${TREE_PIDS[*]}"
	)
	others=$(
		IFS=,
		echo "${bkids[*]}"
	)
	why=$(json_check "$TMP/cli.out" "$a:$comma" "$b:$others") || { fail "list --json: $why"; return; }
	cli list --pin-dir "$PIN"
	[[ $RC == 0 ]] || { fail "list: exit $RC: $ERR"; return; }
	grep -qw -- "$a" <<<"$OUT" || { fail "list (human) does not mention the root $a: $(oneline "$OUT")"; return; }
	grep -qw -- "$b" <<<"$OUT" || fail "list (human) does not mention the nested root $b"
}

test_status() {
	local rel='' want f
	cli status --pin-dir "$PIN"
	[[ $RC == 0 ]] || { fail "status with a running agent: exit $RC: $ERR"; return; }
	parse_status || { fail "status lacks the 'agent: enforcing (pid N), mode M' or 'kernel: R, features:' line: $(oneline "$OUT")"; return; }
	[[ $S_APID == "$AGENT_PID" ]] || { fail "status names agent pid $S_APID, the agent is $AGENT_PID"; return; }
	want=$(expected_mode)
	[[ $AGENT_MODE == "$want" ]] ||
		{ fail "status says mode $AGENT_MODE, expected $want (MODE=${MODE:-auto}, features:$FEATURES)"; return; }
	{ read -r rel </proc/sys/kernel/osrelease; } 2>/dev/null
	[[ -z $rel || $S_KREL == "$rel" ]] || { fail "status says kernel '$S_KREL', this is $rel"; return; }
	for f in btf ringbuf task_iter; do # the agent refuses to run without them
		has_feature "$f" || { fail "status: feature $f missing from '$FEATURES'"; return; }
	done
	for f in $FEATURES; do
		case $f in
		btf | ringbuf | task_iter | task_from_pid | send_signal_task | exit_group_dead) ;;
		*) fail "status: unknown feature '$f'"; return ;;
		esac
	done
	for f in kernel_kills kills root_exits; do
		counter "$f" || { fail "status: no $f=N on the counters line: $(oneline "$OUT")"; return; }
	done
	cli status --pin-dir "$PIN-none"
	[[ $RC == 1 ]] || { fail "status for a pin dir with no agent: exit $RC, expected 1"; return; }
	[[ $(grep -c '' "$TMP/cli.err") == 1 ]] || fail "status with no agent: expected one line on stderr, got: $ERR"
}

test_bad_input() {
	local kthread="" p exp errs=() n
	local -a kids
	tagged_tree children 2 || return
	kids=("${TREE_PIDS[@]}")
	for p in 2 /proc/[0-9]*; do
		p=${p#/proc/}
		read_stat "$p" || continue
		if ((S_FLAGS & PF_KTHREAD)); then
			kthread=$p
			break
		fi
	done
	[[ -n $kthread ]] || { fail "setup: no kernel thread found"; return; }
	local -a cases=(
		"2|tag abc --pin-dir $PIN"
		"2|tag -5 --pin-dir $PIN"
		"2|tag 0 --pin-dir $PIN"
		"2|tag --pin-dir $PIN"
		"2|tag 1 2 --pin-dir $PIN"
		"2|tag --bogus 5 --pin-dir $PIN"
		"2|bogus-subcommand"
		"2|"
		"2|untag abc --pin-dir $PIN"
		"2|exec --pin-dir $PIN"
		"2|exec --pin-dir $PIN --"
		"2|list --bogus --pin-dir $PIN"
		"2|tag -55 --pin-dir $PIN|tag: not a pid: '-55'"
		"2|untag --signal TERM 5 --pin-dir $PIN|untag: unknown option '--signal'"
		"2|tag -x 5 --pin-dir $PIN|tag: unknown option '-x'"
		"2|list --json=3 --pin-dir $PIN|list: option '--json' takes no value"
		"2|list -55 --pin-dir $PIN|list: unknown option '-5'"
		"2|tag 5 --pin-dir $PIN --signal|tag: option '--signal' needs an argument"
		"2|status --pin-dir|status: option '--pin-dir' needs an argument"
		"2|agent -vq --pin-dir $PIN|agent: unknown option '-q'"
		"2|agent --verbose=1 --pin-dir $PIN|agent: option '--verbose' takes no value"
		"1|tag 1 --pin-dir $PIN"
		"1|tag 99999999 --pin-dir $PIN"
		"1|tag $kthread --pin-dir $PIN"
		"1|tag $AGENT_PID --pin-dir $PIN"
		"2|kill abc --pin-dir $PIN"
		"2|kill --pin-dir $PIN"
		"2|kill 5 --timeout 1s --pin-dir $PIN|kill: --timeout needs --wait"
		"2|exec --forward-lineage --pin-dir $PIN -- true|exec: --forward-lineage needs --init"
		"2|tag 5 --forward-lineage --pin-dir $PIN|tag: unknown option '--forward-lineage'"
		"2|kill 5 --wait --timeout soon --pin-dir $PIN|kill: invalid --timeout 'soon'"
		"2|kill 5 --grace 2h --pin-dir $PIN|kill: invalid --grace '2h' (at most 1h)"
		"1|kill 1 --pin-dir $PIN"
		"1|kill $kthread --pin-dir $PIN"
		"125|wait --pin-dir $PIN|wait: missing PID"
		"125|wait abc --pin-dir $PIN"
		"125|wait 5 --signal TERM --pin-dir $PIN|wait: unknown option '--signal'"
		"125|wait 5 --timeout -1s --pin-dir $PIN"
		"125|wait 1 --pin-dir $PIN"
		"2|release --pin-dir $PIN|release: missing PID"
		"2|release abc --pin-dir $PIN"
		"2|release 5 --signal TERM --pin-dir $PIN|release: unknown option '--signal'"
		"2|release 5 --allow-breakaway --pin-dir $PIN|release: unknown option '--allow-breakaway'"
		"2|tag 5 --breakaway --pin-dir $PIN|tag: unknown option '--breakaway'"
		"2|exec --breakaway --init --pin-dir $PIN -- true|exec: --breakaway runs CMD untagged"
		"2|exec --breakaway --allow-breakaway --pin-dir $PIN -- true|exec: --breakaway runs CMD untagged"
		"2|tag 5 --max-procs 0 --pin-dir $PIN|tag: invalid --max-procs '0' (1 to 16777216)"
		"2|tag 5 --max-procs 16777217 --pin-dir $PIN|tag: invalid --max-procs '16777217'"
		"2|tag 5 --max-procs -3 --pin-dir $PIN|tag: invalid --max-procs '-3'"
		"2|tag 5 --max-procs 4x --pin-dir $PIN|tag: invalid --max-procs '4x'"
		"2|tag 5 --max-procs --pin-dir $PIN"
		"2|kill 5 --max-procs 4 --pin-dir $PIN|kill: unknown option '--max-procs'"
		"2|exec --breakaway --max-procs 4 --pin-dir $PIN -- true|exec: --breakaway runs CMD untagged"
		"1|release 1 --pin-dir $PIN"
		"1|release $ROOT --pin-dir $PIN|pid $ROOT is the root of tag"
		"1|release $$ --pin-dir $PIN|pid $$ is not in a tagged lineage"
	)
	local c args want
	for c in "${cases[@]}"; do
		exp=${c%%|*}
		args=${c#*|}
		want=
		[[ $args == *'|'* ]] && want=${args#*|} args=${args%%|*}
		# shellcheck disable=SC2086
		cli $args
		if [[ $RC == 0 && $args == tag* ]]; then
			# never leave pid 1, a kthread or the agent tagged
			# shellcheck disable=SC2086
			for p in ${args#tag }; do
				[[ $p =~ ^[0-9]+$ ]] && bounded 15 "$BPFGUARD" untag "$p" --pin-dir "$PIN" >/dev/null 2>&1
			done
		fi
		n=$(grep -c '' "$TMP/cli.err")
		if [[ $RC != "$exp" ]]; then
			errs+=("'$args' exit $RC (want $exp)")
		elif [[ $n != 1 ]]; then
			errs+=("'$args' printed $n lines on stderr (want 1)")
		elif [[ -n $want && $(<"$TMP/cli.err") != "bpfguard: $want"* ]]; then
			errs+=("'$args' said '$(<"$TMP/cli.err")' (want 'bpfguard: $want...')")
		fi
	done
	agent_ok || errs+=("the agent is not running after the bad input")
	((${#errs[@]} == 0)) || { fail "$(IFS=';'; echo "${errs[*]}")"; return; }
	kill_root_expect_dead "$ROOT" "${kids[@]}" || REASON="the tag made before the bad input was lost: $REASON"
}

test_help() {
	local sub errs=()
	# --pin-dir to a dir nobody uses: a --help that is not honoured must not
	# touch a real agent (unload!)
	for sub in agent status tag untag list exec unload kill wait events adopt; do
		cli "$sub" --help --pin-dir "$PIN-none"
		if [[ $RC != 0 ]]; then
			errs+=("$sub --help: exit $RC")
		elif [[ -z $OUT ]]; then
			errs+=("$sub --help: nothing on stdout")
		fi
	done
	((${#errs[@]} == 0)) || fail "$(IFS=';'; echo "${errs[*]}")"
}

test_option_order() {
	start_tree --go children 2
	tag --pin-dir "$PIN" "$ROOT" || return
	untag "$ROOT" --pin-dir "$PIN" || return
	tag "$ROOT" --pin-dir "$PIN" || return
	cli list --pin-dir "$PIN" --json
	[[ $RC == 0 ]] || { fail "list --pin-dir P --json: exit $RC: $ERR"; return; }
	local why
	why=$(json_check "$TMP/cli.out" "$ROOT:") || { fail "list --pin-dir P --json: $why"; return; }
	: >"$TREE_GO"
	wait_tree || return
	kill_root_expect_dead "$ROOT" "${TREE_PIDS[@]}"
}

test_adopt() {
	local r x xc
	tagged_tree children 1 || return
	r=$ROOT
	local -a rt=("${TREE_PIDS[@]}")
	start_tree --go children 1 # a process that r did not fork
	x=$ROOT
	cli adopt "$x" "$r" --pin-dir "$PIN"
	[[ $RC == 1 && $ERR == *"not in a tagged lineage"* ]] || { fail "adopt into an untagged ROOT: exit $RC: $ERR"; return; }
	cli adopt "$r" --pin-dir "$PIN"
	[[ $RC == 2 ]] || { fail "adopt with one pid: exit $RC (want 2): $ERR"; return; }
	cli adopt "$r" "$x" --pin-dir "$PIN"
	[[ $RC == 0 ]] || { fail "adopt $r $x: exit $RC: $ERR"; return; }
	: >"$TREE_GO" # x forks its child only now
	wait_tree || return
	xc=${TREE_PIDS[0]}
	cli list --pin-dir "$PIN"
	[[ $OUT == *"$x "*"[adopted]"* && $OUT == *"$xc "* ]] || { fail "list does not show $x as adopted with its child $xc: $(oneline "$OUT")"; return; }
	if setup_users; then
		utree "$TUID" children 1 || return
		ucli "$TUID" tag "$ROOT" --pin-dir "$PIN"
		[[ $RC == 0 ]] || { fail "uid $TUID tagging its own process: exit $RC: $ERR"; return; }
		ucli "$TUID" adopt "$ROOT" "$r" --pin-dir "$PIN"
		[[ $RC == 1 && $ERR == *"permission denied"* ]] || { fail "uid $TUID adopting root's process: exit $RC: $ERR"; return; }
	else
		return
	fi
	kill_root_expect_dead "$r" "${rt[@]}" "$x" "$xc"
}
