# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# shellcheck shell=bash
#
# The paced forker: a lineage root that forks one child at a time, when the
# test says, so that which child is beyond a limit (an owner's quota, a
# lineage's --max-procs) is exact. Needs setup_users (it runs as a uid).
#
# Sourced by run.sh (helpers shared by the area files).

# qforker_start UID: a lineage root run as UID (a dash: it forks nothing of
# its own) that forks one `sleep 300` child per line the test writes to its
# fifo, and writes each child's pid to QF_OUT; "end" makes it write "end".
# Paced by the test, one fork at a time: which child is beyond the quota is
# then exact. Sets ROOT, QF_OUT, QF_FD (the fifo's writing end).
qforker_start() {
	local fifo
	SEQ=$((SEQ + 1))
	QF_OUT=$UDIR/w/qf$SEQ
	fifo=$QF_OUT.fifo
	rm -f "$QF_OUT" "$fifo"
	mkfifo -m 0666 "$fifo" || { fail "setup: mkfifo $fifo"; return 1; }
	"$UDIR/asuser" "$1" /bin/sh -c 'exec 3<"$1.fifo"; while read -r x <&3; do
		[ "$x" = end ] && break; sleep 300 & echo $! >>"$1"; done; echo end >>"$1"; exec 3<&-; wait' \
		sh "$QF_OUT" >>"$TMP/helpers.log" 2>&1 {SLEEPFD}>&- &
	ROOT=$!
	disown "$ROOT" 2>/dev/null
	track "$ROOT"
	exec {QF_FD}<>"$fifo" # read-write: does not wait for the forker to open it
	# tagged only once it runs as the user, its own program (asuser exec'd)
	local deadline c=
	now
	deadline=$((NOW + 5000 * BOUND))
	until { read -r c <"/proc/$ROOT/comm"; } 2>/dev/null && [[ $c == sh ]] &&
		[[ $(grep '^Uid:' "/proc/$ROOT/status" 2>/dev/null) == *$'\t'$1$'\t'* ]]; do
		now
		((NOW < deadline)) || { fail "setup: the forker $ROOT never ran as uid $1 ($c)"; return 1; }
		msleep 0.01
	done
}

# qforker_fork N: one more fork; waits (bounded) for its pid: QF_PID.
qforker_fork() {
	local deadline n
	echo go >&"$QF_FD"
	now
	deadline=$((NOW + 5000 * BOUND))
	while :; do
		n=0
		[[ -e $QF_OUT ]] && n=$(grep -c '' "$QF_OUT")
		((n >= $1)) && break
		now
		((NOW >= deadline)) && { fail "setup: the forker did not fork child $1 (it has $n)"; return 1; }
		msleep 0.005
	done
	QF_PID=$(sed -n "${1}p" "$QF_OUT")
	track "$QF_PID"
}

qforker_stop() {
	[[ -n ${QF_FD:-} ]] && exec {QF_FD}>&-
	QF_FD=
}
