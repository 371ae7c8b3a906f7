#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# Checks of what ships bpfguard: the YAML under deploy/, the Dockerfile, the
# systemd unit, the man page, `make install` / `make uninstall`, and that the
# agent works with the unit's capabilities and file system restrictions, and
# with none of those capabilities fewer. Run by tests/run-all.sh; as root.
#
#   tests/deploy/check.sh            every check
#   tests/deploy/check.sh NAME...    only those (see CHECKS below)
#
# Environment: OUT (build directory, default build), PYTHON (default
# /usr/bin/python3, where Debian's python3-yaml is).
#
# Output: "PASS name" or "FAIL name: reason" per check, then the last line
# "N passed, M failed". Exit status 0 iff nothing failed.
#
# One script past this tree's rule of about 800 lines: its checks share one
# set-up (the built tree, DESTDIRs, the unit's keys, the read-only mount
# namespace) and are each a short function; the container's, which need a
# set-up of their own (podman, a base image), are container.sh's.
#
# Safety: the processes signalled are the ones this script started, by pid
# (after checking their start time); the agents use private pin dirs
# (/sys/fs/bpf/bpfguard_deploy_PID*), removed at exit. The read-only file
# system is a private mount namespace (unshare -m), remounted per mount
# (bind,ro), never the host's.

set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
out=${OUT:-build}
[[ $out = /* ]] || out=$top/$out
bin=$out/bpfguard
PY=${PYTHON:-/usr/bin/python3}
[[ -x $PY ]] || PY=python3
unit_src=$top/deploy/systemd/bpfguard.service
man_src=$top/docs/bpfguard.8
ds_src=$top/deploy/kubernetes/daemonset.yaml
dockerfile=$top/deploy/Dockerfile

CHECKS=(
	yaml_parses daemonset_fields daemonset_schema dockerfile_stages dockerfile_runtime_libs
	dockerfile_context_builds unit_keys man_lint man_covers_cli
	install_files install_default_prefix install_library library_no_globals uninstall_leaves_nothing
	unit_verify unit_sandbox_suite unit_syscall_filter unit_caps_kill_other_user
	unit_caps_each_needed deb_build deb_install deb_unit_enabled deb_agent_kills
	deb_unit_under_systemd deb_dev_pkgconfig deb_purge_leaves_nothing
)

passed=0
failed=0
REASON=
TMP=$(mktemp -d /tmp/bpfguard-deploy.XXXXXX)
PIN_BASE=/sys/fs/bpf/bpfguard_deploy_$$
AGENTS=() # pids of agents started here
PROCS=()  # pids of other processes started here
declare -A START=()

. "$(dirname "$0")/lib.sh"

cleanup() {
	local p d
	for p in "${PROCS[@]}"; do safe_kill KILL "$p"; done
	for p in "${AGENTS[@]}"; do
		safe_kill TERM "$p"
		wait_until 5 eval "! alive $p" || safe_kill KILL "$p"
	done
	for d in "$PIN_BASE"*; do
		[[ -d $d ]] && "$bin" unload --pin-dir "$d" >/dev/null 2>&1
		[[ -d $d ]] && rm -rf "$d"
	done
	deb_purge_mine
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The unit's value of KEY (last one wins, as systemd reads it).
unit_get() { # FILE KEY
	sed -n "s/^$2=//p" "$1" | tail -n 1
}

# CAP_BPF CAP_PERFMON ... -> +bpf,+perfmon,... for setpriv
unit_caps_setpriv() {
	local c s=
	for c in $(unit_get "$unit_src" CapabilityBoundingSet); do
		c=${c#CAP_}
		s+=",+${c,,}"
	done
	echo "${s#,}"
}

# The make of this tree, with only the variables given (not those of a make
# that runs this script: MAKEFLAGS would carry e.g. SANITIZE=1).
tree_make() {
	env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS -u SANITIZE make --no-print-directory "$@"
}

# Install into a fresh DESTDIR; sets D (the DESTDIR).
install_into() { # [make vars]
	D=$(mktemp -d "$TMP/destdir.XXXXXX")
	tree_make -C "$top" OUT="$out" DESTDIR="$D" "$@" install >"$TMP/install.log" 2>&1 ||
		fail "make install $*: $(tail -n 3 "$TMP/install.log")"
}

# ---- YAML, Dockerfile --------------------------------------------------

check_yaml_parses() {
	local files f
	mapfile -t files < <(find "$top/deploy" -name '*.yaml' -o -name '*.yml')
	((${#files[@]})) || { fail "no YAML under deploy/"; return; }
	"$PY" -c 'import yaml' 2>/dev/null || { fail "$PY lacks yaml (python3-yaml, make deps)"; return; }
	for f in "${files[@]}"; do
		"$PY" -c 'import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d is not None]
assert docs, "no document"
for d in docs:
    assert isinstance(d, dict) and d.get("kind") and d.get("apiVersion"), "no kind/apiVersion"
' "$f" 2>"$TMP/yaml.err" || { fail "${f#"$top"/}: $(tail -n 1 "$TMP/yaml.err")"; return; }
	done
}

# The DaemonSet against what the agent needs, and its capabilities against
# the unit's (one measured set for both).
check_daemonset_fields() {
	[[ -f $ds_src ]] || { fail "missing ${ds_src#"$top"/}"; return; }
	"$PY" - "$ds_src" "$(unit_get "$unit_src" CapabilityBoundingSet)" >"$TMP/ds.err" 2>&1 <<'EOF' ||
import sys, yaml
doc = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d][0]
unit_caps = {c.removeprefix("CAP_") for c in sys.argv[2].split()}
errs = []
def need(cond, what):
    if not cond:
        errs.append(what)
need(doc.get("kind") == "DaemonSet", "kind is not DaemonSet")
spec = doc["spec"]["template"]["spec"]
need(spec.get("hostPID") is True, "hostPID is not true")
need(any(t.get("operator") == "Exists" and not t.get("key") for t in spec.get("tolerations", [])),
     "no toleration of every taint (operator: Exists, no key)")
vols = {v["name"]: v.get("hostPath", {}).get("path") for v in spec.get("volumes", [])}
c = spec["containers"][0]
mounts = {m["name"]: m["mountPath"] for m in c.get("volumeMounts", [])}
for path in ("/sys/fs/bpf", "/run/bpfguard"):
    names = [n for n, p in vols.items() if p == path]
    need(names, f"no hostPath volume {path}")
    need(any(mounts.get(n) == path for n in names), f"hostPath {path} not mounted at {path}")
sc = c.get("securityContext", {})
caps = sc.get("capabilities", {})
add = set(caps.get("add", []))
need(add == unit_caps, f"capabilities add {sorted(add)} != the unit's {sorted(unit_caps)}")
need("ALL" in caps.get("drop", []), "capabilities do not drop ALL")
need(not sc.get("privileged"), "privileged")
probe = c.get("livenessProbe", {}).get("exec", {}).get("command", [])
need(probe[-1:] == ["status"] and probe[0].endswith("/bpfguard"), f"liveness probe is not bpfguard status: {probe}")
res = c.get("resources", {})
need(res.get("requests", {}).get("memory") and res.get("limits", {}).get("memory"),
     "no memory request and limit")
if errs:
    print("; ".join(errs))
    sys.exit(1)
EOF
		fail "$(cat "$TMP/ds.err")"
}

# The DaemonSet against the Kubernetes API's schema, offline (kubectl's
# --validate downloads it from a cluster): tests/deploy/k8s-schema.py with
# Debian's python3-kubernetes (the 1.22 schema). The one field newer than
# that, appArmorProfile (1.30; the YAML says older clusters read the
# annotation), is accepted and noted.
check_daemonset_schema() {
	local out
	"$PY" -c 'import kubernetes' 2>/dev/null || { fail "$PY lacks kubernetes (python3-kubernetes, make deps)"; return; }
	out=$("$PY" "$top/tests/deploy/k8s-schema.py" "$ds_src" 2>&1)
	out=$(grep -vE '\.securityContext\.appArmorProfile: no such field in V1SecurityContext \(Kubernetes 1\.(2[2-9])\)$' <<<"$out")
	[[ -z $out ]] || fail "$(tr '\n' ' ' <<<"$out")"
}

# FROM lines, and the runtime stage's ENTRYPOINT and packages.
check_dockerfile_stages() {
	local froms entry
	[[ -f $dockerfile ]] || { fail "missing deploy/Dockerfile"; return; }
	froms=$(grep -cE '^FROM ' "$dockerfile")
	((froms == 2)) || { fail "$froms FROM lines, 2 expected (build, runtime)"; return; }
	# the bases are build arguments (make test-container passes its own),
	# Debian 12 by default
	grep -qxF 'ARG BASE=debian:12' "$dockerfile" && grep -qxF 'ARG RUNTIME_BASE=debian:12-slim' "$dockerfile" ||
		{ fail "no 'ARG BASE=debian:12' and 'ARG RUNTIME_BASE=debian:12-slim'"; return; }
	grep -qE '^FROM \$\{BASE\} AS build$' "$dockerfile" || { fail "no 'FROM \${BASE} AS build'"; return; }
	grep -qE '^FROM \$\{RUNTIME_BASE\}$' "$dockerfile" || { fail "no 'FROM \${RUNTIME_BASE}'"; return; }
	grep -qE '^RUN make( |$)' "$dockerfile" || { fail "the build stage does not run make"; return; }
	grep -qE '^COPY --from=build /out/usr/sbin/bpfguard /usr/sbin/bpfguard$' "$dockerfile" ||
		{ fail "the runtime stage does not copy /usr/sbin/bpfguard from the build"; return; }
	entry=$(sed -n 's/^ENTRYPOINT //p' "$dockerfile")
	[[ $entry == '["/usr/sbin/bpfguard", "agent"]' ]] || fail "ENTRYPOINT is '$entry'"
}

# Build as the Dockerfile's build stage does, once: copy exactly the paths
# it COPYs into an empty directory and run its commands there. Sets CTX_BIN.
CTX_BIN=
CTX_ERR=
context_build() {
	local ctx=$TMP/context src
	[[ -n $CTX_BIN || -n $CTX_ERR ]] && { [[ -n $CTX_BIN ]]; return; }
	CTX_ERR="the build stage failed"
	mkdir -p "$ctx"
	while read -r src; do
		src=${src%/}
		[[ -e $top/$src ]] || { CTX_ERR="COPY $src: no such path"; return 1; }
		mkdir -p "$ctx/$(dirname "$src")"
		cp -r "$top/$src" "$ctx/$src"
	done < <(sed -n '/^FROM .* AS build$/,/^FROM /s/^COPY \([^-][^ ]*\) .*/\1/p' "$dockerfile")
	[[ -f $ctx/Makefile ]] || { CTX_ERR="the build stage copies no Makefile"; return 1; }
	(cd "$ctx" && tree_make -j2 && tree_make install DESTDIR="$ctx/out" PREFIX=/usr) >"$TMP/ctx.log" 2>&1 ||
		{ CTX_ERR="build in the copied context: $(tail -n 3 "$TMP/ctx.log" | tr '\n' ' ')"; return 1; }
	CTX_BIN=$ctx/out/usr/sbin/bpfguard
	CTX_ERR=
}

# What the build stage copies is enough to build and install.
check_dockerfile_context_builds() {
	context_build || { fail "$CTX_ERR"; return; }
	"$CTX_BIN" --help >/dev/null || fail "the built binary does not run --help"
}

# The runtime stage installs exactly the packages that hold the shared
# libraries the image's binary loads (libc6 is in every Debian image).
check_dockerfile_runtime_libs() {
	local want='' have lib pkg
	have=$(sed -n '/^FROM ${RUNTIME_BASE}$/,$p' "$dockerfile" |
		sed -n '/apt-get install/,/rm -rf/p' | tr -s ' \\\t' '\n' |
		grep -E '^(lib|zlib)[a-z0-9.+-]+$' | sort -u | tr '\n' ' ')
	[[ -n $have ]] || { fail "no runtime stage (FROM \${RUNTIME_BASE}) installing libraries"; return; }
	context_build || { fail "$CTX_ERR"; return; }
	for lib in $(ldd "$CTX_BIN" | awk '$2 == "=>" { print $3 }'); do
		pkg=$(dpkg -S "$lib" 2>/dev/null || dpkg -S "$(readlink -f "$lib")" 2>/dev/null)
		pkg=$(head -n 1 <<<"$pkg" | cut -d: -f1)
		[[ -n $pkg ]] || { fail "no Debian package holds $lib"; return; }
		[[ $pkg == libc6 ]] || want+="$pkg"$'\n'
	done
	want=$(printf '%s' "$want" | sort -u | tr '\n' ' ')
	[[ $want == "$have" ]] || fail "the binary loads libraries of '$want', the runtime stage installs '$have'"
}

# ---- systemd unit ------------------------------------------------------

check_unit_keys() {
	local k v
	[[ -f $unit_src ]] || { fail "missing deploy/systemd/bpfguard.service"; return; }
	for k in Type=exec "ExecStart=/usr/local/sbin/bpfguard agent" Restart=always \
		RuntimeDirectory=bpfguard RuntimeDirectoryPreserve=yes NoNewPrivileges=yes \
		ProtectSystem=strict WantedBy=multi-user.target; do
		[[ $(unit_get "$unit_src" "${k%%=*}") == "${k#*=}" ]] || { fail "no $k"; return; }
	done
	for k in RestartSec CapabilityBoundingSet ReadWritePaths; do
		[[ -n $(unit_get "$unit_src" "$k") ]] || { fail "no $k="; return; }
	done
	[[ " $(unit_get "$unit_src" ReadWritePaths) " == *" /sys/fs/bpf "* ]] ||
		{ fail "ReadWritePaths= lacks /sys/fs/bpf (the pins)"; return; }
	for v in $(unit_get "$unit_src" CapabilityBoundingSet); do
		[[ $v =~ ^CAP_[A-Z_]+$ ]] || { fail "CapabilityBoundingSet: '$v'"; return; }
	done
	# Stopping must leave the pins: no ExecStop= (an unload would drop every tag).
	grep -qE '^ExecStop(Post)?=' "$unit_src" && { fail "ExecStop= would run at every stop"; return; }
	# Settings that break the agent (the unit's comments say how).
	for k in ProtectKernelTunables=yes PrivateNetwork=yes ProtectProc=invisible \
		PrivateUsers=yes ProtectProc=noaccess; do
		[[ $(unit_get "$unit_src" "${k%%=*}") == "${k#*=}" ]] && { fail "$k breaks the agent"; return; }
	done
	# one allow-list line: what unit_syscall_filter understands
	[[ $(grep -c '^SystemCallFilter=' "$unit_src") == 1 && $(unit_get "$unit_src" SystemCallFilter) != *'~'* ]] ||
		{ fail "SystemCallFilter= is not one allow-list line"; return; }
	[[ " $(unit_get "$unit_src" SystemCallFilter) " == *" bpf "* ]] ||
		{ fail "SystemCallFilter= does not allow bpf(2)"; return; }
	return 0
}

# systemd-analyze verify of the installed unit. It checks that ExecStart=
# is executable and that man:bpfguard(8) resolves, so the copy verified
# points into DESTDIR and MANPATH is DESTDIR's.
check_unit_verify() {
	local u
	command -v systemd-analyze >/dev/null || { fail "no systemd-analyze (package systemd, make deps)"; return; }
	command -v man >/dev/null || { fail "no man(1) for Documentation=man: (package man-db, make deps)"; return; }
	install_into PREFIX=/usr || return
	mkdir -p "$TMP/verify"
	u=$TMP/verify/bpfguard.service
	sed "s#^ExecStart=/usr/sbin/#ExecStart=$D/usr/sbin/#" "$D/usr/lib/systemd/system/bpfguard.service" >"$u"
	MANPATH=$D/usr/share/man systemd-analyze verify "$u" >"$TMP/verify.out" 2>&1 ||
		{ fail "systemd-analyze verify: $(tr '\n' ' ' <"$TMP/verify.out")"; return; }
	# it exits 0 on settings it ignores: any message is a failure
	[[ ! -s $TMP/verify.out ]] || fail "systemd-analyze verify: $(tr '\n' ' ' <"$TMP/verify.out")"
}

# ---- man page ------------------------------------------------------------

check_man_lint() {
	local w
	[[ -f $man_src ]] || { fail "missing docs/bpfguard.8"; return; }
	command -v groff >/dev/null || { fail "no groff (package groff-base, make deps)"; return; }
	command -v mandoc >/dev/null || { fail "no mandoc (make deps)"; return; }
	w=$(groff -man -Tutf8 -ww -z "$man_src" 2>&1)
	[[ -z $w ]] || { fail "groff: $w"; return; }
	w=$(mandoc -T lint -W warning "$man_src" 2>&1)
	[[ -z $w ]] || fail "mandoc: $w"
}

# man escapes '-' as '\-'
man_has() { grep -qF -- "$1" "$man_src"; }

# Every command `bpfguard --help` lists has a SYNOPSIS line and an entry in
# COMMANDS; every option of every command's --help is in the page; the exit
# codes the CLI prints are in EXIT STATUS.
check_man_covers_cli() {
	local cmds c o body
	cmds=$("$bin" --help | sed -n '/^Commands:/,/^$/s/^  \([a-z]\+\) .*/\1/p')
	[[ -n $cmds ]] || { fail "bpfguard --help lists no command"; return; }
	for c in $cmds; do
		sed -n '/^\.SH SYNOPSIS/,/^\.SH /p' "$man_src" | grep -qx "\.B $c" ||
			{ fail "SYNOPSIS lacks '$c'"; return; }
		sed -n '/^\.SH COMMANDS/,/^\.SH /p' "$man_src" | grep -qE "^\.BI? $c( |\$)" ||
			{ fail "COMMANDS lacks '$c'"; return; }
		for o in $("$bin" "$c" --help | grep -v "^Example" | grep -oE -- '(^|[ [,])--?[a-z][a-z-]*' | grep -oE -- '--?[a-z-]+' | sort -u); do
			man_has "${o//-/\\-}" || { fail "the page lacks '$o' (bpfguard $c --help)"; return; }
		done
	done
	body=$(sed -n '/^\.SH EXIT STATUS/,/^\.SH /p' "$man_src")
	"$bin" --help | grep -q '0 success, 1 runtime failure, 2 usage error' ||
		{ fail "bpfguard --help no longer states its exit codes: update this check"; return; }
	for c in 0 1 2; do
		grep -qx "\.B $c" <<<"$body" || { fail "EXIT STATUS lacks $c"; return; }
	done
}

# ---- make install / uninstall -------------------------------------------

check_install_files() {
	local n
	install_into PREFIX=/usr || return
	[[ -x $D/usr/sbin/bpfguard ]] || { fail "no executable usr/sbin/bpfguard"; return; }
	"$D/usr/sbin/bpfguard" --help >"$TMP/help" 2>&1 || { fail "installed binary: --help failed"; return; }
	grep -q '^Commands:' "$TMP/help" || { fail "installed binary: unexpected --help"; return; }
	cmp -s "$D/usr/share/man/man8/bpfguard.8" "$man_src" || { fail "usr/share/man/man8/bpfguard.8 missing or differs"; return; }
	[[ $(unit_get "$D/usr/lib/systemd/system/bpfguard.service" ExecStart) == "/usr/sbin/bpfguard agent" ]] ||
		{ fail "installed unit: ExecStart= is not /usr/sbin/bpfguard agent"; return; }
	n=$(find "$D" ! -type d | wc -l)
	((n == 9)) || fail "$n files installed, 9 expected (3 + the library's 6): $(find "$D" ! -type d | tr '\n' ' ')"
}

# An untag with no agent behind the pin dir: -ENOTCONN and a line that says so.
write_libprog() { # FILE
	cat >"$1" <<-'C'
		#include <errno.h>
		#include <stdio.h>
		#include <unistd.h>
		#include <libbpfguard.h>

		int main(void)
		{
			char msg[256] = "";
			BPFGUARD_OPTS(o, .pin_dir = "/sys/fs/bpf/bpfguard-deploy-nobody", .msg = msg,
				      .msg_len = sizeof(msg));
			int rc = bpfguard_untag(getpid(), &o);

			printf("%d %s\n", rc, msg);
			return rc == -ENOTCONN && msg[0] ? 0 : 1;
		}
	C
}

# libbpfguard promises no global state (thread-safe, any number of callers):
# its one relocatable object has nothing writable, no .data and no .bss
# (tables of constants live in .rodata or .data.rel.ro).
check_library_no_globals() {
	local obj=$out/lib/libbpfguard-all.o line bad=''
	[[ -e $obj ]] || { REASON="no $obj (make lib)"; return 1; }
	while read -r line; do
		# idx name size ...: a writable section with anything in it
		[[ $line =~ ^[0-9]+\ +(\.data|\.bss)(\.[^ ]*)?\ +([0-9a-f]+) ]] || continue
		[[ ${BASH_REMATCH[2]} == .rel.ro* ]] && continue
		((16#${BASH_REMATCH[3]} == 0)) || bad+=" ${BASH_REMATCH[1]}${BASH_REMATCH[2]} (0x${BASH_REMATCH[3]} bytes)"
	done < <(objdump -h "$obj")
	[[ -z $bad ]] || { REASON="libbpfguard has global state:$bad: $(nm "$obj" | grep -E ' [bBdD] ' | tr '\n' ' ')"; return 1; }
}

# A program built against the installed library alone, through its
# pkg-config file: the headers compile on their own, the shared object and
# the archive link and run (an untag with no agent behind the pin dir:
# -ENOTCONN and a line that says so).
check_install_library() {
	local pc prog=$TMP/libprog cflags libs got
	install_into PREFIX=/usr || return
	pc=$D/usr/lib/pkgconfig
	[[ -f $pc/libbpfguard.pc ]] || { fail "no usr/lib/pkgconfig/libbpfguard.pc"; return; }
	[[ $(readlink "$D/usr/lib/libbpfguard.so") == libbpfguard.so.0 ]] ||
		{ fail "usr/lib/libbpfguard.so is not a link to libbpfguard.so.0"; return; }
	cflags=$(PKG_CONFIG_LIBDIR=$pc PKG_CONFIG_SYSROOT_DIR=$D pkg-config --cflags libbpfguard) &&
		libs=$(PKG_CONFIG_LIBDIR=$pc PKG_CONFIG_SYSROOT_DIR=$D pkg-config --libs libbpfguard) ||
		{ fail "pkg-config cannot read the installed libbpfguard.pc"; return; }
	read -r cflags <<<"$cflags" # pkg-config ends each with a space
	read -r libs <<<"$libs"
	[[ $cflags == "-I$D/usr/include/bpfguard" && $libs == "-L$D/usr/lib -lbpfguard" ]] ||
		{ fail "libbpfguard.pc: cflags '$cflags', libs '$libs'"; return; }
	write_libprog "$prog.c"
	# shellcheck disable=SC2086
	cc -Wall -Werror $cflags "$prog.c" $libs -o "$prog.dyn" 2>"$TMP/libprog.err" ||
		{ fail "cannot build against the installed library: $(head -n 3 "$TMP/libprog.err" | tr '\n' ' ')"; return; }
	got=$(LD_LIBRARY_PATH=$D/usr/lib "$prog.dyn") ||
		{ fail "the program linked to libbpfguard.so says: $got"; return; }
	LD_LIBRARY_PATH=$D/usr/lib ldd "$prog.dyn" | grep -q "libbpfguard.so.0 => $D/usr/lib/libbpfguard.so.0" ||
		{ fail "the program does not load the installed libbpfguard.so.0: $(ldd "$prog.dyn" | tr '\n' ' ')"; return; }
	# shellcheck disable=SC2086
	cc -Wall -Werror $cflags "$prog.c" "$D/usr/lib/libbpfguard.a" -o "$prog.static" 2>"$TMP/libprog.err" ||
		{ fail "cannot link the installed libbpfguard.a: $(head -n 3 "$TMP/libprog.err" | tr '\n' ' ')"; return; }
	got=$("$prog.static") || fail "the program linked to libbpfguard.a says: $got"
}

check_install_default_prefix() {
	install_into || return
	[[ -x $D/usr/local/sbin/bpfguard && -f $D/usr/local/share/man/man8/bpfguard.8 ]] ||
		{ fail "PREFIX is not /usr/local by default"; return; }
	[[ $(unit_get "$D/usr/local/lib/systemd/system/bpfguard.service" ExecStart) == "/usr/local/sbin/bpfguard agent" ]] ||
		fail "the unit is not in usr/local/lib/systemd/system with ExecStart=/usr/local/sbin/bpfguard agent"
}

check_uninstall_leaves_nothing() {
	install_into PREFIX=/usr || return
	tree_make -C "$top" OUT="$out" DESTDIR="$D" PREFIX=/usr uninstall >"$TMP/uninstall.log" 2>&1 ||
		{ fail "make uninstall: $(tail -n 3 "$TMP/uninstall.log")"; return; }
	[[ -z $(find "$D" ! -type d) ]] || fail "left behind: $(find "$D" ! -type d | tr '\n' ' ')"
}

# ---- the agent under the unit's restrictions ---------------------------

# The agent as the unit runs it: a private mount namespace in which every
# mount is read-only but ReadWritePaths= and /run/<RuntimeDirectory=>
# (ProtectSystem=strict), no_new_privs, and the unit's capability bounding
# set (root: after exec its capabilities are that set). Other commands run
# as they are.
make_sandbox() { # [BIN] -> $TMP/sandboxed-bpfguard (BIN: default $bin)
	local rw caps bin=${1:-$bin}
	rw="$(unit_get "$unit_src" ReadWritePaths) /run/$(unit_get "$unit_src" RuntimeDirectory)"
	caps=$(unit_caps_setpriv)
	[[ -n $caps ]] || return 1
	cat >"$TMP/sandbox-inner.sh" <<EOF
#!/bin/bash
# in the new mount namespace: make it read-only, then become the agent
set -e
rw="$rw"
for p in \$rw; do
	[[ \$p == /run/* ]] && mkdir -p "\$p" # RuntimeDirectory=: systemd creates it
	mount --bind "\$p" "\$p"
done
writable() { local p; for p in \$rw; do [[ \$1 == "\$p" || \$1 == "\$p"/* ]] && return 0; done; return 1; }
while read -r _ _ _ _ mp _; do
	mp=\$(printf '%b' "\$mp")
	writable "\$mp" && continue
	mount -o remount,bind,ro "\$mp" 2>/dev/null || true
done < /proc/self/mountinfo
# no silent downgrade: the places the agent must not write are read-only
for p in / /run /tmp /sys; do
	if touch "\$p/.bpfguard-rw-probe" 2>/dev/null; then
		rm -f "\$p/.bpfguard-rw-probe"
		echo "sandbox: \$p is still writable" >&2
		exit 1
	fi
done
exec setpriv --bounding-set=-all,$caps --no-new-privs -- "$bin" "\$@"
EOF
	cat >"$TMP/sandboxed-bpfguard" <<EOF
#!/bin/bash
# exec all the way down: the agent keeps this script's pid
[[ \${1-} == agent ]] && exec unshare -m --propagation private -- bash "$TMP/sandbox-inner.sh" "\$@"
exec "$bin" "\$@"
EOF
	chmod +x "$TMP/sandboxed-bpfguard"
}

need_root_bpf() {
	(($(id -u) == 0)) || { fail "needs root"; return 1; }
	command -v setpriv >/dev/null && command -v unshare >/dev/null ||
		{ fail "needs setpriv and unshare (util-linux)"; return 1; }
	[[ -x $bin ]] || { fail "no $bin (make)"; return 1; }
}

# A few kernel tests against the sandboxed agent, in each mode this kernel has.
check_unit_sandbox_suite() {
	local modes=(user) m line
	need_root_bpf || return
	make_sandbox || { fail "no CapabilityBoundingSet= in the unit"; return; }
	grep -qw bpf_send_signal_task /proc/kallsyms 2>/dev/null && modes+=(kernel)
	for m in "${modes[@]}"; do
		MODE=$m BPFGUARD=$TMP/sandboxed-bpfguard HELPERS=$out/tests \
			bash "$top/tests/kernel/run.sh" simple_children daemon untag list status \
			>"$TMP/suite-$m.log" 2>&1
		line=$(tail -n 1 "$TMP/suite-$m.log")
		[[ $line == "5 passed, 0 failed" ]] || {
			fail "mode $m: $(grep -E '^(FAIL|run.sh:)' "$TMP/suite-$m.log" | head -n 3 | tr '\n' ' ') [$line]"
			return
		}
	done
}

# The system calls a filter entry list allows (@groups resolved by systemd).
filter_syscalls() {
	local e s
	for e; do
		if [[ $e != @* ]]; then
			echo "$e"
			continue
		fi
		systemd-analyze syscall-filter "$e" 2>/dev/null | sed -n 's/^ \+\([-@a-z0-9_]\+\)$/\1/p' |
			while read -r s; do
				if [[ $s == @* ]]; then filter_syscalls "$s"; else echo "$s"; fi
			done
	done
}

# Every system call the agent makes through a few kernel tests, in each mode,
# is one the unit's SystemCallFilter= allows. The binary traced is the one
# the image ships (built as the Dockerfile does): a sanitizer's runtime makes
# calls of its own.
check_unit_syscall_filter() {
	local modes=(user) m allowed used s f bad=''
	need_root_bpf || return
	command -v strace >/dev/null || { fail "no strace (make deps)"; return; }
	command -v systemd-analyze >/dev/null || { fail "no systemd-analyze (package systemd, make deps)"; return; }
	context_build || { fail "$CTX_ERR"; return; }
	# shellcheck disable=SC2046 # the filter is a list of words
	allowed=$(filter_syscalls $(unit_get "$unit_src" SystemCallFilter) | sort -u)
	grep -qx read <<<"$allowed" || { fail "cannot resolve the unit's SystemCallFilter="; return; }
	mkdir -p "$TMP/strace"
	cat >"$TMP/traced-bpfguard" <<EOF
#!/bin/bash
# strace -D: the tracer is a grandchild, the agent keeps this script's pid
[[ \${1-} == agent ]] && exec strace -D -f -qq -o "$TMP/strace/agent.\$\$" -- "$CTX_BIN" "\$@"
exec "$CTX_BIN" "\$@"
EOF
	chmod +x "$TMP/traced-bpfguard"
	grep -qw bpf_send_signal_task /proc/kallsyms 2>/dev/null && modes+=(kernel)
	for m in "${modes[@]}"; do
		MODE=$m BPFGUARD=$TMP/traced-bpfguard HELPERS=$out/tests \
			bash "$top/tests/kernel/run.sh" simple_children untag list status \
			>"$TMP/strace-$m.log" 2>&1
		[[ $(tail -n 1 "$TMP/strace-$m.log") == "4 passed, 0 failed" ]] ||
			{ fail "mode $m under strace: $(tail -n 1 "$TMP/strace-$m.log")"; return; }
	done
	# the calls after the agent's own execve, of every agent started
	used=$(for f in "$TMP"/strace/agent.*; do
		awk -v b="execve(\"$CTX_BIN\"" 'index($0, b) { on = 1 } on' "$f"
	done | sed -E 's/^[0-9]+ +//' | grep -oE '^[a-z_0-9]+\(' | tr -d '(' | sort -u)
	grep -qx bpf <<<"$used" || { fail "no bpf(2) in the trace: the trace is not the agent's"; return; }
	for s in $used; do
		grep -qx "$s" <<<"$allowed" || bad+=" $s"
	done
	[[ -z $bad ]] || fail "the agent calls what SystemCallFilter= denies:$bad"
}

# start_capped_agent NAME CAPS [agent args] -> A_PID, A_PIN, A_LOG; waits
# (bounded) until its status answers or it exits.
start_capped_agent() {
	local name=$1 caps=$2
	shift 2
	A_PIN=${PIN_BASE}_$name
	A_LOG=$TMP/agent-$name.log
	setpriv --bounding-set="-all${caps:+,$caps}" --no-new-privs -- \
		"$bin" agent --pin-dir "$A_PIN" "$@" >"$A_LOG" 2>&1 &
	A_PID=$!
	remember "$A_PID"
	AGENTS+=("$A_PID")
	wait_until 20 eval '! alive $A_PID || "$bin" status --pin-dir "$A_PIN" >/dev/null 2>&1'
}

stop_agent_at() { # PID PIN
	"$bin" unload --pin-dir "$2" >/dev/null 2>&1
	wait_until 10 eval "! alive $1" || safe_kill KILL "$1"
	wait "$1" 2>/dev/null
}

stat_of() { # PIN NAME -> counter value
	"$bin" status --pin-dir "$1" 2>/dev/null | grep -oE " $2=[0-9]+" | cut -d= -f2
}

# other_user_tree: a root shell (R_PID) whose child runs as nobody (C_PID).
other_user_tree() {
	rm -f "$TMP/child.pid"
	bash -c 'setpriv --reuid=65534 --regid=65534 --clear-groups sleep 1000 &
		echo $! >"$1.tmp"; mv "$1.tmp" "$1"; wait' _ "$TMP/child.pid" &
	R_PID=$!
	remember "$R_PID"
	PROCS+=("$R_PID")
	wait_until 10 test -s "$TMP/child.pid" || { fail "the test tree did not start"; return 1; }
	C_PID=$(cat "$TMP/child.pid")
	remember "$C_PID"
	PROCS+=("$C_PID")
	# its uid once setpriv has exec'd sleep
	wait_until 10 eval '[[ $(awk "/^Uid:/ { print \$2 }" /proc/$C_PID/status 2>/dev/null) == 65534 ]]' ||
		{ fail "the child did not become uid 65534"; return 1; }
}

# kill_other_user CAPS: can a user-mode agent with CAPS kill a tagged root's
# descendant that belongs to another user? Sets KILLED=yes|no.
kill_other_user() {
	KILLED=
	start_capped_agent "kill$1" "$1" --mode user || { fail "agent did not start: $(tail -n 2 "$A_LOG")"; return 1; }
	other_user_tree || return 1
	"$bin" tag "$R_PID" --pin-dir "$A_PIN" >/dev/null || { fail "tag failed"; return 1; }
	safe_kill KILL "$R_PID"
	wait "$R_PID" 2>/dev/null
	# bounded: dead, or the agent counted a failed kill
	wait_until 20 eval '! alive $C_PID || [[ $(stat_of "$A_PIN" kills_failed) -gt 0 ]]'
	if alive "$C_PID"; then KILLED=no; else KILLED=yes; fi
	safe_kill KILL "$C_PID"
	stop_agent_at "$A_PID" "$A_PIN"
}

# The unit's set is enough for the case the suite cannot show: a descendant
# owned by another user.
check_unit_caps_kill_other_user() {
	need_root_bpf || return
	kill_other_user "$(unit_caps_setpriv)" || return
	[[ $KILLED == yes ]] || fail "with the unit's capabilities the other user's descendant survived"
}

# Each capability of the unit is needed: without it the agent does not start
# or cannot kill another user's descendant. CAP_KILL is the pidfd path's: on
# a kernel with bpf_send_signal_task the agent kills without it, and this
# asserts that instead.
check_unit_caps_each_needed() {
	local all c rest
	need_root_bpf || return
	all=$(unit_caps_setpriv)
	[[ -n $all ]] || { fail "no CapabilityBoundingSet= in the unit"; return; }
	# control: with all of them it starts
	start_capped_agent all "$all" --mode user
	alive "$A_PID" || { fail "the agent does not start with $all: $(tail -n 1 "$A_LOG")"; return; }
	stop_agent_at "$A_PID" "$A_PIN"
	for c in ${all//,/ }; do
		rest=$(tr ',' '\n' <<<"$all" | grep -vx -- "$c" | paste -sd, -)
		start_capped_agent "no${c#+}" "$rest" --mode user
		if ! alive "$A_PID"; then
			wait "$A_PID" 2>/dev/null
			# needed, if it failed for want of a permission
			grep -qiE 'not permitted|lacks' "$A_LOG" ||
				{ fail "without ${c#+} the agent failed otherwise: $(tail -n 1 "$A_LOG")"; return; }
			continue
		fi
		stop_agent_at "$A_PID" "$A_PIN"
		kill_other_user "$rest" || return
		if [[ ${c#+} == kill ]] && grep -qw bpf_send_signal_task /proc/kallsyms; then
			# the agent's task iterator signals through the kfunc, which
			# needs no CAP_KILL: here it kills without it (CAP_KILL is
			# for the pidfd path, on kernels before 6.13)
			[[ $KILLED == yes ]] || { fail "without kill, on a kernel with bpf_send_signal_task, the other user's descendant survived"; return; }
			continue
		fi
		[[ $KILLED == no ]] || { fail "${c#+} is not needed: with only $rest the agent started and killed"; return; }
	done
}

# ---- the Debian packages (make deb), installed on this machine ------------

DEB_DIR=$out/deb
DEB_PKGS=(bpfguard libbpfguard0 libbpfguard-dev)
DEB_ERR=
DEB_BUILT=
DEB_MINE= # this script installed them: the exit purges them
apt_noninteractive() {
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 -y -q "$@"
}
deb_status() { # PKG -> dpkg's status word ("installed", "config-files") or nothing
	dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null
}

# make deb, once (dpkg-buildpackage, then lintian, which fails it on errors).
deb_built() {
	[[ -n $DEB_BUILT || -n $DEB_ERR ]] && { [[ -n $DEB_BUILT ]]; return; }
	DEB_ERR="make deb failed"
	local t0=$SECONDS p
	tree_make -C "$top" OUT="$out" deb >"$TMP/deb.log" 2>&1 ||
		{ DEB_ERR="make deb: $(tail -n 3 "$TMP/deb.log" | tr '\n' ' ')"; return 1; }
	for p in "${DEB_PKGS[@]}"; do
		compgen -G "$DEB_DIR/${p}_*.deb" >/dev/null || { DEB_ERR="make deb made no ${p}_*.deb"; return 1; }
	done
	DEB_BUILT="$((SECONDS - t0)) s"
	DEB_ERR=
}

deb_files() { # the three .debs, by name
	local p
	for p in "${DEB_PKGS[@]}"; do compgen -G "$DEB_DIR/${p}_*.deb"; done
}

# The build, and lintian's verdict (warnings are listed, errors fail).
check_deb_build() {
	command -v dpkg-buildpackage >/dev/null && command -v dh >/dev/null && command -v lintian >/dev/null ||
		{ fail "needs dpkg-dev, debhelper and lintian (make deps)"; return; }
	deb_built || { fail "$DEB_ERR"; return; }
	echo "NOTE make deb: $DEB_BUILT; lintian: $(grep -cE '^[EWI]: ' "$TMP/deb.log") tag(s)$(grep -E '^[EW]: ' "$TMP/deb.log" | head -n 3 | tr '\n' ' ' | sed 's/^./: &/')"
	[[ $(dpkg-deb -f "$DEB_DIR"/bpfguard_*.deb Depends) == *libbpf1* ]] ||
		{ fail "bpfguard's Depends lacks libbpf1 (\${shlibs:Depends})"; return; }
	dpkg-deb -c "$DEB_DIR"/libbpfguard0_*.deb | grep -q ' \./usr/lib/[^/]*/libbpfguard\.so\.0$' ||
		{ fail "libbpfguard0 lacks libbpfguard.so.0"; return; }
	dpkg-deb --ctrl-tarfile "$DEB_DIR"/libbpfguard0_*.deb | tar -t | grep -qx './symbols' ||
		fail "libbpfguard0 has no symbols file"
}

# apt-get install of the three .debs on this machine. An install that was
# here before is the operator's: refused, not replaced.
check_deb_install() {
	local p st
	(($(id -u) == 0)) || { fail "needs root"; return; }
	deb_built || { fail "$DEB_ERR"; return; }
	for p in "${DEB_PKGS[@]}"; do
		st=$(deb_status "$p")
		[[ -z $st || $st == not-installed ]] ||
			{ fail "$p is already on this machine ($st): not replacing it (apt-get purge it first)"; return; }
	done
	find /etc | sort >"$TMP/etc.before"
	DEB_MINE=1
	mapfile -t p < <(deb_files)
	apt_noninteractive install "${p[@]}" >"$TMP/apt-install.log" 2>&1 ||
		{ fail "apt-get install: $(tail -n 3 "$TMP/apt-install.log" | tr '\n' ' ')"; return; }
	for p in "${DEB_PKGS[@]}"; do
		[[ $(deb_status "$p") == installed ]] || { fail "$p is not installed after apt-get install"; return; }
		dpkg -L "$p" >>"$TMP/deb-files" || { fail "dpkg -L $p"; return; }
	done
	/usr/sbin/bpfguard --help >/dev/null 2>&1 || fail "the installed /usr/sbin/bpfguard --help fails"
}

deb_installed() {
	[[ -n $DEB_MINE && $(deb_status bpfguard) == installed ]] || { fail "the packages are not installed (deb_install)"; return 1; }
}

# The unit is installed and enabled the Debian way (deb-systemd-helper, as
# dh_installsystemd's postinst calls it): its symlink in multi-user.target's
# wants, ExecStart= at the installed binary, systemd-analyze verify clean.
check_deb_unit_enabled() {
	local u=/lib/systemd/system/bpfguard.service w=/etc/systemd/system/multi-user.target.wants/bpfguard.service
	local dsh=/var/lib/systemd/deb-systemd-helper-enabled
	deb_installed || return
	[[ -f $u ]] || { fail "no $u"; return; }
	[[ $(unit_get "$u" ExecStart) == "/usr/sbin/bpfguard agent" ]] || { fail "ExecStart= is '$(unit_get "$u" ExecStart)'"; return; }
	[[ -L $w && $(readlink -f "$w") == "$(readlink -f "$u")" ]] || { fail "$w is not a link to $u"; return; }
	# deb-systemd-helper's own record, which its purge removes (it answers
	# was-enabled only when called from a maintainer script)
	[[ -f $dsh/bpfguard.service.dsh-also && -f $dsh/multi-user.target.wants/bpfguard.service ]] ||
		{ fail "no deb-systemd-helper state for bpfguard.service in $dsh"; return; }
	systemd-analyze verify "$u" >"$TMP/deb-verify.out" 2>&1 && [[ ! -s $TMP/deb-verify.out ]] ||
		fail "systemd-analyze verify $u: $(tr '\n' ' ' <"$TMP/deb-verify.out")"
}

# The installed agent and CLI (/usr/sbin/bpfguard, the system's libbpf) as
# the unit runs them (its capabilities, no_new_privs, read-only mounts; see
# make_sandbox): kernel tests that kill tagged trees, one of them daemons.
check_deb_agent_kills() {
	local line
	deb_installed || return
	need_root_bpf || return
	make_sandbox /usr/sbin/bpfguard || { fail "no CapabilityBoundingSet= in the unit"; return; }
	BPFGUARD=$TMP/sandboxed-bpfguard HELPERS=$out/tests \
		bash "$top/tests/kernel/run.sh" simple_children daemon >"$TMP/deb-suite.log" 2>&1
	line=$(tail -n 1 "$TMP/deb-suite.log")
	[[ $line == "2 passed, 0 failed" ]] ||
		fail "$(grep -E '^(FAIL|run.sh:)' "$TMP/deb-suite.log" | head -n 3 | tr '\n' ' ') [$line]"
}

# The packaged unit, started by systemd itself: a root `systemd --user`
# manager (PID 1 is not systemd here) runs /lib/systemd/system/bpfguard.service
# with every sandboxing setting, through tests/deploy/systemd-user-manager.sh
# (its INSTALLED=1 mode: the package's unit and /usr/sbin/bpfguard).
check_deb_unit_under_systemd() {
	local line
	deb_installed || return
	[[ -d /run/systemd/system ]] && { fail "PID 1 is systemd here: systemctl start bpfguard instead"; return; }
	INSTALLED=1 OUT=$out bash "$top/tests/deploy/systemd-user-manager.sh" >"$TMP/deb-sd.log" 2>&1
	line=$(tail -n 1 "$TMP/deb-sd.log")
	[[ $line =~ ^[1-9][0-9]*\ passed,\ 0\ failed$ ]] ||
		fail "$(grep -E '^FAIL' "$TMP/deb-sd.log" | head -n 2 | tr '\n' ' ') [$line]"
}

# A program built against libbpfguard-dev through pkg-config, as a user of
# the package would (no paths given), linked to the system's shared object
# and to the archive; both run.
check_deb_dev_pkgconfig() {
	local prog=$TMP/debprog cflags libs got a
	deb_installed || return
	cflags=$(pkg-config --cflags libbpfguard) && libs=$(pkg-config --libs libbpfguard) ||
		{ fail "pkg-config does not find libbpfguard"; return; }
	read -r cflags <<<"$cflags"
	[[ $cflags == -I/usr/include/bpfguard ]] || { fail "pkg-config --cflags: '$cflags'"; return; }
	write_libprog "$prog.c"
	# shellcheck disable=SC2086
	cc -Wall -Werror $cflags "$prog.c" $libs -o "$prog.dyn" 2>"$TMP/debprog.err" ||
		{ fail "cannot build against libbpfguard-dev: $(head -n 3 "$TMP/debprog.err" | tr '\n' ' ')"; return; }
	got=$("$prog.dyn") || { fail "the program linked to the system's libbpfguard.so says: $got"; return; }
	ldd "$prog.dyn" | grep -qE 'libbpfguard\.so\.0 => /(usr/)?lib/[^/]+/libbpfguard\.so\.0' ||
		{ fail "the program does not load the packaged libbpfguard.so.0: $(ldd "$prog.dyn" | tr '\n' ' ')"; return; }
	a=$(dpkg -L libbpfguard-dev | grep '/libbpfguard\.a$')
	# shellcheck disable=SC2086
	cc -Wall -Werror $cflags "$prog.c" "$a" -o "$prog.static" 2>"$TMP/debprog.err" ||
		{ fail "cannot link $a: $(head -n 3 "$TMP/debprog.err" | tr '\n' ' ')"; return; }
	got=$("$prog.static") || fail "the program linked to $a says: $got"
}

# apt-get purge leaves no file the packages installed (every path dpkg -L
# listed that is not a directory, and the packages' own directories), no
# dpkg state, and nothing new in /etc (the unit's enablement symlink, the
# deb-systemd-helper state).
check_deb_purge_leaves_nothing() {
	local f left='' new
	deb_installed || return
	apt_noninteractive purge "${DEB_PKGS[@]}" >"$TMP/apt-purge.log" 2>&1 ||
		{ fail "apt-get purge: $(tail -n 3 "$TMP/apt-purge.log" | tr '\n' ' ')"; return; }
	DEB_MINE=
	for f in "${DEB_PKGS[@]}"; do
		[[ -z $(deb_status "$f") || $(deb_status "$f") == not-installed ]] ||
			{ fail "$f is still known to dpkg: $(deb_status "$f")"; return; }
	done
	while read -r f; do
		[[ -e $f || -L $f ]] || continue
		# shared directories (and usrmerge's /lib link) stay
		[[ -d $f && $f != */bpfguard* && $f != */libbpfguard* ]] && continue
		left+=" $f"
	done <"$TMP/deb-files"
	[[ -z $left ]] || { fail "left behind:$left"; return; }
	new=$(find /etc | sort | comm -13 "$TMP/etc.before" - | tr '\n' ' ')
	[[ -z $new ]] || { fail "new in /etc after the purge: $new"; return; }
	new=$(find /etc /var/lib/systemd -name '*bpfguard*' 2>/dev/null | tr '\n' ' ')
	[[ -z $new ]] || fail "left behind: $new"
}

# At exit: what this script installed goes, whatever failed.
deb_purge_mine() {
	[[ -n $DEB_MINE ]] || return 0
	apt_noninteractive purge "${DEB_PKGS[@]}" >/dev/null 2>&1
	DEB_MINE=
}

# ---- main ----------------------------------------------------------------

if [[ ${1-} == --list ]]; then
	printf '%s\n' "${CHECKS[@]}"
	exit 0
fi
sel=("$@")
((${#sel[@]})) || sel=("${CHECKS[@]}")
for name in "${sel[@]}"; do
	if ! declare -F "check_$name" >/dev/null; then
		echo "FAIL $name: no such check"
		failed=$((failed + 1))
		continue
	fi
	REASON=
	if "check_$name" && [[ -z $REASON ]]; then
		echo "PASS $name"
		passed=$((passed + 1))
	else
		echo "FAIL $name: ${REASON:-failed}"
		failed=$((failed + 1))
	fi
done
echo "$passed passed, $failed failed"
((failed == 0))
