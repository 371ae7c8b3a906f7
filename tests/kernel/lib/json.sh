# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# shellcheck shell=bash
#
# JSON checks (helpers/jsoncheck.c: the guests have no python or jq).
#
# Sourced by run.sh (helpers shared by the area files).

# json_check FILE "ROOT:pid,pid" ...: FILE is valid JSON, an array holding
# exactly one object per ROOT, whose "descendants" include those pids. On
# failure: one line of explanation on stdout, status 1 (helpers/jsoncheck.c).
json_check() {
	"$HELPERS/jsoncheck" "$@" {SLEEPFD}>&-
}

# json_mentions FILE PID: the list --json output in FILE names PID, as a
# tagged root ("pid":PID) or in a descendants array.
json_mentions() {
	local j
	j=$(<"$1")
	j=${j//[[:space:]]/}
	[[ $j =~ \"pid\":$2[,}] || $j =~ [[,]$2[],] ]]
}

# unlisted PID MS: 0 once list --json (in $TMP/cli.out) no longer names PID,
# polled for MS ms (like wait_dead, unscaled: pass BOUND_MS); 1 if it still does.
unlisted() {
	local deadline
	now
	deadline=$((NOW + $2))
	while :; do
		cli list --json --pin-dir "$PIN"
		[[ $RC == 0 ]] && ! json_mentions "$TMP/cli.out" "$1" && return 0
		now
		((NOW >= deadline)) && return 1
		msleep 0.05
	done
}
