# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# shellcheck shell=bash
#
# Processes: messages, a pid's identity (pid and start time), safe
# signalling (only what the suite recorded; never pid 1, this shell or its
# ancestors), and the list of processes killed after each test.
#
# Sourced by run.sh (helpers shared by the area files).

declare -A START=()    # pid -> starttime (field 22) recorded when we learnt the pid
declare -A ANCESTOR=() # pids that must never be signalled
PIDS=()                # every process the tests created (for cleanup)
DEAD=()                # check_alive's result
FIELD=                 # status_field's result
REASON=                # why the current test failed (fail)
NOW=0
SLEEPFD=               # a fifo nobody writes: msleep without forking

msg() { echo "run.sh: $*" >&2; }

die() {
	msg "$*"
	exit 1
}

fail() {
	REASON=$*
	return 1
}

now() { # NOW = monotonic-enough milliseconds
	local t=${EPOCHREALTIME//[!0-9]/}
	NOW=$((10#$t / 1000))
}

msleep() { # SECONDS (fractional ok), without forking
	if [[ -n $SLEEPFD ]]; then
		read -r -t "$1" -u "$SLEEPFD" _ || :
	else
		sleep "$1"
	fi
}

# read_stat PID: S_STATE S_PPID S_SID S_FLAGS S_THREADS S_START from /proc/PID/stat
read_stat() {
	local line rest
	{ read -r line <"/proc/$1/stat"; } 2>/dev/null || return 1
	[[ -n $line ]] || return 1
	rest=${line##*) }
	local -a f
	read -ra f <<<"$rest"
	((${#f[@]} >= 20)) || return 1 # not a whole stat line (never seen: a guard)
	S_STATE=${f[0]} S_PPID=${f[1]} S_SID=${f[3]} S_FLAGS=${f[6]} S_THREADS=${f[17]} S_START=${f[19]}
}

# Remember a pid's start time (without adding it to the cleanup list).
remember() {
	local p
	for p; do
		if read_stat "$p" && [[ $S_STATE != Z && $S_STATE != X ]]; then
			START[$p]=$S_START
		else
			START[$p]=dead
		fi
	done
}

# Remember and add to the list of processes to kill at cleanup.
track() {
	remember "$@"
	PIDS+=("$@")
}

# track_group PID: track, for a process whose main thread may have exited
# already (its /proc/PID/stat shows Z while other threads run).
track_group() {
	if group_alive_now "$1"; then
		START[$1]=$S_START
	else
		START[$1]=dead
	fi
	PIDS+=("$1")
}

# group_alive_now PID: does a thread of PID run? (sets S_* as read_stat does)
# One read of /proc/PID/stat: its state is the main thread's, and num_threads
# counts the threads not yet released, a zombie main thread among them until
# the whole group has ended. Not a listing of /proc/PID/task: a thread
# released while that directory is read ends the listing early (next_tid()
# stops at a dead thread) and hides the live threads after it, so a live
# group looked dead (once in 150 runs of leader_exited_member under TCG, 6.1).
group_alive_now() {
	read_stat "$1" || return 1
	[[ $S_STATE != X ]] || return 1
	[[ $S_STATE != Z ]] || ((S_THREADS > 1))
}

# The process that was recorded exists, is not a zombie and has the same start time.
is_alive() {
	local s=${START[$1]:-dead}
	[[ $s != dead ]] || return 1
	read_stat "$1" || return 1
	[[ $S_STATE != Z && $S_STATE != X && $S_START == "$s" ]]
}

# Like is_alive, but a process whose main thread exited while another thread
# lives is alive (its /proc/PID/stat shows Z).
group_alive() {
	local s=${START[$1]:-dead}
	[[ $s != dead ]] || return 1
	group_alive_now "$1" && [[ $S_START == "$s" ]]
}

# check_alive PIDS...: 0 if all alive; else DEAD = the dead ones.
check_alive() {
	local p
	DEAD=()
	for p; do is_alive "$p" || DEAD+=("$p"); done
	((${#DEAD[@]} == 0))
}

# oneline TEXT: TEXT's first 300 characters on one line (for FAIL reasons).
oneline() {
	local t=${1:0:300}
	t=${t//$'\n'/ | }
	((${#1} <= 300)) || t+=...
	echo "$t"
}

# A short description of some pids for messages: "123(tree) 124(sleep) ... (N in all)".
desc() {
	local p c out="" k=0
	for p; do
		k=$((k + 1))
		((k > 6)) && continue
		c='?'
		{ read -r c <"/proc/$p/comm"; } 2>/dev/null
		out+="$p($c) "
	done
	((k > 6)) && out+="... "
	echo "${out}($k in all)"
}

safe_kill() { # SIG PIDS...: only processes we recorded, identified by start time
	local sig=$1 p
	shift
	for p; do
		[[ $p =~ ^[0-9]+$ ]] && ((p > 1)) || continue
		[[ $p != "$$" && -z ${ANCESTOR[$p]:-} ]] || continue
		[[ ${START[$p]:-dead} != dead ]] || continue
		read_stat "$p" && [[ $S_START == "${START[$p]}" ]] || continue
		kill -s "$sig" "$p" 2>/dev/null
	done
}

kill_tracked() {
	local p
	local -a alive=()
	for p in "${PIDS[@]}"; do group_alive "$p" && alive+=("$p"); done
	PIDS=()
	((${#alive[@]})) || return 0
	safe_kill KILL "${alive[@]}"
	wait_dead 5000 "${alive[@]}" || msg "warning: could not kill $(desc "${ALIVE[@]}")"
}

# children_of PID: KIDS = its children (by /proc/*/stat, busybox-friendly)
children_of() {
	local s
	KIDS=()
	for s in /proc/[0-9]*/stat; do
		s=${s#/proc/}
		s=${s%/stat}
		read_stat "$s" 2>/dev/null || continue
		[[ $S_PPID == "$1" ]] && KIDS+=("$s")
	done
	((${#KIDS[@]} > 0))
}

# status_field PID KEY: FIELD = the rest of /proc/PID/status's "KEY:" line,
# whitespace squeezed to single spaces.
status_field() {
	local k v
	FIELD=
	while read -r k v; do
		if [[ $k == "$2:" ]]; then
			read -ra k <<<"$v"
			FIELD=${k[*]}
			return 0
		fi
	done 2>/dev/null <"/proc/$1/status"
	return 1
}
