# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# shellcheck shell=bash
#
# Unprivileged test users, and the CLI and helpers run as them
# (helpers/asuser.c).
#
# Sourced by run.sh (helpers shared by the area files).

TUID=     # the unprivileged test users' uids (setup_users)
TUID2=
TUSERS=() # users this run created with useradd (removed at cleanup)
UDIR=     # binaries and a world-writable dir the test users can reach

# Two unprivileged users made for this run (useradd, removed at cleanup) or,
# where there is no useradd (the qemu guests), two bare numeric uids: the
# agent goes by uids, not names. The binaries are copied where they can reach.
setup_users() {
	local u
	[[ -n $TUID ]] && return 0
	UDIR=$TMP/u
	chmod 0711 "$TMP" && mkdir -p "$UDIR/w" && chmod 0755 "$UDIR" && chmod 1777 "$UDIR/w" ||
		{ fail "setup: cannot make $UDIR"; return 1; }
	cp "$BPFGUARD" "$HELPERS/tree" "$HELPERS/asuser" "$UDIR/" ||
		{ fail "setup: cannot copy the binaries to $UDIR"; return 1; }
	if command -v useradd >/dev/null 2>&1; then
		for u in "bpfgt$$a" "bpfgt$$b"; do
			useradd --system --no-create-home --shell /bin/false "$u" >/dev/null 2>&1 ||
				{ fail "setup: useradd $u failed"; return 1; }
			TUSERS+=("$u")
		done
		TUID=$(id -u "${TUSERS[0]}") && TUID2=$(id -u "${TUSERS[1]}") ||
			{ fail "setup: id -u failed"; return 1; }
	else
		TUID=64101 TUID2=64102
	fi
	msg "test users: uid $TUID and $TUID2${TUSERS[*]:+ (${TUSERS[*]})}"
}

# ucli UID ARGS...: the CLI run as UID. Sets RC, OUT, ERR.
ucli() {
	local uid=$1
	shift
	bounded 15 "$UDIR/asuser" "$uid" "$UDIR/bpfguard" "$@" >"$TMP/cli.out" 2>"$TMP/cli.err"
	RC=$BRC
	OUT=$(<"$TMP/cli.out")
	ERR=$(<"$TMP/cli.err")
}

# utree UID SHAPE ARGS...: a tree helper run as UID, building at once.
utree() {
	local uid=$1
	shift
	SEQ=$((SEQ + 1))
	TREE_OUT=$UDIR/w/tree$SEQ
	"$UDIR/asuser" "$uid" "$UDIR/tree" --life 300 "$TREE_OUT" "$@" >>"$TMP/helpers.log" 2>&1 {SLEEPFD}>&- &
	ROOT=$!
	disown "$ROOT" 2>/dev/null
	track "$ROOT"
	wait_tree
}

# user_ctlclient: the suite agent's control socket (CTL_SOCK, read from its
# log) and helpers/ctlclient copied where the test users may run it, for
# the tests that send raw requests as another user.
user_ctlclient() {
	[[ $(<"$AGENT_LOG") =~ (/run/bpfguard/[^ ]*\.sock) ]] ||
		{ fail "setup: the agent's log names no control socket"; return 1; }
	CTL_SOCK=${BASH_REMATCH[1]}
	cp "$HELPERS/ctlclient" "$UDIR/" || { fail "setup: cannot copy ctlclient"; return 1; }
}

# xcli UID MODE ARGS...: the CLI as UID in MODE (--userns: root of a user
# namespace of its own, as `unshare -Ur` makes it; --no-caps: uid 0 with no
# capability). Sets RC, OUT, ERR.
xcli() {
	local uid=$1 mode=$2
	shift 2
	bounded 15 "$UDIR/asuser" "$uid" "$mode" "$UDIR/bpfguard" "$@" >"$TMP/cli.out" 2>"$TMP/cli.err"
	RC=$BRC
	OUT=$(<"$TMP/cli.out")
	ERR=$(<"$TMP/cli.err")
}

# expect_refused WHAT: the last CLI call was refused, in one line, with EPERM's words.
expect_refused() {
	[[ $RC == 1 && $ERR == *"permission denied"* && $(grep -c '' "$TMP/cli.err") == 1 ]] ||
		fail "$1: exit $RC, expected 1 with one 'permission denied' line: $(oneline "$ERR")"
}

# The first line of the event stream of a subscriber run as UID in MODE.
first_event() {
	bounded 2 "$UDIR/asuser" "$1" "$2" "$UDIR/bpfguard" events --pin-dir "$PIN" >"$TMP/ev1.out" 2>&1
	read -r OUT <"$TMP/ev1.out" || OUT=
}

# users_quiet [--full] UID...: wait (bounded) until the agent answers each
# of these users again: a test that spent their request budget (20 a second,
# bursts of 40) leaves them as it found them, so the next test does not
# depend on it. One answer says the budget is not empty; --full waits on
# until it is whole again (it is, at most RL_BURST / RL_RATE = 2 s after the
# last request answered): for the tests that drain it.
users_quiet() {
	local u deadline full=0
	[[ ${1:-} == --full ]] && { full=1; shift; }
	now
	deadline=$((NOW + 10000 * BOUND))
	for u; do
		while :; do
			ucli "$u" status --pin-dir "$PIN"
			[[ $RC == 0 ]] && break
			now
			((NOW < deadline)) || { REASON="uid $u still refused after the test: $ERR"; return 1; }
			msleep 0.5
		done
	done
	((full == 0)) || msleep 2.2
}
