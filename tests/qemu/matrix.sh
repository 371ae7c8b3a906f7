#!/usr/bin/env bash
# Kernel matrix: boot other kernels under qemu (TCG) with an initramfs that
# holds statically linked bpfguard, the kernel test suite and its helpers, run
# the suite inside each guest, print one summary line per kernel.
#
# Usage: tests/qemu/matrix.sh [KERNEL_PACKAGE...]
# Env:   OUT (default build), QEMU_TIMEOUT seconds per guest (default 900 per
#        guest running at once),
#        QEMU_JOBS guests at a time (default 2),
#        T=name[,name...] to run only those tests of the suite in the guests.
# Kernels come from Debian's archive (apt-get download), cached in $OUT/kernels.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
out=${OUT:-$top/build}
[[ $out = /* ]] || out=$top/$out
work=$out/qemu
kdir=$out/kernels

die() { echo "matrix: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (apt-get, and the guests run the root test suite)"

# the tests the guests run (empty: all), checked here rather than in a guest
tests=$(echo "${T:-}" | tr ',' ' ')
if [ -n "$tests" ]; then
	known=$(bash "$top/tests/kernel/run.sh" --list)
	for t in $tests; do
		echo "$known" | grep -qx -- "$t" || die "unknown test '$t' (tests/kernel/run.sh --list)"
	done
fi

need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
[ -x /bin/busybox ] && /bin/busybox --list 2>/dev/null | grep -qx poweroff || need+=(busybox-static)
[ -x /bin/bash-static ] || need+=(bash-static)
command -v cpio >/dev/null || need+=(cpio)
if [ ${#need[@]} -gt 0 ]; then
	echo "matrix: installing ${need[*]}"
	apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null ||
		die "cannot install ${need[*]}"
fi

# Which kernels: the newest Debian 12 6.1 cloud image, and the newest 6.12
# (bookworm's backport) when the archive has one.
pick() { apt-cache search --names-only "^linux-image-$1.*-cloud-amd64-unsigned\$" | awk '{print $1}' | sort -V | tail -n 1; }
if [ $# -gt 0 ]; then
	pkgs=("$@")
else
	apt-cache search --names-only '^linux-image-6\.1\.0-.*-cloud-amd64-unsigned$' | grep -q . ||
		apt-get update -q >/dev/null || true
	pkgs=()
	for v in '6\.1\.0-[0-9]+' '6\.12\.[0-9]+\+deb12'; do
		p=$(pick "$v")
		[ -n "$p" ] && pkgs+=("$p")
	done
	[ ${#pkgs[@]} -gt 0 ] || die "no linux-image-*-cloud-amd64-unsigned package found (apt-get update?)"
fi

mkdir -p "$work" "$kdir"

# Static binaries: the guests have no libc of ours.
echo "matrix: building static binaries"
make -C "$top" --no-print-directory OUT="$out" all "$out/static/bpfguard" \
	"$out/tests/gothread" "$out/tests/bpfguard-go.test" >/dev/null || die "the static build failed"
static=$work/static
mkdir -p "$static/helpers"
cp "$out/static/bpfguard" "$static/bpfguard"
for src in "$top"/tests/kernel/helpers/*.c; do
	# libdemo links libbpfguard (the archive adds nothing to the others)
	cc -static -O2 -pthread -I"$top/include" -o "$static/helpers/$(basename "$src" .c)" "$src" \
		"$out/libbpfguard.a"
done
# The Go examples are static already; without Go the guests' go_example
# test fails and says so.
make -C "$top" --no-print-directory OUT="$out" examples >/dev/null ||
	echo "matrix: no Go example (make examples failed): go_example will fail in the guests"
# the Go helper and go/bpfguard's test binary are static already
# (CGO_ENABLED=0); without go their tests (go_thread_child, go_client) fail
for g in gothread bpfguard-go.test; do
	rm -f "$static/helpers/$g"
	[ -x "$out/tests/$g" ] && cp "$out/tests/$g" "$static/helpers/$g"
done

# initramfs: busybox applets, bash, the suite.
root=$work/root
rm -rf "$root"
mkdir -p "$root"/{bin,sbin,proc,sys,dev,run,tmp,etc,t/helpers,sys/fs/bpf}
cp /bin/busybox "$root/bin/busybox"
for a in $(/bin/busybox --list); do
	[ -e "$root/bin/$a" ] || ln -s busybox "$root/bin/$a"
done
cp /bin/bash-static "$root/bin/bash"
cp "$static/bpfguard" "$root/t/bpfguard"
cp "$static"/helpers/* "$root/t/helpers/"
for g in bpfguard-go bpfguard-cgo; do
	if [ -x "$out/examples/$g" ]; then
		mkdir -p "$root/t/examples"
		cp "$out/examples/$g" "$root/t/examples/"
	fi
done
# the suite: the runner, its helpers, the area files; the names to run
mkdir -p "$root/t/lib"
cp "$top"/tests/kernel/run.sh "$top"/tests/kernel/t[0-9][0-9]_*.sh "$root/t/"
cp "$top"/tests/kernel/lib/*.sh "$root/t/lib/"
echo "$tests" >"$root/t/tests"
# every bound that waits on the agent or a helper: 4x under TCG, and 4x
# more for each further guest that shares the host's cores with this one
jobs_max=${QEMU_JOBS:-2}
n=$((${#pkgs[@]} < jobs_max ? ${#pkgs[@]} : jobs_max))
echo $((4 * n)) >"$root/t/bound"
timeout_s=${QEMU_TIMEOUT:-$((900 * n))}
echo "root:x:0:0:root:/:/bin/sh" >"$root/etc/passwd"
echo "root:x:0:" >"$root/etc/group"
cat >"$root/init" <<'EOF'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
ip link set lo up # the metrics test talks to 127.0.0.1
# the stuck-member tests serve FUSE: a kernel that has it as a module gets
# it from this kernel's package (added to the initramfs per guest)
[ -c /dev/fuse ] || [ ! -f /t/modules/fuse.ko ] || insmod /t/modules/fuse.ko
echo "guest: kernel $(uname -r)"
# random_trees: 50 trees, not 500, and fork_storm: 20 rounds, not 50: TCG
# runs them some 10-20x slower (the host runs them whole); and every bound
# that waits on the agent or a helper longer (BOUND, /t/bound)
read -r bound </t/bound
export PATH=/bin:/sbin BPFGUARD=/t/bpfguard HELPERS=/t/helpers TMPDIR=/tmp TREES=50 STORM_ROUNDS=20 BOUND=$bound
read -r tests </t/tests
# shellcheck disable=SC2086 # names, one word each
/bin/bash /t/run.sh $tests > /tmp/log 2>&1
rc=$?
cat /tmp/log
echo "guest-result: rc=$rc $(tail -n 1 /tmp/log)"
poweroff -f
EOF
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc 2>/dev/null | gzip -1) >"$work/initrd.gz"

# fetch PKG: the kernel package, downloaded once into $kdir and unpacked.
fetch() {
	local pkg=$1 deb
	deb=$(ls "$kdir"/"${pkg}"_*.deb 2>/dev/null | head -n 1 || true)
	if [ -z "$deb" ]; then
		echo "matrix: downloading $pkg"
		# _apt cannot write here; apt warns and downloads as root: fine
		(cd "$kdir" && apt-get download -q "$pkg" >"$work/download.log" 2>&1) ||
			die "cannot download $pkg: $(tail -n 1 "$work/download.log")"
		deb=$(ls "$kdir"/"${pkg}"_*.deb | head -n 1)
	fi
	[ -d "$kdir/$pkg" ] || dpkg -x "$deb" "$kdir/$pkg"
}

# guest PKG: boot it, run the suite, write "$work/$pkg.result": one line,
# "COUNTS" and the guest's rc, or "NO RESULT ...". Its FAIL lines go to
# "$work/$pkg.fails".
guest() {
	local pkg=$1 x=$kdir/$1 vmlinuz log initrd ko crash boot qrc line counts rc extra
	vmlinuz=$(ls "$x"/boot/vmlinuz-* | head -n 1)
	log=$work/$pkg.log
	# FUSE as an (uncompressed) module: a second cpio archive with it,
	# appended (the kernel unpacks concatenated archives in turn)
	initrd=$work/initrd.gz
	ko=$(find "$x"/lib/modules -path '*/fs/fuse/fuse.ko' 2>/dev/null | head -n 1)
	if [ -n "$ko" ]; then
		extra=$work/extra-$pkg
		rm -rf "$extra"
		mkdir -p "$extra/t/modules"
		cp "$ko" "$extra/t/modules/fuse.ko"
		initrd=$work/initrd-$pkg.gz
		{ cat "$work/initrd.gz"; (cd "$extra" && find . | cpio -o -H newc 2>/dev/null | gzip -1); } >"$initrd"
	fi
	# KVM hangs on this kind of host (shared/KERNEL_NOTES.md): plain TCG.
	# A guest kernel that crashes while it boots, before /init has run
	# (seen: an int3 oops in early boot code under multi-threaded TCG), has
	# run no test: it is booted again, at most twice, and says so. A guest
	# that reached /init is never rerun, whatever its result, nor one that
	# hung.
	crash='Oops|Kernel panic|BUG'
	rm -f "$log".boot*
	for boot in 1 2 3; do
		echo "matrix: booting $(basename "$vmlinuz") under qemu (TCG), log $log"
		qrc=0
		timeout "$timeout_s" qemu-system-x86_64 -cpu max -m 1024 -smp 2 -nographic -no-reboot \
			-kernel "$vmlinuz" -initrd "$initrd" \
			-append "console=ttyS0 quiet panic=-1 rdinit=/init" </dev/null >"$log" 2>&1 || qrc=$?
		# (not anchored: the console's escape sequences come first)
		grep -aq 'guest: kernel ' "$log" && break
		# a hang (timeout's 124) is not retried: it would cost the timeout again
		[ "$qrc" != 124 ] && grep -aqE "$crash" "$log" && [ "$boot" -lt 3 ] || break
		mv "$log" "$log.boot$boot"
		echo "matrix: the guest crashed while booting, before /init ($(grep -aoE -m 1 "($crash)[[:print:]]*" "$log.boot$boot" | cut -c 1-100)); kept as $log.boot$boot"
	done
	grep -a '^FAIL' "$log" | tr -d '\r' | sed "s/^/  $pkg: /" >"$work/$pkg.fails" || true
	line=$(grep -a 'guest-result:' "$log" | tail -n 1 | tr -d '\r' || true)
	if [ -z "$line" ]; then
		echo "NO RESULT (guest crashed or timed out after ${timeout_s}s; see $log)" >"$work/$pkg.result"
		return
	fi
	counts=$(echo "$line" | sed -n 's/.*rc=\([0-9]*\) \(.*\)$/\2/p')
	rc=$(echo "$line" | sed -n 's/.*rc=\([0-9]*\).*/\1/p')
	echo "$counts rc=$rc" >"$work/$pkg.result"
	echo "matrix: $pkg done: $counts ($SECONDS s into the matrix)"
}

# The guests run side by side (QEMU_JOBS at a time, default 2): the suite
# mostly waits on the agent and its trees, so two emulated machines share
# the host's cores with little loss, and the matrix takes the time of its
# slowest guest rather than the sum (the bounds scale: BOUND in /init).
for pkg in "${pkgs[@]}"; do fetch "$pkg"; done
pids=()
for pkg in "${pkgs[@]}"; do
	rm -f "$work/$pkg.result" "$work/$pkg.fails"
	while [ "$(jobs -pr | wc -l)" -ge "$jobs_max" ]; do wait -n || true; done
	guest "$pkg" &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || true; done

summary=()
fail=0
for pkg in "${pkgs[@]}"; do
	r=$(cat "$work/$pkg.result" 2>/dev/null || echo "NO RESULT (the guest's runner stopped)")
	case $r in
	"NO RESULT"*) summary+=("$pkg: $r"); fail=1 ;;
	*)
		summary+=("$pkg: ${r% rc=*}")
		[ "${r##* rc=}" = 0 ] || fail=1
		;;
	esac
	cat "$work/$pkg.fails" 2>/dev/null || true
done

echo
echo "kernel matrix:"
for s in "${summary[@]}"; do echo "  $s"; done
exit $fail
