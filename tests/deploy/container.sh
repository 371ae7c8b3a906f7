#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# The container image, built and run for real with podman (`make
# test-container`; tests/run-all.sh runs it too when podman can run here).
# No registry: the Debian base is made from Debian's packages (mmdebstrap
# --variant=minbase bookworm, then podman import), and deploy/Dockerfile
# takes it as its BASE and RUNTIME_BASE build arguments. The agent then
# runs as deploy/kubernetes/daemonset.yaml runs it: the host's PID
# namespace, only CAP_BPF, CAP_PERFMON and CAP_KILL, no new privileges, a
# read-only root file system, the host's /sys/fs/bpf (HostToContainer
# propagation: rslave) and /run/bpfguard, no network, on a private pin dir.
#
#   tests/deploy/container.sh        (root; OUT as for check.sh)
#
# Environment: OUT (default build); BASE_TAR, a minbase tarball to reuse
# (default $OUT/container/base.tar, made once, removed by make clean).
#
# Output: "PASS name" or "FAIL name: reason" per check, NOTE lines, then
# "N passed, M failed". Exit status 0 iff nothing failed. When podman cannot
# run a container here, the first check fails with podman's own error.
#
# Safety: the processes signalled are the ones this script started, by pid
# after checking their start time; the containers are named
# bpfguard-ctest-PID-*, the pin dir is /sys/fs/bpf/bpfguard_ctest_PID
# (unloaded at exit), the image localhost/bpfguard-ctest:PID and the build
# stage's (removed). The imported base, localhost/bpfguard-base:bookworm, and
# its tarball stay, as a cache.

set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
out=${OUT:-build}
[[ $out = /* ]] || out=$top/$out
bin=$out/bpfguard
W=$out/container
BASE_TAR=${BASE_TAR:-$W/base.tar}
BASE_IMG=localhost/bpfguard-base:bookworm
IMG=localhost/bpfguard-ctest:$$
NAME=bpfguard-ctest-$$
PIN=/sys/fs/bpf/bpfguard_ctest_$$
TMP=$(mktemp -d /tmp/bpfguard-ctest.XXXXXX)
passed=0
failed=0
REASON=
PODMAN=(podman)
RUN_OPTS=()
PROCS=()
declare -A START=()

. "$(dirname "$0")/lib.sh"

cleanup() {
	local p c
	for p in "${PROCS[@]}"; do safe_kill KILL "$p"; done
	for c in $("${PODMAN[@]}" ps -a --format '{{.Names}}' 2>/dev/null | grep -x "$NAME-[a-z0-9]*"); do
		"${PODMAN[@]}" rm -f -t 5 "$c" >/dev/null 2>&1
	done
	[[ -d $PIN ]] && "$bin" unload --pin-dir "$PIN" >/dev/null 2>&1
	[[ -d $PIN ]] && rm -rf "$PIN"
	"${PODMAN[@]}" rmi -f "$IMG" >/dev/null 2>&1
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

result() { # NAME: PASS or FAIL line for the check just run
	if [[ $1 == ok && -z $REASON ]]; then
		echo "PASS $2"
		passed=$((passed + 1))
	else
		echo "FAIL $2: ${REASON:-failed}"
		failed=$((failed + 1))
	fi
}
run_check() { # NAME: run check_NAME
	REASON=
	if "check_$1"; then result ok "$1"; else result no "$1"; fi
}
finish() {
	echo "$passed passed, $failed failed"
	((failed == 0))
	exit
}

# ---- podman here --------------------------------------------------------

# Can podman run a container at all? Sets PODMAN and RUN_OPTS for the rest.
# What this machine needed (found by hand, 2026-12): a nofile and nproc
# ulimit within root's hard limits (podman's defaults, 1048576, fail
# setrlimit without CAP_SYS_RESOURCE), and runc, since crun 1.8 refuses the
# hybrid cgroup v1/v2 layout ("cgroups in hybrid mode not supported").
check_podman_runs() {
	local err nofile nproc
	(($(id -u) == 0)) || { fail "needs root (rootful podman, the host's bpffs)"; return; }
	command -v podman >/dev/null || { fail "no podman (apt-get install podman runc mmdebstrap; make deps)"; return; }
	command -v mmdebstrap >/dev/null || { fail "no mmdebstrap (make deps)"; return; }
	[[ -x $bin ]] || { fail "no $bin (make)"; return; }
	nofile=$(ulimit -Hn)
	nproc=$(ulimit -Hu)
	[[ $nproc == unlimited ]] || ((nproc <= 32768)) || nproc=32768
	RUN_OPTS=(--ulimit "nofile=$nofile:$nofile" --ulimit "nproc=$nproc:$nproc")
	base_image || return
	if ! err=$("${PODMAN[@]}" run --rm --network none "${RUN_OPTS[@]}" "$BASE_IMG" true 2>&1); then
		if [[ $err == *"hybrid mode not supported"* ]] && command -v runc >/dev/null; then
			echo "NOTE podman's crun: $err; using runc"
			PODMAN=(podman --runtime runc)
			err=$("${PODMAN[@]}" run --rm --network none "${RUN_OPTS[@]}" "$BASE_IMG" true 2>&1) && return 0
		fi
		fail "podman cannot run a container here: $err"
		return
	fi
}

# The Debian base, from Debian's mirror, once (kept in $W).
base_image() {
	mkdir -p "$W"
	# --format=tar: mmdebstrap takes the format from the target's name
	# otherwise, and makes a directory of a name it does not know (.tmp).
	[[ -d $BASE_TAR ]] && rm -rf "$BASE_TAR"
	if [[ ! -f $BASE_TAR || ! -s $BASE_TAR ]]; then
		rm -rf "$BASE_TAR.tmp"
		mmdebstrap --variant=minbase --format=tar bookworm "$BASE_TAR.tmp" >"$W/mmdebstrap.log" 2>&1 ||
			{ rm -rf "$BASE_TAR.tmp"; fail "mmdebstrap: $(tail -n 2 "$W/mmdebstrap.log" | tr '\n' ' ')"; return 1; }
		mv "$BASE_TAR.tmp" "$BASE_TAR"
	fi
	podman image exists "$BASE_IMG" ||
		podman import "$BASE_TAR" "$BASE_IMG" >"$TMP/import.log" 2>&1 ||
		{ fail "podman import: $(tail -n 2 "$TMP/import.log")"; return 1; }
}

# deploy/Dockerfile, both stages on the imported base. The build stage's
# apt-get needs Debian's mirror: the build runs on the host's network.
# The build stage's image is left dangling: removed with the others this
# build made (no cache kept between runs: each run builds from the base).
dangling() { podman images -q --no-trunc -f dangling=true 2>/dev/null | sort; }
check_image_builds() {
	dangling >"$TMP/dangling.before"
	"${PODMAN[@]}" build --network host "${RUN_OPTS[@]}" \
		--build-arg BASE="$BASE_IMG" --build-arg RUNTIME_BASE="$BASE_IMG" \
		--ignorefile "$top/deploy/Dockerfile.dockerignore" -f "$top/deploy/Dockerfile" \
		-t "$IMG" "$top" >"$W/build.log" 2>&1
	local rc=$? i
	for i in $(dangling | comm -13 "$TMP/dangling.before" -); do podman rmi -f "$i" >/dev/null 2>&1; done
	((rc == 0)) || { fail "podman build: $(tail -n 3 "$W/build.log" | tr '\n' ' ')"; return; }
	"${PODMAN[@]}" run --rm --network none "${RUN_OPTS[@]}" --entrypoint /usr/sbin/bpfguard "$IMG" --help \
		>"$TMP/help" 2>&1 || { fail "the image's bpfguard --help: $(tail -n 1 "$TMP/help")"; return; }
	grep -q '^Commands:' "$TMP/help" || fail "the image's bpfguard --help: unexpected output"
}

# ---- the agent as the DaemonSet runs it ----------------------------------

# podman's default seccomp profile allows bpf(2) only with CAP_SYS_ADMIN,
# as the DaemonSet warns of older runtimes. The profile used below is that
# one with bpf(2) allowed to CAP_BPF instead: the least change that lets
# the agent run (perf_event_open stays CAP_SYS_ADMIN's; the agent does not
# call it).
seccomp_profile() {
	local src=/usr/share/containers/seccomp.json
	[[ -f $src ]] || { fail "no $src (package golang-github-containers-common)"; return 1; }
	/usr/bin/python3 - "$src" "$TMP/seccomp.json" <<'EOF' || { fail "cannot derive the seccomp profile"; return 1; }
import json, sys
p = json.load(open(sys.argv[1]))
n = 0
for s in p["syscalls"]:
    if "bpf" in s.get("names", []) and "CAP_SYS_ADMIN" in str(s.get("includes", {})) + str(s.get("excludes", {})):
        s["names"].remove("bpf")
        n += 1
assert n == 2, "the default profile's bpf rules are not the two expected"
p["syscalls"].append({"names": ["bpf"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_BPF"]}})
json.dump(p, open(sys.argv[2], "w"))
EOF
}

# agent_run NAME [podman options]: the agent container, detached.
agent_run() {
	local name=$1
	shift
	mkdir -p /run/bpfguard
	"${PODMAN[@]}" run -d --name "$NAME-$name" --pid=host --network none \
		--cap-drop=ALL --cap-add=BPF,PERFMON,KILL --security-opt no-new-privileges \
		--read-only --read-only-tmpfs=false --user 0:0 "${RUN_OPTS[@]}" \
		-v /sys/fs/bpf:/sys/fs/bpf:rslave -v /run/bpfguard:/run/bpfguard \
		"$@" "$IMG" --pin-dir "$PIN" >"$TMP/run-$name.log" 2>&1
}

agent_up() { "$bin" status --pin-dir "$PIN" >/dev/null 2>&1; }
ctr_running() { [[ $("${PODMAN[@]}" inspect -f '{{.State.Running}}' "$1" 2>/dev/null) == true ]]; }

# The default profile: reported, not asserted (a newer profile may allow it).
note_default_seccomp() {
	agent_run defseccomp || { echo "NOTE default seccomp: podman run: $(tail -n 1 "$TMP/run-defseccomp.log")"; return; }
	wait_until 20 eval '! ctr_running $NAME-defseccomp || agent_up'
	if agent_up; then
		echo "NOTE default seccomp: the agent runs under podman's default profile"
		"$bin" unload --pin-dir "$PIN" >/dev/null 2>&1
	else
		echo "NOTE default seccomp: the agent stops: $("${PODMAN[@]}" logs "$NAME-defseccomp" 2>&1 | tail -n 1)"
	fi
	"${PODMAN[@]}" rm -f -t 5 "$NAME-defseccomp" >/dev/null 2>&1
}

# It starts and answers the host's CLI, with exactly the three capabilities,
# no_new_privs, a seccomp filter and a read-only root.
# The host's bpffs, as a node has it: systemd mounts it at boot, and the
# DaemonSet's agent, without CAP_SYS_ADMIN, cannot. A bare machine (a CI
# guest) may have none yet: mount it, as the host agent would.
host_bpffs() {
	[[ $(stat -f -c %T /sys/fs/bpf 2>/dev/null) == bpf_fs ]] && return
	mount -t bpf bpf /sys/fs/bpf -o mode=0700 ||
		{ fail "the host has no bpffs on /sys/fs/bpf and mounting one failed"; return 1; }
	echo "NOTE the host had no bpffs on /sys/fs/bpf: mounted (systemd does at boot)"
}

check_agent_starts() {
	local pid caps
	host_bpffs || return
	seccomp_profile || return
	agent_run agent --security-opt seccomp="$TMP/seccomp.json" ||
		{ fail "podman run: $(tail -n 2 "$TMP/run-agent.log")"; return; }
	wait_until 30 eval '! ctr_running $NAME-agent || agent_up'
	agent_up || { fail "no agent answers: $("${PODMAN[@]}" logs "$NAME-agent" 2>&1 | tail -n 2 | tr '\n' ' ')"; return; }
	pid=$("${PODMAN[@]}" inspect -f '{{.State.Pid}}' "$NAME-agent")
	caps=$(sed -n 's/^CapEff:\t//p' "/proc/$pid/status")
	# CAP_KILL (5), CAP_PERFMON (38), CAP_BPF (39)
	[[ $caps == 000000c000000020 ]] || { fail "the agent's CapEff is $caps, not CAP_KILL|CAP_PERFMON|CAP_BPF"; return; }
	grep -qx $'NoNewPrivs:\t1' "/proc/$pid/status" || { fail "no no_new_privs"; return; }
	grep -qx $'Seccomp:\t2' "/proc/$pid/status" || { fail "no seccomp filter"; return; }
	[[ $("${PODMAN[@]}" inspect -f '{{.HostConfig.ReadonlyRootfs}}' "$NAME-agent") == true ]] ||
		{ fail "the root file system is not read-only"; return; }
	"${PODMAN[@]}" exec "$NAME-agent" /usr/sbin/bpfguard status --pin-dir "$PIN" >/dev/null 2>&1 ||
		fail "bpfguard status in the agent's container (the liveness probe) fails"
}

# host_tree: a host shell R with a child shell whose child is a sleep (G);
# sets R_PID, C_PID, G_PID.
host_tree() {
	rm -f "$TMP/tree"
	bash -c 'bash -c "sleep 1000 & echo \$\$ \$! >\"\$1.tmp\"; mv \"\$1.tmp\" \"\$1\"; wait" _ "$1" & wait' _ "$TMP/tree" &
	R_PID=$!
	remember "$R_PID"
	PROCS+=("$R_PID")
	wait_until 10 test -s "$TMP/tree" || { fail "the host tree did not start"; return 1; }
	read -r C_PID G_PID <"$TMP/tree"
	remember "$C_PID"
	remember "$G_PID"
	PROCS+=("$C_PID" "$G_PID")
}

# A host process tagged from the host dies with its lineage.
check_host_tree_killed() {
	agent_up || { fail "no agent (agent_starts failed)"; return; }
	host_tree || return
	"$bin" tag "$R_PID" --pin-dir "$PIN" >"$TMP/tag.log" 2>&1 || { fail "tag: $(cat "$TMP/tag.log")"; return; }
	alive "$C_PID" && alive "$G_PID" || { fail "the tree died before its root"; return; }
	safe_kill KILL "$R_PID"
	wait "$R_PID" 2>/dev/null
	wait_until 20 eval '! alive $C_PID && ! alive $G_PID' ||
		fail "the descendants of the tagged root are alive 20 s after it died"
}

# A second container with its own PID namespace and the socket mounted tags
# its own process by its pid there: the agent guards that process (its host
# pid is the one listed), not the host's process with that number.
check_container_client_own_pid() {
	local init r c hr hc ns p
	agent_up || { fail "no agent (agent_starts failed)"; return; }
	# R: a shell whose child C sleeps; R tags itself by its own pid, says
	# "R C", then waits for C (the host kills R)
	"${PODMAN[@]}" run -d --name "$NAME-client" --network none "${RUN_OPTS[@]}" \
		-v /run/bpfguard:/run/bpfguard --entrypoint /bin/sh "$IMG" -c '
		sh -c "sleep 1000 & /usr/sbin/bpfguard tag \$\$ --pin-dir $1 >/tmp/tag 2>&1 && echo \$\$ \$! >/tmp/pids; wait" &
		wait' _ "$PIN" >"$TMP/run-client.log" 2>&1 ||
		{ fail "podman run: $(tail -n 2 "$TMP/run-client.log")"; return; }
	wait_until 20 eval '"${PODMAN[@]}" exec $NAME-client test -s /tmp/pids 2>/dev/null'
	read -r r c < <("${PODMAN[@]}" exec "$NAME-client" cat /tmp/pids 2>/dev/null)
	[[ -n ${c:-} ]] || { fail "the client did not tag: $("${PODMAN[@]}" exec "$NAME-client" cat /tmp/tag 2>&1)"; return; }
	init=$("${PODMAN[@]}" inspect -f '{{.State.Pid}}' "$NAME-client")
	ns=$(readlink "/proc/$init/ns/pid")
	[[ $ns != "$(readlink /proc/self/ns/pid)" ]] || { fail "the client shares the host's PID namespace"; return; }
	# the host pids of R and C: the processes in that namespace whose last
	# NSpid is r and c
	hr='' hc=''
	for p in /proc/[0-9]*; do
		p=${p#/proc/}
		[[ $(readlink "/proc/$p/ns/pid" 2>/dev/null) == "$ns" ]] || continue
		case $(awk '/^NSpid:/ { print $NF }' "/proc/$p/status" 2>/dev/null) in
		"$r") hr=$p ;;
		"$c") hc=$p ;;
		esac
	done
	[[ -n $hr && -n $hc ]] || { fail "no host pid for the client's $r and $c"; return; }
	((hr != r)) || { fail "the client's pid $r is its host pid too: nothing told apart, run again"; return; }
	remember "$hr"
	remember "$hc"
	PROCS+=("$hr" "$hc")
	"$bin" list --pin-dir "$PIN" >"$TMP/list" 2>&1
	grep -qE "^ *$hr( |$)" "$TMP/list" ||
		{ fail "the host's list lacks $hr (the client's $r): $(tr '\n' ' ' <"$TMP/list")"; return; }
	if grep -qE "^ *$r( |$)" "$TMP/list"; then
		"$bin" untag "$r" --pin-dir "$PIN" >/dev/null 2>&1
		fail "the host's process $r was tagged in the client's stead"
		return
	fi
	echo "NOTE the client tagged its pid $r (host pid $hr), child $c (host pid $hc)"
	safe_kill KILL "$hr"
	wait_until 20 eval '! alive $hc' || fail "the client's child (host pid $hc) is alive 20 s after its tagged root died"
	"${PODMAN[@]}" rm -f -t 2 "$NAME-client" >/dev/null 2>&1
}

# A restart of the agent container keeps every tag: tags made before it,
# from the host, are listed after it and carried out; a root that dies
# while the agent is stopped has its lineage killed (by the kernel, or by
# the restarted agent).
check_restart_keeps_tags() {
	local before after r1 c1 g1
	agent_up || { fail "no agent (agent_starts failed)"; return; }
	host_tree || return
	# shellcheck disable=SC2034 # c1, g1: read by the eval in wait_until
	r1=$R_PID c1=$C_PID g1=$G_PID
	"$bin" tag "$r1" --pin-dir "$PIN" >/dev/null 2>&1 || { fail "tag $r1 failed"; return; }
	host_tree || return
	"$bin" tag "$R_PID" --pin-dir "$PIN" >/dev/null 2>&1 || { fail "tag $R_PID failed"; return; }
	before=$("$bin" list --pin-dir "$PIN" 2>&1 | grep -cE "^ *($r1|$R_PID)( |$)")
	((before == 2)) || { fail "$before of the 2 tags listed before the restart"; return; }
	"${PODMAN[@]}" stop -t 20 "$NAME-agent" >"$TMP/stop.log" 2>&1 || { fail "podman stop: $(cat "$TMP/stop.log")"; return; }
	agent_up && { fail "an agent still answers after podman stop"; return; }
	# dies while no agent runs
	safe_kill KILL "$r1"
	wait "$r1" 2>/dev/null
	"${PODMAN[@]}" start "$NAME-agent" >"$TMP/start.log" 2>&1 || { fail "podman start: $(cat "$TMP/start.log")"; return; }
	wait_until 30 eval '! ctr_running $NAME-agent || agent_up'
	agent_up || { fail "no agent after the restart: $("${PODMAN[@]}" logs "$NAME-agent" 2>&1 | tail -n 1)"; return; }
	wait_until 20 eval '! alive $c1 && ! alive $g1' ||
		{ fail "the lineage of a root that died while the agent was stopped is alive"; return; }
	after=$("$bin" list --pin-dir "$PIN" 2>&1 | grep -cE "^ *$R_PID( |$)")
	((after == 1)) || { fail "the tag on $R_PID is not listed after the restart"; return; }
	safe_kill KILL "$R_PID"
	wait "$R_PID" 2>/dev/null
	wait_until 20 eval '! alive $C_PID && ! alive $G_PID' ||
		fail "after the restart, the lineage of a tag made before it survived its root"
}

# ---- main ------------------------------------------------------------------

run_check podman_runs
((failed == 0)) || finish
run_check image_builds
((failed == 0)) || finish
seccomp_profile && note_default_seccomp
for c in agent_starts host_tree_killed container_client_own_pid restart_keeps_tags; do
	run_check "$c"
done
"${PODMAN[@]}" rm -f -t 10 "$NAME-agent" >/dev/null 2>&1
finish
