#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# Manual check (not a part of `make test`): start the installed unit under a
# real systemd, with every sandboxing setting it has, on a machine whose PID 1
# is not systemd. A root `systemd --user` manager runs in a private mount
# namespace (where /run/systemd/system exists, as on a booted host) and in
# cgroups of its own; the unit is installed with `make install` and started
# there with a drop-in that changes only what a user manager needs changed:
# a private pin dir, /run/bpfguard made writable explicitly (a user
# manager's RuntimeDirectory= is under XDG_RUNTIME_DIR), and a log file.
#
#   tests/deploy/systemd-user-manager.sh      (root; OUT as for check.sh)
#   INSTALLED=1 tests/deploy/systemd-user-manager.sh   the packaged unit and
#                                             binary (apt install ./build/deb/...)
#
# Output: PASS/FAIL lines and "N passed, M failed". It creates and removes:
# cgroups named bpfguard-sdtest-PID beside its own, /run/bpfguard-sdtest-PID
# (the install: PrivateTmp= hides /tmp from the service), the pin dir
# /sys/fs/bpf/bpfguard_sdtest_PID. It signals only processes it started.

set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
out=${OUT:-build}
[[ $out = /* ]] || out=$top/$out
bin=$out/bpfguard
tag=bpfguard-sdtest-$$
PIN=/sys/fs/bpf/bpfguard_sdtest_$$
W=$(mktemp -d /tmp/$tag.XXXXXX)
D=/run/$tag
CG=()
MGR=
declare -A START=() # pid -> start time of every tree process started here
passed=0
failed=0

check() { # NAME COND-STRING...: eval'd
	local name=$1
	shift
	if eval "$*"; then
		echo "PASS $name"
		passed=$((passed + 1))
	else
		echo "FAIL $name: $*"
		failed=$((failed + 1))
		return 1
	fi
}

starttime() { local l; { read -r l <"/proc/$1/stat"; } 2>/dev/null || return 1; l=${l##*) }; set -- $l; [[ $1 != Z ]] && echo "${20}"; }
alive() { [[ -n $(starttime "$1") ]]; }
wait_until() { local n=$(($1 * 10)); shift; while ((n-- > 0)); do eval "$*" && return 0; sleep 0.1; done; eval "$*"; }

sc() { nsenter -m -t "$MGR" -- env XDG_RUNTIME_DIR="$W/xdg" systemctl --user --no-pager "$@"; }

# Kill what this script started, if it is still that process.
reap_all() {
	local p
	for p in "${!START[@]}"; do
		[[ $(starttime "$p") == "${START[$p]}" ]] && kill -9 "$p" 2>/dev/null
	done
}

cleanup() {
	local c
	reap_all
	if [[ -n $MGR ]] && alive "$MGR"; then
		sc stop bpfguard.service >/dev/null 2>&1
		sc exit >/dev/null 2>&1
		wait_until 10 '! alive $MGR' || kill -9 "$MGR"
	fi
	"$bin" unload --pin-dir "$PIN" >/dev/null 2>&1
	for c in "${CG[@]}"; do
		find "$c" -mindepth 1 -depth -type d -exec rmdir {} \; 2>/dev/null
		rmdir "$c" 2>/dev/null
	done
	rm -rf "$D" "$W"
}
trap cleanup EXIT
trap 'exit 1' INT TERM PIPE

(($(id -u) == 0)) || { echo "FAIL setup: needs root"; echo "0 passed, 1 failed"; exit 1; }
[[ -d /run/systemd/system ]] && { echo "FAIL setup: PID 1 is systemd here: install the unit and use systemctl"; echo "0 passed, 1 failed"; exit 1; }

# cgroups of its own in every hierarchy systemd uses
while IFS=: read -r _ ctrl path; do
	case $ctrl in
	name=systemd) CG+=("/sys/fs/cgroup/systemd${path%/}/$tag") ;;
	"") [[ -d /sys/fs/cgroup/unified ]] && CG+=("/sys/fs/cgroup/unified${path%/}/$tag") ||
		CG+=("/sys/fs/cgroup${path%/}/$tag") ;;
	esac
done </proc/self/cgroup
for c in "${CG[@]}"; do mkdir "$c" || { echo "FAIL setup: mkdir $c"; exit 1; }; done

# the unit, installed outside /tmp (or, with INSTALLED=1, the one the
# bpfguard package installed, with its /usr/sbin/bpfguard); the drop-in
# for a user manager
if [[ ${INSTALLED:-} == 1 ]]; then
	SBIN=/usr/sbin
	UNIT=/lib/systemd/system/bpfguard.service
	[[ -f $UNIT && -x $SBIN/bpfguard ]] || { echo "FAIL setup: INSTALLED=1 but no $UNIT and $SBIN/bpfguard (apt install the package)"; exit 1; }
else
	make -C "$top" --no-print-directory OUT="$out" DESTDIR="$D" PREFIX=/usr install >/dev/null || exit 1
	SBIN=$D/usr/sbin
	UNIT=$D/usr/lib/systemd/system/bpfguard.service
fi
U=$W/config/systemd/user
mkdir -p "$U/bpfguard.service.d" "$W/xdg"
chmod 700 "$W/xdg"
sed "s#^ExecStart=/usr/sbin/#ExecStart=$SBIN/#" "$UNIT" >"$U/bpfguard.service"
write_dropin() { # MODE
	cat >"$U/bpfguard.service.d/test.conf" <<EOF
[Service]
ExecStart=
ExecStart=$SBIN/bpfguard agent --pin-dir $PIN --mode $1
ReadWritePaths=/run/bpfguard
StandardOutput=append:$W/agent.log
StandardError=inherit
EOF
}
write_dropin kernel
grep -qw bpf_send_signal_task /proc/kallsyms || write_dropin user

# the manager: /run/systemd/system and the inaccessible nodes PID 1 would
# have made, /run a mount point as on a booted host
cat >"$W/manager.sh" <<EOF
#!/bin/bash
for c in ${CG[*]}; do echo \$\$ >"\$c/cgroup.procs"; done
export XDG_RUNTIME_DIR=$W/xdg XDG_CONFIG_HOME=$W/config
exec unshare -m --propagation private -- bash -c '
set -e
mountpoint -q /run || mount --rbind /run /run
mount -t tmpfs tmpfs /run/systemd
d=/run/systemd/inaccessible
mkdir -p /run/systemd/system \$d
mkdir -m 0 \$d/dir; install -m 0 /dev/null \$d/reg; mknod -m 0 \$d/chr c 0 0
mknod -m 0 \$d/blk b 0 0; mkfifo -m 0 \$d/fifo
exec /lib/systemd/systemd --user'
EOF
setsid bash "$W/manager.sh" >"$W/manager.log" 2>&1 &
MGR=$!
wait_until 20 '[[ -S $W/xdg/systemd/private ]]' || { echo "FAIL setup: the manager did not start: $(tail -n 3 "$W/manager.log")"; exit 1; }
sc daemon-reload

sc start bpfguard.service
wait_until 20 '"$bin" status --pin-dir "$PIN" >/dev/null 2>&1'
A=$(sc show -p MainPID --value bpfguard.service)
check "starts under the unit's sandbox" '[[ $(sc show -p ActiveState --value bpfguard.service) == active && $A -gt 0 ]]' ||
	tail -n 3 "$W/agent.log" | sed 's/^/  | /'
caps_of() { capsh --decode="$(awk '/^CapBnd/ { print $2 }' "/proc/$1/status")" | sed 's/.*=//' | tr , '\n' | sort | tr '\n' ' '; }
# shellcheck disable=SC2034 # used in the check's eval
unit_caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$U/bpfguard.service" | tr 'A-Z ' 'a-z\n' | sort | tr '\n' ' ')
check "only the unit's capabilities" '[[ $(caps_of "$A") == "$unit_caps" ]]'
check "no_new_privs and a seccomp filter" '[[ $(awk "/^NoNewPrivs/ { print \$2 }" /proc/$A/status) == 1 && $(awk "/^Seccomp:/ { print \$2 }" /proc/$A/status) == 2 ]]'

# tree: ROOT -> a (root's), b (nobody's), a setsid'd shell -> c
tree() {
	local p
	rm -f "$W/kids"
	bash -c 'sleep 1000 & a=$!; setpriv --reuid=65534 --regid=65534 --clear-groups sleep 1000 & b=$!
		setsid bash -c "sleep 1000 & echo \$! >$0.c; wait" & 
		for i in $(seq 100); do [[ -s $0.c ]] && break; sleep 0.05; done
		echo $a $b $(cat $0.c) >$0.tmp; mv $0.tmp $0; wait' "$W/kids" &
	ROOT=$!
	wait_until 10 '[[ -s $W/kids ]]'
	read -ra KIDS <"$W/kids"
	for p in "$ROOT" "${KIDS[@]}"; do START[$p]=$(starttime "$p"); done
	rm -f "$W/kids" "$W/kids.c"
	wait_until 10 '[[ $(awk "/^Uid/ { print \$2 }" /proc/${KIDS[1]}/status 2>/dev/null) == 65534 ]]'
}
all_dead() { local k; for k in "${KIDS[@]}"; do alive "$k" && return 1; done; return 0; }
kill_root() { kill -9 "$ROOT"; wait "$ROOT" 2>/dev/null; }
reap() { reap_all; }

tree
"$bin" tag "$ROOT" --pin-dir "$PIN" >/dev/null
kill_root
check "kills the tree, another user's process too" 'wait_until 10 all_dead'
reap

# a tag made before a restart is enforced after it
tree
"$bin" tag "$ROOT" --pin-dir "$PIN" >/dev/null
sc restart bpfguard.service
wait_until 20 '"$bin" status --pin-dir "$PIN" >/dev/null 2>&1'
kill_root
check "a tag survives systemctl restart" 'wait_until 10 all_dead'
reap

# SIGKILLed, the agent is restarted by systemd (Restart=always)
A=$(sc show -p MainPID --value bpfguard.service)
kill -9 "$A"
restarted() {
	local m
	m=$(sc show -p MainPID --value bpfguard.service)
	[[ $m -gt 0 && $m != "$A" ]] && "$bin" status --pin-dir "$PIN" >/dev/null 2>&1
}
check "Restart=always brings it back" 'wait_until 20 restarted'

# stopped, the pins stay and a root that dies meanwhile is handled at start
tree
"$bin" tag "$ROOT" --pin-dir "$PIN" >/dev/null
sc stop bpfguard.service
check "stop leaves the pins" '[[ -e $PIN/procs && -e $PIN/link_exit ]]'
kill_root
sc start bpfguard.service
check "a death while stopped is carried out at the next start" 'wait_until 20 all_dead'
reap

echo "$passed passed, $failed failed"
((failed == 0))
