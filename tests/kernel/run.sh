#!/bin/bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# Kernel (black-box) tests for bpfguard: the real binary, real BPF programs,
# real processes. Must run as root.
#
# Needs only bash (>= 5: EPOCHREALTIME) and busybox-level tools (grep, sed,
# head, tail, tr, ls, rm, mkdir, mktemp -d, mkfifo, sleep): it also runs inside
# the minimal qemu guests of tests/qemu/matrix.sh. No python, no coreutils,
# no procps; bounded runs use the function `bounded`, not timeout(1).
#
#   tests/kernel/run.sh            run every test
#   tests/kernel/run.sh NAME...    run only those tests
#   tests/kernel/run.sh --list     list the tests
#
# Environment:
#   BPFGUARD    the binary (default: <repo>/build/bpfguard)
#   HELPERS     directory of the compiled helpers (tests/kernel/helpers/*.c,
#               and gothread and bpfguard-go.test, go/bpfguard's test binary,
#               built from Go by make) (default:
#               <repo>/build/tests); if a C one is missing there, they are all
#               compiled into the temp dir (needs cc)
#   EXAMPLES    directory of the built examples (`make examples`; default:
#               HELPERS/../examples)
#   MODE        user|kernel|auto: passed as --mode to the suite's agent (and to
#               every agent it restarts); empty (default): the agent's default
#               (auto). The mode in use is printed before the first test.
#   AGENT_ARGS  extra arguments for the agent (e.g. -v)
#   AGENT_WRAP  a command every agent is started under, e.g. "valgrind
#               --log-file=DIR/a.%p.log" (word-split; tests/run-all.sh)
#   BOUND       integer factor (default 1) for the bounds that wait on the
#               agent, for a slowed-down agent (valgrind): its start, stop,
#               answers and kills
#   KEEP_TMP=1  keep the temp dir (agent and helper logs) for debugging
#   TREES       random_trees: how many random trees (default 500)
#   SEED        random_trees: the seed (default: a random one, printed)
#
# Output: a "mode M (...)" line, one "PASS name" or "FAIL name: reason" line
# per test, then the last line "N passed, M failed". Exit status 0 iff nothing
# failed.
#
# Safety: every process the tests signal was created by this script and is
# identified by pid AND start time; pid 1, this shell and its ancestors are
# never signalled. The agent uses a private pin dir, removed at exit.

set -u
shopt -s nullglob

HERE=${BASH_SOURCE[0]}
[[ $HERE == */* ]] && HERE=${HERE%/*} || HERE=.
REPO=$(cd "$HERE/../.." && pwd)
BPFGUARD=${BPFGUARD:-$REPO/build/bpfguard}
HELPERS=${HELPERS:-$REPO/build/tests}
EXAMPLES=${EXAMPLES:-${HELPERS%/}/../examples}
# No '.' in names under bpffs: it refuses them (EPERM), they are reserved.
PIN=/sys/fs/bpf/bpfguard-test-$$
BOUND=${BOUND:-1}
[[ $BOUND =~ ^[1-9][0-9]*$ ]] || BOUND=1
BOUND_MS=$((5000 * BOUND)) # default bound for "these processes must die"
CLI_S=$((15 * BOUND))      # bound on one CLI command
XPIN=$PIN-x                # pin dir of the fault tests' second agent
PF_KTHREAD=0x00200000
MODE=${MODE:-}
MODE_ARGS=() # --mode for every agent the suite starts
[[ -n $MODE ]] && MODE_ARGS=(--mode "$MODE")

TESTS=(
	simple_children chain6 daemon preexisting preexisting_late
	many_children many_preexisting exec threads untagged untag nested
	chain_untag nest_attack nest_pushdown merge_random deep_enrol repair_chain
	pidns no_leak pid_reuse list status bad_input help option_order
	mode_kernel second_agent agent_restart graceful_term graceful_ignore
	graceful_restart graceful_bad_input unload
	user_tag_own user_denied user_setuid_spared adopt pidns_tag zombie_children
	library go_example go_client
	events events_stop events_drop status_json metrics
	fork_storm root_pid_reuse dethread_exec go_thread_child setuid_child
	stopped_traced_dstate stuck_member stuck_restart many_deaths tag_slots
	agent_sigkill ring_full map_full request_burst bad_clients client_flood client_limits random_trees
	userns_caller capless_root member_untag list_private run_dir_safe
	user_quota user_tag_quota
)

declare -A START=()    # pid -> starttime (field 22) recorded when we learnt the pid
declare -A ANCESTOR=() # pids that must never be signalled
declare -A ROLEP=()    # role -> "pid pid ..." of the last tree read
declare -A FROLE=()    # role -> pid, from the forker (test_agent_sigkill)
declare -A LROOT=() LPARENT=() LDESC=() # list_roots: root -> tag, parent tag, descendants
PIDS=()                # every process the tests created (for cleanup)
TREE_PIDS=()
ROLE_PIDS=()
ALIVE=()
DEAD=()
AGENT_PID=
AGENT_LOG=
AGENT_MODE= # the mode the suite's agent reported (status)
FEATURES=   # " btf ringbuf ... " as the agent reported them (status)
KAGENT_PID= # the kernel-mode agent of test_mode_kernel
XAGENT_PID= # the fault tests' second agent, on XPIN
XAGENT_LOG=
OAGENT_PID= # the small-map agent of test_events_drop
TUID=       # the unprivileged test users' uids (setup_users)
TUID2=
TUSERS=()   # users this run created with useradd (removed at cleanup)
UDIR=       # binaries and a world-writable dir the test users can reach
GOHELPER=   # the Go helper (gothread), built by make with go
GOCLIENT=   # go/bpfguard's test binary (go test -c), built by make with go
STORM_WHY=  # why a round of the fork storm failed
STORM_LATE=0 # lingerers born late in the fork storms
STORM_FORKS=0 # forks in the fork storms
FIELD=      # status_field's result
DESC=       # the termer descendant of a graceful test
DIED_AT=    # death_watch: ms from the start to the death
L_PID=
AGENT_SEQ=0
QF_FD=  # qforker_start: the forker's fifo (writing end), its pid file, the last child
QF_OUT=
QF_PID=
QS_KEPT=() # quota_storm: the children that must live, every child
QS_ALL=()
QU=     # quota_used: processes and tags charged to a uid
QT=
AGENT_FORCED=0
AGENT_WHY=
SEQ=0
REASON=
RC=0
BRC=0
OUT=
ERR=
NOW=0
TMP=
SLEEPFD=
CLEANED=0

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

# read_stat PID: S_STATE S_PPID S_SID S_FLAGS S_START from /proc/PID/stat
read_stat() {
	local line rest
	{ read -r line <"/proc/$1/stat"; } 2>/dev/null || return 1
	[[ -n $line ]] || return 1
	rest=${line##*) }
	local -a f
	read -ra f <<<"$rest"
	S_STATE=${f[0]} S_PPID=${f[1]} S_SID=${f[3]} S_FLAGS=${f[6]} S_START=${f[19]}
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
	local s=${START[$1]:-dead} t line
	[[ $s != dead ]] || return 1
	read_stat "$1" || return 1
	[[ $S_START == "$s" ]] || return 1
	for t in /proc/"$1"/task/*/stat; do
		{ read -r line <"$t"; } 2>/dev/null || continue
		line=${line##*) }
		[[ ${line:0:1} == Z || ${line:0:1} == X ]] || return 0
	done
	return 1
}

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

# start_tree [--go] SHAPE ARGS...: ROOT = the helper's pid; TREE_OUT its pid
# file; TREE_GO the file to create to let it build the tree (with --go).
start_tree() {
	local -a go=()
	SEQ=$((SEQ + 1))
	TREE_OUT=$TMP/tree$SEQ
	TREE_GO=
	if [[ $1 == --go ]]; then
		TREE_GO=$TREE_OUT.go
		go=(--go "$TREE_GO")
		shift
	fi
	"$HELPERS/tree" "${go[@]}" --life 300 "$TREE_OUT" "$@" >>"$TMP/helpers.log" 2>&1 {SLEEPFD}>&- &
	ROOT=$!
	disown "$ROOT" 2>/dev/null
	track "$ROOT"
}

# wait_tree [FILE] [MS]: wait (bounded) for the tree's pid file, track its
# pids: TREE_PIDS (all), ROLEP[role].
wait_tree() {
	local pf=${1:-$TREE_OUT} ms=${2:-20000} pid role
	if ! wait_file "$pf" "$ms"; then
		fail "setup: the tree helper did not write its pid file within ${ms} ms: $(tail -n 1 "$TMP/helpers.log" 2>/dev/null)"
		return 1
	fi
	TREE_PIDS=()
	ROLEP=()
	while read -r pid role; do
		TREE_PIDS+=("$pid")
		ROLEP[$role]+="$pid "
	done <"$pf"
	track "${TREE_PIDS[@]}"
}

role() { # ROLE_PIDS = pids of ROLE in the last tree read
	ROLE_PIDS=()
	read -ra ROLE_PIDS <<<"${ROLEP[$1]:-}"
}

# Build a tree tagged before it has descendants: sets ROOT, TREE_PIDS.
tagged_tree() { # SHAPE ARGS...
	start_tree --go "$@"
	tag "$ROOT" --pin-dir "$PIN" || return 1
	: >"$TREE_GO"
	wait_tree || return 1
	check_alive "${TREE_PIDS[@]}" || fail "setup: tree processes died before the root was killed: $(desc "${DEAD[@]}")"
}

# kill_root_expect_dead ROOT PIDS...: SIGKILL ROOT, PIDS must die within the bound.
kill_root_expect_dead() {
	local root=$1
	shift
	safe_kill KILL "$root"
	wait_dead "$BOUND_MS" "$@" ||
		fail "still alive $BOUND_MS ms after the tagged root was killed: $(desc "${ALIVE[@]}")"
}

# ---------------------------------------------------------------- agent

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
	launch_agent "$PIN" "$AGENT_LOG" "$@" || return 1
	AGENT_PID=$L_PID
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

agent_log_tail() {
	[[ -n $AGENT_LOG && -s $AGENT_LOG ]] && tail -n "${1:-8}" "$AGENT_LOG" | sed 's/^/  | /' >&2
}

# ---------------------------------------------------------------- tests

test_simple_children() {
	tagged_tree children 3 || return
	((${#TREE_PIDS[@]} == 3)) || { fail "setup: expected 3 children, got ${#TREE_PIDS[@]}"; return; }
	kill_root_expect_dead "$ROOT" "${TREE_PIDS[@]}"
}

test_chain6() {
	start_tree --go chain 6
	tag --pin-dir "$PIN" "$ROOT" || return
	: >"$TREE_GO"
	wait_tree || return
	((${#TREE_PIDS[@]} == 6)) || { fail "setup: expected 6 processes, got ${#TREE_PIDS[@]}"; return; }
	check_alive "${TREE_PIDS[@]}" || { fail "chain died before the root was killed: $(desc "${DEAD[@]}")"; return; }
	kill_root_expect_dead "$ROOT" "${TREE_PIDS[@]}"
}

test_daemon() {
	local d c deadline
	tagged_tree daemon || return
	d=${TREE_PIDS[0]}
	read_stat "$ROOT" || { fail "setup: root gone"; return; }
	local root_sid=$S_SID
	read_stat "$d" || { fail "setup: daemon gone"; return; }
	[[ $S_PPID != "$ROOT" ]] || { fail "setup: the daemon was not reparented"; return; }
	[[ $S_SID != "$root_sid" ]] || { fail "setup: the daemon did not setsid"; return; }
	# let it exec /bin/sleep: the lineage must survive exec
	now
	deadline=$((NOW + 3000))
	while :; do
		c=
		{ read -r c <"/proc/$d/comm"; } 2>/dev/null
		[[ $c == sleep ]] && break
		now
		((NOW >= deadline)) && { fail "setup: the daemon did not exec sleep (comm '$c')"; return; }
		msleep 0.01
	done
	kill_root_expect_dead "$ROOT" "$d"
}

test_preexisting() {
	start_tree nested 2 2 # A -> B -> 2 children; A -> 2 children
	wait_tree || return
	check_alive "${TREE_PIDS[@]}" || { fail "setup: tree died: $(desc "${DEAD[@]}")"; return; }
	tag "$ROOT" --pin-dir "$PIN" || return
	kill_root_expect_dead "$ROOT" "${TREE_PIDS[@]}"
}

test_preexisting_late() {
	# a descendant that existed before the tag forks after the tag
	local -a pre
	start_tree late
	wait_tree || return
	pre=("${TREE_PIDS[@]}")
	tag "$ROOT" --pin-dir "$PIN" || return
	: >"$TREE_OUT.go2"
	wait_tree "$TREE_OUT.2" || return
	check_alive "${pre[@]}" "${TREE_PIDS[@]}" || { fail "setup: tree died: $(desc "${DEAD[@]}")"; return; }
	kill_root_expect_dead "$ROOT" "${pre[@]}" "${TREE_PIDS[@]}"
}

test_many_children() {
	start_tree --go children 1000
	tag "$ROOT" --pin-dir "$PIN" || return
	: >"$TREE_GO"
	wait_tree "" 30000 || return
	((${#TREE_PIDS[@]} == 1000)) || { fail "setup: expected 1000 children, got ${#TREE_PIDS[@]}"; return; }
	check_alive "${TREE_PIDS[@]}" || { fail "children died before the root was killed: $(desc "${DEAD[@]}")"; return; }
	kill_root_expect_dead "$ROOT" "${TREE_PIDS[@]}"
}

test_many_preexisting() {
	start_tree children 1000
	wait_tree "" 30000 || return
	((${#TREE_PIDS[@]} == 1000)) || { fail "setup: expected 1000 children, got ${#TREE_PIDS[@]}"; return; }
	tag "$ROOT" --pin-dir "$PIN" || return
	check_alive "${TREE_PIDS[@]}" || { fail "children died before the root was killed: $(desc "${DEAD[@]}")"; return; }
	kill_root_expect_dead "$ROOT" "${TREE_PIDS[@]}"
}

test_exec() {
	local f go shpid c rc n deadline
	local -a sleeps=()
	SEQ=$((SEQ + 1))
	f=$TMP/exec$SEQ.pids
	go=$TMP/exec$SEQ.go
	# shellcheck disable=SC2016
	"$BPFGUARD" exec --pin-dir "$PIN" -- sh -c \
		'sleep 300 & echo $! >>"$1"; sleep 300 & echo $! >>"$1"
		 i=0; while [ ! -e "$2" ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done; exit 0' \
		sh "$f" "$go" >>"$TMP/helpers.log" 2>&1 {SLEEPFD}>&- &
	shpid=$!
	track "$shpid"
	now
	deadline=$((NOW + 10000))
	while :; do
		n=0
		[[ -e $f ]] && n=$(grep -c . "$f")
		((n >= 2)) && break
		if ! is_alive "$shpid"; then
			wait "$shpid" 2>/dev/null
			fail "bpfguard exec exited (status $?) before running the command: $(tail -n 1 "$TMP/helpers.log")"
			return
		fi
		now
		((NOW >= deadline)) && { fail "setup: the shell did not start its sleeps within 10 s"; return; }
		msleep 0.01
	done
	mapfile -t sleeps <"$f"
	track "${sleeps[@]}"
	c=
	{ read -r c <"/proc/$shpid/comm"; } 2>/dev/null
	[[ $c == sh ]] || { fail "bpfguard exec did not exec the command in its own process (pid $shpid is '$c')"; return; }
	check_alive "${sleeps[@]}" || { fail "the sleeps died too early: $(desc "${DEAD[@]}")"; return; }
	: >"$go" # the shell exits normally
	wait_dead 10000 "$shpid" || { fail "the wrapped shell did not exit"; return; }
	wait "$shpid" 2>/dev/null
	rc=$?
	wait_dead "$BOUND_MS" "${sleeps[@]}" ||
		{ fail "still alive $BOUND_MS ms after the exec'd shell exited: $(desc "${ALIVE[@]}")"; return; }
	[[ $rc == 0 ]] || fail "bpfguard exec -- sh ... exited $rc, expected the command's status 0"
}

test_threads() {
	local t state
	tagged_tree threads 3 1200 || return
	# the pid file is written once the main thread has pthread_exit()ed;
	# another thread ends the process 1.2 s later
	msleep 0.3
	if ! group_alive "$ROOT"; then
		fail "setup: the helper's thread group ended before 300 ms"
		return
	fi
	check_alive "${TREE_PIDS[@]}" ||
		{ fail "children killed while the thread group lived (main thread had exited): $(desc "${DEAD[@]}")"; return; }
	{ read -r t <"/proc/$ROOT/task/$ROOT/stat"; } 2>/dev/null
	state=${t##*) }
	[[ ${state:0:1} == Z ]] || { fail "setup: the main thread has not exited (state ${state:0:1})"; return; }
	wait_group_dead 5000 "$ROOT" || { fail "setup: the helper did not exit by itself"; return; }
	wait_dead "$BOUND_MS" "${TREE_PIDS[@]}" ||
		fail "still alive $BOUND_MS ms after the tagged process exited: $(desc "${ALIVE[@]}")"
}

test_untagged() {
	start_tree children 3
	wait_tree || return
	safe_kill KILL "$ROOT"
	wait_dead "$BOUND_MS" "$ROOT" || { fail "setup: the root did not die"; return; }
	msleep 0.5
	check_alive "${TREE_PIDS[@]}" || fail "children of an untagged process were killed: $(desc "${DEAD[@]}")"
}

test_untag() {
	tagged_tree children 3 || return
	untag "$ROOT" --pin-dir "$PIN" || return
	safe_kill KILL "$ROOT"
	wait_dead "$BOUND_MS" "$ROOT" || { fail "setup: the root did not die"; return; }
	msleep 0.5
	check_alive "${TREE_PIDS[@]}" || fail "children of an untagged root were killed: $(desc "${DEAD[@]}")"
}

test_nested() {
	local a b
	local -a bkids akids all
	# 1: kill the inner root B: B's subtree dies, A and A's other children live
	tagged_tree nested 2 2 || return
	a=$ROOT
	role b
	b=${ROLE_PIDS[0]}
	role bchild
	bkids=("${ROLE_PIDS[@]}")
	role achild
	akids=("${ROLE_PIDS[@]}")
	tag "$b" --pin-dir "$PIN" || return
	kill_root_expect_dead "$b" "${bkids[@]}" || { REASON="inner tag: $REASON"; return 1; }
	msleep 0.5
	check_alive "$a" "${akids[@]}" ||
		{ fail "killing the nested root killed the outer root or its other children: $(desc "${DEAD[@]}")"; return; }
	kill_root_expect_dead "$a" "${akids[@]}" || { REASON="outer tag after the inner root died: $REASON"; return 1; }
	# 2: kill the outer root A: everything below dies, B's subtree too
	tagged_tree nested 2 2 || return
	a=$ROOT
	all=("${TREE_PIDS[@]}")
	role b
	tag --pin-dir "$PIN" "${ROLE_PIDS[0]}" || return
	kill_root_expect_dead "$a" "${all[@]}" || { REASON="outer root: $REASON"; return 1; }
}

# ---- long tag chains: merges stay short, nesting is bounded ------------------

NEST_MAX=8                              # BG_MAX_NEST (include/bpfguard.h)
NEST_ERR="tags nest at most $NEST_MAX deep" # the refusal's line
FWD_OLD=8                               # the forward bound lookups once had

# chain_pids N: start a chain of N processes below a root (tree chain N) and
# read it: CHAIN = root, chain1 .. chainN (outermost first).
chain_pids() {
	local i
	start_tree chain "$1"
	wait_tree || return 1
	CHAIN=("$ROOT")
	for ((i = 1; i <= $1; i++)); do
		role "chain$i"
		((${#ROLE_PIDS[@]} == 1)) || { fail "setup: no single chain$i in the tree"; return 1; }
		CHAIN+=("${ROLE_PIDS[0]}")
	done
	check_alive "${CHAIN[@]}" || { fail "setup: chain members died: $(desc "${DEAD[@]}")"; return 1; }
}

# nest_tag PID: tag it; NESTED=0 if tagged, 1 if refused for the nesting
# bound (exit 1 and the one line that says so); anything else fails.
nest_tag() {
	cli tag "$1" --pin-dir "$PIN"
	NESTED=0
	((RC == 0)) && return 0
	if ((RC == 1)) && [[ $ERR == *"$NEST_ERR"* && $ERR != *$'\n'* ]]; then
		NESTED=1
		return 0
	fi
	fail "tag $1: exit $RC: $(oneline "$ERR")"
}

# lineage_is ROOT PIDS...: `list` shows every PID as ROOT's descendant.
lineage_is() {
	local root=$1 p
	shift
	list_roots "$PIN" || return 1
	[[ -n ${LROOT[$root]:-} ]] || { fail "list: $root is not a tagged root"; return 1; }
	for p; do
		[[ ${LDESC[$root]} == *" $p "* ]] ||
			{ fail "list: $p is not in the lineage of $root (it lists:${LDESC[$root]})"; return 1; }
	done
}

# The accidental case: every process of a chain twice as long as the old
# forward bound tagged outermost first (past the nesting bound: refused),
# untagged innermost first, the top killed: nothing below it survives.
test_chain_untag() {
	local n=$((2 * FWD_OLD + 1)) i
	local -a tagged=()
	chain_pids "$n" || return
	for ((i = 0; i <= n; i++)); do
		nest_tag "${CHAIN[i]}" || return
		if ((NESTED)); then
			((${#tagged[@]} >= NEST_MAX)) ||
				{ fail "tag at depth $((${#tagged[@]} + 1)) refused: $ERR"; return; }
		else
			tagged+=("${CHAIN[i]}")
		fi
	done
	((${#tagged[@]} >= NEST_MAX)) || { fail "only ${#tagged[@]} nested tags accepted"; return; }
	for ((i = ${#tagged[@]} - 1; i >= 1; i--)); do
		untag "${tagged[i]}" --pin-dir "$PIN" || return
	done
	lineage_is "$ROOT" "${CHAIN[@]:1}" || return
	kill_root_expect_dead "$ROOT" "${CHAIN[@]:1}"
}

# tag_levels LEVELS...: nest_tag each CHAIN[level] in order; TAGGED = the
# levels tagged, REFUSED = the levels refused for the nesting bound.
tag_levels() {
	local k
	TAGGED=() REFUSED=()
	for k; do
		nest_tag "${CHAIN[k]}" || return 1
		if ((NESTED)); then REFUSED+=("$k"); else TAGGED+=("$k"); fi
	done
}

# untag_levels LEVELS...: untag each CHAIN[level] in order.
untag_levels() {
	local k
	for k; do
		untag "${CHAIN[k]}" --pin-dir "$PIN" || return 1
	done
}

# The attack: a member of the root's lineage nests tags down its own chain,
# twice the nesting bound deep, and untags them innermost first, twice over.
# Past the bound every tag is refused with one clear line; nothing of the
# lineage drops out: the root's death kills the whole chain.
test_nest_attack() {
	local n=$((2 * NEST_MAX + 1)) k round
	local -a levels
	chain_pids "$n" || return
	tag "${CHAIN[0]}" --pin-dir "$PIN" || return
	for round in 1 2; do
		levels=()
		for ((k = 1; k <= n; k++)); do levels+=("$k"); done
		tag_levels "${levels[@]}" || return
		# the root's tag is one level: NEST_MAX - 1 more fit below it
		((${#TAGGED[@]} == NEST_MAX - 1)) ||
			{ fail "round $round: ${#TAGGED[@]} nested tags accepted below the root (levels ${TAGGED[*]}), want $((NEST_MAX - 1))"; return; }
		((TAGGED[-1] < REFUSED[0])) || { fail "round $round: refusals before acceptances: ${REFUSED[*]}"; return; }
		levels=()
		for ((k = ${#TAGGED[@]} - 1; k >= 0; k--)); do levels+=("${TAGGED[k]}"); done
		untag_levels "${levels[@]}" || return
	done
	lineage_is "$ROOT" "${CHAIN[@]:1}" || return
	kill_root_expect_dead "$ROOT" "${CHAIN[@]:1}"
}

# Tagging an ancestor of tagged roots pushes their tags down below the new
# one: past the bound it is refused whole (after its enrolment), and the
# tags below stay as they were, nested and enforcing.
test_nest_pushdown() {
	local n=$((2 * NEST_MAX + 1)) k top
	local -a levels=()
	chain_pids "$n" || return
	for ((k = n; k >= 0; k--)); do levels+=("$k"); done
	tag_levels "${levels[@]}" || return # innermost first: each pushes the rest down
	((${#TAGGED[@]} == NEST_MAX)) || { fail "${#TAGGED[@]} tags accepted bottom-up, want $NEST_MAX"; return; }
	top=${TAGGED[-1]} # the outermost accepted level
	((top == n - NEST_MAX + 1)) || { fail "accepted levels ${TAGGED[*]}"; return; }
	# nothing half done: the refused levels are not tagged, the others nest
	# in chain order, each inside the next one up
	list_roots "$PIN" || return
	for k in "${REFUSED[@]}"; do
		[[ -z ${LROOT[${CHAIN[k]}]:-} ]] || { fail "refused level $k is tagged (tag ${LROOT[${CHAIN[k]}]})"; return; }
	done
	[[ ${LPARENT[${CHAIN[top]}]:-x} == 0 ]] || { fail "level $top's tag is not top level: parent ${LPARENT[${CHAIN[top]}]:-none}"; return; }
	for ((k = top + 1; k <= n; k++)); do
		[[ ${LPARENT[${CHAIN[k]}]:-x} == "${LROOT[${CHAIN[k - 1]}]:-y}" ]] ||
			{ fail "level $k's tag hangs from ${LPARENT[${CHAIN[k]}]:-none}, not level $((k - 1))'s ${LROOT[${CHAIN[k - 1]}]:-none}"; return; }
	done
	# the middle one's death kills below it only; the top's kills the rest
	k=$((top + NEST_MAX / 2))
	kill_root_expect_dead "${CHAIN[k]}" "${CHAIN[@]:k+1}" || return
	check_alive "${CHAIN[@]:0:k}" || { fail "killing level $k killed above it: $(desc "${DEAD[@]}")"; return; }
	kill_root_expect_dead "${CHAIN[top]}" "${CHAIN[@]:top+1:k-top-1}" || return
	check_alive "${CHAIN[@]:0:top}" || fail "killing level $top killed above it: $(desc "${DEAD[@]}")"
}

# Untags of middle tags in a pseudo-random order, interleaved with tags at
# random levels (nested at birth, or pushing tags below down), 3x the nesting
# bound of levels, twice the old forward bound of merges: the nesting `list`
# shows is the chain's, every level stays in the top's lineage, a remaining
# inner root's death kills below it only, the top's kills everything.
test_merge_random() {
	local n=$((3 * NEST_MAX)) seed=${SEED:-} seed0 untags=0 steps=0 k i pick prev
	local -a on=() lv=()
	[[ -n $seed ]] || seed=$RANDOM
	seed0=$seed
	msg "merge_random: seed $seed0 (SEED=$seed0 replays it)"
	chain_pids "$n" || return
	tag "${CHAIN[0]}" --pin-dir "$PIN" || return
	on[0]=1
	mr_rnd() { seed=$(((seed * 1103515245 + 12345) % 2147483648)); R=$((seed / 65536 % $1)); }
	while ((untags < 2 * FWD_OLD && steps < 20 * n)); do
		steps=$((steps + 1))
		lv=()
		for ((k = 0; k <= n; k++)); do [[ -n ${on[k]:-} ]] && lv+=("$k"); done
		mr_rnd 4
		if ((${#lv[@]} < NEST_MAX || R == 0)); then
			# tag a random untagged level: refused iff the chain is full
			mr_rnd "$n"
			k=$((R + 1))
			[[ -n ${on[k]:-} ]] && continue
			nest_tag "${CHAIN[k]}" || { REASON="seed $seed0: $REASON"; return 1; }
			if ((NESTED != (${#lv[@]} >= NEST_MAX))); then
				fail "seed $seed0: tag level $k with ${#lv[@]} tags on the chain: refused=$NESTED"
				return
			fi
			((NESTED)) || on[k]=1
		elif ((${#lv[@]} > 2)); then
			mr_rnd $((${#lv[@]} - 2)) # a middle one: not the top, not the innermost
			k=${lv[R + 1]}
			untag "${CHAIN[k]}" --pin-dir "$PIN" || { REASON="seed $seed0: $REASON"; return 1; }
			unset 'on[k]'
			untags=$((untags + 1))
		fi
	done
	((untags >= 2 * FWD_OLD)) || { fail "seed $seed0: only $untags untags in $steps steps"; return; }
	lv=()
	for ((k = 0; k <= n; k++)); do [[ -n ${on[k]:-} ]] && lv+=("$k"); done
	list_roots "$PIN" || return
	prev=0
	for k in "${lv[@]}"; do
		pick=${CHAIN[k]}
		[[ -n ${LROOT[$pick]:-} && ${LPARENT[$pick]} == "$prev" ]] ||
			{ fail "seed $seed0: level $k: tag ${LROOT[$pick]:-none} under ${LPARENT[$pick]:-none}, want under $prev (tagged levels ${lv[*]})"; return; }
		prev=${LROOT[$pick]}
	done
	lineage_is "$ROOT" "${CHAIN[@]:1}" || { REASON="seed $seed0: $REASON"; return 1; }
	i=${lv[-1]}
	((i > 0)) || { fail "seed $seed0: no inner tag left"; return; }
	kill_root_expect_dead "${CHAIN[i]}" "${CHAIN[@]:i+1}" || { REASON="seed $seed0: innermost root (level $i): $REASON"; return 1; }
	check_alive "${CHAIN[@]:0:i}" || { fail "seed $seed0: killing level $i killed above it: $(desc "${DEAD[@]}")"; return; }
	kill_root_expect_dead "$ROOT" "${CHAIN[@]:1:i-1}" || REASON="seed $seed0: top: $REASON"
}

# A chain more than twice BG_MAX_DEPTH (128) deep, built before its top is
# tagged, pids running upwards, then downwards (as after a pid wrap: the
# enrolment iterator meets the deep end first, one BG_MAX_DEPTH stretch per
# pass): every level is enrolled, and dies with the top.
test_deep_enrol() {
	local n=300 order pf line p prev
	local -a pids
	for order in up down; do
		SEQ=$((SEQ + 1))
		pf=$TMP/deep$SEQ
		"$HELPERS/deepchain" --life 300 "$pf" "$n" ${order/up/} >>"$TMP/helpers.log" 2>&1 {SLEEPFD}>&- &
		ROOT=$!
		disown "$ROOT" 2>/dev/null
		track "$ROOT"
		wait_file "$pf" 30000 || { fail "$order: setup: deepchain wrote no pid file: $(tail -n 1 "$TMP/helpers.log")"; return; }
		pids=()
		while read -r p line; do pids+=("$p"); done <"$pf"
		track "${pids[@]}"
		((${#pids[@]} == n)) || { fail "$order: setup: ${#pids[@]} levels, want $n"; return; }
		prev=$((1 << 30))
		for p in "${pids[@]}"; do
			if [[ $order == down ]] && ((p >= prev)); then
				fail "setup: pid $p is not below its parent's $prev"
				return
			fi
			prev=$p
		done
		check_alive "${pids[@]}" || { fail "$order: setup: levels died: $(desc "${DEAD[@]}")"; return; }
		tag "$ROOT" --pin-dir "$PIN" || return
		lineage_is "$ROOT" "${pids[@]}" || { REASON="$order: $REASON"; return 1; }
		kill_root_expect_dead "$ROOT" "${pids[@]}" || { REASON="$order: $REASON"; return 1; }
	done
}

# What an agent killed in the middle of its untag writes leaves, or an older
# agent's chains of merges: records forwarding through merged ones, here a
# chain of twice BG_MAX_FORWARD (4) forwards, written into the pinned map
# while no agent runs. The next agent repoints them as it starts: nothing
# drops out of the lineage, the root's death kills the whole chain.
test_repair_chain() {
	local fwd=4 n k line
	local -a ids=()
	n=$((2 * fwd + 1))
	chain_pids "$n" || return
	for ((k = 0; k < n - 1; k++)); do
		tag "${CHAIN[k]}" --pin-dir "$PIN" || return
		[[ $OUT =~ \(tag\ ([0-9]+) ]] || { fail "tag ${CHAIN[k]}: no tag id in '$OUT'"; return; }
		ids+=("${BASH_REMATCH[1]}")
	done
	for ((k = n - 2; k >= 1; k--)); do untag "${CHAIN[k]}" --pin-dir "$PIN" || return; done
	stop_agent
	for ((k = 2; k < n - 1; k++)); do
		"$HELPERS/tagrec" "$PIN" "${ids[k]}" "${ids[k - 1]}" 2>"$TMP/tagrec.err" ||
			{ fail "setup: tagrec: $(<"$TMP/tagrec.err")"; return; }
	done
	line=$("$HELPERS/tagrec" "$PIN" "${ids[n - 2]}")
	[[ $line == "2 ${ids[n - 3]}" ]] || { fail "setup: tag ${ids[n - 2]} reads '$line'"; return; }
	start_agent || { fail "restart: $AGENT_WHY"; return; }
	lineage_is "$ROOT" "${CHAIN[@]:1}" || return
	for ((k = 1; k < n - 1; k++)); do
		line=$("$HELPERS/tagrec" "$PIN" "${ids[k]}")
		[[ $line == "2 ${ids[0]}" ]] || { fail "tag ${ids[k]} reads '$line' after the restart, want '2 ${ids[0]}'"; return; }
	done
	grep -q "repointed $((n - 3)) tag record" "$AGENT_LOG" ||
		{ fail "the agent did not say it repointed $((n - 3)) records: $(grep -m1 repointed "$AGENT_LOG")"; return; }
	kill_root_expect_dead "$ROOT" "${CHAIN[@]:1}"
}

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

test_no_leak() {
	local root sroot sl
	local -a kids sib
	tagged_tree children 3 || return
	root=$ROOT
	kids=("${TREE_PIDS[@]}")
	# unrelated processes created by the runner after the tag
	start_tree children 2
	sroot=$ROOT
	wait_tree || return
	sib=("${TREE_PIDS[@]}")
	sleep 300 {SLEEPFD}>&- &
	sl=$!
	disown "$sl" 2>/dev/null
	track "$sl"
	kill_root_expect_dead "$root" "${kids[@]}" || return
	msleep 0.5
	check_alive "$sroot" "${sib[@]}" "$sl" || fail "non-descendants were killed: $(desc "${DEAD[@]}")"
}

test_pid_reuse() {
	# A descendant dies and its pid is reused by an unrelated process: killing
	# the root must not kill the newcomer.
	local victim p try got=
	local -a rest
	[[ -w /proc/sys/kernel/ns_last_pid ]] || { fail "setup: /proc/sys/kernel/ns_last_pid is not writable"; return; }
	tagged_tree children 3 || return
	victim=${TREE_PIDS[0]}
	rest=("${TREE_PIDS[@]:1}")
	safe_kill KILL "$victim"
	wait_dead "$BOUND_MS" "$victim" || { fail "setup: the victim did not die"; return; }
	for ((try = 0; try < 200 * BOUND; try++)); do # the root reaps it (SIGCHLD ignored)
		[[ -e /proc/$victim ]] || break
		msleep 0.01
	done
	[[ ! -e /proc/$victim ]] || { fail "setup: the victim $victim was not reaped"; return; }
	msleep 0.1 # let the exit be processed
	for ((try = 0; try < 20; try++)); do
		echo $((victim - 1)) >/proc/sys/kernel/ns_last_pid 2>/dev/null
		sleep 300 {SLEEPFD}>&- &
		p=$!
		disown "$p" 2>/dev/null
		track "$p"
		if [[ $p == "$victim" ]]; then
			got=$p
			break
		fi
		safe_kill KILL "$p"
	done
	[[ -n $got ]] || { fail "setup: could not get pid $victim reused in 20 tries (busy machine?)"; return; }
	kill_root_expect_dead "$ROOT" "${rest[@]}" || return
	msleep 0.5
	is_alive "$got" || fail "an unrelated process that reused a dead descendant's pid ($got) was killed"
}

# json_check FILE "ROOT:pid,pid" ...: FILE is valid JSON, an array holding
# exactly one object per ROOT, whose "descendants" include those pids. On
# failure: one line of explanation on stdout, status 1 (helpers/jsoncheck.c).
json_check() {
	"$HELPERS/jsoncheck" "$@" {SLEEPFD}>&-
}

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
	for sub in agent status tag untag list exec unload; do
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

# Kernel mode on its own pin dir, beside the suite's agent (whatever MODE is):
# where the kernel has bpf_send_signal_task, a kernel-mode agent kills a
# tagged root's lineage from the exit program (kernel_kills > 0); elsewhere
# `agent --mode kernel` refuses to start (exit 1, a message about the kernel).
#
# Not tested: a child forked by a descendant after the root died but before
# that descendant was signalled (the fork program's "doomed lineage" kill).
# The window is the few microseconds between copy_process()'s last signal
# check and the sched_process_fork tracepoint, racing the exit program's
# in-kernel kill; nothing a black-box test can widen (a signalled process
# cannot fork any more), so such a test could only be probabilistic.
test_mode_kernel() {
	local kpin=$PIN-kernel klog=$TMP/kmode.log bad rc line found=0
	rm -rf "$kpin" 2>/dev/null
	cli status --pin-dir "$PIN"
	if [[ $RC != 0 ]] || ! parse_status; then
		fail "setup: no status from the suite's agent: exit $RC: $ERR"
		return
	fi
	if ! has_feature send_signal_task; then
		bounded 10 "$BPFGUARD" agent --mode kernel --pin-dir "$kpin" >"$TMP/kmode.out" 2>"$TMP/kmode.err"
		rc=$BRC
		if [[ -e $kpin ]]; then
			bounded 15 "$BPFGUARD" unload --pin-dir "$kpin" >/dev/null 2>&1
			rm -rf "$kpin" 2>/dev/null
		fi
		[[ $rc != 124 ]] || { fail "agent --mode kernel kept running on a kernel without send_signal_task (expected exit 1)"; return; }
		[[ $rc == 1 ]] || { fail "agent --mode kernel: exit $rc, expected 1 (no send_signal_task): $(oneline "$(<"$TMP/kmode.err")")"; return; }
		# not the informational "<6>bpfguard: kernel R: ..." probe line: the error
		while IFS= read -r line; do
			[[ $line == "<6>"* || $line == "<7>"* ]] && continue
			[[ ${line,,} == *kernel* ]] && { found=1; break; }
		done <"$TMP/kmode.err"
		((found)) ||
			{ fail "agent --mode kernel: no error about the kernel on stderr: $(oneline "$(<"$TMP/kmode.err")")"; return; }
	else
		# --mode kernel comes after MODE's --mode: it wins
		launch_agent "$kpin" "$klog" --mode kernel || { fail "agent --mode kernel did not start: $AGENT_WHY"; return; }
		KAGENT_PID=$L_PID
		kernel_mode_run "$kpin"
		bad=$?
		if [[ -n $KAGENT_PID ]]; then
			cli unload --pin-dir "$kpin"
			if [[ $RC != 0 ]]; then
				((bad)) || fail "unload of the kernel-mode agent: exit $RC: $ERR"
				bad=1
			fi
			if ! wait_dead 5000 "$KAGENT_PID"; then
				((bad)) || fail "the kernel-mode agent still runs 5 s after unload"
				bad=1
			fi
			halt_agent "$KAGENT_PID"
			KAGENT_PID=
		fi
		if [[ -e $kpin ]]; then
			((bad)) || fail "the pin dir $kpin remains after unload"
			bad=1
			bounded 15 "$BPFGUARD" unload --pin-dir "$kpin" >/dev/null 2>&1
			rm -rf "$kpin" 2>/dev/null
		fi
		((bad == 0)) || { [[ -s $klog ]] && tail -n 5 "$klog" | sed 's/^/  | /' >&2; return 1; }
	fi
	cli agent --mode bogus --pin-dir "$kpin"
	rm -rf "$kpin" 2>/dev/null
	[[ $RC == 2 ]] || fail "agent --mode bogus: exit $RC, expected 2"
}

# The kernel-mode agent on KPIN is up: tag a tree there, kill the root.
kernel_mode_run() {
	local kpin=$1
	cli status --pin-dir "$kpin"
	[[ $RC == 0 ]] || { fail "status of the kernel-mode agent: exit $RC: $ERR"; return; }
	[[ $OUT =~ mode\ kernel ]] || { fail "agent --mode kernel: status does not say mode kernel: $(oneline "$OUT")"; return; }
	start_tree --go children 3
	tag "$ROOT" --pin-dir "$kpin" || return
	: >"$TREE_GO"
	wait_tree || return
	((${#TREE_PIDS[@]} == 3)) || { fail "setup: expected 3 children, got ${#TREE_PIDS[@]}"; return; }
	check_alive "${TREE_PIDS[@]}" || { fail "setup: children died before the root was killed: $(desc "${DEAD[@]}")"; return; }
	kill_root_expect_dead "$ROOT" "${TREE_PIDS[@]}" || { REASON="kernel mode: $REASON"; return 1; }
	cli status --pin-dir "$kpin"
	[[ $RC == 0 ]] || { fail "status of the kernel-mode agent after the kill: exit $RC: $ERR"; return; }
	counter kernel_kills || { fail "kernel mode: no kernel_kills=N in status: $(oneline "$OUT")"; return; }
	((COUNTER > 0)) || {
		counter kernel_kills_failed
		fail "kernel mode: kernel_kills=0 after a tagged root with 3 children died (kernel_kills_failed=$COUNTER): the kernel killed nothing"
		return
	}
}

test_second_agent() {
	local a2 rc
	tagged_tree children 2 || return
	"$BPFGUARD" agent --pin-dir "$PIN" "${MODE_ARGS[@]}" >"$TMP/agent2.log" 2>&1 {SLEEPFD}>&- &
	a2=$!
	track "$a2"
	if ! wait_dead 10000 "$a2"; then
		safe_kill TERM "$a2"
		wait_dead 3000 "$a2" || safe_kill KILL "$a2"
		wait_dead 3000 "$a2"
		wait "$a2" 2>/dev/null
		fail "a second agent on the same pin dir kept running for 10 s"
		return
	fi
	wait "$a2" 2>/dev/null
	rc=$?
	[[ $rc != 0 ]] || { fail "a second agent on the same pin dir exited 0"; return; }
	agent_ok || { fail "the first agent is not running after a second one was refused"; return; }
	kill_root_expect_dead "$ROOT" "${TREE_PIDS[@]}" || REASON="after a refused second agent: $REASON"
}

test_agent_restart() {
	local root
	local -a kids
	# 1: tag, restart the agent, kill the root
	tagged_tree children 3 || return
	stop_agent
	((AGENT_FORCED == 0)) || { fail "the agent ignored SIGTERM"; return; }
	[[ -d $PIN ]] || { fail "stopping the agent removed the pin dir"; return; }
	cli status --pin-dir "$PIN"
	[[ $RC == 1 ]] || { fail "status with the agent stopped: exit $RC, expected 1"; return; }
	start_agent || { fail "restart: $AGENT_WHY"; return; }
	kill_root_expect_dead "$ROOT" "${TREE_PIDS[@]}" || { REASON="tag made before a restart: $REASON"; return 1; }

	# 2: the root dies while the agent is down
	tagged_tree children 3 || return
	root=$ROOT
	kids=("${TREE_PIDS[@]}")
	stop_agent
	safe_kill KILL "$root"
	wait_dead "$BOUND_MS" "$root" || { fail "setup: the root did not die"; return; }
	msleep 0.2
	start_agent || { fail "restart: $AGENT_WHY"; return; }
	wait_dead "$BOUND_MS" "${kids[@]}" ||
		{ fail "root killed while the agent was down: still alive $BOUND_MS ms after the agent restarted: $(desc "${ALIVE[@]}")"; return; }

	# 3: descendants created while the agent is down
	start_tree --go children 3
	tag "$ROOT" --pin-dir "$PIN" || return
	stop_agent
	: >"$TREE_GO"
	wait_tree || return
	start_agent || { fail "restart: $AGENT_WHY"; return; }
	check_alive "${TREE_PIDS[@]}" || { fail "setup: children died: $(desc "${DEAD[@]}")"; return; }
	kill_root_expect_dead "$ROOT" "${TREE_PIDS[@]}" || REASON="children forked while the agent was down: $REASON"
}

test_unload() {
	tagged_tree children 2 || return
	cli unload --pin-dir "$PIN"
	[[ $RC == 0 ]] || { fail "unload: exit $RC: $ERR"; return; }
	if ! wait_dead 5000 "$AGENT_PID"; then
		fail "the agent still runs 5 s after unload"
		return
	fi
	wait "$AGENT_PID" 2>/dev/null
	AGENT_PID=
	[[ ! -e $PIN ]] || { fail "the pin dir remains after unload: $(ls "$PIN" | head -5 | tr '\n' ' ')"; return; }
	cli status --pin-dir "$PIN"
	[[ $RC == 1 ]] || { fail "status after unload: exit $RC, expected 1"; return; }
	safe_kill KILL "$ROOT"
	wait_dead "$BOUND_MS" "$ROOT" || { fail "setup: the root did not die"; return; }
	msleep 0.5
	check_alive "${TREE_PIDS[@]}" || { fail "processes were killed after unload: $(desc "${DEAD[@]}")"; return; }
	start_agent || fail "the agent does not start again after unload: $AGENT_WHY"
}

# ---------------------------------------------------------------- graceful termination

# start_termer MODE [MARKER]: the termer helper, whose root forks one
# descendant handling (MODE handle: it writes MARKER on SIGTERM and exits 0)
# or ignoring (MODE ignore) SIGTERM once TREE_GO exists. ROOT = the root's
# pid, TREE_OUT the pid file the descendant writes once its disposition is in
# place, TREE_GO the go file.
start_termer() {
	SEQ=$((SEQ + 1))
	TREE_OUT=$TMP/termer$SEQ
	TREE_GO=$TREE_OUT.go
	"$HELPERS/termer" --go "$TREE_GO" --life 300 "$TREE_OUT" "$@" >>"$TMP/helpers.log" 2>&1 {SLEEPFD}>&- &
	ROOT=$!
	disown "$ROOT" 2>/dev/null
	track "$ROOT"
}

# graceful_setup GRACE MODE [MARKER]: a termer root tagged with --signal TERM
# --grace GRACE before its descendant exists; DESC = the descendant, alive,
# its SIGTERM disposition in place.
graceful_setup() {
	local grace=$1 role
	shift
	DESC=
	start_termer "$@"
	tag "$ROOT" --signal TERM --grace "$grace" --pin-dir "$PIN" || return 1
	: >"$TREE_GO"
	if ! wait_file "$TREE_OUT" 10000; then
		fail "setup: the termer helper's descendant did not report within 10 s: $(tail -n 1 "$TMP/helpers.log" 2>/dev/null)"
		return 1
	fi
	read -r DESC role <"$TREE_OUT"
	[[ $DESC =~ ^[0-9]+$ ]] || { fail "setup: bad termer pid file: $(oneline "$(<"$TREE_OUT")")"; return 1; }
	track "$DESC"
	check_alive "$ROOT" "$DESC" || { fail "setup: died before the root was killed: $(desc "${DEAD[@]}")"; return 1; }
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

# A descendant that handles SIGTERM exits through its handler long before
# the deadline: SIGTERM at the root's death, not SIGKILL, not at the deadline.
test_graceful_term() {
	local marker got='' t0
	SEQ=$((SEQ + 1))
	marker=$TMP/marker$SEQ
	graceful_setup 3s handle "$marker" || return
	[[ ! -e $marker ]] || { fail "setup: the marker exists before the root was killed"; return; }
	safe_kill KILL "$ROOT"
	now
	t0=$NOW
	if ! death_watch "$DESC" "$t0" 1500; then
		fail "the descendant handling SIGTERM still lives 1500 ms after the tagged root (--signal TERM --grace 3s) was killed: no SIGTERM at the root's death"
		return
	fi
	{ read -r got <"$marker"; } 2>/dev/null
	[[ -e $marker ]] ||
		{ fail "the descendant died $DIED_AT ms after the root was killed, but not through its SIGTERM handler (no marker: SIGKILL instead of SIGTERM?)"; return; }
	[[ $got == 15 ]] || fail "the descendant's handler caught signal '$got', expected 15 (SIGTERM)"
}

# A descendant that ignores SIGTERM lives through the grace and is SIGKILLed
# at the deadline.
test_graceful_ignore() {
	local t0
	graceful_setup 1500ms ignore || return
	safe_kill KILL "$ROOT"
	now
	t0=$NOW
	if ! death_watch "$DESC" "$t0" 3000; then
		fail "the descendant ignoring SIGTERM still lives 3000 ms after the tagged root (--grace 1500ms) was killed: no SIGKILL at the deadline"
		return
	fi
	((DIED_AT >= 1000)) ||
		fail "the descendant ignoring SIGTERM died $DIED_AT ms after the tagged root (--grace 1500ms) was killed: before the deadline"
}

# The deadline survives the agent: the root dies while the agent is down, an
# agent started after the deadline SIGKILLs at once.
test_graceful_restart() {
	local t0 t1 s why=''
	graceful_setup 1500ms ignore || return
	stop_agent
	((AGENT_FORCED == 0)) || why="setup: the agent ignored SIGTERM"
	if [[ -z $why ]]; then
		safe_kill KILL "$ROOT"
		now
		t0=$NOW
		wait_dead 2000 "$ROOT" || why="setup: the root did not die"
	fi
	if [[ -z $why ]]; then
		# past the deadline; with no agent, nothing SIGKILLs (kernel mode
		# sent SIGTERM in-kernel, which the descendant ignores)
		now
		if ((NOW - t0 < 2000)); then
			printf -v s '%d.%03d' $(((2000 - NOW + t0) / 1000)) $(((2000 - NOW + t0) % 1000))
			msleep "$s"
		fi
		now
		is_alive "$DESC" ||
			why="the descendant ignoring SIGTERM died within $((NOW - t0)) ms of the root's death while the agent was down (got something other than SIGTERM?)"
	fi
	# restore the suite's agent whatever happened
	start_agent || { fail "restart: $AGENT_WHY${why:+ (and before: $why)}"; return; }
	now
	t1=$NOW
	[[ -z $why ]] || { fail "$why"; return; }
	wait_dead 2000 "$DESC" ||
		fail "the descendant still lives 2000 ms after an agent started $((t1 - t0)) ms after the tagged root's death (--grace 1500ms: the deadline had passed)"
}

# Bad --signal and --grace values are usage errors for tag and exec (exit 2,
# one line on stderr); the good forms are accepted (controls).
test_graceful_bad_input() {
	local v root kid n
	local -a opts errs=()
	local -a bad=(
		"--signal BOGUS --grace 2s"
		"--signal 0 --grace 2s"
		"--signal TERM --grace -1s"
		"--signal TERM --grace 10x"
		"--signal TERM --grace 2h"
	)
	# the last two would leave a doomed exec tag for minutes: tag only
	local -a good=(
		"--signal TERM --grace 500ms"
		"--signal SIGTERM --grace 2s"
		"--signal 15 --grace 500ms"
		"--signal TERM --grace 1m"
		"--signal SIGTERM --grace 1h"
	)
	start_tree children 1
	wait_tree || return
	root=$ROOT
	kid=${TREE_PIDS[0]}
	for v in "${bad[@]}"; do
		read -ra opts <<<"$v"
		cli tag "$root" "${opts[@]}" --pin-dir "$PIN"
		[[ $RC == 0 ]] && bounded 15 "$BPFGUARD" untag "$root" --pin-dir "$PIN" >/dev/null 2>&1
		n=$(grep -c '' "$TMP/cli.err")
		if [[ $RC != 2 ]]; then
			errs+=("'tag PID $v' exit $RC (want 2)")
		elif [[ $n != 1 ]]; then
			errs+=("'tag PID $v' printed $n lines on stderr (want 1)")
		fi
		cli exec "${opts[@]}" --pin-dir "$PIN" -- "$BASH" -c 'exit 7'
		n=$(grep -c '' "$TMP/cli.err")
		if [[ $RC != 2 ]]; then
			errs+=("'exec $v -- CMD' exit $RC (want 2)")
		elif [[ $n != 1 ]]; then
			errs+=("'exec $v -- CMD' printed $n lines on stderr (want 1)")
		fi
	done
	for n in 0 1 2 3 4; do
		read -ra opts <<<"${good[n]}"
		cli tag "$root" "${opts[@]}" --pin-dir "$PIN"
		[[ $RC == 0 ]] || errs+=("control: 'tag PID ${good[n]}' exit $RC (want 0): $(oneline "$ERR")")
		((n < 3)) || continue
		cli exec "${opts[@]}" --pin-dir "$PIN" -- "$BASH" -c 'exit 7'
		[[ $RC == 7 ]] || errs+=("control: 'exec ${good[n]} -- CMD' exit $RC (want CMD's 7): $(oneline "$ERR")")
	done
	cli untag "$root" --pin-dir "$PIN"
	[[ $RC == 0 ]] || errs+=("control: untag after the good tags: exit $RC: $(oneline "$ERR")")
	agent_ok || errs+=("the agent is not running after the bad input")
	check_alive "$root" "$kid" || errs+=("the tree died: $(desc "${DEAD[@]}")")
	((${#errs[@]} == 0)) || fail "$(IFS=';'; echo "${errs[*]}")"
}

# ---------------------------------------------------------------- libbpfguard

# helpers/libdemo, linked with the library, starts a tree with
# bpfguard_exec, checks through the library that it is tagged, and once we
# have looked too (the CLI's list, our own pid + start time records) kills
# the root; then it tests tag/untag/tag_pidfd and the error codes on
# processes of its own. Its checks are its own; ours are independent of them.
test_library() {
	local out go lp rc root comma why deadline
	local -a kids
	SEQ=$((SEQ + 1))
	out=$TMP/libdemo$SEQ
	go=$out.go
	"$HELPERS/libdemo" --pin-dir "$PIN" --go "$go" "$out" "$HELPERS/tree" daemon \
		>"$out.log" 2>&1 {SLEEPFD}>&- &
	lp=$!
	track "$lp"
	now
	deadline=$((NOW + 30000))
	until [[ -e $out ]]; do
		if ! is_alive "$lp"; then
			wait "$lp" 2>/dev/null
			fail "libdemo exited $? before its tree was up: $(oneline "$(grep -a FAIL "$out.log" || tail -n 2 "$out.log")")"
			return
		fi
		now
		((NOW >= deadline)) && { fail "libdemo wrote no pid file within 30 s: $(oneline "$(tail -n 2 "$out.log")")"; return; }
		msleep 0.01
	done
	wait_tree "$out" || return
	role root
	root=${ROLE_PIDS[0]:-}
	role daemon
	kids=("${ROLE_PIDS[@]}")
	[[ -n $root && ${#kids[@]} == 1 ]] || { fail "setup: libdemo's pid file has no root or no daemon: $(oneline "$(<"$out")")"; return; }
	check_alive "${TREE_PIDS[@]}" || { fail "the tree died before its root was killed: $(desc "${DEAD[@]}")"; return; }
	comma=$(
		IFS=,
		echo "${kids[*]}"
	)
	cli list --json --pin-dir "$PIN"
	[[ $RC == 0 ]] || { fail "list --json: exit $RC: $ERR"; return; }
	why=$(json_check "$TMP/cli.out" "$root:$comma") ||
		{ fail "the CLI does not list the tree bpfguard_exec started as tagged: $why"; return; }
	: >"$go"
	wait_dead 60000 "$lp" || { fail "libdemo still runs 60 s after it was let go"; return; }
	wait "$lp" 2>/dev/null
	rc=$?
	[[ $rc == 0 ]] || { fail "libdemo exit $rc: $(oneline "$(grep -a FAIL "$out.log" || tail -n 2 "$out.log")")"; return; }
	grep -q '^libdemo: all checks passed$' "$out.log" ||
		{ fail "libdemo exited 0 without its last line: $(oneline "$(tail -n 2 "$out.log")")"; return; }
	wait_dead "$BOUND_MS" "${TREE_PIDS[@]}" ||
		fail "still alive $BOUND_MS ms after libdemo killed the root bpfguard_exec started: $(desc "${ALIVE[@]}")"
}

# The Go examples (make examples): examples/go (pure Go: go/bpfguard's
# Command and Start) and examples/cgo (cgo: libbpfguard's bpfguard_exec, in
# a multi-threaded Go program) start a tree, which dies with its root; their
# tag tags a process the Go program did not start, whose tree dies with it.
test_go_example() {
	local b
	for b in bpfguard-go bpfguard-cgo; do
		go_example_case "$EXAMPLES/$b" || { REASON="$b: $REASON"; return 1; }
	done
}

go_example_case() {
	local bin=$1 out gp root line deadline rc why comma
	if [[ ! -x $bin ]]; then
		if command -v go >/dev/null 2>&1; then
			fail "no Go example at $bin: run \`make examples\` (or set EXAMPLES)"
		else
			fail "no Go example at $bin, and no Go toolchain to build it: \`make deps\` installs golang-go, then \`make examples\`"
		fi
		return
	fi
	SEQ=$((SEQ + 1))
	out=$TMP/goex$SEQ
	"$bin" -pin-dir "$PIN" exec -- "$HELPERS/tree" --life 300 "$out.tree" children 3 \
		>"$out.log" 2>&1 {SLEEPFD}>&- &
	gp=$!
	track "$gp"
	now
	deadline=$((NOW + 10000 * BOUND)) # (the pure Go one starts a second Go runtime first)
	root=
	while [[ -z $root ]]; do
		line=
		{ read -r line <"$out.log"; } 2>/dev/null
		[[ $line =~ ^pid\ ([0-9]+):\ tagged\ ([0-9]+) && ${BASH_REMATCH[1]} == "${BASH_REMATCH[2]}" ]] &&
			root=${BASH_REMATCH[1]}
		[[ -n $root ]] && break
		if ! is_alive "$gp"; then
			wait "$gp" 2>/dev/null
			fail "exec exited $? before reporting a tagged child: $(oneline "$(<"$out.log")")"
			return
		fi
		now
		((NOW >= deadline)) && { fail "exec printed no 'pid N: tagged N' within $((10 * BOUND)) s: $(oneline "$(<"$out.log")")"; return; }
		msleep 0.01
	done
	track "$root"
	wait_tree "$out.tree" || return
	((${#TREE_PIDS[@]} == 3)) || { fail "setup: expected 3 children, got ${#TREE_PIDS[@]}"; return; }
	comma=$(
		IFS=,
		echo "${TREE_PIDS[*]}"
	)
	cli list --json --pin-dir "$PIN"
	[[ $RC == 0 ]] || { fail "list --json: exit $RC: $ERR"; return; }
	why=$(json_check "$TMP/cli.out" "$root:$comma") ||
		{ fail "the tree exec started is not listed as tagged: $why"; return; }
	kill_root_expect_dead "$root" "${TREE_PIDS[@]}" || { REASON="exec: $REASON"; return 1; }
	wait_dead 10000 "$gp" || { fail "it still runs 10 s after its child was killed"; return; }
	wait "$gp" 2>/dev/null
	rc=$?
	[[ $rc == 137 ]] || { fail "exec exited $rc after its child was SIGKILLed, expected 137"; return; }

	start_tree --go children 2
	bounded 15 "$bin" -pin-dir "$PIN" tag "$ROOT" >"$out.tag" 2>&1
	[[ $BRC == 0 ]] || { fail "tag: exit $BRC: $(oneline "$(<"$out.tag")")"; return; }
	grep -q "^tagged $ROOT " "$out.tag" || { fail "tag: no 'tagged $ROOT' line: $(oneline "$(<"$out.tag")")"; return; }
	: >"$TREE_GO"
	wait_tree || return
	kill_root_expect_dead "$ROOT" "${TREE_PIDS[@]}" || REASON="tag: $REASON"
}

# go/bpfguard, the pure-Go client: its test binary (make: go test -c) runs
# its agent tests against the suite's agent: every call, Command and Start,
# and the seed case: a Go parent tagged before its main ran (Command), or
# tagging itself, is SIGKILLed; its child, which ignores every catchable
# signal, dies, and so does a child it started from a locked OS thread that
# exited (which PR_SET_PDEATHSIG would have killed then). The tests hold
# their processes by pidfd; they also list them here with their start times,
# and none may outlive them (checked here, by our own means).
GO_CLIENT_TESTS=(TestAgentTagListStatusUntag TestAgentTagPidfd TestAgentAdopt
	TestAgentCommandParentKilled TestAgentSelfTagParentKilled TestAgentCommandStatus)
test_go_client() {
	local out pids t p st
	local -a left=() missing=()
	[[ -x $GOCLIENT ]] ||
		{ fail "no Go client test binary at $GOCLIENT: make builds it with go (make deps installs golang-go)"; return; }
	SEQ=$((SEQ + 1))
	out=$TMP/goclient$SEQ
	pids=$out.pids
	: >"$pids"
	bounded $((120 * BOUND)) env BPFGUARD_TEST_PIN_DIR="$PIN" BPFGUARD_TEST_REQUIRE=1 \
		BPFGUARD_TEST_BOUND="$BOUND" BPFGUARD_TEST_MODE="${MODE:-}" BPFGUARD_TEST_PIDS="$pids" \
		"$GOCLIENT" -test.run '^TestAgent' -test.v -test.count=1 >"$out.log" 2>&1
	while read -r p st; do
		[[ $p =~ ^[0-9]+$ ]] || continue
		if read_stat "$p" && [[ $S_START == "$st" && $S_STATE != Z && $S_STATE != X ]]; then
			START[$p]=$st
			PIDS+=("$p") # killed at cleanup
			left+=("$p")
		fi
	done <"$pids"
	((${#left[@]} == 0)) || { fail "processes of the Go tests outlive them: $(desc "${left[@]}")"; return; }
	[[ -s $pids ]] || { fail "the Go tests recorded no process: $(oneline "$(tail -n 3 "$out.log")")"; return; }
	[[ $BRC == 0 ]] ||
		{ fail "the Go client tests exit $BRC: $(oneline "$(grep -aE -- '--- FAIL|_test.go:[0-9]+:' "$out.log" || tail -n 3 "$out.log")")"; return; }
	for t in "${GO_CLIENT_TESTS[@]}"; do
		grep -q -- "^--- PASS: $t " "$out.log" || missing+=("$t")
	done
	((${#missing[@]} == 0)) || { fail "Go client tests that did not pass: ${missing[*]}: $(oneline "$(tail -n 3 "$out.log")")"; return; }
	! grep -q -- "--- SKIP" "$out.log" || fail "Go client tests skipped: $(oneline "$(grep -a -A1 -- '--- SKIP' "$out.log")")"
}

# ---------------------------------------------------------------- hard cases

# start_helper NAME ARGS...: helper NAME in the background (output to the
# helpers log); ROOT = its pid, tracked.
start_helper() {
	local name=$1
	shift
	"$HELPERS/$name" "$@" >>"$TMP/helpers.log" 2>&1 {SLEEPFD}>&- &
	ROOT=$!
	disown "$ROOT" 2>/dev/null
	track "$ROOT"
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

# json_mentions FILE PID: the list --json output in FILE names PID, as a
# tagged root ("pid":PID) or in a descendants array.
json_mentions() {
	local j
	j=$(<"$1")
	j=${j//[[:space:]]/}
	[[ $j =~ \"pid\":$2[,}] || $j =~ [[,]$2[],] ]]
}

# One round of the fork storm (the storm helper, a child subreaper, forks the
# root R; R's descendants fork short-lived children, and now and then a
# lingerer that sleeps, in a tight loop). R is tagged mid-storm and
# SIGKILLed; every orphan of the storm reparents to the helper, which reports
# whether any descendant outlived the bound. STORM_WHY = why the round
# failed; STORM_LATE += the lingerers born between the storm's start and R's
# death.
storm_round() {
	local out s root ready lready res
	local -a r
	SEQ=$((SEQ + 1))
	out=$TMP/storm$SEQ
	STORM_WHY=
	start_helper storm --life 60 --bound "$BOUND_MS" "$out" 3
	s=$ROOT
	if ! wait_file "$out" 30000; then
		STORM_WHY="setup: the storm did not start within 30 s: $(tail -n 1 "$TMP/helpers.log")"
		return 1
	fi
	read -r root ready lready <"$out"
	track "$root"
	if ! tag "$root" --pin-dir "$PIN"; then
		STORM_WHY=$REASON
		safe_kill KILL "$root" # the helper then kills the storm itself
		wait_dead 40000 "$s"
		return 1
	fi
	msleep 0.02 # the storm goes on under the tag
	safe_kill KILL "$root"
	# the helper's bound, then (on survivors) its own kill loop
	if ! wait_dead $((BOUND_MS + 40000)) "$s"; then
		STORM_WHY="the storm helper did not finish $((BOUND_MS + 40000)) ms after the root was killed"
		return 1
	fi
	res=
	{ read -r res <"$out.res"; } 2>/dev/null
	read -ra r <<<"$res"
	case ${r[0]:-} in
	ok) ;;
	survivors)
		STORM_WHY="${r[1]} descendant(s) of the killed root still alive $BOUND_MS ms after its death (${r[2]} forks, ${r[3]} lingerers in the storm):${r[*]:5}"
		return 1
		;;
	*)
		STORM_WHY="the storm helper gave no result ('$res'): $(tail -n 1 "$TMP/helpers.log")"
		return 1
		;;
	esac
	((r[1] > ready)) || { STORM_WHY="setup: no fork between the storm's start ($ready forks) and the root's death (${r[1]})"; return 1; }
	STORM_LATE=$((STORM_LATE + r[2] - lready))
	STORM_FORKS=$((STORM_FORKS + r[1]))
}

# Descendants fork short-lived children in a tight loop while the tagged
# root is SIGKILLed: nobody survives, 50 rounds in a row.
test_fork_storm() {
	local round rounds=50
	STORM_LATE=0 STORM_FORKS=0
	for ((round = 1; round <= rounds; round++)); do
		storm_round || { fail "round $round of $rounds: $STORM_WHY"; return; }
	done
	msg "fork_storm: $rounds rounds, $STORM_FORKS forks, $STORM_LATE lingerers born after a storm was under way"
	((STORM_LATE > 0)) || fail "setup: in $rounds rounds, no lingerer was born between a storm's start and its root's death"
}

# grab_pid PID: start an unrelated tree helper (--go: no children yet) under
# PID, by writing PID-1 to ns_last_pid right before the fork; retried, since
# any fork on the machine can take the pid first.
grab_pid() {
	local want=$1 try
	for ((try = 0; try < 50; try++)); do
		echo $((want - 1)) >/proc/sys/kernel/ns_last_pid 2>/dev/null
		start_tree --go children 2
		[[ $ROOT == "$want" ]] && return 0
		safe_kill KILL "$ROOT"
		wait_dead 5000 "$ROOT"
	done
	fail "setup: could not get pid $want reused in 50 tries (busy machine?)"
}

# VARIANT tag: a tagged root dies (its children die), an unrelated process
# gets its pid. VARIANT untag: the same after untagging the root (its
# children live on). The newcomer must not inherit the tag.
root_reuse_case() {
	local variant=$1 old new try
	local -a oldkids newkids
	tagged_tree children 2 || return
	old=$ROOT
	oldkids=("${TREE_PIDS[@]}")
	cli list --json --pin-dir "$PIN"
	[[ $RC == 0 ]] || { fail "list --json: exit $RC: $ERR"; return; }
	json_mentions "$TMP/cli.out" "$old" || { fail "setup: list --json does not show the tagged root $old: $(oneline "$OUT")"; return; }
	if [[ $variant == untag ]]; then
		untag "$old" --pin-dir "$PIN" || return
	fi
	safe_kill KILL "$old"
	wait_dead "$BOUND_MS" "$old" || { fail "setup: the root did not die"; return; }
	if [[ $variant == tag ]]; then
		wait_dead "$BOUND_MS" "${oldkids[@]}" ||
			{ fail "still alive $BOUND_MS ms after the tagged root was killed: $(desc "${ALIVE[@]}")"; return; }
	fi
	for ((try = 0; try < 500 * BOUND; try++)); do # this shell reaps it
		[[ -e /proc/$old ]] || break
		msleep 0.01
	done
	[[ ! -e /proc/$old ]] || { fail "setup: the root $old was not reaped"; return; }
	grab_pid "$old" || return
	new=$ROOT
	: >"$TREE_GO"
	wait_tree || return
	newkids=("${TREE_PIDS[@]}")
	cli list --json --pin-dir "$PIN"
	[[ $RC == 0 ]] || { fail "list --json: exit $RC: $ERR"; return; }
	for try in "$new" "${newkids[@]}"; do
		json_mentions "$TMP/cli.out" "$try" &&
			{ fail "list --json shows $try, of the process that reused the dead root's pid $old: $(oneline "$OUT")"; return; }
	done
	cli untag "$new" --pin-dir "$PIN"
	[[ $RC == 1 ]] || { fail "untag of the process that reused the dead root's pid $old: exit $RC (want 1, not tagged): $OUT$ERR"; return; }
	msleep 0.5
	check_alive "$new" "${newkids[@]}" || { fail "processes of the one that reused the dead root's pid were killed: $(desc "${DEAD[@]}")"; return; }
	safe_kill KILL "${newkids[0]}"
	wait_dead "$BOUND_MS" "${newkids[0]}" || { fail "setup: a child did not die"; return; }
	msleep 0.3
	check_alive "$new" "${newkids[1]}" || { fail "a child of the pid-reusing process died and others were killed: $(desc "${DEAD[@]}")"; return; }
	safe_kill KILL "$new"
	wait_dead "$BOUND_MS" "$new" || { fail "setup: the pid-reusing process did not die"; return; }
	msleep 0.5
	check_alive "${newkids[1]}" || { fail "the process that reused the dead root's pid died and its child was killed: $(desc "${DEAD[@]}")"; return; }
	if [[ $variant == untag ]]; then
		check_alive "${oldkids[@]}" || fail "children of the untagged root were killed: $(desc "${DEAD[@]}")"
	fi
}

test_root_pid_reuse() {
	[[ -w /proc/sys/kernel/ns_last_pid ]] || { fail "setup: /proc/sys/kernel/ns_last_pid is not writable"; return; }
	root_reuse_case tag || { REASON="tagged root: $REASON"; return 1; }
	root_reuse_case untag || { REASON="tagged, untagged, then the root died: $REASON"; return 1; }
}

# A non-leader thread of the tagged root execs: de_thread() kills the other
# threads and gives the exec'ing thread the leader's pid. The process did not
# exit: its children live; killing it afterwards kills them.
test_dethread_exec() {
	local out before p oldtid
	local -a kids tasks
	SEQ=$((SEQ + 1))
	out=$TMP/dethread$SEQ
	start_helper dethread --life 300 "$out" 2
	wait_tree "$out" || return
	kids=("${TREE_PIDS[@]}")
	((${#kids[@]} == 2)) || { fail "setup: expected 2 children, got ${#kids[@]}"; return; }
	tag "$ROOT" --pin-dir "$PIN" || return
	cli status --pin-dir "$PIN"
	counter root_exits || { fail "status: no root_exits=N: $(oneline "$OUT")"; return; }
	before=$COUNTER
	: >"$out.go"
	wait_file "$out.exec" 10000 ||
		{ fail "setup: the helper's second thread did not exec within 10 s: $(tail -n 1 "$TMP/helpers.log")"; return; }
	read -r p oldtid <"$out.exec"
	[[ $p == "$ROOT" && $oldtid =~ ^[0-9]+$ && $oldtid != "$ROOT" ]] ||
		{ fail "setup: the exec'd image reports pid $p, old tid $oldtid (root $ROOT): not an exec from a non-leader thread"; return; }
	tasks=(/proc/"$ROOT"/task/*)
	((${#tasks[@]} == 1)) || { fail "setup: the exec'd process has ${#tasks[@]} threads, expected 1"; return; }
	is_alive "$ROOT" || { fail "after the exec, the root is dead or has another start time"; return; }
	msleep 0.5
	check_alive "${kids[@]}" ||
		{ fail "children killed when a non-leader thread of their tagged root exec'd (the process did not exit): $(desc "${DEAD[@]}")"; return; }
	cli status --pin-dir "$PIN"
	counter root_exits
	[[ $COUNTER == "$before" ]] || { fail "root_exits went from $before to $COUNTER over the exec: it counted as the root's death"; return; }
	cli list --json --pin-dir "$PIN"
	json_mentions "$TMP/cli.out" "$ROOT" || { fail "after the exec, list --json does not show the root $ROOT: $(oneline "$OUT")"; return; }
	kill_root_expect_dead "$ROOT" "${kids[@]}" || REASON="the exec'd root was killed: $REASON"
}

# The Go Pdeathsig case: a goroutine locked to its OS thread starts a child
# and returns locked, so the runtime ends the thread. VARIANT before: tagged
# before the child exists; after: tagged once the thread is gone.
go_thread_case() {
	local variant=$1 out v role gopid='' tid='' child='' pd='' how=''
	local -a go=()
	SEQ=$((SEQ + 1))
	out=$TMP/gothread$SEQ
	[[ $variant == before ]] && go=(--go "$out.go")
	"$GOHELPER" "${go[@]}" --life 300 "$out" >>"$TMP/helpers.log" 2>&1 {SLEEPFD}>&- &
	ROOT=$!
	disown "$ROOT" 2>/dev/null
	track "$ROOT"
	if [[ $variant == before ]]; then
		tag "$ROOT" --pin-dir "$PIN" || return
		: >"$out.go"
	fi
	wait_file "$out" 20000 ||
		{ fail "setup: the Go helper did not report within 20 s: $(tail -n 1 "$TMP/helpers.log")"; return; }
	while read -r v role; do
		case $role in
		main) gopid=$v ;;
		thread) tid=$v ;;
		child) child=$v ;;
		pdeathsig) pd=$v ;;
		pdeathsig-signal) how=$v ;;
		esac
	done <"$out"
	[[ $child =~ ^[0-9]+$ ]] || { fail "setup: bad Go helper output: $(oneline "$(<"$out")")"; return; }
	track "$child"
	[[ $gopid == "$ROOT" ]] || { fail "setup: the Go helper reports pid $gopid, it is $ROOT"; return; }
	[[ $tid =~ ^[0-9]+$ && $tid != "$ROOT" && ! -e /proc/$ROOT/task/$tid ]] ||
		{ fail "setup: the locked thread ($tid) of the Go process did not exit"; return; }
	# the kernel's own parent-death signal fired: the thread really is gone
	[[ $how == 9 && ! -e /proc/$pd ]] ||
		{ fail "setup: the Pdeathsig child $pd did not die by SIGKILL when its thread exited (signal '$how')"; return; }
	if [[ $variant == after ]]; then
		tag "$ROOT" --pin-dir "$PIN" || return
	fi
	msleep 1
	group_alive "$ROOT" || { fail "setup: the Go process died"; return; }
	check_alive "$child" ||
		{ fail "the child was killed when the OS thread that started it exited, while the tagged Go process lives"; return; }
	kill_root_expect_dead "$ROOT" "$child"
}

test_go_thread_child() {
	[[ -x $GOHELPER ]] ||
		{ fail "no Go helper at $GOHELPER: make builds it with go (make deps installs golang-go)"; return; }
	go_thread_case before || { REASON="tagged before the child started: $REASON"; return 1; }
	go_thread_case after || { REASON="tagged after the thread exited: $REASON"; return 1; }
}

# Descendants that change credentials die with the root: one drops to an
# unprivileged uid and execs a setuid-root binary, one calls setresuid; each
# forks a child after the change. The kernel clears PR_SET_PDEATHSIG on both
# changes: it would not have fired.
test_setuid_child() {
	local suid=$TMP/uidhop-suid out pid role sig r u1=4242 u2=4243
	local -A who=() pds=()
	local -a kids=()
	[[ -x $HELPERS/uidhop ]] || { fail "setup: no $HELPERS/uidhop"; return; }
	if ! { cp "$HELPERS/uidhop" "$suid" && chown 0:0 "$suid" && chmod 4755 "$suid"; }; then
		fail "setup: cannot make $suid setuid root"
		return
	fi
	SEQ=$((SEQ + 1))
	out=$TMP/uidhop$SEQ
	start_helper uidhop --go "$out.go" --life 300 "$out" "$suid" "$u1" "$u2"
	tag "$ROOT" --pin-dir "$PIN" || return
	: >"$out.go"
	wait_file "$out" 20000 || { fail "setup: the uidhop helper did not report within 20 s: $(tail -n 1 "$TMP/helpers.log")"; return; }
	while read -r pid role sig; do
		who[$role]=$pid
		pds[$role]=$sig
		kids+=("$pid")
	done <"$out"
	track "${kids[@]}"
	for r in suid suidkid setuid setuidkid; do
		[[ ${who[$r]:-} =~ ^[0-9]+$ ]] || { fail "setup: no $r in the helper's output: $(oneline "$(<"$out")")"; return; }
	done
	for r in suid suidkid; do
		status_field "${who[$r]}" Uid
		[[ $FIELD == "$u1 0 0 0" ]] || { fail "setup: $r (${who[$r]}) has uids '$FIELD', want real $u1, effective 0 (setuid root)"; return; }
	done
	for r in setuid setuidkid; do
		status_field "${who[$r]}" Uid
		[[ $FIELD == "$u2 $u2 $u2 $u2" ]] || { fail "setup: $r (${who[$r]}) has uids '$FIELD', want $u2"; return; }
	done
	[[ ${pds[suid]} == 0 && ${pds[setuid]} == 0 ]] ||
		{ fail "setup: PR_GET_PDEATHSIG after the change: suid ${pds[suid]}, setuid ${pds[setuid]} (want 0: cleared)"; return; }
	check_alive "${kids[@]}" || { fail "setup: died before the root was killed: $(desc "${DEAD[@]}")"; return; }
	kill_root_expect_dead "$ROOT" "${kids[@]}"
}

# VARIANT before: tagged before the tree exists; after: tagged once every
# descendant is stopped, traced or in D (the enrolment walks them).
states_case() {
	local variant=$1 out p otr r
	local -A who=()
	local -a all
	SEQ=$((SEQ + 1))
	out=$TMP/states$SEQ
	if [[ $variant == before ]]; then
		start_helper states --go "$out.go" --life 300 "$out"
		tag "$ROOT" --pin-dir "$PIN" || return
		: >"$out.go"
	else
		start_helper states --life 300 "$out"
	fi
	wait_tree "$out" || return
	all=("${TREE_PIDS[@]}")
	for r in stopped tracee tracer outtracee vforker vchild; do
		role "$r"
		who[$r]=${ROLE_PIDS[0]:-}
		[[ -n ${who[$r]} ]] || { fail "setup: no $r in the helper's output"; return; }
	done
	safe_kill STOP "${who[stopped]}"
	wait_state "${who[stopped]}" T 5000 || { fail "setup: the SIGSTOPped descendant is in state $S_STATE, not T"; return; }
	wait_state "${who[tracee]}" t 5000 || { fail "setup: the traced descendant is in state $S_STATE, not t"; return; }
	status_field "${who[tracee]}" TracerPid
	[[ $FIELD == "${who[tracer]}" ]] || { fail "setup: the tracee's TracerPid is '$FIELD', not ${who[tracer]}"; return; }
	# the tracer outside the lineage: created here, not by the root
	"$HELPERS/states" --life 300 trace "${who[outtracee]}" "$out.ready" >>"$TMP/helpers.log" 2>&1 {SLEEPFD}>&- &
	otr=$!
	disown "$otr" 2>/dev/null
	track "$otr"
	wait_file "$out.ready" 10000 || { fail "setup: the outside tracer did not stop its tracee within 10 s: $(tail -n 1 "$TMP/helpers.log")"; return; }
	wait_state "${who[outtracee]}" t 5000 || { fail "setup: the descendant traced from outside is in state $S_STATE, not t"; return; }
	status_field "${who[outtracee]}" TracerPid
	[[ $FIELD == "$otr" ]] || { fail "setup: the outside tracee's TracerPid is '$FIELD', not $otr"; return; }
	wait_state "${who[vforker]}" D 5000 || { fail "setup: the vfork parent is in state $S_STATE, not D"; return; }
	check_alive "${all[@]}" || { fail "setup: died before the root was killed: $(desc "${DEAD[@]}")"; return; }
	if [[ $variant == after ]]; then
		tag "$ROOT" --pin-dir "$PIN" || return
	fi
	kill_root_expect_dead "$ROOT" "${all[@]}" || return
	msleep 0.5
	is_alive "$otr" || { fail "the tracer outside the lineage ($otr) was killed"; return; }
	safe_kill KILL "$otr"
}

test_stopped_traced_dstate() {
	states_case before || { REASON="tagged before the tree existed: $REASON"; return 1; }
	states_case after || { REASON="tagged with the descendants already stopped, traced, in D: $REASON"; return 1; }
}

# ---------------------------------------------------------------- stuck members

# A member SIGKILL cannot end for a while: a FUSE lookup the test's own server
# (helpers/fusehang, in a private mount namespace: nobody else sees the mount)
# reads and does not answer. Once SIGKILL is pending the requester waits for
# the answer in uninterruptible sleep (request_wait_answer). Any user can make
# one in a user namespace: the agent must never wait for it.

FSRV= # the FUSE server's pid
FDIR= # its directory: FDIR/mnt is served, FDIR/srv its report

# fuse_start: start the server, wait (bounded) until it has mounted.
fuse_start() {
	[[ -c /dev/fuse ]] || { fail "setup: no /dev/fuse (CONFIG_FUSE_FS): cannot make a member SIGKILL does not end"; return 1; }
	SEQ=$((SEQ + 1))
	FDIR=$TMP/fuse$SEQ
	mkdir -p "$FDIR/mnt" || { fail "setup: cannot make $FDIR/mnt"; return 1; }
	"$HELPERS/fusehang" serve --life 300 "$FDIR/mnt" "$FDIR/srv" >>"$TMP/helpers.log" 2>&1 {SLEEPFD}>&- &
	FSRV=$!
	disown "$FSRV" 2>/dev/null
	track "$FSRV"
	wait_file "$FDIR/srv" 10000 ||
		{ fail "setup: the FUSE server did not mount within 10 s: $(tail -n 1 "$TMP/helpers.log")"; return 1; }
}

# fuse_held N: wait (bounded) until the server holds N lookups unanswered.
fuse_held() {
	local deadline n=0
	now
	deadline=$((NOW + 10000))
	while :; do
		{ read -r n <"$FDIR/srv.got"; } 2>/dev/null
		((${n:-0} >= $1)) && return 0
		now
		((NOW >= deadline)) && { fail "setup: the FUSE server holds ${n:-0} lookup(s) after 10 s, expected $1"; return 1; }
		msleep 0.01
	done
}

# fuse_release: answer the held lookups (their processes can die now).
fuse_release() { safe_kill USR1 "$FSRV"; }

# fuse_stop: stop the server (which also frees anything still held: closing
# /dev/fuse aborts the connection); its mount goes with its namespace.
fuse_stop() {
	[[ -n $FSRV ]] || return 0
	safe_kill TERM "$FSRV"
	wait_dead 5000 "$FSRV" || safe_kill KILL "$FSRV"
	FSRV=
}

# stuck_tree NAME NORMAL: a lineage, tagged before it has descendants, whose
# root forks NORMAL sleepers and one child blocked in the lookup of NAME on
# the FUSE mount (NAME "-": no such child). ROOT, TAGID; roles root, normal,
# stuck (ROLEP).
stuck_tree() {
	local path=-
	[[ $1 == - ]] || path=/proc/$FSRV/root$FDIR/mnt/$1
	SEQ=$((SEQ + 1))
	TREE_OUT=$TMP/stree$SEQ
	"$HELPERS/fusehang" tree --go "$TREE_OUT.go" --life 300 "$TREE_OUT" "$path" "$2" >>"$TMP/helpers.log" 2>&1 {SLEEPFD}>&- &
	ROOT=$!
	disown "$ROOT" 2>/dev/null
	track "$ROOT"
	tag "$ROOT" --pin-dir "$PIN" || return 1
	tag_id || return 1
	: >"$TREE_OUT.go"
	wait_tree "$TREE_OUT"
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

# Two lineages die, one with a stuck member: the others die within the
# usual bound, the second lineage ends, status answers all along; the stuck
# one is counted and reported once (event and log line), however often it
# is signalled again; once released it dies and its lineage ends.
stuck_member_case() {
	local f ev r1 r2 t1 t2 stuck before deadline n why
	local -a normal1 kids2
	local -A CNT=()
	fuse_start || return
	quick_status || return
	counters kills_stuck || return
	before=${CNT[kills_stuck]}
	f=$TMP/ev.stuck$SEQ
	events_start "$f" || return
	ev=$EV_PID
	stuck_tree x 3 || return
	r1=$ROOT t1=$TAGID
	role normal
	normal1=("${ROLE_PIDS[@]}")
	role stuck
	stuck=${ROLE_PIDS[0]:-}
	[[ -n $stuck ]] && ((${#normal1[@]} == 3)) || { fail "setup: the tree has no stuck member or not 3 normal ones"; return; }
	fuse_held 1 || return
	tagged_tree children 3 || return
	tag_id || return
	r2=$ROOT t2=$TAGID kids2=("${TREE_PIDS[@]}")
	check_alive "$stuck" "${normal1[@]}" || { fail "setup: died before the root was killed: $(desc "${DEAD[@]}")"; return; }

	safe_kill KILL "$r1" "$r2"
	wait_dead "$BOUND_MS" "${normal1[@]}" "${kids2[@]}" ||
		{ fail "beside a stuck member, still alive $BOUND_MS ms after the roots were killed: $(desc "${ALIVE[@]}")"; return; }
	wait_grep "$f" "\"event\":\"lineage_dead\",\"tag\":$t2," "$BOUND_MS" ||
		{ fail "tag $t2 did not end within $BOUND_MS ms while tag $t1 had a stuck member: $(oneline "$(tail -n 3 "$f")")"; return; }
	now
	deadline=$((NOW + 10000 * BOUND))
	while :; do
		quick_status || return
		counters kills_stuck || return
		((CNT[kills_stuck] > before)) && break
		now
		((NOW < deadline)) || { fail "kills_stuck still $before $((10 * BOUND)) s after the kill of a member that does not die"; return; }
		msleep 0.2
	done
	is_alive "$stuck" || { fail "setup: the member blocked in FUSE died before it was released (no stuck member was made)"; return; }
	wait_grep "$f" '"event":"stuck"' 5000 || { fail "kills_stuck rose but no stuck event came"; return; }
	msleep 2.5 # two more ticks: the agent signals it again, reports nothing again
	quick_status || return
	counters kills_stuck || return
	((CNT[kills_stuck] == before + 1)) || { fail "kills_stuck rose from $before to ${CNT[kills_stuck]}: one member is stuck"; return; }
	n=$(grep -c "pid $stuck .*still alive" "$AGENT_LOG")
	((n == 1)) || { fail "$n log lines about the stuck pid $stuck, expected 1: $(oneline "$(grep "still alive" "$AGENT_LOG")")"; return; }
	is_alive "$stuck" || { fail "setup: the member blocked in FUSE died before it was released"; return; }
	grep -qF "\"event\":\"lineage_dead\",\"tag\":$t1," "$f" && { fail "tag $t1 reported dead while its member $stuck lives"; return; }

	fuse_release
	wait_dead "$BOUND_MS" "$stuck" || { fail "the stuck member $stuck still alive $BOUND_MS ms after it was released"; return; }
	wait_grep "$f" "\"event\":\"lineage_dead\",\"tag\":$t1," $((BOUND_MS + 2000)) ||
		{ fail "tag $t1 did not end once its stuck member died: $(oneline "$(tail -n 3 "$f")")"; return; }
	events_stop "$ev" || return
	why=$(json_check --lines "$f" --one event=stuck tag="$t1" pid="$stuck" comm=fusehang 'stuck_ms=*' \
		--none event=stuck pid!="$stuck" --one event=lineage_dead tag="$t1" \
		--one event=lineage_dead tag="$t2") || { fail "events: $why"; return; }
	list_roots "$PIN" || return
	[[ -z ${LROOT[$r1]:-} && -z ${LROOT[$r2]:-} ]] || fail "a dead root is still listed"
}

test_stuck_member() {
	stuck_member_case
	local rc=$?
	fuse_stop
	return $rc
}

# The agent restarts while a member is stuck: it stops at once on SIGTERM;
# the next one takes the death up again from the pinned deaths map without
# stalling (status answers, a lineage killed meanwhile dies), reports the
# member again (it cannot know the last agent did), and ends the lineage
# once the member dies.
stuck_restart_case() {
	local f ev r1 t1 stuck before deadline
	local -a normal1
	local -A CNT=()
	fuse_start || return
	quick_status || return
	counters kills_stuck || return
	before=${CNT[kills_stuck]}
	stuck_tree x 2 || return
	r1=$ROOT t1=$TAGID
	role normal
	normal1=("${ROLE_PIDS[@]}")
	role stuck
	stuck=${ROLE_PIDS[0]:-}
	[[ -n $stuck ]] || { fail "setup: the tree has no stuck member"; return; }
	fuse_held 1 || return
	safe_kill KILL "$r1"
	wait_dead "$BOUND_MS" "${normal1[@]}" ||
		{ fail "beside a stuck member, still alive $BOUND_MS ms after the root was killed: $(desc "${ALIVE[@]}")"; return; }
	now
	deadline=$((NOW + 10000 * BOUND))
	until quick_status && counters kills_stuck && ((CNT[kills_stuck] > before)); do
		[[ $RC == 0 ]] || return
		now
		((NOW < deadline)) || { fail "kills_stuck still $before $((10 * BOUND)) s after the kill"; return; }
		msleep 0.2
	done
	stop_agent
	((AGENT_FORCED == 0)) || { fail "the agent did not stop on SIGTERM while a member was stuck"; return; }
	start_agent || { fail "restart beside a stuck member: $AGENT_WHY"; return; }
	f=$TMP/ev.srestart$SEQ
	events_start "$f" || return
	ev=$EV_PID
	tagged_tree children 2 || return
	kill_root_expect_dead "$ROOT" "${TREE_PIDS[@]}" || { REASON="after a restart beside a stuck member: $REASON"; return 1; }
	wait_grep "$f" "\"event\":\"stuck\",\"tag\":$t1,\"pid\":$stuck," $((10000 * BOUND)) ||
		{ fail "the restarted agent did not report the stuck member $stuck: $(oneline "$(tail -n 3 "$f")")"; return; }
	quick_status || return
	counters kills_stuck || return
	((CNT[kills_stuck] == before + 2)) || { fail "kills_stuck went from $before to ${CNT[kills_stuck]}: expected one count per agent"; return; }
	is_alive "$stuck" || { fail "setup: the member blocked in FUSE died before it was released"; return; }
	fuse_release
	wait_dead "$BOUND_MS" "$stuck" || { fail "the stuck member $stuck still alive $BOUND_MS ms after it was released"; return; }
	wait_grep "$f" "\"event\":\"lineage_dead\",\"tag\":$t1," $((BOUND_MS + 2000)) ||
		{ fail "the restarted agent did not end tag $t1 once its stuck member died: $(oneline "$(tail -n 3 "$f")")"; return; }
	events_stop "$ev"
}

test_stuck_restart() {
	stuck_restart_case
	local rc=$?
	fuse_stop
	return $rc
}

# Many lineages die at once (MANY of them, above twice the 256 deaths the
# agent once took per pass and the chunk it walks per wake-up), three with a
# stuck member: every other member dies within the bound (the stuck ones
# starve nobody), status answers, every lineage ends, the stuck ones too
# once released.
many_deaths_case() {
	local many=520 i f ev n deadline
	local -a roots=() kids=() stuck=()
	fuse_start || return
	f=$TMP/ev.many$SEQ
	events_start "$f" || return
	ev=$EV_PID
	for ((i = 0; i < 3; i++)); do
		stuck_tree "x$i" 1 || return
		roots+=("$ROOT")
		role normal
		kids+=("${ROLE_PIDS[@]}")
		role stuck
		stuck+=("${ROLE_PIDS[@]}")
	done
	((${#stuck[@]} == 3)) || { fail "setup: ${#stuck[@]} stuck members, expected 3"; return; }
	fuse_held 3 || return
	for ((i = 0; i < many; i++)); do
		stuck_tree - 1 || return
		roots+=("$ROOT")
		role normal
		kids+=("${ROLE_PIDS[@]}")
	done
	((${#kids[@]} == many + 3)) || { fail "setup: ${#kids[@]} members, expected $((many + 3))"; return; }
	check_alive "${kids[@]}" "${stuck[@]}" || { fail "setup: died before the roots were killed: $(desc "${DEAD[@]}")"; return; }

	safe_kill KILL "${roots[@]}"
	quick_status || return
	wait_dead $((2 * BOUND_MS)) "${kids[@]}" ||
		{ fail "$((many + 3)) lineages killed at once, 3 with a stuck member: still alive $((2 * BOUND_MS)) ms later: $(desc "${ALIVE[@]}")"; return; }
	quick_status || return
	now
	deadline=$((NOW + 4 * BOUND_MS))
	while n=$(grep -c '"event":"lineage_dead"' "$f"); ((n < many)); do
		now
		((NOW < deadline)) || { fail "$n of $many lineages without a stuck member ended within $((4 * BOUND_MS)) ms"; return; }
		msleep 0.1
	done
	now
	deadline=$((NOW + 10000 * BOUND))
	while n=$(grep -c '"event":"stuck"' "$f"); ((n < 3)); do
		now
		((NOW < deadline)) || { fail "$n stuck events $((10 * BOUND)) s after the kill, expected 3"; return; }
		msleep 0.1
	done
	quick_status || return
	check_alive "${stuck[@]}" || { fail "setup: stuck members died before they were released: $(desc "${DEAD[@]}")"; return; }
	fuse_release
	wait_dead "$BOUND_MS" "${stuck[@]}" || { fail "stuck members alive $BOUND_MS ms after their release: $(desc "${ALIVE[@]}")"; return; }
	now
	deadline=$((NOW + 2 * BOUND_MS))
	while n=$(grep -c '"event":"lineage_dead"' "$f"); ((n < many + 3)); do
		now
		((NOW < deadline)) || { fail "$n of $((many + 3)) lineages ended once the stuck members died"; return; }
		msleep 0.1
	done
	events_stop "$ev" || return
	n=$(grep -c '"event":"stuck"' "$f")
	((n == 3)) || fail "$n stuck events, expected 3"
}

test_many_deaths() {
	many_deaths_case
	local rc=$?
	fuse_stop
	return $rc
}

# ---------------------------------------------------------------- faults

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

# counters NAME...: CNT[NAME] from the counters line of OUT (a status).
counters() {
	local c
	for c; do
		counter "$c" || { fail "status: no $c=N on the counters line: $(oneline "$OUT")"; return 1; }
		CNT[$c]=$COUNTER
	done
}

# list_roots PINDIR: `list --json` (bounded, valid JSON per jsoncheck) read
# into LROOT[pid]=tag, LPARENT[pid]=parent tag, LDESC[pid]=" pid pid ... ".
list_roots() {
	local s why
	local re='\{"pid":([0-9]+),"tag":([0-9]+),"parent_tag":([0-9]+),[^{}]*"comm":"[^"]*","descendants":\[([0-9,]*)\][^{}]*\{[^{}]*\}\}'
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

# The forker: a tree in bash that forks on demand (the guests have nothing
# more). The root (this shell) forks a sleeper a1 and a subshell b, which
# forks a sleeper b1. Then the root and b each wait (at most 300 s) for a
# line on their fifo (FIFO_A, FIFO_B) and fork one more sleeper (a2, b2).
# Every process appends "PID ROLE" to OUT. Nothing else forks: no churn.
write_forker() {
	cat >"$TMP/forker.sh" <<'EOF'
out=$1
exec 3<>"$2" 4<>"$3" # read-write: opening a fifo so never blocks
sleep 300 &
echo "$! a1" >>"$out"
(
	exec 3<&-
	echo "$BASHPID b" >>"$out"
	sleep 300 &
	echo "$! b1" >>"$out"
	read -r -t 300 -u 4 _ && {
		sleep 300 &
		echo "$! b2" >>"$out"
	}
	wait
) &
exec 4<&-
read -r -t 300 -u 3 _ && {
	sleep 300 &
	echo "$! a2" >>"$out"
}
wait
EOF
}

# wait_roles FILE MS ROLE...: wait (bounded) until the forker's FILE names
# every ROLE; FROLE[role] = its pid, tracked.
wait_roles() {
	local f=$1 ms=$2 deadline pid role r missing
	shift 2
	now
	deadline=$((NOW + ms * BOUND))
	while :; do
		FROLE=()
		if [[ -e $f ]]; then
			while read -r pid role; do FROLE[$role]=$pid; done <"$f"
		fi
		missing=
		for r; do [[ -n ${FROLE[$r]:-} ]] || missing+=" $r"; done
		[[ -z $missing ]] && break
		now
		((NOW >= deadline)) && { fail "setup: the forker did not report$missing within $ms ms"; return 1; }
		msleep 0.01
	done
	for r; do track "${FROLE[$r]}"; done
}

fifo_go() { # FIFO: write a line into a fifo its reader holds open (never blocks)
	local fd
	exec {fd}<>"$1" || return 1
	echo go >&"$fd"
	exec {fd}>&-
}

# The agent is SIGKILLed while tags exist (a root with descendants, a nested
# tag). The pinned links keep the BPF side recording: the children forked
# while no agent runs, below the outer and the nested root, belong to their
# lineages. An agent restarted on the same pin dir lists every tag and every
# descendant, and kills them all when the root dies. (test_agent_restart
# covers a root that dies while the agent is down.)
test_agent_sigkill() {
	local f root b r rc why='' want
	local -a all
	SEQ=$((SEQ + 1))
	f=$TMP/forker$SEQ
	mkfifo "$f.a" "$f.b" || { fail "setup: mkfifo failed"; return; }
	write_forker
	"$BASH" "$TMP/forker.sh" "$f" "$f.a" "$f.b" >>"$TMP/helpers.log" 2>&1 {SLEEPFD}>&- &
	root=$!
	disown "$root" 2>/dev/null
	track "$root"
	wait_roles "$f" 10000 a1 b b1 || return
	b=${FROLE[b]}
	tag "$root" --pin-dir "$PIN" || return
	tag "$b" --pin-dir "$PIN" || return
	[[ $OUT == *nested* ]] || { fail "tagging $b below the tagged $root: not reported as nested: $OUT"; return; }

	safe_kill KILL "$AGENT_PID"
	wait_dead "$BOUND_MS" "$AGENT_PID" || { fail "setup: the agent survived SIGKILL"; return; }
	wait "$AGENT_PID" 2>/dev/null
	rc=$?
	AGENT_PID=
	[[ $rc == 137 ]] || why="setup: the agent exited with status $rc, not by SIGKILL"
	if [[ -z $why ]]; then
		cli status --pin-dir "$PIN"
		[[ $RC == 1 ]] || why="status with the agent SIGKILLed: exit $RC, expected 1"
	fi
	# both roots' lineages fork while no agent runs
	if [[ -z $why ]] && { ! fifo_go "$f.a" || ! fifo_go "$f.b"; }; then
		why="setup: cannot write to the forker's fifos"
	fi
	[[ -z $why ]] && ! wait_roles "$f" 10000 a1 b b1 a2 b2 && why=$REASON
	start_agent || { fail "restart after SIGKILL: $AGENT_WHY${why:+ (and before: $why)}"; return; }
	[[ -z $why ]] || { fail "$why"; return; }
	all=("$b" "${FROLE[a1]}" "${FROLE[b1]}" "${FROLE[a2]}" "${FROLE[b2]}")
	check_alive "$root" "${all[@]}" || { fail "setup: died before the root was killed: $(desc "${DEAD[@]}")"; return; }

	list_roots "$PIN" || return
	[[ -n ${LROOT[$root]:-} ]] || { fail "the restarted agent does not list the tagged root $root: $(oneline "$OUT")"; return; }
	[[ -n ${LROOT[$b]:-} ]] || { fail "the restarted agent does not list the nested tag's root $b: $(oneline "$OUT")"; return; }
	[[ ${LPARENT[$b]} == "${LROOT[$root]}" ]] ||
		{ fail "the nested tag of $b has parent tag ${LPARENT[$b]}, expected $root's tag ${LROOT[$root]}"; return; }
	for r in "${all[@]}"; do
		[[ ${LDESC[$root]} == *" $r "* ]] ||
			{ fail "the restarted agent does not list $r (${FROLE[*]}) below $root: $(oneline "$OUT")"; return; }
	done
	for r in b1 b2; do
		want=${FROLE[$r]}
		[[ ${LDESC[$b]} == *" $want "* ]] ||
			{ fail "the restarted agent does not list $r ($want) below the nested root $b: $(oneline "$OUT")"; return; }
	done
	for r in a1 a2; do
		want=${FROLE[$r]}
		[[ ${LDESC[$b]} != *" $want "* ]] ||
			{ fail "the restarted agent lists $r ($want), a child of $root, below the nested root $b"; return; }
	done
	kill_root_expect_dead "$root" "${all[@]}" || REASON="after the agent was SIGKILLed and restarted: $REASON"
}

# The page size, from the kernel (the guests have no getconf).
page_size() {
	local l
	PAGE=4096
	while read -r l; do
		[[ $l =~ ^KernelPageSize:\ +([0-9]+)\ kB ]] && { PAGE=$((BASH_REMATCH[1] * 1024)); return; }
	done </proc/self/smaps
}

# A ring buffer of one page overflows: a burst of 200 tagged roots, each
# with a child, dies while the agent cannot read the ring (it is SIGSTOPped,
# so the overflow does not depend on timing). No kill is lost: the deaths
# map, not the ring, is the agent's work list. ringbuf_drops counts every
# record that did not fit (a record takes 32 bytes: 24 plus the ring's
# header). Bad --ring-size values are usage errors, and a pinned ring keeps
# its size across a restart.
test_ring_full() {
	local n=200 i v lines cap why='' errs=()
	local -a roots=() kids=() outs=()
	local -A CNT=() C0=()
	page_size
	for v in 0 1000 $((PAGE - 1)) $((PAGE * 3)) $((PAGE * 2 + 1)) abc -$PAGE "${PAGE}x" " $PAGE" 2147483648 ""; do
		cli agent --ring-size "$v" --pin-dir "$XPIN"
		lines=$(grep -c '' "$TMP/cli.err")
		[[ $RC == 2 && $lines == 1 ]] ||
			errs+=("agent --ring-size '$v': exit $RC with $lines line(s) on stderr (want 2 and 1)")
	done
	[[ ! -e $XPIN ]] || errs+=("a refused agent created $XPIN")
	((${#errs[@]} == 0)) || { fail "$(IFS=';'; echo "${errs[*]}")"; return; }

	xagent_start --ring-size "$PAGE" || { fail "agent --ring-size $PAGE: $AGENT_WHY"; return; }
	grep -q "ring buffer $PAGE bytes" "$XAGENT_LOG" ||
		{ fail "agent --ring-size $PAGE: its log does not say 'ring buffer $PAGE bytes'"; return; }
	for ((i = 0; i < n; i++)); do
		start_tree children 1
		roots+=("$ROOT")
		outs+=("$TREE_OUT")
	done
	for ((i = 0; i < n; i++)); do
		if ! wait_tree "${outs[i]}"; then
			v=dead
			is_alive "${roots[i]}" && v=alive
			REASON="tree $((i + 1)) of $n (root ${roots[i]}, $v): $REASON"
			return 1
		fi
		kids+=("${TREE_PIDS[@]}")
	done
	for ((i = 0; i < n; i++)); do
		tag "${roots[i]}" --pin-dir "$XPIN" || return
	done
	check_alive "${kids[@]}" || { fail "setup: children died before their roots: $(desc "${DEAD[@]}")"; return; }
	cli status --pin-dir "$XPIN"
	[[ $RC == 0 ]] || { fail "status before the burst: exit $RC: $ERR"; return; }
	counters ringbuf_drops root_exits deaths_map_full || return
	for v in "${!CNT[@]}"; do C0[$v]=${CNT[$v]}; done

	safe_kill STOP "$XAGENT_PID"
	safe_kill KILL "${roots[@]}"
	wait_dead "$BOUND_MS" "${roots[@]}" || why="setup: roots still alive: $(desc "${ALIVE[@]}")"
	safe_kill CONT "$XAGENT_PID"
	[[ -z $why ]] || { fail "$why"; return; }
	wait_dead "$BOUND_MS" "${kids[@]}" ||
		{ fail "${#ALIVE[@]} of $n children still alive $BOUND_MS ms after their tagged roots died in a burst that overflowed the ring: $(desc "${ALIVE[@]}")"; return; }

	cli status --pin-dir "$XPIN"
	[[ $RC == 0 ]] || { fail "status after the burst: exit $RC: $ERR"; return; }
	counters ringbuf_drops root_exits deaths_map_full || return
	cap=$((PAGE / 32))
	((CNT[root_exits] - C0[root_exits] == n)) ||
		errs+=("root_exits went from ${C0[root_exits]} to ${CNT[root_exits]}, expected +$n")
	((CNT[ringbuf_drops] - C0[ringbuf_drops] >= n - cap)) ||
		errs+=("ringbuf_drops went from ${C0[ringbuf_drops]} to ${CNT[ringbuf_drops]}: $n deaths into a ring of $cap records while the agent was stopped must drop at least $((n - cap))")
	((CNT[deaths_map_full] == C0[deaths_map_full])) ||
		errs+=("deaths_map_full went from ${C0[deaths_map_full]} to ${CNT[deaths_map_full]}")
	((${#errs[@]} == 0)) || { fail "$(IFS=';'; echo "${errs[*]}")"; return; }
	msg "ring_full: $n deaths into a ring of $cap records: ringbuf_drops +$((CNT[ringbuf_drops] - C0[ringbuf_drops]))"

	# the pinned ring keeps its size: a restart asking for another is told so
	halt_agent "$XAGENT_PID"
	XAGENT_PID=
	xagent_launch --ring-size $((PAGE * 2)) || { fail "restart with --ring-size $((PAGE * 2)): $AGENT_WHY"; return; }
	if ! grep -q "ring buffer $PAGE bytes" "$XAGENT_LOG" || ! grep -q "events keeps its pinned size $PAGE" "$XAGENT_LOG"; then
		fail "an agent restarted with --ring-size $((PAGE * 2)) on a pinned ring of $PAGE does not keep it and say so: $(oneline "$(<"$XAGENT_LOG")")"
		return
	fi
	xagent_stop
}

# Full maps are loud, never silently partial. A procs map of 16 entries: a
# root whose tree does not fit is refused (exit 1, "procs map full") and left
# untagged, not half-tagged; children forked into the full map are not
# recorded, and procs_map_full counts each one (status warns). A tags map of
# 4: tag/untag cycles, top-level and nested, do not use it up, and a fifth
# active tag is refused with "tags map full".
test_map_full() {
	local n=30 i p root lines listed=0 drops
	local -a big kids=() desc=()
	local -A CNT=() C0=()
	xagent_start --max-procs 16 || { fail "agent --max-procs 16: $AGENT_WHY"; return; }
	# 1: a tree of n + 1 processes does not fit
	start_tree children "$n"
	wait_tree || return
	root=$ROOT
	big=("${TREE_PIDS[@]}")
	cli status --pin-dir "$XPIN"
	counters procs_map_full || return
	C0[procs_map_full]=${CNT[procs_map_full]}
	cli tag "$root" --pin-dir "$XPIN"
	lines=$(grep -c '' "$TMP/cli.err")
	[[ $RC == 1 && $lines == 1 ]] || { fail "tagging a root with $n children into 16 slots: exit $RC with $lines line(s) on stderr (want 1 and 1): $(oneline "$ERR")"; return; }
	[[ $ERR == *"procs map full"*"--max-procs"* ]] || { fail "tagging a root that does not fit: unclear message: $ERR"; return; }
	status_counts "$XPIN" || return
	counters procs_map_full || return
	((S_TAGS == 0)) || { fail "a refused tag counts as active: $(oneline "$OUT")"; return; }
	((CNT[procs_map_full] > C0[procs_map_full])) || { fail "procs_map_full did not grow when a tag did not fit: $(oneline "$OUT")"; return; }
	[[ $OUT == *"WARNING: a map was full"* ]] || { fail "status does not warn of the full map: $(oneline "$OUT")"; return; }
	list_roots "$XPIN" || return
	[[ -z ${LROOT[$root]:-} ]] || { fail "list shows the root of a refused tag"; return; }
	safe_kill KILL "$root"
	wait_dead "$BOUND_MS" "$root" || { fail "setup: the root did not die"; return; }
	msleep 0.5
	check_alive "${big[@]}" || { fail "the root of a refused tag died and killed some of its children: half-tagged: $(desc "${DEAD[@]}")"; return; }
	safe_kill KILL "${big[@]}" # their entries go at their exit
	wait_dead "$BOUND_MS" "${big[@]}" || { fail "setup: the children did not die"; return; }

	# 2: children forked into the full map
	start_tree --go children "$n"
	tag "$ROOT" --pin-dir "$XPIN" || return
	cli status --pin-dir "$XPIN"
	counters procs_map_full || return
	C0[procs_map_full]=${CNT[procs_map_full]}
	: >"$TREE_GO"
	wait_tree || return
	kids=("${TREE_PIDS[@]}")
	status_counts "$XPIN" || return
	counters procs_map_full || return
	drops=$((CNT[procs_map_full] - C0[procs_map_full]))
	[[ $OUT == *"WARNING: a map was full"* ]] || { fail "status does not warn of the full map: $(oneline "$OUT")"; return; }
	list_roots "$XPIN" || return
	[[ -n ${LROOT[$ROOT]:-} ]] || { fail "list does not show the tagged root $ROOT"; return; }
	for p in "${kids[@]}"; do
		[[ ${LDESC[$ROOT]} == *" $p "* ]] && desc+=("$p")
	done
	listed=${#desc[@]}
	((drops > 0 && listed > 0 && listed + drops == n)) ||
		{ fail "$n children forked into a map of 16: $listed recorded (list; status says $S_TRACKED) + $drops counted in procs_map_full, expected $n with both > 0"; return; }
	((S_TRACKED == listed)) || { fail "status says $S_TRACKED tracked descendants, list shows $listed"; return; }
	msg "map_full: $n children forked into 16 slots: $listed recorded, $drops counted in procs_map_full"
	kill_root_expect_dead "$ROOT" "${desc[@]}" || { REASON="the recorded children: $REASON"; return 1; }
	kill_tracked
	xagent_stop

	# 3: tags come and go in a map of 4
	xagent_start --max-tags 4 || { fail "agent --max-tags 4: $AGENT_WHY"; return; }
	start_tree children 4
	wait_tree || return
	kids=("${TREE_PIDS[@]}")
	for ((i = 0; i < 10; i++)); do
		if ! tag "$ROOT" --pin-dir "$XPIN" || ! untag "$ROOT" --pin-dir "$XPIN"; then
			REASON="cycle $((i + 1)) of tag/untag with --max-tags 4: $REASON"
			return 1
		fi
	done
	tag "$ROOT" --pin-dir "$XPIN" || return
	for ((i = 0; i < 10; i++)); do
		if ! tag "${kids[0]}" --pin-dir "$XPIN" || ! untag "${kids[0]}" --pin-dir "$XPIN"; then
			REASON="cycle $((i + 1)) of a nested tag/untag with --max-tags 4: $REASON"
			return 1
		fi
	done
	for i in 0 1 2; do
		tag "${kids[i]}" --pin-dir "$XPIN" || { REASON="active tag $((i + 2)) of 4: $REASON"; return 1; }
	done
	cli tag "${kids[3]}" --pin-dir "$XPIN"
	[[ $RC == 1 && $ERR == *"tags map full"*"--max-tags"* ]] ||
		{ fail "a fifth active tag with --max-tags 4: exit $RC, expected 1 and 'tags map full': $(oneline "$ERR")"; return; }
	kill_root_expect_dead "$ROOT" "${kids[@]}" || return
	xagent_stop
}

# burst_client OUT PID...: 50 requests in a row: request j tags or untags
# process j mod N, each process alternating tag, untag, ... from tag. One
# line "OP PID EXIT" per request, then "end".
burst_client() {
	local out=$1 j p op
	shift
	local -a t=("$@")
	local -A on=()
	for ((j = 0; j < 50; j++)); do
		p=${t[j % ${#t[@]}]}
		if [[ -n ${on[$p]:-} ]]; then
			op=untag
			unset "on[$p]"
		else
			op=tag
			on[$p]=1
		fi
		"$BPFGUARD" "$op" "$p" --pin-dir "$PIN" >/dev/null 2>>"$out.err"
		echo "$op $p $?" >>"$out"
	done
	echo end >>"$out"
}

# 20 clients at once send 1000 tag/untag requests in all, each about its own
# 7 processes (so the final state does not depend on how they interleave):
# every request succeeds, and the final list holds exactly the processes
# whose last request was a tag (process 0 of each client gets 8 requests,
# the others 7). Status is answered, bounded, during and after the burst.
test_request_burst() {
	local nc=20 per=7 c i p op pid rc line nst=0 busy deadline got want base
	local -a tp=() cl=() errs=()
	SEQ=$((SEQ + 1))
	base=$TMP/burst$SEQ
	for ((i = 0; i < nc * per; i++)); do
		sleep 300 {SLEEPFD}>&- &
		tp[i]=$!
		disown "$!" 2>/dev/null
		track "$!"
	done
	for ((c = 0; c < nc; c++)); do
		burst_client "$base.$c" "${tp[@]:c*per:per}" {SLEEPFD}>&- &
		cl[c]=$!
		track "$!"
	done
	now
	deadline=$((NOW + 300000 * BOUND))
	while :; do
		busy=0
		for p in "${cl[@]}"; do is_alive "$p" && busy=1 && break; done
		((busy)) || break
		bounded $((5 * BOUND)) "$BPFGUARD" status --pin-dir "$PIN" >"$TMP/st.out" 2>&1
		((BRC == 0)) || { errs+=("status during the burst: exit $BRC (bound $((5 * BOUND)) s): $(oneline "$(<"$TMP/st.out")")"); break; }
		nst=$((nst + 1))
		now
		((NOW < deadline)) || { errs+=("the clients were not done after $((300 * BOUND)) s"); break; }
		msleep 0.05
	done
	((${#errs[@]} == 0)) || { fail "$(IFS=';'; echo "${errs[*]}")"; return; }
	((nst > 0)) || { fail "setup: the burst was over before one status request was made"; return; }
	for ((c = 0; c < nc; c++)); do
		wait "${cl[c]}" 2>/dev/null
		got=0
		while read -r op pid rc; do
			[[ $op == end ]] && break
			got=$((got + 1))
			[[ $rc == 0 ]] || errs+=("client $c: $op $pid: exit $rc: $(head -n 1 "$base.$c.err" 2>/dev/null)")
		done <"$base.$c"
		line=$(tail -n 1 "$base.$c")
		[[ $got == 50 && $line == end ]] || errs+=("client $c made $got requests (last line '$line'), expected 50 and the end")
	done
	((${#errs[@]} == 0)) || { fail "${#errs[@]} problem(s): $(IFS=';'; echo "${errs[*]:0:5}")"; return; }
	bounded $((5 * BOUND)) "$BPFGUARD" status --pin-dir "$PIN" >"$TMP/st.out" 2>&1
	((BRC == 0)) || { fail "status after the burst: exit $BRC (bound $((5 * BOUND)) s)"; return; }
	list_roots "$PIN" || return
	for ((i = 0; i < nc * per; i++)); do
		p=${tp[i]}
		want=1
		((i % per == 0)) && want=0
		got=0
		[[ -n ${LROOT[$p]:-} ]] && got=1
		((got == want)) || errs+=("$p (process $((i % per)) of client $((i / per))) is $( ((got)) && echo tagged || echo untagged)")
	done
	msg "request_burst: $nst status request(s) answered during the burst"
	((${#errs[@]} == 0)) ||
		fail "after 1000 requests from $nc clients (and $nst status requests), ${#errs[@]} of $((nc * per)) processes are in the wrong state: $(IFS=';'; echo "${errs[*]:0:5}")"
}

# Clients that misbehave: garbage, 1 MiB of garbage, half a request and then
# silence, a connection that never speaks, a request carrying 4 extra fds.
# Each gets an error answer or is dropped after the agent's timeout. While
# the stalled ones hold their connections a status request is answered (the
# agent must not serve one client at a time). Afterwards the agent runs,
# holds no extra descriptor, and its tag still works.
test_bad_clients() {
	local sock m i out line fd0 fd1 ok
	local -a fds stall=() souts=() smode=() dropped=() errs=()
	[[ $(<"$AGENT_LOG") =~ (/run/bpfguard/[^ ]*\.sock) ]] ||
		{ fail "setup: the agent's log names no control socket"; return; }
	sock=${BASH_REMATCH[1]}
	[[ -S $sock ]] || { fail "setup: $sock is not a socket"; return; }
	tagged_tree children 2 || return
	fds=(/proc/"$AGENT_PID"/fd/*)
	fd0=${#fds[@]}
	for m in silent half silent half silent half; do
		SEQ=$((SEQ + 1))
		out=$TMP/bad$SEQ
		"$HELPERS/ctlclient" --ready "$out.ready" --hold $((30 * BOUND)) "$sock" "$m" >"$out" 2>&1 {SLEEPFD}>&- &
		stall+=("$!")
		disown "$!" 2>/dev/null
		track "$!"
		souts+=("$out")
		smode+=("$m")
	done
	for out in "${souts[@]}"; do
		wait_file "$out.ready" 10000 || { fail "setup: a stalling client did not connect: $(oneline "$(<"$out")")"; return; }
	done
	cli status --pin-dir "$PIN"
	[[ $RC == 0 ]] || { fail "status while 6 clients stall: exit $RC: $ERR"; return; }
	for i in "${!stall[@]}"; do
		is_alive "${stall[i]}" || dropped+=("${smode[i]}: $(<"${souts[i]}")")
	done
	((${#dropped[@]} == 0)) ||
		{ fail "status was answered only after ${#dropped[@]} stalled client(s) had been dropped (the agent serves one client at a time): $(IFS=';'; echo "${dropped[*]}")"; return; }

	for m in garbage huge fds; do
		bounded $((15 * BOUND)) "$HELPERS/ctlclient" --hold $((10 * BOUND)) "$sock" "$m" >"$TMP/bad.out" 2>&1
		line=$(<"$TMP/bad.out")
		ok=0
		case $m in
		fds) [[ $BRC == 0 && $line =~ ^reply\ 0\  ]] && ok=1 ;;
		*) [[ $BRC == 0 && ($line =~ ^reply\ [1-9] || $line == closed) ]] && ok=1 ;;
		esac
		((ok)) || errs+=("$m client: exit $BRC: $(oneline "$line")")
	done

	# the stalled clients are answered with an error, or dropped, in time
	wait_dead $((30000 * BOUND)) "${stall[@]}" ||
		errs+=("${#ALIVE[@]} stalled client(s) still connected after $((30 * BOUND)) s")
	for i in "${!stall[@]}"; do
		line=$(<"${souts[i]}")
		[[ $line =~ ^reply\ [1-9] || $line == closed ]] || errs+=("${smode[i]} client: $(oneline "$line")")
	done
	agent_ok || errs+=("the agent is not running after the bad clients")
	fds=(/proc/"$AGENT_PID"/fd/*)
	fd1=${#fds[@]}
	((fd1 == fd0)) || errs+=("the agent held $fd0 descriptors before the bad clients, $fd1 after")
	((${#errs[@]} == 0)) || { fail "$(IFS=';'; echo "${errs[*]}")"; return; }
	kill_root_expect_dead "$ROOT" "${TREE_PIDS[@]}" || REASON="the tag made before the bad clients: $REASON"
}

# Sixteen unprivileged clients (two users, eight processes each: helpers/flood.c)
# loop connect/status/close and connect/garbage/close as fast as they can
# for a few seconds. Meanwhile root's status and tag are answered (within
# the CLI's bound), a tagged root's descendants die within the usual bound,
# part of the flood is refused (EBUSY: the per-uid limits), and the agent's
# log holds a bounded number of refusal lines and says how many it left out.
# users_quiet UID...: wait (bounded) until the agent answers each of these
# users again: a test that spent their request budget (20 a second, bursts of
# 40) leaves them as it found them, so the next test does not depend on it.
users_quiet() {
	local u deadline
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
}

test_client_flood() {
	local secs=$((12 * BOUND)) sock u out extra line n0 n1 nsup max t0 t1 busy=0 rounds=0
	local -a fl=() reps=() kids errs=()
	setup_users || return
	[[ $(<"$AGENT_LOG") =~ (/run/bpfguard/[^ ]*\.sock) ]] ||
		{ fail "setup: the agent's log names no control socket"; return; }
	sock=${BASH_REMATCH[1]}
	cp "$HELPERS/flood" "$UDIR/" || { fail "setup: cannot copy the flood helper"; return; }
	tagged_tree children 3 || return
	kids=("${TREE_PIDS[@]}")
	sleep 300 {SLEEPFD}>&- &
	extra=$!
	disown "$extra" 2>/dev/null
	track "$extra"
	n0=$(grep -c 'refused .* from uid' "$AGENT_LOG")
	now
	t0=$NOW
	for u in "$TUID" "$TUID" "$TUID2" "$TUID2"; do
		SEQ=$((SEQ + 1))
		out=$UDIR/w/flood$SEQ
		"$UDIR/asuser" "$u" "$UDIR/flood" --procs 4 --ready "$out.ready" "$sock" "$secs" "$out" \
			>>"$TMP/helpers.log" 2>&1 {SLEEPFD}>&- &
		fl+=("$!")
		disown "$!" 2>/dev/null
		track "$!"
		reps+=("$out")
	done
	for out in "${reps[@]}"; do
		wait_file "$out.ready" 10000 || { fail "setup: a flood client did not start: $(tail -n 2 "$TMP/helpers.log")"; return; }
	done
	msleep 1 # the flood is under way
	cli status --pin-dir "$PIN"
	[[ $RC == 0 ]] || errs+=("root's status during the flood: exit $RC (bound $CLI_S s): $ERR")
	cli tag "$extra" --pin-dir "$PIN"
	[[ $RC == 0 ]] || errs+=("root's tag during the flood: exit $RC (bound $CLI_S s): $ERR")
	kill_root_expect_dead "$ROOT" "${kids[@]}" || errs+=("during the flood: $REASON")
	check_alive "${fl[@]}" ||
		errs+=("the flood was over before root's requests and the kill were done (raise its length)")
	wait_dead $(((secs + 20) * 1000)) "${fl[@]}" || errs+=("${#ALIVE[@]} flood client(s) still running $((secs + 20)) s on")
	now
	t1=$NOW
	for out in "${reps[@]}"; do
		line=$(<"$out") 2>/dev/null
		[[ $line =~ ^rounds\ ([0-9]+)\ ok\ ([0-9]+)\ busy\ ([0-9]+) ]] ||
			{ errs+=("a flood client's report: '$line'"); continue; }
		rounds=$((rounds + BASH_REMATCH[1]))
		busy=$((busy + BASH_REMATCH[3]))
	done
	msg "client_flood: $rounds rounds from 16 clients in $(((t1 - t0) / 1000)) s, $busy answered EBUSY"
	((busy > 0)) || errs+=("none of $rounds flood rounds was refused as too many (EBUSY)")
	# the summary line comes within a tick or two of the last refusal
	wait_grep "$AGENT_LOG" "suppressed" $((5000 * BOUND)) ||
		errs+=("the agent's log has no 'suppressed' line after the flood")
	n1=$(grep -c 'refused .* from uid' "$AGENT_LOG")
	nsup=$(grep -c 'suppressed' "$AGENT_LOG")
	# at most 10 lines a second, and the seconds at both ends
	max=$((10 * ((t1 - t0) / 1000 + 3)))
	((n1 - n0 <= max)) || errs+=("the agent logged $((n1 - n0)) refusal lines in $(((t1 - t0) / 1000)) s (at most $max)")
	((nsup <= (t1 - t0) / 1000 + 3)) || errs+=("$nsup 'suppressed' lines in $(((t1 - t0) / 1000)) s")
	agent_ok || errs+=("the agent does not answer after the flood")
	users_quiet "$TUID" "$TUID2" || errs+=("$REASON")
	((${#errs[@]} == 0)) || fail "$(IFS=';'; echo "${errs[*]}")"
}

# One unprivileged user opens twice its connection limit (8) of connections
# that never speak (helpers/ctlclient silent): 8 are answered EBUSY at once,
# the 8 others are held until the agent's request timeout (ETIMEDOUT), never
# dropped for the newcomers. Meanwhile root and another user are answered.
test_client_limits() {
	local sock i out line busy=0 timedout=0 lim=8 deadline
	local -a cl=() outs=() errs=()
	setup_users || return
	[[ $(<"$AGENT_LOG") =~ (/run/bpfguard/[^ ]*\.sock) ]] ||
		{ fail "setup: the agent's log names no control socket"; return; }
	sock=${BASH_REMATCH[1]}
	cp "$HELPERS/ctlclient" "$UDIR/" || { fail "setup: cannot copy ctlclient"; return; }
	for ((i = 0; i < 2 * lim; i++)); do
		SEQ=$((SEQ + 1))
		out=$UDIR/w/lim$SEQ
		"$UDIR/asuser" "$TUID" "$UDIR/ctlclient" --ready "$out.ready" --hold $((30 * BOUND)) "$sock" silent \
			>"$out" 2>&1 {SLEEPFD}>&- &
		cl+=("$!")
		disown "$!" 2>/dev/null
		track "$!"
		outs+=("$out")
	done
	for out in "${outs[@]}"; do
		wait_file "$out.ready" 10000 || { fail "setup: a client did not connect: $(oneline "$(<"$out")")"; return; }
	done
	# the refused ones are answered at once; wait (bounded) for all of them
	now
	deadline=$((NOW + 3000 * BOUND))
	while :; do
		busy=0
		for out in "${outs[@]}"; do
			[[ $(<"$out") == "reply 16 "* ]] && busy=$((busy + 1))
		done
		now
		((busy >= lim || NOW >= deadline)) && break
		msleep 0.05
	done
	cli status --pin-dir "$PIN"
	[[ $RC == 0 ]] || errs+=("root's status while uid $TUID holds its connections: exit $RC: $ERR")
	ucli "$TUID2" status --pin-dir "$PIN"
	[[ $RC == 0 ]] || errs+=("uid $TUID2's status while uid $TUID holds its connections: exit $RC: $ERR")
	wait_dead $((30000 * BOUND)) "${cl[@]}" || errs+=("${#ALIVE[@]} client(s) still connected after $((30 * BOUND)) s")
	busy=0
	for out in "${outs[@]}"; do
		line=$(<"$out")
		case $line in
		"reply 16 too many connections from uid $TUID") busy=$((busy + 1)) ;;
		"reply 110 "*) timedout=$((timedout + 1)) ;;
		*) errs+=("a client of uid $TUID: $(oneline "$line")") ;;
		esac
	done
	((busy == lim && timedout == lim)) ||
		errs+=("of $((2 * lim)) silent connections from uid $TUID, $busy were refused as too many and $timedout timed out (want $lim and $lim)")
	agent_ok || errs+=("the agent does not answer afterwards")
	users_quiet "$TUID" "$TUID2" || errs+=("$REASON")
	((${#errs[@]} == 0)) || fail "$(IFS=';'; echo "${errs[*]}")"
}

# ---------------------------------------------------------------- random trees

# TREES random process trees (helpers/randtree.c) from SEED: each grown with
# forks, daemons, setsid, exec, threads, tagged and untagged (nested too) at
# random, then random tagged roots SIGKILLed; exactly the processes its
# model of the lineage rules names must die, within the bound, and nothing
# else. A failed tree is reported with the seed that replays it alone.
test_random_trees() {
	local trees=${TREES:-500} seed=${SEED:-} out secs line
	[[ $trees =~ ^[1-9][0-9]*$ ]] || { fail "setup: TREES must be a positive number, not '$trees'"; return; }
	if [[ -z $seed ]]; then
		seed=$(((RANDOM << 30) | (RANDOM << 15) | RANDOM))
	elif [[ ! $seed =~ ^[0-9]+$ ]]; then
		fail "setup: SEED must be a number, not '$seed'"
		return
	fi
	SEQ=$((SEQ + 1))
	out=$TMP/randtree$SEQ.out
	msg "random_trees: seed $seed, $trees trees (SEED=$seed TREES=$trees replays them)"
	secs=$((trees * 3 + 120)) # a bound: ~0.1 s a tree here
	bounded "$secs" "$HELPERS/randtree" "$BPFGUARD" "$PIN" "$seed" "$trees" "$BOUND_MS" \
		>"$out" 2>&1
	line=$(grep -a '^stats:' "$out" | tail -n 1)
	[[ -n $line ]] && msg "random_trees: $line"
	line=$(tail -n 1 "$out")
	if ((BRC == 124)); then
		fail "seed $seed: randtree did not finish $trees trees within $secs s; last line: $(oneline "$line")"
	elif ((BRC != 0)); then
		line=$(grep -a -m 1 '^FAIL' "$out") # it names the seed and the tree
		if [[ -n $line ]]; then
			fail "$(oneline "${line#FAIL }") [$(tail -n 1 "$out")]"
		else
			fail "seed $seed: randtree exit $BRC: $(oneline "$(tail -n 3 "$out")")"
		fi
	elif [[ $line != "$trees trees, 0 failed" ]]; then
		fail "seed $seed: randtree exited 0 but its last line is '$(oneline "$line")'"
	fi
	[[ -z $REASON ]] && return 0
	msg "randtree output (first 30 lines):"
	head -n 30 "$out" | cut -c1-400 | sed 's/^/  | /' >&2
	return 1
}

# ---------------------------------------------------------------- runner

cleanup() {
	((CLEANED)) && return
	CLEANED=1
	# bounded; a second ^C (or a signal sent to the process group as well as
	# to us, as timeout(1) does) must not abandon the agent and the pins
	trap - EXIT
	trap '' INT TERM
	[[ -n $TMP ]] || return
	kill_tracked
	stop_agent
	halt_agent "$KAGENT_PID"
	KAGENT_PID=
	xagent_stop
	local d
	halt_agent "$OAGENT_PID"
	OAGENT_PID=
	for d in "$PIN" "$PIN-kernel" "$PIN-obs"; do
		[[ -e $d ]] || continue
		bounded 15 "$BPFGUARD" unload --pin-dir "$d" >"$TMP/unload.log" 2>&1
		((BRC == 0)) || msg "warning: unload --pin-dir $d failed: $(head -n 3 "$TMP/unload.log")"
	done
	for d in "${TUSERS[@]}"; do
		bounded 15 userdel "$d" >"$TMP/userdel.log" 2>&1
		((BRC == 0)) || msg "warning: could not remove user $d: $(head -n 2 "$TMP/userdel.log")"
	done
	rm -rf "$PIN" "$PIN-none" "$PIN-kernel" "$PIN-obs" "$XPIN" 2>/dev/null
	[[ -e $PIN ]] && msg "warning: could not remove $PIN"
	[[ -n $SLEEPFD ]] && exec {SLEEPFD}>&-
	if [[ ${KEEP_TMP:-0} == 1 ]]; then
		msg "temp files kept in $TMP"
	else
		rm -rf "$TMP"
	fi
}

run_one() {
	local name=$1 ok
	REASON=
	if [[ -z $AGENT_PID ]] && ! start_agent; then
		echo "FAIL $name: no agent (it could not be restarted: ${AGENT_WHY%%$'\n'*})"
		return 1
	fi
	"test_$name"
	ok=$?
	((ok == 0)) || [[ -n $REASON ]] || REASON="failed (status $ok)"
	((ok == 0)) && [[ -n $REASON ]] && ok=1
	kill_tracked
	if ! agent_ok; then
		ok=1
		REASON+="${REASON:+; }the agent is not running after the test"
		msg "agent log ($AGENT_LOG):"
		agent_log_tail 15
		stop_agent
		start_agent || msg "could not restart the agent: $AGENT_WHY"
	fi
	if ((ok == 0)); then
		echo "PASS $name"
	else
		echo "FAIL $name: $REASON"
		[[ -n $AGENT_LOG ]] && agent_log_tail 5
	fi
	return $ok
}

# ---- several users (the kill(2) rule) ---------------------------------------

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

# ---- quotas (README, "Quotas") ----------------------------------------------

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
	quota_used "$TUID" || return
	((QU == 0 && QT == 0)) || { fail "uid $TUID's lineage is dead and it is still charged $QU processes, $QT tags"; return; }
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

# status_get_x PATH...: status_get of the agent on XPIN.
status_get_x() {
	local why
	GOT=()
	cli status --json --pin-dir "$XPIN"
	[[ $RC == 0 ]] || { fail "status --json: exit $RC: $ERR"; return 1; }
	cp "$TMP/cli.out" "$TMP/status.json"
	why=$(json_check --get "$TMP/status.json" "$@") || { fail "status --json: $why"; return 1; }
	mapfile -t GOT <<<"$why"
}

# tagged_tree_x SHAPE ARGS: tagged_tree on XPIN.
tagged_tree_x() {
	start_tree --go "$@"
	tag "$ROOT" --pin-dir "$XPIN" || return 1
	: >"$TREE_GO"
	wait_tree
}

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
	local d=$UDIR/w/member$$ sh kid i r1 r2 r3
	setup_users || return
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
	grep -q "pid $suid not killed" "$AGENT_LOG" || { fail "no log line reports pid $suid: $(agent_log_tail)"; return; }
	line="no kill_refused line within 10 s"
	wait_grep "$TMP/ev.suid" '"event":"kill_refused"' 10000 && events_stop "$EV_PID" &&
		line=$(json_check --lines "$TMP/ev.suid" --one event=kill_refused pid="$suid" owner_uid="$TUID" comm=sleep) ||
		fail "the tag owner's event stream: $line"
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

# A root with unreaped (zombie) children and live ones: the zombies have
# passed their exit hook, so enrolment must not record them (an entry that no
# exit hook would ever delete); the sweep must not chase them either.
test_zombie_children() {
	local f=$TMP/zomb$$ r k line
	local -a kids
	# the 20 exit a second after their parent has exec'd sleep, which never reaps
	/bin/sh -c "i=0; while [ \$i -lt 20 ]; do sleep 1 & i=\$((i+1)); done; for i in 1 2 3; do sleep 300 & echo \$! >>$f; done; exec sleep 300" \
		>>"$TMP/helpers.log" 2>&1 {SLEEPFD}>&- &
	r=$!
	disown "$r" 2>/dev/null
	track "$r"
	now
	local deadline=$((NOW + 10000))
	until [[ -e $f ]] && (($(wc -l <"$f") >= 3)) && [[ $(<"/proc/$r/comm") == sleep ]]; do
		now
		((NOW < deadline)) || { fail "setup: the root did not start its children"; return; }
		msleep 0.01
	done
	kids=()
	while read -r k; do kids+=("$k"); done <"$f"
	track "${kids[@]}"
	local z=0
	until ((z == 20)); do
		z=0
		children_of "$r"
		for k in "${KIDS[@]}"; do read_stat "$k" && [[ $S_STATE == Z ]] && z=$((z + 1)); done
		now
		((NOW < deadline)) || { fail "setup: $z zombie children, want 20"; return; }
		msleep 0.05
	done
	tag "$r" --pin-dir "$PIN" || return
	cli list --json --pin-dir "$PIN"
	line=$(sed -n "s/.*\"pid\":$r,[^]]*\"descendants\":\[\([0-9,]*\)\].*/\1/p" <<<"$OUT")
	[[ $line == "${kids[0]},${kids[1]},${kids[2]}" || $(tr ',' '\n' <<<"$line" | sort | tr '\n' ' ') == "$(printf '%s\n' "${kids[@]}" | sort | tr '\n' ' ')" ]] ||
		{ fail "tracked descendants are '$line', want the 3 live ones ${kids[*]}"; return; }
	kill_root_expect_dead "$r" "${kids[@]}" || return
	now
	deadline=$((NOW + 5000))
	until line=$(grep "tag .*: root died, killed" "$AGENT_LOG" | tail -n 1) && [[ $line == *" in "[0-9]*" sweep"* ]] &&
		grep -q "root died" <<<"$line" && [[ $line != "${ZLAST:-}" ]]; do
		now
		((NOW < deadline)) || { fail "no kill line in the agent's log"; return; }
		msleep 0.05
	done
	[[ $line =~ in\ ([0-9]+)\ sweep ]] && ((BASH_REMATCH[1] <= 2)) ||
		fail "the sweep chased zombies: $line"
}

# ---- observability: events, status --json, metrics ---------------------------

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

# tag_id: the tag number in the CLI's "tagged PID (tag N...)" answer (OUT).
tag_id() {
	[[ $OUT =~ \(tag\ ([0-9]+) ]] || { fail "no tag number in '$OUT'"; return 1; }
	TAGID=${BASH_REMATCH[1]}
}

# Tag, re-tag, untag, adopt, a refused request and a kill, followed by root
# and by an unprivileged user at once: every line is JSON, the comm with a
# quote and a backslash comes out escaped (decoded back by jsoncheck), root
# sees everything, the user only its own tag and its own refused request.
test_events() {
	local f=$TMP/ev.root fu=$TMP/ev.user weird='q"b\s' r x xc t1 t2 ut u other c why p rootev userev
	local -a kids checks
	setup_users || return
	events_start "$f" || return
	rootev=$EV_PID
	events_start "$fu" "$TUID" || return
	userev=$EV_PID

	# a tree whose comm needs escaping: the tree helper under that name
	cp "$HELPERS/tree" "$TMP/$weird" || { fail "setup: cannot copy the tree helper to $TMP/$weird"; return; }
	SEQ=$((SEQ + 1))
	TREE_OUT=$TMP/tree$SEQ
	TREE_GO=$TREE_OUT.go
	"$TMP/$weird" --go "$TREE_GO" --life 300 "$TREE_OUT" children 2 >>"$TMP/helpers.log" 2>&1 {SLEEPFD}>&- &
	r=$!
	disown "$r" 2>/dev/null
	track "$r"
	now
	local deadline=$((NOW + 5000))
	until { read -r c <"/proc/$r/comm"; } 2>/dev/null && [[ $c == "$weird" ]]; do
		now
		((NOW < deadline)) || { fail "setup: pid $r never got the comm '$weird' (it has '$c')"; return; }
		msleep 0.01
	done
	tag "$r" --pin-dir "$PIN" || return
	tag_id || return
	t1=$TAGID
	untag "$r" --pin-dir "$PIN" || return
	tag "$r" --pin-dir "$PIN" || return
	tag_id || return
	t2=$TAGID
	tag "$r" --pin-dir "$PIN" || return # again: an update
	: >"$TREE_GO"
	wait_tree || return
	kids=("${TREE_PIDS[@]}")
	start_tree --go children 1
	x=$ROOT
	cli adopt "$r" "$x" --pin-dir "$PIN"
	[[ $RC == 0 ]] || { fail "adopt $r $x: exit $RC: $ERR"; return; }
	: >"$TREE_GO"
	wait_tree || return
	xc=${TREE_PIDS[0]}
	cli tag 1 --pin-dir "$PIN"
	[[ $RC == 1 ]] || { fail "tag 1: exit $RC, expected 1"; return; }

	# the user's own tag, and a request of the user's that is refused
	utree "$TUID" children 1 || return
	u=$ROOT
	local -a ukids=("${TREE_PIDS[@]}")
	ucli "$TUID" tag "$u" --pin-dir "$PIN"
	[[ $RC == 0 ]] || { fail "uid $TUID tagging its own process: exit $RC: $ERR"; return; }
	tag_id || return
	ut=$TAGID
	ucli "$TUID" tag "$r" --pin-dir "$PIN"
	[[ $RC == 1 ]] || { fail "uid $TUID tagging root's process $r: exit $RC, expected 1"; return; }

	kill_root_expect_dead "$r" "${kids[@]}" "$x" "$xc" || return
	kill_root_expect_dead "$u" "${ukids[@]}" || return
	wait_grep "$f" "\"event\":\"lineage_dead\",\"tag\":$t2," 10000 ||
		{ fail "no lineage_dead line for tag $t2 within 10 s: $(oneline "$(tail -n 3 "$f")")"; return; }
	wait_grep "$f" "\"event\":\"lineage_dead\",\"tag\":$ut," 10000 &&
		wait_grep "$fu" "\"event\":\"lineage_dead\",\"tag\":$ut," 10000 ||
		{ fail "no lineage_dead line for uid $TUID's tag $ut within 10 s: $(oneline "$(tail -n 3 "$fu")")"; return; }
	events_stop "$rootev" && events_stop "$userev" || return

	checks=(
		--one event=subscribed uid=0 privileged=true
		--one event=tag tag="$t1" pid="$r" "comm=$weird" uid=0 privileged=true parent_tag=0 signal=KILL updated=false
		--one event=untag tag="$t1" pid="$r" uid=0
		--one event=tag tag="$t2" pid="$r" "comm=$weird" updated=false
		--one event=tag tag="$t2" pid="$r" "comm=$weird" updated=true
		--one event=adopt tag="$t2" root_pid="$r" pid="$x" comm=tree uid=0
		--has event=refused op=tag uid=0 pid=1 errno=EPERM
		--has event=refused op=tag uid="$TUID" pid="$r" errno=EPERM
		--one event=tag tag="$ut" pid="$u" uid="$TUID" privileged=false
		--one event=root_exit tag="$t2" pid="$r" signal=KILL latency_us=*
		--one event=lineage_dead tag="$t2" pid="$r" latency_us=*
		--one event=root_exit tag="$ut" pid="$u"
		--none event=root_exit tag="$t1"
		--none event=kill tag!="$t2" tag!="$ut"
	)
	if [[ $AGENT_MODE == user ]]; then # in kernel mode the kernel sends most signals itself
		for p in "${kids[@]}"; do checks+=(--has event=kill tag="$t2" pid="$p" "comm=$weird" signal=KILL newborn=false latency_us=*); done
		checks+=(--has event=kill tag="$t2" pid="$x" comm=tree --has event=kill tag="$t2" pid="$xc" comm=tree)
	fi
	why=$(json_check --lines "$f" "${checks[@]}") || { fail "root's stream: $why"; return; }
	grep -q '"comm":"q\\"b\\\\s"' "$f" || { fail "root's stream does not spell the comm as \"q\\\"b\\\\\\\\s\""; return; }

	why=$(json_check --lines "$fu" --one event=subscribed uid="$TUID" privileged=false \
		--one event=tag tag="$ut" pid="$u" \
		--one event=root_exit tag="$ut" pid="$u" \
		--one event=lineage_dead tag="$ut" \
		--has event=refused op=tag uid="$TUID" errno=EPERM \
		--none tag="$t1" --none tag="$t2" --none event=refused uid=0 --none event=adopt \
		--none event=kill tag!="$ut") || { fail "uid $TUID's stream: $why"; return; }
	grep -q "refused tag from uid 0" "$AGENT_LOG" || { fail "the agent logged no line for the refused request: $(agent_log_tail)"; return; }
}

# A subscriber's stream ends with agent_stop when the agent stops (exit 0);
# a second stream was still writable up to then.
test_events_stop() {
	local f=$TMP/ev.stop why
	events_start "$f" || return
	stop_agent
	wait_dead 5000 "$EV_PID" || { fail "bpfguard events did not end with the agent"; start_agent; return; }
	wait "$EV_PID" 2>/dev/null
	start_agent || { fail "could not restart the agent: $AGENT_WHY"; return; }
	why=$(json_check --lines "$f" --one event=subscribed --one event=agent_stop) || { fail "$why"; return; }
	[[ ! -s $f.err ]] || fail "bpfguard events complained: $(<"$f.err")"
}

# A loss counter that rises is reported: an agent whose procs map holds 4
# processes is made to miss children (procs_map_full); the stream gets a
# drop line and the log a warning. That agent runs with -v: libbpf's own
# messages are in its log, and every line of it has a syslog priority.
test_events_drop() {
	local pin=$PIN-obs log=$TMP/agent-obs.log f=$TMP/ev.drop why bad
	launch_agent "$pin" "$log" --max-procs 4 -v || { fail "a second agent (--max-procs 4): $AGENT_WHY"; return; }
	OAGENT_PID=$L_PID
	events_start "$f" "" "$pin" || return
	start_tree --go children 8
	cli tag "$ROOT" --pin-dir "$pin"
	[[ $RC == 0 ]] || { fail "tag $ROOT on the small agent: exit $RC: $ERR"; return; }
	: >"$TREE_GO"
	wait_tree || return
	wait_grep "$f" '"event":"drop","counter":"procs_map_full"' 10000 ||
		{ fail "no drop line for procs_map_full within 10 s: $(oneline "$(tail -n 3 "$f")")"; return; }
	events_stop "$EV_PID" || return
	halt_agent "$OAGENT_PID"
	OAGENT_PID=
	bounded 15 "$BPFGUARD" unload --pin-dir "$pin" >/dev/null 2>&1
	why=$(json_check --lines "$f" --has event=drop counter=procs_map_full delta=* total=*) || { fail "$why"; return; }
	grep -q '^<4>bpfguard: procs_map_full rose by' "$log" || { fail "the agent logged no warning for procs_map_full: $(tail -n 3 "$log")"; return; }
	grep -q '^<[4-7]>bpfguard: libbpf: ' "$log" || { fail "-v: no libbpf message in the agent's log"; return; }
	bad=$(grep -v '^<[0-7]>bpfguard: ' "$log" | head -n 2)
	[[ -z $bad ]] || fail "agent log lines without a <N>bpfguard: prefix: $(oneline "$bad")"
}

STATUS_COUNTERS="forks_tracked exits_tracked root_exits procs_map_full deaths_map_full ringbuf_drops enrolled kernel_kills kernel_kills_failed limit_kills kills kills_skipped_identity kills_failed agent_spared kills_refused_uid kills_stuck"
AGENT_COUNTERS="events_sent event_subscribers_dropped requests_refused metrics_scrapes metrics_errors quota_refused"

# status_get PATH...: GOT = the values at PATHs of a fresh `status --json`.
status_get() {
	local why
	GOT=()
	cli status --json --pin-dir "$PIN"
	[[ $RC == 0 ]] || { fail "status --json: exit $RC: $ERR"; return 1; }
	cp "$TMP/cli.out" "$TMP/status.json"
	why=$(json_check --get "$TMP/status.json" "$@") || { fail "status --json: $why"; return 1; }
	mapfile -t GOT <<<"$why"
}

test_status_json() {
	local rel n i before lat0 sum0 k0 b
	local -a names
	status_get agent.pid agent.mode agent.pin_dir kernel.release tags tracked limits.max_procs \
		limits.max_tags kill_latency_us.count kill_latency_us.over kernel.features.0 \
		kill_latency_us.buckets.0.le kill_latency_us.buckets.32.le agent.start_time \
		quotas.user_max_procs quotas.user_max_tags quotas.unprivileged_max_procs \
		quotas.unprivileged_max_tags quotas.used_procs quotas.used_tags || return
	# the suite's agent runs with the defaults (README, "Quotas")
	((GOT[14] == GOT[6] / 16 && GOT[15] == 64 && GOT[16] == GOT[6] - GOT[6] / 8 &&
		GOT[17] == GOT[7] - GOT[7] / 8)) ||
		{ fail "status --json: quotas ${GOT[*]:14:4} for maps of ${GOT[6]} processes, ${GOT[7]} tags: not the defaults"; return; }
	[[ ${GOT[0]} == "$AGENT_PID" ]] || { fail "status --json: agent.pid ${GOT[0]}, the agent is $AGENT_PID"; return; }
	[[ ${GOT[1]} == "$(expected_mode)" ]] || { fail "status --json: mode ${GOT[1]}, expected $(expected_mode)"; return; }
	[[ ${GOT[2]} == "$PIN" ]] || { fail "status --json: pin_dir '${GOT[2]}', expected $PIN"; return; }
	{ read -r rel </proc/sys/kernel/osrelease; } 2>/dev/null
	[[ -z $rel || ${GOT[3]} == "$rel" ]] || { fail "status --json: kernel '${GOT[3]}', this is $rel"; return; }
	[[ ${GOT[10]} == btf && ${GOT[11]} == 1 && ${GOT[12]} == 4294967296 ]] ||
		{ fail "status --json: features/buckets: ${GOT[10]} ${GOT[11]} ${GOT[12]}"; return; }
	((${GOT[13]} > 1500000000)) || { fail "status --json: agent.start_time ${GOT[13]}"; return; }
	names=()
	for n in $STATUS_COUNTERS; do names+=("counters.$n"); done
	for n in $AGENT_COUNTERS; do names+=("agent_counters.$n"); done
	status_get "${names[@]}" || return
	# the schema lists every counter: as many as the text status shows
	cli status --pin-dir "$PIN"
	n=$(sed -n 's/^counters://p' <<<"$OUT" | tr ' ' '\n' | grep -c =)
	[[ $n == $(wc -w <<<"$STATUS_COUNTERS") ]] || { fail "status shows $n counters, the JSON test knows $(wc -w <<<"$STATUS_COUNTERS")"; return; }

	status_get counters.root_exits counters.kills counters.kernel_kills kill_latency_us.count kill_latency_us.sum || return
	before=${GOT[0]} k0=$((GOT[1] + GOT[2])) lat0=${GOT[3]} sum0=${GOT[4]}
	tagged_tree children 3 || return
	kill_root_expect_dead "$ROOT" "${TREE_PIDS[@]}" || return
	now
	local deadline=$((NOW + 10000))
	while :; do # the agent's last sweep may come after the deaths
		status_get counters.root_exits counters.kills counters.kernel_kills kill_latency_us.count kill_latency_us.sum || return
		((GOT[3] > lat0)) && break
		now
		((NOW < deadline)) || { fail "kill_latency_us.count did not grow within 10 s ($lat0 -> ${GOT[3]})"; return; }
		msleep 0.05
	done
	((GOT[0] > before)) || { fail "counters.root_exits did not grow ($before -> ${GOT[0]})"; return; }
	((GOT[1] + GOT[2] >= k0 + 3)) || { fail "kills + kernel_kills grew by $((GOT[1] + GOT[2] - k0)), 3 descendants died"; return; }
	((GOT[4] > sum0)) || { fail "kill_latency_us.sum did not grow ($sum0 -> ${GOT[4]})"; return; }
	# the buckets add up to the count
	names=()
	for ((i = 0; i < 33; i++)); do names+=("kill_latency_us.buckets.$i.count"); done
	status_get kill_latency_us.count kill_latency_us.over "${names[@]}" || return
	b=0
	for ((i = 1; i < ${#GOT[@]}; i++)); do b=$((b + GOT[i])); done
	((b == GOT[0])) || { fail "the latency buckets hold $b samples, the count is ${GOT[0]}"; return; }

	cli status --json --pin-dir "$PIN-none"
	[[ $RC == 1 && -z $OUT ]] || { fail "status --json with no agent: exit $RC, stdout '$OUT'"; return; }
	cli status --json extra --pin-dir "$PIN"
	[[ $RC == 2 ]] || fail "status --json extra: exit $RC, expected 2"
}

# TCP sockets in LISTEN state that PID holds (by inode, /proc/net/tcp{,6}).
listening() {
	local l t ino f
	local -A mine=()
	LISTEN_N=0
	for l in /proc/"$1"/fd/*; do
		t=$(readlink "$l" 2>/dev/null) || continue
		[[ $t =~ ^socket:\[([0-9]+)\]$ ]] && mine[${BASH_REMATCH[1]}]=1
	done
	for f in /proc/net/tcp /proc/net/tcp6; do
		[[ -r $f ]] || continue
		while read -r _ _ _ st _ _ _ _ _ ino _; do
			[[ $st == 0A && -n ${mine[$ino]:-} ]] && LISTEN_N=$((LISTEN_N + 1))
		done <"$f"
	done
	((LISTEN_N > 0))
}

# http_req PORT REQUEST: send REQUEST on a new connection to 127.0.0.1:PORT
# and read the response until the agent closes it (bounded). HTTP_STATUS,
# HTTP_HEAD (header lines), HTTP_BODY; 1 if there was no connection.
http_req() {
	local fd line n=0 body=0
	HTTP_STATUS='' HTTP_HEAD='' HTTP_BODY=''
	{ exec {fd}<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
	# in a subshell: a connection the agent closed at once may raise SIGPIPE
	(printf '%s' "$2" >&"$fd") 2>/dev/null
	while ((n++ < 20000)); do
		line='' # a reset connection leaves it unset
		IFS= read -r -t 10 -u "$fd" line 2>/dev/null || { [[ -n ${line:-} ]] || break; }
		if ((body)); then
			HTTP_BODY+=$line$'\n'
		elif [[ -z ${line%$'\r'} ]]; then
			body=1
		elif [[ -z $HTTP_STATUS ]]; then
			[[ $line =~ ^HTTP/1\.[01]\ ([0-9]{3}) ]] && HTTP_STATUS=${BASH_REMATCH[1]}
			HTTP_HEAD+=${line%$'\r'}$'\n'
		else
			HTTP_HEAD+=${line%$'\r'}$'\n'
		fi
	done
	exec {fd}>&-
	return 0
}

declare -A M=()
# scrape PORT: GET /metrics; check the exposition; M[sample] = value.
scrape() {
	local line name base re='^(bpfguard_[a-z_]+)(\{[^}]*\})? ([0-9]+(\.[0-9]+)?)$' typed=' '
	M=()
	http_req "$1" $'GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n' ||
		{ fail "cannot connect to 127.0.0.1:$1 (is the loopback interface up?)"; return 1; }
	[[ $HTTP_STATUS == 200 ]] || { fail "GET /metrics: status '${HTTP_STATUS:-none}': $(oneline "$HTTP_HEAD")"; return 1; }
	[[ $HTTP_HEAD == *"Content-Type: text/plain; version=0.0.4"* ]] || { fail "GET /metrics: no 0.0.4 content type: $(oneline "$HTTP_HEAD")"; return 1; }
	while IFS= read -r line; do
		[[ -n $line ]] || continue
		if [[ $line =~ ^#\ HELP\ bpfguard_[a-z_]+\ .+$ ]]; then
			continue
		elif [[ $line =~ ^#\ TYPE\ (bpfguard_[a-z_]+)\ (counter|gauge|histogram)$ ]]; then
			typed+="${BASH_REMATCH[1]} "
		elif [[ $line =~ $re ]]; then
			name=${BASH_REMATCH[1]}
			base=${name%_bucket}
			base=${base%_sum}
			base=${base%_count}
			[[ $typed == *" $name "* || $typed == *" $base "* ]] || { fail "metrics: a sample before its TYPE line: $line"; return 1; }
			M[$name${BASH_REMATCH[2]}]=${BASH_REMATCH[3]}
		else
			fail "metrics: not the text exposition format: '$line'"
			return 1
		fi
	done <<<"$HTTP_BODY"
	for name in bpfguard_kills_total bpfguard_kernel_kills_total bpfguard_root_exits_total \
		bpfguard_ringbuf_drops_total bpfguard_procs_map_full_total bpfguard_tags \
		bpfguard_tracked_processes 'bpfguard_kill_latency_seconds_bucket{le="+Inf"}' \
		bpfguard_kill_latency_seconds_sum bpfguard_kill_latency_seconds_count \
		bpfguard_metrics_errors_total bpfguard_events_sent_total; do
		[[ -n ${M[$name]:-} ]] || { fail "metrics: no $name"; return 1; }
	done
	[[ ${M[bpfguard_kill_latency_seconds_bucket{le=\"+Inf\"}]} == "${M[bpfguard_kill_latency_seconds_count]}" ]] ||
		{ fail "metrics: the +Inf bucket is not the count"; return 1; }
	[[ -n ${M[bpfguard_info{mode=\"$AGENT_MODE\",kernel=\"$S_KREL\",features=\"${FEATURES_CSV}\"}]:-} ]] ||
		{ fail "metrics: no bpfguard_info for mode $AGENT_MODE, kernel $S_KREL, features $FEATURES_CSV: $(grep info <<<"$HTTP_BODY")"; return 1; }
}

test_metrics() {
	local rc
	listening "$AGENT_PID" && { fail "the agent listens on TCP although --metrics was not given"; return; }
	for a in nonsense 127.0.0.1:70000 localhost:9469 127.0.0.1 '[::1]'; do
		cli agent --metrics "$a" --pin-dir "$PIN-none"
		[[ $RC == 2 && $ERR == *"invalid --metrics"* ]] || { fail "agent --metrics '$a': exit $RC (want 2): $ERR"; return; }
	done
	stop_agent
	if ! start_agent --metrics 127.0.0.1:0; then
		fail "the agent did not start with --metrics 127.0.0.1:0: $AGENT_WHY"
		start_agent
		return
	fi
	metrics_checks
	rc=$?
	stop_agent
	start_agent || msg "could not restart the agent: $AGENT_WHY"
	return $rc
}

metrics_checks() {
	local port k0 r0 l0 e0 f i
	local -a idle=()
	port=$(sed -n 's|.*metrics: serving http://127\.0\.0\.1:\([0-9][0-9]*\)/metrics.*|\1|p' "$AGENT_LOG" | tail -n 1)
	[[ -n $port ]] || { fail "the agent logged no 'metrics: serving' line: $(agent_log_tail)"; return; }
	listening "$AGENT_PID" || { fail "the agent holds no listening TCP socket"; return; }
	FEATURES_CSV=$(set -- $FEATURES; IFS=,; echo "$*")
	scrape "$port" || return
	k0=$((M[bpfguard_kills_total] + M[bpfguard_kernel_kills_total]))
	r0=${M[bpfguard_root_exits_total]}
	l0=${M[bpfguard_kill_latency_seconds_count]}
	e0=${M[bpfguard_metrics_errors_total]}
	tagged_tree children 2 || return
	scrape "$port" || return
	((M[bpfguard_tags] >= 1 && M[bpfguard_tracked_processes] >= 2)) ||
		{ fail "metrics: tags ${M[bpfguard_tags]}, tracked ${M[bpfguard_tracked_processes]} with a tree of 2 tagged"; return; }
	kill_root_expect_dead "$ROOT" "${TREE_PIDS[@]}" || return
	now
	local deadline=$((NOW + 10000))
	while scrape "$port" && ((M[bpfguard_kill_latency_seconds_count] <= l0)); do
		now
		((NOW < deadline)) || { fail "bpfguard_kill_latency_seconds_count did not grow within 10 s ($l0)"; return; }
		msleep 0.05
	done
	[[ -z $REASON ]] || return
	((M[bpfguard_root_exits_total] > r0)) || { fail "bpfguard_root_exits_total did not grow ($r0)"; return; }
	((M[bpfguard_kills_total] + M[bpfguard_kernel_kills_total] >= k0 + 2)) ||
		{ fail "kills + kernel_kills grew by $((M[bpfguard_kills_total] + M[bpfguard_kernel_kills_total] - k0)), 2 descendants died"; return; }

	# anything but GET /metrics is refused, and the agent carries on
	http_req "$port" $'BLAH\r\n\r\n' && [[ $HTTP_STATUS == 400 ]] || { fail "garbage request: status '${HTTP_STATUS:-none}'"; return; }
	http_req "$port" $'GET /nope HTTP/1.0\r\n\r\n' && [[ $HTTP_STATUS == 404 ]] || { fail "GET /nope: status '${HTTP_STATUS:-none}'"; return; }
	http_req "$port" $'POST /metrics HTTP/1.0\r\n\r\n' && [[ $HTTP_STATUS == 405 ]] || { fail "POST /metrics: status '${HTTP_STATUS:-none}'"; return; }
	http_req "$port" "GET /metrics HTTP/1.0"$'\r\nX: '"$(printf '%3000s' '')"$'\r\n\r\n' && [[ -z $HTTP_STATUS || $HTTP_STATUS == 400 ]] ||
		{ fail "an oversized request: status '${HTTP_STATUS:-none}'"; return; }
	# idle connections hold no one up; past the limit one is closed at once
	for ((i = 0; i < 8; i++)); do
		{ exec {f}<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null || { fail "cannot open idle connection $i"; return; }
		idle+=("$f")
	done
	http_req "$port" $'GET /metrics HTTP/1.0\r\n\r\n'
	[[ -z $HTTP_STATUS ]] || { fail "a 9th connection was served while 8 were open (limit 8)"; return; }
	for ((i = 1; i < 8; i++)); do # keep the first: it is read below
		f=${idle[i]}
		exec {f}>&-
	done
	f=${idle[0]}
	# the agent closes an idle connection after its 5 s deadline: EOF, not our 15 s bound
	local line
	IFS= read -r -t 15 -u "$f" line
	(($? < 128)) || { exec {f}>&-; fail "an idle connection stayed open 15 s (deadline 5 s)"; return; }
	exec {f}>&-
	scrape "$port" || return
	((M[bpfguard_metrics_errors_total] >= e0 + 5)) || { fail "bpfguard_metrics_errors_total grew by $((M[bpfguard_metrics_errors_total] - e0)), expected >= 5"; return; }
	agent_ok || fail "the agent is not answering after the bad requests"
}

# Untagging a top-level root frees its tag slot: an agent with room for 2
# tags survives 6 tag/untag cycles (and a nested untag keeps its forwarding
# record only while needed).
test_tag_slots() {
	local pin=$PIN-obs log=$TMP/agent-slots.log i
	launch_agent "$pin" "$log" --max-tags 2 || { fail "a second agent (--max-tags 2): $AGENT_WHY"; return; }
	OAGENT_PID=$L_PID
	start_tree children 1
	wait_tree || return
	for ((i = 1; i <= 6; i++)); do
		cli tag "$ROOT" --pin-dir "$pin"
		[[ $RC == 0 ]] || { fail "cycle $i: tag: exit $RC: $ERR"; break; }
		cli untag "$ROOT" --pin-dir "$pin"
		[[ $RC == 0 ]] || { fail "cycle $i: untag: exit $RC: $ERR"; break; }
	done
	halt_agent "$OAGENT_PID"
	OAGENT_PID=
	bounded 15 "$BPFGUARD" unload --pin-dir "$pin" >/dev/null 2>&1
	[[ -z $REASON ]]
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

main() {
	local -a selected=()
	local t p passed=0 failed=0 found

	if [[ ${1:-} == --list ]]; then
		printf '%s\n' "${TESTS[@]}"
		exit 0
	fi
	for t; do
		found=0
		for p in "${TESTS[@]}"; do [[ $p == "$t" ]] && found=1; done
		((found)) || { msg "unknown test '$t' (run.sh --list)"; exit 2; }
		selected+=("$t")
	done
	((${#selected[@]})) || selected=("${TESTS[@]}")

	((EUID == 0)) || die "must run as root (the tests load BPF programs)"
	[[ -x $BPFGUARD ]] || die "no bpfguard binary at $BPFGUARD (run make, or set BPFGUARD)"

	TMP=$(mktemp -d /tmp/bpfguard-ktest.XXXXXX) || die "mktemp failed"
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	mkfifo "$TMP/sleep.fifo" || die "mkfifo failed"
	exec {SLEEPFD}<>"$TMP/sleep.fifo"

	# pid 1, this shell and its ancestors are never signalled
	p=$$
	while [[ $p =~ ^[0-9]+$ ]] && ((p > 1)); do
		ANCESTOR[$p]=1
		read_stat "$p" || break
		p=$S_PPID
	done

	GOHELPER=$HELPERS/gothread # Go: not compiled below
	GOCLIENT=$HELPERS/bpfguard-go.test
	found=1
	for t in tree jsoncheck termer libdemo asuser storm states dethread uidhop ctlclient randtree fakeagent deepchain tagrec; do
		[[ -x $HELPERS/$t ]] || found=0
	done
	if ((found == 0)); then
		msg "a C helper is missing in $HELPERS: compiling the helpers into $TMP"
		HELPERS=$TMP/helpers
		mkdir -p "$HELPERS"
		for p in "$REPO"/tests/kernel/helpers/*.c; do
			t=${p##*/}
			t=${t%.c}
			# libdemo links libbpfguard: its sources, as make builds them
			cc -O2 -Wall -Wextra -Werror -D_GNU_SOURCE -pthread -I"$REPO/include" \
				-I"$REPO/user" -o "$HELPERS/$t" "$p" "$REPO"/user/{libbpfguard,control,parse}.c ||
				die "cannot compile $p"
		done
	fi

	for p in "$PIN" "$PIN-kernel" "$PIN-obs" "$XPIN"; do # leftovers of an earlier run with the same pid
		[[ -e $p ]] || continue
		bounded 15 "$BPFGUARD" unload --pin-dir "$p" >/dev/null 2>&1
		rm -rf "$p"
	done
	start_agent || die "cannot start the agent ($BPFGUARD agent --pin-dir $PIN ${MODE_ARGS[*]}): $AGENT_WHY"
	parse_status || die "cannot read the mode from the agent's status: $(oneline "$OUT")"
	echo "mode $AGENT_MODE (MODE=${MODE:-auto}; kernel $S_KREL, features:${FEATURES% })"
	msg "agent $AGENT_PID on $PIN; running ${#selected[@]} tests"

	for t in "${selected[@]}"; do
		if run_one "$t"; then
			passed=$((passed + 1))
		else
			failed=$((failed + 1))
		fi
	done
	cleanup
	echo "$passed passed, $failed failed"
	((failed == 0))
}

main "$@"
