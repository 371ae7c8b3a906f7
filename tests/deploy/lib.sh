# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# What the deploy scripts (check.sh, container.sh) share: the process
# helpers that keep their signals to the processes they started. Sourced;
# the caller declares START (declare -A) and sets REASON through fail.

fail() {
	REASON=$*
	return 1
}

starttime() { # PID -> field 22 of /proc/PID/stat, or nothing
	local line
	{ read -r line <"/proc/$1/stat"; } 2>/dev/null || return 1
	line=${line##*) }
	local -a f
	read -ra f <<<"$line"
	[[ ${f[0]} != Z ]] && echo "${f[19]}"
}

remember() { START[$1]=$(starttime "$1"); }

alive() { [[ -n $(starttime "$1") ]]; }

# Signal a process this script started, if it is still that process.
safe_kill() { # SIG PID
	local st
	[[ $2 =~ ^[0-9]+$ ]] && (($2 > 1)) && (($2 != $$)) || return 0
	st=$(starttime "$2") || return 0
	[[ -n $st && $st == "${START[$2]:-x}" ]] && kill -s "$1" "$2" 2>/dev/null
	return 0
}

# wait_until SECONDS CMD...: poll CMD every 0.1 s, bounded.
wait_until() {
	local n=$(($1 * 10))
	shift
	while ((n-- > 0)); do
		"$@" && return 0
		sleep 0.1
	done
	"$@"
}
