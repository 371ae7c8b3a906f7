# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# shellcheck shell=bash
#
# Agents and the CLI: the suite's shared agent (PIN) and the side agents
# tests start on pin dirs of their own; the CLI, bounded; status, counters
# and list parsed.
#
# Sourced by run.sh (helpers shared by the area files).

AGENT_PID= # the suite's agent, on PIN
AGENT_LOG=
AGENT_EXTRA= # the extra arguments it was started with (a test's own options)
AGENT_SEQ=0
AGENT_MODE= # the mode the suite's agent reported (status)
FEATURES=   # " btf ringbuf ... " as the agent reported them (status)
KAGENT_PID= # the kernel-mode agent of test_mode_kernel, on PIN-kernel
XAGENT_PID= # a test's side agent, on XPIN (xagent_start)
XAGENT_LOG=
OAGENT_PID= # the small-map agent of test_events_drop and test_tag_slots, on PIN-obs
L_PID=      # launch_agent's result
AGENT_FORCED=0
AGENT_WHY=
RC=0 # cli's results
OUT=
ERR=
declare -A LROOT=() LPARENT=() LDESC=() # list_roots: root -> tag, parent tag, descendants

# Run the CLI (bounded). Sets RC, OUT, ERR.
cli() {
	bounded "$CLI_S" "$BPFGUARD" "$@" >"$TMP/cli.out" 2>"$TMP/cli.err"
	RC=$BRC
	OUT=$(<"$TMP/cli.out")
	ERR=$(<"$TMP/cli.err")
}

tag() {
	cli tag "$@"
	[[ $RC == 0 ]] || fail "tag $*: exit $RC: $ERR"
}

untag() {
	cli untag "$@"
	[[ $RC == 0 ]] || fail "untag $*: exit $RC: $ERR"
}

# launch_agent PINDIR LOG [agent args]: start an agent with MODE's --mode (a
# --mode among the args wins: it comes later) and wait (bounded) until its
# status answers. Sets L_PID, or AGENT_WHY and returns 1.
launch_agent() {
	local pin=$1 log=$2 deadline rc
	shift 2
	L_PID=
	# shellcheck disable=SC2086
	${AGENT_WRAP:-} "$BPFGUARD" agent --pin-dir "$pin" "${MODE_ARGS[@]}" "$@" ${AGENT_ARGS:-} >"$log" 2>&1 {SLEEPFD}>&- &
	L_PID=$!
	remember "$L_PID"
	now
	deadline=$((NOW + 10000 * BOUND))
	while :; do
		if ! is_alive "$L_PID"; then
			wait "$L_PID" 2>/dev/null
			rc=$?
			AGENT_WHY="the agent exited early (status $rc); its log:"$'\n'"$(sed 's/^/  | /' "$log")"
			[[ -s $log ]] || AGENT_WHY+=" (empty)"
			L_PID=
			return 1
		fi
		cli status --pin-dir "$pin"
		[[ $RC == 0 ]] && return 0
		now
		if ((NOW >= deadline)); then
			AGENT_WHY="the agent was not ready after $((10 * BOUND)) s (status exit $RC: $ERR); its log:"$'\n'"$(sed 's/^/  | /' "$log")"
			halt_agent "$L_PID"
			L_PID=
			return 1
		fi
		msleep 0.05
	done
}

# halt_agent PID: SIGTERM, bounded wait, SIGKILL; AGENT_FORCED=1 if SIGKILL
# was needed.
halt_agent() {
	local pid=$1
	AGENT_FORCED=0
	[[ -n $pid ]] || return 0
	if is_alive "$pid"; then
		safe_kill TERM "$pid"
		if ! wait_dead $((5000 * BOUND)) "$pid"; then
			msg "the agent $pid did not stop within $((5 * BOUND)) s of SIGTERM: SIGKILL"
			AGENT_FORCED=1
			safe_kill KILL "$pid"
			wait_dead 5000 "$pid" || msg "warning: the agent $pid survived SIGKILL"
		fi
	fi
	is_alive "$pid" || wait "$pid" 2>/dev/null
}

# shellcheck disable=SC2120 # extra agent args are optional
start_agent() { # [extra agent args]: the suite's agent on $PIN; sets AGENT_PID or AGENT_WHY
	AGENT_SEQ=$((AGENT_SEQ + 1))
	AGENT_LOG=$TMP/agent.$AGENT_SEQ.log
	AGENT_PID=
	AGENT_EXTRA="$*"
	launch_agent "$PIN" "$AGENT_LOG" "$@" || return 1
	AGENT_PID=$L_PID
}

# unload_pins DIR...: unload (bounded) and remove the pin dirs that exist.
unload_pins() {
	local d
	for d; do
		[[ -e $d ]] || continue
		bounded "$CLI_S" "$BPFGUARD" unload --pin-dir "$d" >"$TMP/unload.log" 2>&1
		((BRC == 0)) || msg "warning: unload --pin-dir $d failed: $(head -n 3 "$TMP/unload.log")"
		rm -rf "$d" 2>/dev/null
	done
}

# side_agents_stop: stop every agent but the shared one and remove their pins
# (a test that failed half-way may leave them).
side_agents_stop() {
	halt_agent "$KAGENT_PID"
	KAGENT_PID=
	halt_agent "$OAGENT_PID"
	OAGENT_PID=
	xagent_stop
	unload_pins "$PIN-kernel" "$PIN-obs"
}

# fresh_agent: the shared agent again from nothing: stopped, its pins
# unloaded (tags, lineage, quota charges with them), started with the
# suite's options only.
fresh_agent() {
	stop_agent
	unload_pins "$PIN"
	start_agent
}

stop_agent() { # the suite's agent; AGENT_FORCED=1 if SIGKILL was needed
	halt_agent "$AGENT_PID"
	AGENT_PID=
}

agent_ok() {
	[[ -n $AGENT_PID ]] && is_alive "$AGENT_PID" || return 1
	cli status --pin-dir "$PIN"
	[[ $RC == 0 ]]
}

# log_mark: remember where the shared agent's log ends. log_since prints what
# it logged after that (the whole log if the agent was restarted since): a
# test's checks of the log must not count what earlier tests made it log.
LOG_MARK_FILE=
LOG_MARK=0
log_mark() {
	LOG_MARK_FILE=$AGENT_LOG
	LOG_MARK=$(grep -c '' "$AGENT_LOG" 2>/dev/null)
	LOG_MARK=${LOG_MARK:-0}
}

log_since() {
	if [[ $LOG_MARK_FILE == "$AGENT_LOG" ]]; then
		tail -n +$((LOG_MARK + 1)) "$AGENT_LOG"
	else
		cat "$AGENT_LOG"
	fi
}

# wait_log STRING MS: 0 once the shared agent logged STRING (a fixed string)
# since log_mark.
wait_log() {
	local deadline
	now
	deadline=$((NOW + $2 * BOUND))
	until log_since | grep -qF -- "$1"; do
		now
		((NOW >= deadline)) && return 1
		msleep 0.02
	done
}

agent_log_tail() {
	[[ -n $AGENT_LOG && -s $AGENT_LOG ]] && tail -n "${1:-8}" "$AGENT_LOG" | sed 's/^/  | /' >&2
}

# The mode the agent must report: MODE if given, else (auto) kernel where
# the kernel has the kfuncs kernel mode needs.
expected_mode() {
	case $MODE in
	user | kernel) echo "$MODE" ;;
	*)
		if has_feature send_signal_task && has_feature task_from_pid; then
			echo kernel
		else
			echo user
		fi
		;;
	esac
}

has_feature() { [[ $FEATURES == *" $1 "* ]]; }

# parse_status: AGENT_MODE, FEATURES, S_KREL, S_APID from the status output in OUT.
parse_status() {
	local line
	AGENT_MODE='' FEATURES='' S_KREL='' S_APID=''
	while IFS= read -r line; do
		if [[ $line =~ ^agent:\ +enforcing\ \(pid\ ([0-9]+)\),\ mode\ ([a-z]+) ]]; then
			S_APID=${BASH_REMATCH[1]} AGENT_MODE=${BASH_REMATCH[2]}
		elif [[ $line =~ ^kernel:\ +([^,]*),\ features:(.*)$ ]]; then
			S_KREL=${BASH_REMATCH[1]} FEATURES="${BASH_REMATCH[2]} "
		fi
	done <<<"$OUT"
	[[ -n $AGENT_MODE && -n $FEATURES ]]
}

# counter NAME: COUNTER = NAME's value on the counters line of OUT (status).
counter() {
	local line w
	COUNTER=
	while IFS= read -r line; do
		[[ $line == counters:* ]] || continue
		for w in ${line#counters:}; do
			[[ $w =~ ^$1=([0-9]+)$ ]] && COUNTER=${BASH_REMATCH[1]}
		done
	done <<<"$OUT"
	[[ -n $COUNTER ]]
}

# counters NAME...: CNT[NAME] from the counters line of OUT (a status).
counters() {
	local c
	for c; do
		counter "$c" || { fail "status: no $c=N on the counters line: $(oneline "$OUT")"; return 1; }
		CNT[$c]=$COUNTER
	done
}

# status_counts PINDIR: status (bounded) into OUT; S_TAGS and S_TRACKED from
# its "tags: N active, M tracked descendants" line.
status_counts() {
	S_TAGS='' S_TRACKED=''
	cli status --pin-dir "$1"
	[[ $RC == 0 ]] || { fail "status: exit $RC: $ERR"; return 1; }
	[[ $OUT =~ tags:\ +([0-9]+)\ active,\ ([0-9]+)\ tracked ]] ||
		{ fail "status has no 'tags: N active, M tracked' line: $(oneline "$OUT")"; return 1; }
	S_TAGS=${BASH_REMATCH[1]} S_TRACKED=${BASH_REMATCH[2]}
}

# quick_status: status must answer within BOUND_MS (a loop that waits on a
# victim answers late). OUT, RC as cli sets them.
quick_status() {
	bounded $((BOUND_MS / 1000)) "$BPFGUARD" status --pin-dir "$PIN" >"$TMP/cli.out" 2>"$TMP/cli.err"
	RC=$BRC
	OUT=$(<"$TMP/cli.out")
	ERR=$(<"$TMP/cli.err")
	[[ $RC != 124 ]] || { fail "status did not answer within $BOUND_MS ms while a member was stuck: the agent waits on it"; return 1; }
	[[ $RC == 0 ]] || { fail "status: exit $RC: $ERR"; return 1; }
}

# list_roots PINDIR: `list --json` (bounded, valid JSON per jsoncheck) read
# into LROOT[pid]=tag, LPARENT[pid]=parent tag, LDESC[pid]=" pid pid ... ".
list_roots() {
	local s why
	local re='\{"pid":([0-9]+),"tag":([0-9]+),"parent_tag":([0-9]+),[^{}]*"comm":"[^"]*","descendants":\[([0-9,]*)\][^{}]*\{[^{}]*\},"state":"[a-z]+"(,"root_exit":\{[^{}]*\})?,"max_procs":[0-9]+(,"acct":\{[^{}]*\})?\}'
	LROOT=() LPARENT=() LDESC=()
	cli list --json --pin-dir "$1"
	[[ $RC == 0 ]] || { fail "list --json: exit $RC: $ERR"; return 1; }
	why=$(json_check "$TMP/cli.out") || { fail "list --json: $why"; return 1; }
	s=$OUT
	while [[ $s =~ $re ]]; do
		LROOT[${BASH_REMATCH[1]}]=${BASH_REMATCH[2]}
		LPARENT[${BASH_REMATCH[1]}]=${BASH_REMATCH[3]}
		LDESC[${BASH_REMATCH[1]}]=" ${BASH_REMATCH[4]//,/ } "
		s=${s#*"${BASH_REMATCH[0]}"}
	done
}

# xagent_start [agent args]: a second agent on XPIN beside the suite's, for
# a fault test that needs maps or a ring of its own size. Sets XAGENT_PID and
# XAGENT_LOG, or AGENT_WHY and returns 1. xagent_stop removes it and its pins
# (a test that failed half-way leaves it to the next xagent_start, or cleanup).
xagent_start() {
	xagent_stop
	xagent_launch "$@"
}

xagent_launch() { # [agent args]: xagent_start on the pins as they are
	SEQ=$((SEQ + 1))
	XAGENT_LOG=$TMP/xagent$SEQ.log
	XAGENT_PID=
	launch_agent "$XPIN" "$XAGENT_LOG" "$@" || return 1
	XAGENT_PID=$L_PID
}

xagent_stop() {
	safe_kill CONT "$XAGENT_PID" # a failed test may have left it stopped
	halt_agent "$XAGENT_PID"
	XAGENT_PID=
	[[ -e $XPIN ]] || return 0
	bounded "$CLI_S" "$BPFGUARD" unload --pin-dir "$XPIN" >/dev/null 2>&1
	rm -rf "$XPIN" 2>/dev/null
}

# status_get_at PINDIR PATH...: GOT = the values at PATHs of a fresh
# `status --json` of the agent on PINDIR.
status_get_at() {
	local why pin=$1
	shift
	GOT=()
	cli status --json --pin-dir "$pin"
	[[ $RC == 0 ]] || { fail "status --json: exit $RC: $ERR"; return 1; }
	cp "$TMP/cli.out" "$TMP/status.json"
	why=$(json_check --get "$TMP/status.json" "$@") || { fail "status --json: $why"; return 1; }
	mapfile -t GOT <<<"$why"
}

# status_get PATH...: status_get_at of the suite's agent; status_get_x: of the one on XPIN.
status_get() { status_get_at "$PIN" "$@"; }
status_get_x() { status_get_at "$XPIN" "$@"; }

# list_empty: wait (bounded) until the agent lists no tag: every lineage
# ended. Sets REASON and returns 1 when one is still listed.
list_empty() {
	local deadline
	now
	deadline=$((NOW + BOUND_MS))
	while cli list --pin-dir "$PIN"; [[ $OUT != "no tagged processes" ]]; do
		now
		((NOW < deadline)) || { REASON="still listed after $BOUND_MS ms: $(oneline "$OUT")"; return 1; }
		msleep 0.1
	done
}

# tag_id: the tag number in the CLI's "tagged PID (tag N...)" answer (OUT).
tag_id() {
	[[ $OUT =~ \(tag\ ([0-9]+) ]] || { fail "no tag number in '$OUT'"; return 1; }
	TAGID=${BASH_REMATCH[1]}
}

# events_start FILE [UID [PINDIR]]: `bpfguard events` (as UID if not empty)
# writing FILE, until its first line is in. EV_PID.
events_start() {
	local f=$1 uid=${2:-} pin=${3:-$PIN}
	if [[ -n $uid ]]; then
		"$UDIR/asuser" "$uid" "$UDIR/bpfguard" events --pin-dir "$pin" >"$f" 2>"$f.err" {SLEEPFD}>&- &
	else
		"$BPFGUARD" events --pin-dir "$pin" >"$f" 2>"$f.err" {SLEEPFD}>&- &
	fi
	EV_PID=$!
	disown "$EV_PID" 2>/dev/null
	track "$EV_PID"
	wait_grep "$f" '"event":"subscribed"' 10000 ||
		{ fail "bpfguard events${uid:+ as uid $uid} printed no \"subscribed\" line within 10 s: $(oneline "$(cat "$f" "$f.err" 2>/dev/null)")"; return 1; }
}

# events_stop PID FILE: end a subscriber (SIGTERM, bounded) once FILE holds
# every line it is to get.
events_stop() {
	safe_kill TERM "$1"
	wait_dead 5000 "$1" || { fail "bpfguard events $1 did not stop on SIGTERM"; return 1; }
}
