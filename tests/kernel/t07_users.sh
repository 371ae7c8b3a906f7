# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# shellcheck shell=bash
#
# Kernel tests, unprivileged users: the kill(2) rule, the trust boundary
# (user namespaces, capless root, members of a lineage, the run directory),
# per-uid quotas.
#
# Sourced by run.sh: each test_NAME function is a test, run by itself in the
# order of this file (run.sh --list; run.sh NAME).

QF_FD=  # qforker_start: the forker's fifo (writing end), its pid file, the last child
QF_OUT=
QF_PID=
QS_KEPT=() # quota_storm: the children that must live, every child
QS_ALL=()
QU=     # quota_used: processes and tags charged to a uid
QT=

test_user_tag_own() {
	local r
	setup_users || return
	utree "$TUID" children 2 || return
	r=$ROOT
	read_stat "${TREE_PIDS[0]}" && [[ $(grep '^Uid:' "/proc/${TREE_PIDS[0]}/status") == *$'\t'$TUID$'\t'* ]] ||
		{ fail "setup: the tree does not run as uid $TUID"; return; }
	ucli "$TUID" tag "$r" --pin-dir "$PIN"
	[[ $RC == 0 ]] || { fail "uid $TUID could not tag its own process: exit $RC: $ERR"; return; }
	cli list --pin-dir "$PIN"
	[[ $OUT == *"$r "*"[tag "*"] (uid $TUID)"* ]] || { fail "list does not show uid $TUID's tag on $r: $(oneline "$OUT")"; return; }
	kill_root_expect_dead "$r" "${TREE_PIDS[@]}" || return

	# exec: an unprivileged user runs a command tagged
	"$UDIR/asuser" "$TUID" "$UDIR/bpfguard" exec --pin-dir "$PIN" -- /bin/sh -c \
		"sleep 300 & echo \$! >$UDIR/w/x$$.tmp; mv $UDIR/w/x$$.tmp $UDIR/w/x$$; echo \$\$ >$UDIR/w/y$$.tmp; mv $UDIR/w/y$$.tmp $UDIR/w/y$$; wait" >>"$TMP/helpers.log" 2>&1 {SLEEPFD}>&- &
	r=$!
	disown "$r" 2>/dev/null
	track "$r"
	wait_file "$UDIR/w/x$$" 5000 && wait_file "$UDIR/w/y$$" 5000 || { fail "exec as uid $TUID did not start its command: $(tail -n 2 "$TMP/helpers.log")"; return; }
	local c
	read -r c <"$UDIR/w/x$$"
	track "$c"
	[[ $(<"$UDIR/w/y$$") == "$r" ]] || { fail "setup: exec did not exec in place"; return; }
	kill_root_expect_dead "$r" "$c"
}

test_user_denied() {
	local mine other rootp d
	setup_users || return
	utree "$TUID2" children 1 || return
	other=$ROOT
	tagged_tree children 1 || return
	rootp=$ROOT
	local -a rk=("${TREE_PIDS[@]}")
	utree "$TUID" children 1 || return
	mine=$ROOT
	ucli "$TUID" tag "$other" --pin-dir "$PIN"
	[[ $RC == 1 && $ERR == *"permission denied"* ]] || { fail "uid $TUID tagging uid $TUID2's process: exit $RC: $ERR"; return; }
	ucli "$TUID" tag "$rootp" --pin-dir "$PIN"
	[[ $RC == 1 && $ERR == *"permission denied"* ]] || { fail "uid $TUID re-tagging root's process: exit $RC: $ERR"; return; }
	ucli "$TUID" untag "$rootp" --pin-dir "$PIN"
	[[ $RC == 1 && $ERR == *"permission denied"* ]] || { fail "uid $TUID untagging root's tag: exit $RC: $ERR"; return; }
	ucli "$TUID" tag 1 --pin-dir "$PIN"
	[[ $RC == 1 ]] || { fail "uid $TUID tagging pid 1: exit $RC: $ERR"; return; }
	ucli "$TUID" unload --pin-dir "$PIN"
	[[ $RC == 1 ]] || { fail "uid $TUID unloading: exit $RC: $ERR"; return; }
	for d in procs tags deaths; do
		bounded 15 "$UDIR/asuser" "$TUID" --obj-get "$PIN/$d" >"$TMP/objget" 2>&1
		[[ $BRC == 1 ]] || { fail "uid $TUID opened pinned map $d: $(<"$TMP/objget")"; return; }
	done
	ucli "$TUID" tag "$mine" --pin-dir "$PIN"
	[[ $RC == 0 ]] || { fail "uid $TUID tagging its own process: exit $RC: $ERR"; return; }
	ucli "$TUID2" untag "$mine" --pin-dir "$PIN"
	[[ $RC == 1 && $ERR == *"permission denied"* ]] || { fail "uid $TUID2 untagging uid $TUID's tag: exit $RC: $ERR"; return; }
	agent_ok || { fail "the agent died"; return; }
	cli list --pin-dir "$PIN"
	[[ $OUT == *"$rootp "*"[tag "* && $OUT == *"$mine "*"(uid $TUID)"* ]] || { fail "a tag was lost: $(oneline "$OUT")"; return; }
	ucli "$TUID" untag "$mine" --pin-dir "$PIN"
	[[ $RC == 0 ]] || { fail "uid $TUID untagging its own tag: exit $RC: $ERR"; return; }
	# root's tag still kills
	kill_root_expect_dead "$rootp" "${rk[@]}"
}

# A user's tagged process has a child that became root entirely (su-like,
# through a setuid-root binary) and one that did not: the first is reported,
# not killed; the second dies.
test_user_setuid_spared() {
	local sh plain suid before after line
	setup_users || return
	cp "$HELPERS/asuser" "$UDIR/suroot" && chown 0:0 "$UDIR/suroot" && chmod 4755 "$UDIR/suroot" ||
		{ fail "setup: cannot make a setuid-root copy of asuser"; return; }
	rm -f "$UDIR/w/s1" "$UDIR/w/s2"
	"$UDIR/asuser" "$TUID" /bin/sh -c "$UDIR/suroot 0 sleep 300 & echo \$! >$UDIR/w/s1.tmp; mv $UDIR/w/s1.tmp $UDIR/w/s1; sleep 300 & echo \$! >$UDIR/w/s2.tmp; mv $UDIR/w/s2.tmp $UDIR/w/s2; wait" \
		>>"$TMP/helpers.log" 2>&1 {SLEEPFD}>&- &
	sh=$!
	disown "$sh" 2>/dev/null
	track "$sh"
	wait_file "$UDIR/w/s1" 5000 && wait_file "$UDIR/w/s2" 5000 || { fail "setup: the user's shell did not start its children"; return; }
	read -r suid <"$UDIR/w/s1"
	read -r plain <"$UDIR/w/s2"
	track "$suid" "$plain"
	now
	local deadline=$((NOW + 5000))
	while :; do # the setuid child must have become root before the tag
		line=$(grep '^Uid:' "/proc/$suid/status" 2>/dev/null)
		[[ $line == "Uid:"$'\t0\t0\t0\t0' ]] && break
		now
		((NOW < deadline)) || { fail "setup: the setuid-root child did not become root ($line; is $UDIR on a nosuid mount?)"; return; }
		msleep 0.01
	done
	log_mark
	ucli "$TUID" tag "$sh" --pin-dir "$PIN"
	[[ $RC == 0 ]] || { fail "uid $TUID tagging its shell: exit $RC: $ERR"; return; }
	events_start "$TMP/ev.suid" "$TUID" || return # the owner hears of the spared one
	cli status --pin-dir "$PIN"
	before=$(sed -n 's/.*kills_refused_uid=\([0-9]*\).*/\1/p' <<<"$OUT")
	kill_root_expect_dead "$sh" "$plain" || return
	msleep 0.5
	check_alive "$suid" || { fail "the root-owned descendant of uid $TUID's tag was killed"; return; }
	cli status --pin-dir "$PIN"
	after=$(sed -n 's/.*kills_refused_uid=\([0-9]*\).*/\1/p' <<<"$OUT")
	[[ -n $before && -n $after ]] && ((after > before)) ||
		{ fail "kills_refused_uid did not grow ($before -> $after)"; return; }
	log_since | grep -q "pid $suid not killed" || { fail "no log line reports pid $suid: $(agent_log_tail)"; return; }
	line="no kill_refused line within 10 s"
	wait_grep "$TMP/ev.suid" '"event":"kill_refused"' 10000 && events_stop "$EV_PID" &&
		line=$(json_check --lines "$TMP/ev.suid" --one event=kill_refused pid="$suid" owner_uid="$TUID" comm=sleep) ||
		fail "the tag owner's event stream: $line"
}

# Root of a user namespace of its own (`unshare -Ur`, which any user may
# do) is its user to the agent, not root: it cannot adopt a process it may
# not signal into its lineage (which would have it killed), untag root's
# tag, tag a stranger's process or unload the agent, and it sees the events
# of its own tags only. Issue 11, attack 1: /proc's CapEff shows the
# capabilities of the caller's own user namespace, and it was trusted.
test_userns_caller() {
	local mine victim rootp why=''
	setup_users || return
	tagged_tree children 1 || return
	rootp=$ROOT
	local -a rk=("${TREE_PIDS[@]}")
	sleep 300 {SLEEPFD}>&- &
	victim=$!
	disown "$victim" 2>/dev/null
	track "$victim"
	utree "$TUID" children 1 || return
	mine=$ROOT
	local -a mk=("${TREE_PIDS[@]}")
	xcli "$TUID" --userns tag "$mine" --pin-dir "$PIN"
	[[ $RC == 0 ]] || { fail "uid $TUID in its own user namespace could not tag its own process: exit $RC: $ERR"; return; }
	xcli "$TUID" --userns adopt "$mine" "$victim" --pin-dir "$PIN"
	expect_refused "adopt of root's process $victim into uid $TUID's lineage, from a user namespace" || return
	xcli "$TUID" --userns untag "$rootp" --pin-dir "$PIN"
	expect_refused "untag of root's tag from a user namespace" || return
	xcli "$TUID" --userns tag "$victim" --pin-dir "$PIN"
	expect_refused "tag of root's process from a user namespace" || return
	xcli "$TUID" --userns unload --pin-dir "$PIN"
	expect_refused "unload from a user namespace" || return
	first_event "$TUID" --userns
	[[ $OUT == *'"event":"subscribed"'*'"privileged":false'* ]] ||
		{ fail "a subscriber in a user namespace: first line '$OUT', expected subscribed, privileged false"; return; }
	kill_root_expect_dead "$mine" "${mk[@]}" || return
	msleep 0.2
	check_alive "$victim" "$rootp" "${rk[@]}" ||
		why="killed with uid $TUID's lineage though never its to signal: $(desc "${DEAD[@]}")"
	[[ -z $why ]] || { fail "$why"; return; }
	kill_root_expect_dead "$rootp" "${rk[@]}"
}

# uid 0 with no capability (a root container run with --cap-drop ALL) is
# not privileged: it follows the kill(2) rule like any user. It may tag a
# uid-0 process (kill(2) lets it signal one) and that tag kills its lineage;
# it may not tag or adopt another user's process, untag a privileged tag,
# unload the agent, or see root's tags and the machine-wide counters.
test_capless_root() {
	local upid rootp own
	setup_users || return
	utree "$TUID" children 1 || return
	upid=$ROOT
	tagged_tree children 1 || return
	rootp=$ROOT
	local -a rk=("${TREE_PIDS[@]}")
	xcli 0 --no-caps tag "$upid" --pin-dir "$PIN"
	expect_refused "capless uid 0 tagging uid $TUID's process" || return
	xcli 0 --no-caps adopt "$rootp" "$upid" --pin-dir "$PIN"
	expect_refused "capless uid 0 adopting uid $TUID's process" || return
	xcli 0 --no-caps untag "$rootp" --pin-dir "$PIN"
	expect_refused "capless uid 0 untagging a privileged tag" || return
	xcli 0 --no-caps unload --pin-dir "$PIN"
	expect_refused "capless uid 0 unloading" || return
	first_event 0 --no-caps
	[[ $OUT == *'"privileged":false'* ]] || { fail "capless uid 0 subscribed as privileged: $OUT"; return; }
	start_tree --go children 1
	own=$ROOT
	xcli 0 --no-caps tag "$own" --pin-dir "$PIN"
	[[ $RC == 0 ]] || { fail "capless uid 0 could not tag a uid-0 process: exit $RC: $ERR"; return; }
	: >"$TREE_GO"
	wait_tree || return
	local -a ok=("${TREE_PIDS[@]}")
	xcli 0 --no-caps list --json --pin-dir "$PIN"
	[[ $RC == 0 && $OUT == *"\"pid\":$own,"* && $OUT != *"\"pid\":$rootp,"* ]] ||
		{ fail "capless uid 0's list: exit $RC, expected its own tag of $own and not root's $rootp: $(oneline "$OUT")"; return; }
	xcli 0 --no-caps status --json --pin-dir "$PIN"
	[[ $RC == 0 && $OUT == *'"scope":"own","tags":1,'* ]] ||
		{ fail "capless uid 0's status: exit $RC, expected scope own with its 1 tag: $(oneline "$OUT")"; return; }
	kill_root_expect_dead "$own" "${ok[@]}" || return
	check_alive "$rootp" "${rk[@]}" || { fail "root's lineage died with capless uid 0's: $(desc "${DEAD[@]}")"; return; }
	kill_root_expect_dead "$rootp" "${rk[@]}"
}

# A member of a lineage cannot free itself: the root of a user's tag, and a
# child of it, ask the agent, as that same user, to untag the tag or re-tag
# it with a signal that kills nothing (CONT, an hour's grace). Both are
# refused; the tag still kills them. From outside the lineage the same user
# may still change its tag.
test_member_untag() {
	local d sh kid i r1 r2 r3
	setup_users || return
	d=$UDIR/w/member$$
	rm -rf "$d"
	mkdir -m 1777 "$d" || { fail "setup: mkdir $d"; return; }
	"$UDIR/asuser" "$TUID" /bin/sh -c "
		sleep 300 & echo \$! >$d/kid.tmp; mv $d/kid.tmp $d/kid
		echo \$\$ >$d/me.tmp; mv $d/me.tmp $d/me
		i=0; while [ ! -e $d/go ] && [ \$i -lt 600 ]; do sleep 0.05; i=\$((i + 1)); done
		B=$UDIR/bpfguard
		\$B untag \$\$ --pin-dir $PIN 2>$d/e1; echo \$? >$d/r1
		\$B tag \$\$ --signal CONT --grace 1h --pin-dir $PIN 2>$d/e2; echo \$? >$d/r2
		(\$B untag \$\$ --pin-dir $PIN 2>$d/e3; echo \$? >$d/r3.tmp; mv $d/r3.tmp $d/r3)
		wait" >>"$TMP/helpers.log" 2>&1 {SLEEPFD}>&- &
	sh=$!
	disown "$sh" 2>/dev/null
	track "$sh"
	wait_file "$d/me" 10000 && wait_file "$d/kid" 10000 || { fail "setup: the member shell did not start: $(tail -n 2 "$TMP/helpers.log")"; return; }
	read -r kid <"$d/kid"
	track "$kid"
	[[ $(<"$d/me") == "$sh" ]] || { fail "setup: the shell is not $sh"; return; }
	ucli "$TUID" tag "$sh" --pin-dir "$PIN"
	[[ $RC == 0 ]] || { fail "setup: uid $TUID tagging its shell: exit $RC: $ERR"; return; }
	: >"$d/go"
	wait_file "$d/r3" 10000 || { fail "the member shell did not finish its requests"; return; }
	r1=$(<"$d/r1") r2=$(<"$d/r2") r3=$(<"$d/r3")
	[[ $r1 == 1 && $(<"$d/e1") == *"lineage"* ]] || { fail "the tagged root untagging itself: exit $r1: $(<"$d/e1")"; return; }
	[[ $r2 == 1 && $(<"$d/e2") == *"lineage"* ]] || { fail "the tagged root re-tagging itself with SIGCONT and 1h grace: exit $r2: $(<"$d/e2")"; return; }
	[[ $r3 == 1 && $(<"$d/e3") == *"lineage"* ]] || { fail "a child of the tagged root untagging it: exit $r3: $(<"$d/e3")"; return; }
	cli list --json --pin-dir "$PIN"
	[[ $OUT == *"\"pid\":$sh,"*'"signal"'* || $OUT == *"\"pid\":$sh,"* ]] || { fail "the tag of $sh is gone after its members' requests: $(oneline "$OUT")"; return; }
	ucli "$TUID" tag "$sh" --signal KILL --pin-dir "$PIN"
	[[ $RC == 0 ]] || { fail "uid $TUID re-tagging from outside the lineage: exit $RC: $ERR"; return; }
	kill_root_expect_dead "$sh" "$kid"
}

# Each caller sees its own: an unprivileged user's list and status show its
# tags alone (not root's, not another user's, no machine-wide counter); root
# inside a PID namespace of its own sees only what is visible there, by the
# pids there. Issue 11, attack 5: list answered every caller with every tag.
test_list_private() {
	local rootp mine f=$TMP/plist$$ u
	setup_users || return
	tagged_tree children 1 || return
	rootp=$ROOT
	local -a rk=("${TREE_PIDS[@]}")
	utree "$TUID" children 1 || return
	mine=$ROOT
	ucli "$TUID" tag "$mine" --pin-dir "$PIN"
	[[ $RC == 0 ]] || { fail "setup: uid $TUID tagging its process: exit $RC: $ERR"; return; }
	ucli "$TUID" list --json --pin-dir "$PIN"
	[[ $RC == 0 && $OUT == *"\"pid\":$mine,"* && $OUT != *"\"pid\":$rootp,"* && $OUT != *"\"pid\":${rk[0]}"[],]* ]] ||
		{ fail "uid $TUID's list: exit $RC, expected its tag of $mine only, not root's $rootp: $(oneline "$OUT$ERR")"; return; }
	ucli "$TUID2" list --pin-dir "$PIN"
	[[ $RC == 0 && $OUT == "no tagged processes" ]] || { fail "uid $TUID2's list: exit $RC: $(oneline "$OUT")"; return; }
	ucli "$TUID2" status --json --pin-dir "$PIN"
	[[ $RC == 0 && $OUT == *'"scope":"own","tags":0,"tracked":0,'* && $OUT == *'"kills":0,'* && $OUT == *'"root_exits":0,'* ]] ||
		{ fail "uid $TUID2's status: exit $RC, expected scope own, no tag and zeroed counters: $(oneline "$OUT")"; return; }
	ucli "$TUID" status --pin-dir "$PIN"
	[[ $RC == 0 && $OUT == *"1 active, 1 tracked descendants (your own"* && $OUT != *counters* ]] ||
		{ fail "uid $TUID's status: exit $RC: $(oneline "$OUT")"; return; }
	cli status --json --pin-dir "$PIN"
	[[ $OUT == *'"scope":"machine","tags":2,'* ]] || { fail "root's status: $(oneline "$OUT")"; return; }
	cli list --pin-dir "$PIN"
	[[ $OUT == *"$rootp "* && $OUT == *"$mine "* ]] || { fail "root's list lacks a tag: $(oneline "$OUT")"; return; }

	# root in a PID namespace: tags there are listed by their pids there, and
	# nothing of the host
	rm -f "$f" "$f.out"
	unshare -p -f --mount-proc /bin/sh -c "sleep 300 & r=\$!; sleep 0.2; \"$BPFGUARD\" tag \$r --pin-dir \"$PIN\" >$f.tag 2>&1; \"$BPFGUARD\" list --json --pin-dir \"$PIN\" >$f.out 2>&1; echo \"\$r \$?\" >$f.tmp; mv $f.tmp $f; wait" \
		>>"$TMP/helpers.log" 2>&1 {SLEEPFD}>&- &
	u=$!
	disown "$u" 2>/dev/null
	track "$u"
	wait_file "$f" 10000 || { fail "setup: nothing ran inside the new PID namespace: $(tail -n 2 "$TMP/helpers.log")"; return; }
	children_of "$u" && local init=${KIDS[0]:-}
	[[ -n ${init:-} ]] && children_of "$init" && track "${KIDS[@]}"
	track "${init:-}"
	local nsr rc
	read -r nsr rc <"$f"
	OUT=$(<"$f.out")
	[[ $rc == 0 && $OUT == *"\"pid\":$nsr,"* && $OUT != *"\"pid\":$rootp,"* && $OUT != *"\"pid\":$mine,"* ]] ||
		{ fail "list inside a PID namespace: exit $rc, expected its own tag of pid $nsr and nothing of the host ($rootp, $mine): $(oneline "$OUT")"; return; }
	kill_root_expect_dead "$rootp" "${rk[@]}"
}

# The run directory and what clients trust there. The agent refuses a
# /run/bpfguard that others may write and a lock file that is a symlink (one
# line, exit 1, nothing pinned); a client finds a socket at the agent's
# place that is not root's, and sends it nothing, not even its request.
test_run_dir_safe() {
	local sock lock mode f p lines errs=()
	setup_users || return
	f=$UDIR/w/fake$$ # the fake agent writes its ready file as uid $TUID
	xagent_start || { fail "setup: second agent: $AGENT_WHY"; return; }
	[[ $(<"$XAGENT_LOG") =~ (/run/bpfguard/[^ ]*)\.sock ]] || { fail "setup: the agent's log names no socket"; return; }
	sock=${BASH_REMATCH[1]}.sock lock=${BASH_REMATCH[1]}.lock
	xagent_stop
	[[ ! -e $sock ]] || { fail "setup: $sock left behind by a stopped agent"; return; }

	# a socket in the agent's place, listened on by uid $TUID
	rm -f "$f.ready"
	"$HELPERS/fakeagent" "$TUID" "$sock" "$f.ready" $((10 * BOUND)) >"$f" 2>&1 {SLEEPFD}>&- &
	p=$!
	track "$p"
	wait_file "$f.ready" 10000 || { fail "setup: the fake agent did not listen: $(<"$f")"; rm -f "$sock"; return; }
	sleep 300 {SLEEPFD}>&- &
	track "$!"
	cli tag "$!" --pin-dir "$XPIN"
	lines=$(grep -c '' "$TMP/cli.err")
	[[ $RC == 1 && $lines == 1 && $ERR == *"not root's"* ]] ||
		errs+=("tag through a socket held by uid $TUID: exit $RC, $lines line(s): $(oneline "$ERR")")
	wait_dead $((15000 * BOUND)) "$p" || errs+=("the fake agent did not finish")
	wait "$p" 2>/dev/null
	[[ $(<"$f") == nothing ]] || errs+=("the fake agent was sent something: $(<"$f")")
	rm -f "$sock"

	# a lock that is a symlink
	rm -f "$lock"
	ln -s "$TMP/elsewhere" "$lock" || { fail "setup: ln -s"; return; }
	cli agent --pin-dir "$XPIN"
	[[ $RC == 1 && $ERR == *"$lock"* ]] || errs+=("an agent with its lock a symlink: exit $RC: $(oneline "$ERR")")
	[[ ! -e $TMP/elsewhere ]] || errs+=("the agent followed the lock's symlink")
	rm -f "$lock"

	# a run directory others may write
	mode=$(stat -c %a /run/bpfguard) || { fail "setup: stat /run/bpfguard"; return; }
	chmod 0777 /run/bpfguard
	cli agent --pin-dir "$XPIN"
	chmod "$mode" /run/bpfguard
	lines=$(grep -c '^<3>' "$TMP/cli.err")
	[[ $RC == 1 && $lines == 1 && $ERR == *"/run/bpfguard"*"writable by nobody else"* ]] ||
		errs+=("an agent with /run/bpfguard mode 0777: exit $RC, $lines error line(s): $(oneline "$ERR")")
	[[ ! -e $XPIN ]] || errs+=("a refused agent created $XPIN")
	((${#errs[@]} == 0)) || { fail "$(IFS=';'; echo "${errs[*]}")"; return; }
	xagent_start || fail "an agent after the checks: $AGENT_WHY"
	xagent_stop
}

# quota_storm UID N KEEP: the forker (tagged by UID) forks N children one at
# a time; the first KEEP must live, every later one must die at birth (within
# the bound). Sets QS_KEPT (the live children's pids), QS_ALL (every pid).
quota_storm() {
	local uid=$1 n=$2 keep=$3 i
	QS_KEPT=() QS_ALL=()
	qforker_start "$uid" || return
	ucli "$uid" tag "$ROOT" --pin-dir "$XPIN"
	[[ $RC == 0 ]] || { fail "uid $uid tagging its forker: exit $RC: $ERR"; return 1; }
	for ((i = 1; i <= n; i++)); do
		qforker_fork "$i" || return
		QS_ALL+=("$QF_PID")
		if ((i <= keep)); then
			QS_KEPT+=("$QF_PID")
		else
			wait_dead "$BOUND_MS" "$QF_PID" ||
				{ fail "child $i of uid $uid's lineage (quota: $keep children) is alive $BOUND_MS ms after its birth: $(desc "$QF_PID")"; return 1; }
		fi
	done
	check_alive "${QS_KEPT[@]}" ||
		{ fail "children within uid $uid's quota died: $(desc "${DEAD[@]}")"; return 1; }
}

# quota_used UID: QU = the processes `status` as UID says are charged to it.
quota_used() {
	ucli "$1" status --pin-dir "$XPIN"
	[[ $RC == 0 && $OUT =~ yours:\ +([0-9]+)\ processes,\ ([0-9]+)\ tags ]] ||
		{ fail "status as uid $1: no 'yours: N processes, M tags' line: exit $RC: $(oneline "$OUT $ERR")"; return 1; }
	QU=${BASH_REMATCH[1]} QT=${BASH_REMATCH[2]}
}

# quota_drained UID MS: 0 once nothing is charged to UID (QU, QT from
# quota_used): a dead lineage's processes are uncharged as they exit, its
# tag once the agent has seen the lineage empty, which an agent under
# valgrind (no pidfds: it sees the deaths at its next 1 s tick) does late.
# 1 if something is still charged after MS ms, 2 if status failed.
quota_drained() {
	local deadline
	now
	deadline=$((NOW + $2))
	while :; do
		quota_used "$1" || return 2 # REASON says why
		((QU == 0 && QT == 0)) && return 0
		now
		((NOW >= deadline)) && return 1
		msleep 0.05
	done
}

test_user_quota() {
	local q=6 uroot r lk0 pf0 p
	local -a pre go kept all
	local -A CNT=()
	setup_users || return
	xagent_start --max-procs 32 --user-max-procs "$q" ||
		{ fail "agent --max-procs 32 --user-max-procs $q: $AGENT_WHY"; return; }
	cli status --pin-dir "$XPIN"
	[[ $OUT == *"quotas:  each unprivileged uid $q processes, 64 tags; all of them 28 processes, 3584 tags"* ]] ||
		{ fail "status does not show the quotas: $(oneline "$OUT")"; return; }
	counters limit_kills procs_map_full || return
	lk0=${CNT[limit_kills]} pf0=${CNT[procs_map_full]}

	# (a) the lineage forks twice its quota: the root counts, so q - 1
	# children live and the q + 1 after them die at birth
	quota_storm "$TUID" $((2 * q)) $((q - 1)) || { qforker_stop; return; }
	uroot=$ROOT kept=("${QS_KEPT[@]}") all=("${QS_ALL[@]}")
	cli status --pin-dir "$XPIN"
	counters limit_kills procs_map_full || return
	((CNT[limit_kills] - lk0 == q + 1)) ||
		{ fail "limit_kills rose by $((CNT[limit_kills] - lk0)), expected $((q + 1)) (children born beyond the quota)"; return; }
	quota_used "$TUID" || return
	((QU == q)) || { fail "status as uid $TUID: $QU processes charged, expected $q"; return; }
	grep -q "beyond their owner's quota, killed at birth" "$XAGENT_LOG" ||
		{ fail "the agent logged nothing about the children killed for the quota"; return; }
	# an agent restart keeps the charges (the quota map is pinned): the
	# next fork is still beyond the quota
	halt_agent "$XAGENT_PID"
	xagent_launch --max-procs 32 --user-max-procs "$q" ||
		{ fail "restarting the agent on its pins: $AGENT_WHY"; return; }
	quota_used "$TUID" || return
	((QU == q)) || { fail "after an agent restart uid $TUID is charged $QU processes, expected $q"; return; }
	qforker_fork $((2 * q + 1)) || return
	all+=("$QF_PID")
	wait_dead "$BOUND_MS" "$QF_PID" ||
		{ fail "after an agent restart, a child beyond uid $TUID's quota lives: $(desc "$QF_PID")"; return; }

	# (b) root at the same time: a tree tagged with its descendants, and a
	# lineage that forks after its tag: recorded, killed with its root
	start_tree children 3
	wait_tree || return
	r=$ROOT pre=("${TREE_PIDS[@]}")
	tag "$r" --pin-dir "$XPIN" || return
	start_tree --go children 3
	tag "$ROOT" --pin-dir "$XPIN" || return
	: >"$TREE_GO"
	wait_tree || return
	go=("${TREE_PIDS[@]}")
	list_roots "$XPIN" || return
	for p in "${pre[@]}"; do
		[[ ${LDESC[$r]:-} == *" $p "* ]] || { fail "root's tag of a tree while uid $TUID is at its quota: $p not recorded (${LDESC[$r]:-})"; return; }
	done
	for p in "${go[@]}"; do
		[[ ${LDESC[$ROOT]:-} == *" $p "* ]] || { fail "root's lineage forked while uid $TUID is at its quota: child $p not recorded (${LDESC[$ROOT]:-})"; return; }
	done
	kill_root_expect_dead "$r" "${pre[@]}" || return
	kill_root_expect_dead "$ROOT" "${go[@]}" || return

	# (d) enrolment beyond the quota: refused in one line, nothing half-tagged
	utree "$TUID" children 1 || return
	r=$ROOT pre=("${TREE_PIDS[@]}")
	ucli "$TUID" tag "$r" --pin-dir "$XPIN"
	[[ $RC == 1 && $(grep -c '' "$TMP/cli.err") == 1 && $ERR == *"quota of $q processes for uid $TUID reached"*"--user-max-procs"* ]] ||
		{ fail "uid $TUID at its quota tagging another tree: exit $RC: $(oneline "$ERR")"; return; }
	# adopting into the lineage at its quota: refused too, whoever asks
	# (the tag's owner pays), and nothing charged
	ucli "$TUID" adopt "$uroot" "${pre[0]}" --pin-dir "$XPIN"
	[[ $RC == 1 && $ERR == *"quota of $q processes for uid $TUID reached"* ]] ||
		{ fail "uid $TUID adopting into its lineage at its quota: exit $RC: $(oneline "$ERR")"; return; }
	cli adopt "$uroot" "${pre[0]}" --pin-dir "$XPIN"
	[[ $RC == 1 && $ERR == *"quota of $q processes for uid $TUID reached"* ]] ||
		{ fail "root adopting into uid $TUID's lineage at its quota: exit $RC: $(oneline "$ERR")"; return; }
	quota_used "$TUID" || return
	((QU == q && QT == 1)) || { fail "a refused tag left uid $TUID charged $QU processes, $QT tags (expected $q, 1)"; return; }

	# the lineage's root dies: everything it created dies, within or beyond
	# the quota; nothing stays charged
	qforker_stop
	kill_root_expect_dead "$uroot" "${all[@]}" || return
	quota_drained "$TUID" "$BOUND_MS"
	case $? in
	0) ;;
	1) fail "uid $TUID's lineage is dead and it is still charged $QU processes, $QT tags $BOUND_MS ms later"; return ;;
	*) return 1 ;;
	esac
	# the refused tree was never tagged: its child outlives its root
	kill_root_expect_dead "$r" && check_alive "${pre[@]}" ||
		{ fail "the root of a refused tag died and its child died too: half-tagged"; return; }
	safe_kill KILL "${pre[@]}"
	# now a tree of 1 + 8 processes, beyond 6 in one enrolment
	utree "$TUID" children $((q + 2)) || return
	r=$ROOT pre=("${TREE_PIDS[@]}")
	ucli "$TUID" tag "$r" --pin-dir "$XPIN"
	[[ $RC == 1 && $(grep -c '' "$TMP/cli.err") == 1 && $ERR == *"quota of $q processes for uid $TUID reached"* ]] ||
		{ fail "uid $TUID tagging a tree of $((q + 3)) processes with a quota of $q: exit $RC: $(oneline "$ERR")"; return; }
	quota_used "$TUID" || return
	((QU == 0 && QT == 0)) || { fail "a refused enrolment left uid $TUID charged $QU processes, $QT tags: half-tagged"; return; }
	list_roots "$XPIN" || return
	[[ -z ${LROOT[$r]:-} ]] || { fail "list shows the root of a refused tag"; return; }
	safe_kill KILL "$r"
	wait_dead "$BOUND_MS" "$r" || { fail "setup: the root did not die"; return; }
	msleep 0.3
	check_alive "${pre[@]}" || { fail "the root of a refused tag died and killed some of its children: half-tagged: $(desc "${DEAD[@]}")"; return; }
	safe_kill KILL "${pre[@]}"
	cli status --pin-dir "$XPIN"
	counters procs_map_full || return
	((CNT[procs_map_full] == pf0)) || { fail "procs_map_full rose from $pf0 to ${CNT[procs_map_full]}: something was not recorded"; return; }

	# the share: with a per-uid quota above it, uid's lineage stops at
	# max-procs minus 1/8 (14 of 16), and root's tag still fits in the rest
	xagent_start --max-procs 16 --user-max-procs 100 ||
		{ fail "agent --max-procs 16 --user-max-procs 100: $AGENT_WHY"; return; }
	quota_storm "$TUID2" 28 13 || { qforker_stop; return; }
	uroot=$ROOT all=("${QS_ALL[@]}")
	start_tree --go children 1
	tag "$ROOT" --pin-dir "$XPIN" || { qforker_stop; return; }
	: >"$TREE_GO"
	wait_tree || return
	go=("${TREE_PIDS[@]}")
	cli status --pin-dir "$XPIN"
	counters procs_map_full limit_kills || return
	((CNT[procs_map_full] == 0 && CNT[limit_kills] == 15)) ||
		{ fail "share: procs_map_full=${CNT[procs_map_full]} limit_kills=${CNT[limit_kills]}, expected 0 and 15"; return; }
	kill_root_expect_dead "$ROOT" "${go[@]}" || return
	qforker_stop
	kill_root_expect_dead "$uroot" "${all[@]}" || return
	kill_tracked
	xagent_stop
}

test_user_tag_quota() {
	local i r
	local -A CNT=()
	setup_users || return
	xagent_start --max-tags 8 --user-max-tags 5 ||
		{ fail "agent --max-tags 8 --user-max-tags 5: $AGENT_WHY"; return; }
	# a uid's own quota: 5 tags, the 6th refused (twice the bound: 10 asked)
	for ((i = 1; i <= 10; i++)); do
		utree "$TUID" children 1 || return
		ucli "$TUID" tag "$ROOT" --pin-dir "$XPIN"
		if ((i <= 5)); then
			[[ $RC == 0 ]] || { fail "uid $TUID's tag $i of 5: exit $RC: $ERR"; return; }
		else
			[[ $RC == 1 && $(grep -c '' "$TMP/cli.err") == 1 && $ERR == *"quota of 5 tags for uid $TUID reached"*"--user-max-tags"* ]] ||
				{ fail "uid $TUID's tag $i with a quota of 5: exit $RC: $(oneline "$ERR")"; return; }
		fi
	done
	# the unprivileged share: 8 - 8/8 = 7, so another uid gets 2
	for ((i = 1; i <= 4; i++)); do
		utree "$TUID2" children 1 || return
		ucli "$TUID2" tag "$ROOT" --pin-dir "$XPIN"
		if ((i <= 2)); then
			[[ $RC == 0 ]] || { fail "uid $TUID2's tag $i: exit $RC: $ERR"; return; }
		else
			[[ $RC == 1 && $ERR == *"quota of 7 tags for unprivileged users together reached"*"--max-tags"* ]] ||
				{ fail "uid $TUID2's tag $i beyond the unprivileged share: exit $RC: $(oneline "$ERR")"; return; }
		fi
	done
	# root still tags, in the room kept for it, and its tag kills
	tagged_tree_x children 2 || return
	r=$ROOT
	quota_used "$TUID" || return
	((QT == 5)) || { fail "status as uid $TUID: $QT tags, expected 5"; return; }
	cli status --pin-dir "$XPIN"
	counters limit_kills || return
	status_get_x agent_counters.quota_refused quotas.used_tags quotas.user_max_tags || return
	((GOT[0] == 7 && GOT[1] == 7 && GOT[2] == 5)) ||
		{ fail "status --json: quota_refused=${GOT[0]} used_tags=${GOT[1]} user_max_tags=${GOT[2]}, expected 7, 7, 5"; return; }
	kill_root_expect_dead "$r" "${TREE_PIDS[@]}" || return
	kill_tracked
	xagent_stop
}
