# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# shellcheck shell=bash
#
# Kernel tests, PID namespaces: a tree inside one, the CLI inside one.
#
# Sourced by run.sh: each test_NAME function is a test, run by itself in the
# order of this file (run.sh --list; run.sh NAME).

test_pidns() {
	local ns line
	local -a f
	tagged_tree pidns || return
	role nsinit
	ns=${ROLE_PIDS[0]}
	line=$(grep '^NSpid:' "/proc/$ns/status" 2>/dev/null)
	read -ra f <<<"$line"
	[[ ${#f[@]} == 3 && ${f[2]} == 1 ]] || { fail "setup: $ns is not the init of a new pid namespace ($line)"; return; }
	kill_root_expect_dead "$ROOT" "${TREE_PIDS[@]}"
}

# bpfguard run inside another PID namespace tags the process its pid names
# there; list shows the host pid and the namespace's.
test_pidns_tag() {
	local u init r nsr f=$TMP/nstag$$ p line
	local -a kids=()
	rm -f "$f"
	unshare -p -f --mount-proc /bin/sh -c "/bin/sh -c 'sleep 300 & sleep 300 & wait' & r=\$!; sleep 0.2; \"$BPFGUARD\" tag \$r --pin-dir \"$PIN\" >$f.out 2>&1; echo \"\$r \$?\" >$f.tmp; mv $f.tmp $f; wait" \
		>>"$TMP/helpers.log" 2>&1 {SLEEPFD}>&- &
	u=$!
	disown "$u" 2>/dev/null
	track "$u"
	wait_file "$f" 10000 || { fail "setup: nothing ran inside the new PID namespace: $(tail -n 2 "$TMP/helpers.log")"; return; }
	read -r nsr rc <"$f"
	[[ $rc == 0 ]] || { fail "tag $nsr inside the namespace: exit $rc: $(<"$f.out")"; return; }
	# the host pids: unshare -> the namespace's init -> r -> two sleeps
	children_of "$u" && init=${KIDS[0]:-}
	[[ -n $init ]] && children_of "$init" && r=${KIDS[0]:-}
	[[ -n ${r:-} ]] && children_of "$r" && kids=("${KIDS[@]}")
	((${#kids[@]} == 2)) || { fail "setup: cannot find the namespace's processes from the host (unshare $u, init ${init:-?}, r ${r:-?})"; return; }
	track "$init" "$r" "${kids[@]}"
	line=$(grep '^NSpid:' "/proc/$r/status")
	[[ $line == *$'\t'"$nsr" ]] || { fail "setup: host pid $r is not pid $nsr inside ($line)"; return; }
	cli list --pin-dir "$PIN"
	[[ $OUT == *"$r sh (pid $nsr in its namespace) [tag "* ]] || { fail "list does not show host pid $r as the tagged root with namespace pid $nsr: $(oneline "$OUT")"; return; }
	kill_root_expect_dead "$r" "${kids[@]}"
}
