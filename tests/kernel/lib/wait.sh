# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# shellcheck shell=bash
#
# Bounded waits: for deaths, files, states and log lines; `bounded` runs a
# command with a time limit (instead of timeout(1)).
#
# Sourced by run.sh (helpers shared by the area files).

ALIVE=()   # wait_dead's result
BRC=0      # bounded's result
DIED_AT=   # death_watch: ms from the start to the death

# wait_dead MS PIDS...: 0 once all are dead; else ALIVE = the ones still alive.
wait_dead() {
	local ms=$1
	shift
	local -a left=("$@")
	local i=0 n=$# deadline
	now
	deadline=$((NOW + ms))
	ALIVE=()
	while :; do
		while ((i < n)) && ! is_alive "${left[i]}"; do i=$((i + 1)); done
		((i >= n)) && return 0
		now
		((NOW >= deadline)) && break
		msleep 0.01
	done
	for (( ; i < n; i++)); do
		is_alive "${left[i]}" && ALIVE+=("${left[i]}")
	done
	((${#ALIVE[@]} == 0))
}

# wait_group_dead MS PID: like wait_dead for one pid, by group_alive.
wait_group_dead() {
	local deadline
	now
	deadline=$((NOW + $1))
	while group_alive "$2"; do
		now
		((NOW >= deadline)) && return 1
		msleep 0.01
	done
	return 0
}

# bounded SECS CMD [ARGS...]: run CMD (with the caller's redirections),
# SIGTERM it after SECS seconds, SIGKILL it 2 s later. BRC = its exit status,
# 124 if it had to be stopped. Instead of timeout(1): busybox's leaves a
# watcher behind that signals the bare pid for up to SECS seconds (a reused
# pid included) and reports a timeout as 143, not 124.
bounded() {
	local secs=$1 p deadline nap=0.001 sig=TERM late=0
	shift
	"$@" {SLEEPFD}>&- &
	p=$!
	remember "$p"
	now
	deadline=$((NOW + secs * 1000))
	while is_alive "$p"; do
		now
		if ((NOW >= deadline)); then
			late=1
			[[ $sig == none ]] && break
			safe_kill "$sig" "$p"
			[[ $sig == TERM ]] && sig=KILL || sig=none
			deadline=$((NOW + 2000))
		fi
		msleep "$nap"
		case $nap in # poll fast first: most commands take a few ms
		0.001) nap=0.002 ;;
		0.002) nap=0.005 ;;
		0.005) nap=0.01 ;;
		*) nap=0.02 ;;
		esac
	done
	if is_alive "$p"; then
		msg "warning: pid $p ($1) survived SIGKILL"
		BRC=124
		return
	fi
	wait "$p" 2>/dev/null
	BRC=$?
	((late)) && BRC=124
}

# The waits for a helper to get somewhere (wait_file, wait_state, wait_roles,
# wait_grep) scale their MS with BOUND: an emulated CPU (the qemu guests run
# with BOUND=4) or valgrind is slower at everything, and a fixed short bound
# must not decide a test there.
wait_file() { # FILE MS
	local deadline
	now
	deadline=$((NOW + $2 * BOUND))
	until [[ -e $1 ]]; do
		now
		((NOW >= deadline)) && return 1
		msleep 0.01
	done
}

# wait_grep FILE STRING MS: 0 once FILE holds STRING (a fixed string).
wait_grep() {
	local deadline
	now
	deadline=$((NOW + $3 * BOUND))
	until grep -qF -- "$2" "$1" 2>/dev/null; do
		now
		((NOW >= deadline)) && return 1
		msleep 0.02
	done
}

# wait_state PID STATE MS: 0 once /proc/PID/stat shows STATE (one letter);
# else S_STATE = the last state seen ("gone" if none).
wait_state() {
	local deadline
	now
	deadline=$((NOW + $3 * BOUND))
	while :; do
		read_stat "$1" || S_STATE=gone
		[[ $S_STATE == "$2" ]] && return 0
		now
		((NOW >= deadline)) && return 1
		msleep 0.01
	done
}

# death_watch PID FROM MS: poll PID every 10 ms until it is dead or MS ms
# have passed since FROM (a NOW value). DIED_AT = ms from FROM to the first
# poll that saw it dead; empty if it was alive at FROM + MS.
death_watch() {
	local p=$1 from=$2 ms=$3
	DIED_AT=
	while :; do
		now
		is_alive "$p" || { DIED_AT=$((NOW - from)); return 0; }
		((NOW - from >= ms)) && return 1
		msleep 0.01
	done
}
