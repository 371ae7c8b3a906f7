# bpfguard: `make` builds build/bpfguard; `make run` and `make test` first
# install what a fresh Debian 12 machine is missing. `make V=1` shows commands.

OUT      := build
CLANG    ?= clang
BPFTOOL  ?= bpftool
CC       ?= cc
ARCH     := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')

# What a fresh Debian 12 needs to build and test (installed by `make deps`).
DEB_PKGS := clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config \
            libcmocka-dev gcc make golang-go libclang-rt-14-dev valgrind \
            python3-yaml groff-base mandoc systemd man-db strace \
            debhelper dpkg-dev lintian podman runc mmdebstrap python3-kubernetes
# (python3-yaml to strace: tests/deploy/check.sh parses deploy/ YAML, lints
# the man page, runs systemd-analyze verify, which looks the page up with
# man, and traces the agent's system calls against the unit's
# SystemCallFilter=; debhelper to lintian: `make deb`, which check.sh runs;
# podman, runc, mmdebstrap: make test-container; python3-kubernetes: the
# DaemonSet against the API schema)

# `make install` / `make uninstall`: the binary, bpfguard(8), the systemd
# unit and the client library (headers under include/bpfguard/, the archive,
# the shared object, libbpfguard.pc) under $(DESTDIR)$(PREFIX). Nothing
# outside it is touched, nothing is started or reloaded (systemctl
# daemon-reload and ldconfig are yours to run).
PREFIX       ?= /usr/local
SBINDIR      ?= $(PREFIX)/sbin
MANDIR       ?= $(PREFIX)/share/man
UNITDIR      ?= $(PREFIX)/lib/systemd/system
INCLUDEDIR   ?= $(PREFIX)/include
LIBDIR       ?= $(PREFIX)/lib
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig

LIBBPF_CFLAGS := $(shell pkg-config --cflags libbpf 2>/dev/null)
LIBBPF_LIBS   := $(shell pkg-config --libs libbpf 2>/dev/null || echo -lbpf) -lelf -lz

WARN     := -Wall -Wextra -Werror
CFLAGS   ?= -O2 -g
CFLAGS   += $(WARN) -std=gnu11 -D_GNU_SOURCE -Iinclude -Iuser -I$(OUT) $(LIBBPF_CFLAGS) -MMD -MP
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) $(WARN) \
              -Wno-unused-parameter -Ivmlinux -Iinclude -Ibpf

# SANITIZE=1: AddressSanitizer + UBSan for the agent, CLI and unit tests
# (use its own OUT, e.g. `make test SANITIZE=1 OUT=build/asan`).
ifeq ($(SANITIZE),1)
CFLAGS  += -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
endif

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

BPF_SRCS  := $(wildcard bpf/*.bpf.c)
# user/agent/: the agent's own modules (README.md, "Layout")
USER_SRCS := $(wildcard user/*.c user/agent/*.c)
USER_OBJS := $(patsubst user/%.c,$(OUT)/obj/%.o,$(USER_SRCS))
# Everything but main.c, so unit tests can link a module with its neighbours.
LIB_OBJS  := $(filter-out $(OUT)/obj/main.o,$(USER_OBJS))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(OUT)/tests/%,$(UNIT_SRCS))
HELPER_SRCS := $(wildcard tests/kernel/helpers/*.c)
HELPER_BINS := $(patsubst tests/kernel/helpers/%.c,$(OUT)/tests/%,$(HELPER_SRCS))
# The Go helper (tests/kernel/helpers/gothread): static (CGO_ENABLED=0), so it
# runs in the qemu guests too. Without go it is not built, and the one test
# that needs it fails saying so. (GO, GO_ENV: see make examples.)
GOTHREAD := $(OUT)/tests/gothread
GO_SRCS  := $(wildcard tests/kernel/helpers/gothread/*.go) tests/kernel/helpers/gothread/go.mod
# The pure-Go client (go/bpfguard): the kernel suite's go_client runs its
# test binary against the suite's agent; static too. `make go-unit` runs its
# tests that need no agent.
GOCLIENT_TEST := $(OUT)/tests/bpfguard-go.test
GOCLIENT_SRCS := $(wildcard go/bpfguard/*.go) go/bpfguard/go.mod

.DELETE_ON_ERROR:
# keep the BPF object between the compile and the skeleton steps
.SECONDARY:
.PHONY: all deps run test unit ktest ktest-bins test-kernels test-bins bench vmlinux clean \
        install uninstall lib examples fuzz fuzz-bins stress go-unit deb test-container

all: $(OUT)/bpfguard lib

$(OUT) $(OUT)/obj $(OUT)/tests:
	$(Q)mkdir -p $@

# BPF sources -> objects -> one linked object -> its skeleton header
# (generated, never committed). One object: libbpf reads the kernel's BTF
# once per object it loads, which is most of an agent's start under valgrind.
$(OUT)/bpf/%.o: bpf/%.bpf.c vmlinux/vmlinux.h
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) -MMD -MP -MF $(OUT)/bpf/$*.d -MT $@ -c $< -o $@

$(OUT)/bpfguard.bpf.o: $(patsubst bpf/%.bpf.c,$(OUT)/bpf/%.o,$(BPF_SRCS)) | $(OUT)
	$(call msg,LINK-BPF,$@)
	$(Q)$(BPFTOOL) gen object $@ $^

$(OUT)/bpfguard.skel.h: $(OUT)/bpfguard.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name bpfguard > $@

SKELS := $(OUT)/bpfguard.skel.h
$(USER_OBJS): $(SKELS)

$(OUT)/obj/%.o: user/%.c | $(OUT)/obj
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(OUT)/bpfguard: $(USER_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(LIBBPF_LIBS) -o $@

# The same, statically linked, for the qemu guests (tests/qemu/matrix.sh).
$(OUT)/static/bpfguard: $(USER_OBJS)
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -static $(LDFLAGS) $^ -lbpf -lelf -lz -o $@

$(OUT)/tests/test_%: tests/unit/test_%.c $(LIB_OBJS) | $(OUT)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $< $(LIB_OBJS) $(LIBBPF_LIBS) -lcmocka -o $@

# The library is linked into every helper: only libdemo uses it.
$(OUT)/tests/%: tests/kernel/helpers/%.c tests/kernel/helpers/helper.h $(OUT)/libbpfguard.a | $(OUT)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) -O2 -g $(WARN) -D_GNU_SOURCE -pthread -Iinclude $< $(OUT)/libbpfguard.a -o $@

test-bins: $(UNIT_BINS) $(HELPER_BINS) $(GOTHREAD) $(GOCLIENT_TEST) examples

# ---- libbpfguard: the client library (include/libbpfguard.h) ----
# Its own objects: position-independent, not sanitized (any program can
# link them; the CLI's copy of the same sources is, under SANITIZE=1), and
# with hidden visibility, so that the archive, once its internal symbols are
# made local, and the shared object export bpfguard_* alone.
LIBBG_SRCS   := user/libbpfguard.c user/libbpfguard_job.c user/control.c user/parse.c
LIBBG_OBJS   := $(patsubst user/%.c,$(OUT)/lib/%.o,$(LIBBG_SRCS))
LIBBG_CFLAGS := -O2 -g $(WARN) -std=gnu11 -D_GNU_SOURCE -Iinclude -Iuser -fPIC \
                -fvisibility=hidden -MMD -MP
LIBBG_ABI    := 0
LIBBG_SONAME := libbpfguard.so.$(LIBBG_ABI)
# extra link flags for the shared object only (debian/rules: the hardening
# ones; LDFLAGS may carry the sanitizers, which the library must not)
LIBBG_LDFLAGS ?=

lib: $(OUT)/libbpfguard.a $(OUT)/libbpfguard.so

$(OUT)/lib:
	$(Q)mkdir -p $@

$(OUT)/lib/%.o: user/%.c | $(OUT)/lib
	$(call msg,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) $(LIBBG_CFLAGS) -c $< -o $@

# one relocatable object, then every hidden symbol made local: ctl_call or
# parse_pid cannot clash with a program's own
$(OUT)/lib/libbpfguard-all.o: $(LIBBG_OBJS)
	$(call msg,LD,$@)
	$(Q)$(CC) -r -nostdlib $^ -o $@.tmp
	$(Q)objcopy --localize-hidden $@.tmp $@ && rm -f $@.tmp

$(OUT)/libbpfguard.a: $(OUT)/lib/libbpfguard-all.o
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(OUT)/$(LIBBG_SONAME): $(LIBBG_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) -shared -Wl,-soname,$(LIBBG_SONAME) -Wl,-z,defs $(LIBBG_LDFLAGS) $^ -o $@

$(OUT)/libbpfguard.so: $(OUT)/$(LIBBG_SONAME)
	$(Q)ln -sf $(LIBBG_SONAME) $@

# ---- make examples: examples/go (pure Go, go/bpfguard) and examples/cgo
# (cgo against build/libbpfguard.a) ----
# Go from Debian (golang-go). Its caches under $(OUT), no network (the
# modules require nothing but go/bpfguard, by a replace to its directory),
# no user configuration. Both static, so that the same binaries run in the
# qemu guests (tests/qemu/matrix.sh).
GO     ?= go
GO_ENV := GOCACHE=$(abspath $(OUT))/go/cache GOPATH=$(abspath $(OUT))/go/path \
          GOENV=off GOFLAGS=-mod=readonly GOPROXY=off GOTOOLCHAIN=local \
          CGO_ENABLED=1 CC="$(CC)" CGO_LDFLAGS="-L$(abspath $(OUT))"
GO_CHECK = @command -v $(GO) >/dev/null || \
	  { echo "make examples: no Go toolchain (\`make deps\` installs golang-go)" >&2; exit 1; }

examples: $(OUT)/examples/bpfguard-go $(OUT)/examples/bpfguard-cgo

$(OUT)/examples/bpfguard-go: examples/go/main.go examples/go/go.mod $(GOCLIENT_SRCS)
	$(call msg,GO,$@)
	$(GO_CHECK)
	$(Q)mkdir -p $(@D)
	$(Q)cd examples/go && env $(GO_ENV) CGO_ENABLED=0 $(GO) build -trimpath -o $(abspath $@) .

$(OUT)/examples/bpfguard-cgo: examples/cgo/main.go examples/cgo/go.mod $(OUT)/libbpfguard.a \
			      include/libbpfguard.h include/ctl.h
	$(call msg,GO,$@)
	$(GO_CHECK)
	$(Q)mkdir -p $(@D)
	$(Q)cd examples/cgo && env $(GO_ENV) $(GO) build -trimpath \
	  -ldflags '-linkmode external -extldflags -static' -o $(abspath $@) .

$(GOTHREAD): $(GO_SRCS) | $(OUT)/tests
	$(call msg,GO,$@)
	$(Q)if ! command -v $(GO) >/dev/null 2>&1; then \
	  echo "warning: no $(GO) (make deps installs golang-go): $@ not built, test go_thread_child will fail" >&2; \
	else \
	  cd tests/kernel/helpers/gothread && env $(GO_ENV) CGO_ENABLED=0 \
	    $(GO) build -trimpath -buildvcs=false -o $(abspath $@) .; \
	fi

$(GOCLIENT_TEST): $(GOCLIENT_SRCS) | $(OUT)/tests
	$(call msg,GO-TEST,$@)
	$(Q)if ! command -v $(GO) >/dev/null 2>&1; then \
	  echo "warning: no $(GO) (make deps installs golang-go): $@ not built, test go_client will fail" >&2; \
	else \
	  cd go/bpfguard && env $(GO_ENV) CGO_ENABLED=0 \
	    $(GO) test -c -trimpath -o $(abspath $@) .; \
	fi

# go/bpfguard's tests, those that need no agent (they skip the others):
# the wire layout and socket path against the C headers and user/parse.c,
# errors, the peer check and Command against fake listeners.
go-unit:
	$(Q)command -v $(GO) >/dev/null || \
	  { echo "make go-unit: no Go toolchain (\`make deps\` installs golang-go)" >&2; exit 1; }
	$(Q)cd go/bpfguard && env $(GO_ENV) CGO_ENABLED=0 $(GO) test -count=1 -v .

# Install what is missing (root, apt). Quiet and quick when all is there.
deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "make deps: run as root to install:$$missing" >&2; exit 1; fi; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi

# Set up, build, start the agent in the foreground (Ctrl-C stops it; tags stay).
run: deps
	$(Q)$(MAKE) --no-print-directory all
	./$(OUT)/bpfguard agent

unit: $(UNIT_BINS)
	@fail=0; for t in $(UNIT_BINS); do ./$$t || fail=1; done; exit $$fail

# The kernel suite's tests by name: T=name[,name...] (tests/kernel/run.sh --list).
comma := ,
KTESTS = $(subst $(comma), ,$(T))
KSUITE_ENV = BPFGUARD=$(CURDIR)/$(OUT)/bpfguard HELPERS=$(CURDIR)/$(OUT)/tests

# MODE=user|kernel to pick the agent's mode (default: auto); T= some tests
ktest: ktest-bins
	$(KSUITE_ENV) bash tests/kernel/run.sh $(KTESTS)

# The random_trees kernel test at length: TREES (default 5000) random trees,
# once per mode the running kernel supports; SEED=S replays a run.
stress: all $(HELPER_BINS)
	$(Q)TREES=$${TREES:-5000} $(KSUITE_ENV) bash tests/kernel/modes.sh random_trees

# The kernel suite again, inside Debian's 6.1 and 6.12 kernels under qemu
# (T= some of its tests only).
test-kernels: all
	OUT=$(OUT) T=$(T) bash tests/qemu/matrix.sh

# Set up, build, run every test: unit tests, the kernel suite on the running
# kernel in each mode it supports, then the same suite on the other kernels
# of the matrix (tests/run-all.sh).
# The last line is the total: `N passed, M failed`.
# T=name[,name...]: only those kernel tests, once per mode the running
# kernel supports (no deps, no other test).
ifeq ($(T),)
test: deps
	$(Q)$(MAKE) --no-print-directory all test-bins
	$(Q)OUT=$(OUT) SANITIZE=$(SANITIZE) bash tests/run-all.sh
else
test: ktest-bins
	$(Q)$(KSUITE_ENV) bash tests/kernel/modes.sh $(KTESTS)
endif

# What the kernel suite runs: the binary, its helpers, the Go ones, the examples.
ktest-bins: all $(HELPER_BINS) $(GOTHREAD) $(GOCLIENT_TEST) examples

# The image built from deploy/Dockerfile without a registry and run with
# podman as the DaemonSet runs it (tests/deploy/container.sh; root).
test-container: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)OUT=$(OUT) bash tests/deploy/container.sh

# The unit names the installed binary: its ExecStart= is rewritten to SBINDIR.
install: all
	$(call msg,INSTALL,$(DESTDIR)$(PREFIX))
	$(Q)install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(UNITDIR)
	$(Q)install -m 0755 $(OUT)/bpfguard $(DESTDIR)$(SBINDIR)/bpfguard
	$(Q)install -m 0644 docs/bpfguard.8 $(DESTDIR)$(MANDIR)/man8/bpfguard.8
	$(Q)sed 's|^ExecStart=/usr/local/sbin/bpfguard |ExecStart=$(SBINDIR)/bpfguard |' \
	  deploy/systemd/bpfguard.service > $(DESTDIR)$(UNITDIR)/bpfguard.service.tmp
	$(Q)grep -q '^ExecStart=$(SBINDIR)/bpfguard agent$$' $(DESTDIR)$(UNITDIR)/bpfguard.service.tmp || \
	  { rm -f $(DESTDIR)$(UNITDIR)/bpfguard.service.tmp; echo "install: ExecStart= not rewritten" >&2; exit 1; }
	$(Q)chmod 0644 $(DESTDIR)$(UNITDIR)/bpfguard.service.tmp
	$(Q)mv $(DESTDIR)$(UNITDIR)/bpfguard.service.tmp $(DESTDIR)$(UNITDIR)/bpfguard.service
	$(Q)install -d $(DESTDIR)$(INCLUDEDIR)/bpfguard $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR)
	$(Q)install -m 0644 include/libbpfguard.h include/ctl.h $(DESTDIR)$(INCLUDEDIR)/bpfguard/
	$(Q)install -m 0644 $(OUT)/libbpfguard.a $(DESTDIR)$(LIBDIR)/libbpfguard.a
	$(Q)install -m 0755 $(OUT)/$(LIBBG_SONAME) $(DESTDIR)$(LIBDIR)/$(LIBBG_SONAME)
	$(Q)ln -sf $(LIBBG_SONAME) $(DESTDIR)$(LIBDIR)/libbpfguard.so
	$(Q)printf '%s\n' 'includedir=$(INCLUDEDIR)' 'libdir=$(LIBDIR)' '' \
	  'Name: libbpfguard' \
	  'Description: bpfguard client: tag processes whose descendants die with them' \
	  'Version: $(LIBBG_ABI)' \
	  'Cflags: -I$${includedir}/bpfguard' \
	  'Libs: -L$${libdir} -lbpfguard' > $(DESTDIR)$(PKGCONFIGDIR)/libbpfguard.pc

# Files only: the standard directories stay, even when empty.
uninstall:
	$(call msg,UNINSTALL,$(DESTDIR)$(PREFIX))
	$(Q)rm -f $(DESTDIR)$(SBINDIR)/bpfguard $(DESTDIR)$(MANDIR)/man8/bpfguard.8 \
	  $(DESTDIR)$(UNITDIR)/bpfguard.service \
	  $(DESTDIR)$(INCLUDEDIR)/bpfguard/libbpfguard.h $(DESTDIR)$(INCLUDEDIR)/bpfguard/ctl.h \
	  $(DESTDIR)$(LIBDIR)/libbpfguard.a $(DESTDIR)$(LIBDIR)/$(LIBBG_SONAME) \
	  $(DESTDIR)$(LIBDIR)/libbpfguard.so $(DESTDIR)$(PKGCONFIGDIR)/libbpfguard.pc
	$(Q)rmdir $(DESTDIR)$(INCLUDEDIR)/bpfguard 2>/dev/null || true

# ---- make deb: bpfguard, libbpfguard0, libbpfguard-dev in $(OUT)/deb ----
# Debian's own tooling (debhelper, deploy/debian/README.source says why the
# packaging is not a top-level debian/): a copy of the tree without build
# output in $(OUT)/deb/src, deploy/debian as its debian/, dpkg-buildpackage
# there (it writes the .debs one level up, in $(OUT)/deb), then lintian,
# which fails the target on any error. DEB_BUILD_OPTIONS's parallel= is
# kept to at most 2 jobs (a shared machine) unless set.
DEB_DIR := $(OUT)/deb
# OUT as tar sees it from the top (an absolute OUT inside the tree too): the
# copy must not take the build output, least of all the copy itself
DEB_OUT_REL := $(patsubst $(CURDIR)/%,%,$(abspath $(OUT)))

deb:
	$(call msg,DEB,$(DEB_DIR))
	$(Q)rm -rf $(DEB_DIR) && mkdir -p $(DEB_DIR)/src
	$(Q)tar -c --exclude=./build --exclude='./$(DEB_OUT_REL)' --exclude=./.git --exclude=./debian . | \
	  tar -x -C $(DEB_DIR)/src
	$(Q)cp -r deploy/debian $(DEB_DIR)/src/debian
	$(Q)cd $(DEB_DIR)/src && env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS \
	  DEB_BUILD_OPTIONS="$${DEB_BUILD_OPTIONS:-parallel=2}" \
	  dpkg-buildpackage -us -uc -b >../build.log 2>&1 || \
	  { tail -n 20 ../build.log >&2; echo "make deb: dpkg-buildpackage failed, see $(DEB_DIR)/build.log" >&2; exit 1; }
	$(Q)lintian --fail-on error $(DEB_DIR)/*.changes
	$(Q)ls $(DEB_DIR)/*.deb

# ---- make bench: figures, not tests (root; BENCH_QUICK=1 for a short run) ----
BENCH_BINS := $(OUT)/bench/bench $(OUT)/bench/victim

$(OUT)/bench:
	$(Q)mkdir -p $@

# the victims are small, statically linked processes (see tests/bench/victim.c)
$(OUT)/bench/victim: tests/bench/victim.c tests/bench/lib/victim.h | $(OUT)/bench
	$(call msg,CC,$@)
	$(Q)$(CC) -O2 $(WARN) -std=gnu11 -D_GNU_SOURCE -static $< -o $@

# empty programs on bpfguard's two hooks: the floor of section 2a
$(OUT)/bench/floor.bpf.o: tests/bench/floor.bpf.c vmlinux/vmlinux.h | $(OUT)/bench
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@.tmp
	$(Q)$(BPFTOOL) gen object $@ $@.tmp && rm -f $@.tmp

$(OUT)/bench/floor.skel.h: $(OUT)/bench/floor.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name floor > $@

# the harness: the runner (bench.c), one sec_*.c per section, lib/ for what
# they share (and the kernel suite's helper.h); headers tracked by -MMD
BENCH_SRCS := tests/bench/bench.c $(wildcard tests/bench/sec_*.c tests/bench/lib/*.c)
BENCH_OBJS := $(patsubst tests/bench/%.c,$(OUT)/bench/obj/%.o,$(BENCH_SRCS))
BENCH_CFLAGS := -O2 -g $(WARN) -std=gnu11 -D_GNU_SOURCE -Iinclude -Itests/bench \
                -Itests/kernel/helpers -I$(OUT)/bench $(LIBBPF_CFLAGS) -MMD -MP

$(OUT)/bench/obj/%.o: tests/bench/%.c | $(OUT)/bench/floor.skel.h
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(BENCH_CFLAGS) -c $< -o $@

$(OUT)/bench/bench: $(BENCH_OBJS) | $(OUT)/bench
	$(call msg,LINK,$@)
	$(Q)$(CC) $(BENCH_OBJS) $(LIBBPF_LIBS) -lm -o $@

bench: all $(BENCH_BINS)
	OUT=$(OUT) bash tests/bench/run.sh

# ---- make fuzz: libFuzzer targets (tests/fuzz), one after another ----
# FUZZ_RUNS executions per target (default 10000000), or FUZZ_SECONDS each.
# New inputs and crash artifacts go under $(OUT)/fuzz, never into the tree.
# The user/ objects are built again with clang's coverage and sanitizers.
FUZZ_OUT    := $(OUT)/fuzz
FUZZ_SRCS   := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS   := $(patsubst tests/fuzz/%.c,$(FUZZ_OUT)/%,$(FUZZ_SRCS))
FUZZ_OBJS   := $(patsubst $(OUT)/obj/%.o,$(FUZZ_OUT)/obj/%.o,$(LIB_OBJS))
FUZZ_CFLAGS := -O1 -g $(WARN) -std=gnu11 -D_GNU_SOURCE -Iinclude -Iuser -I$(OUT) \
               $(LIBBPF_CFLAGS) -MMD -MP -fno-omit-frame-pointer \
               -fsanitize=address,undefined -fno-sanitize-recover=undefined

$(FUZZ_OUT)/obj:
	$(Q)mkdir -p $@

$(FUZZ_OBJS): $(SKELS)

$(FUZZ_OUT)/obj/%.o: user/%.c | $(FUZZ_OUT)/obj
	$(call msg,CC-FUZZ,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_OUT)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_OBJS)
	$(call msg,FUZZ-LD,$@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer $< $(FUZZ_OBJS) $(LIBBPF_LIBS) -o $@

fuzz-bins: $(FUZZ_BINS)

fuzz: deps
	$(Q)OUT=$(OUT) bash tests/fuzz/run.sh

# Regenerate vmlinux/vmlinux.h from the running kernel; replace only on change.
vmlinux:
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $(OUT)/vmlinux.h.new
	@if cmp -s $(OUT)/vmlinux.h.new vmlinux/vmlinux.h; then echo "vmlinux.h unchanged"; rm $(OUT)/vmlinux.h.new; \
	 else mv $(OUT)/vmlinux.h.new vmlinux/vmlinux.h; echo "vmlinux.h updated from $$(uname -r)"; fi

clean:
	rm -rf $(OUT)

-include $(wildcard $(OUT)/*.d $(OUT)/bpf/*.d $(OUT)/obj/*.d $(OUT)/obj/agent/*.d $(OUT)/tests/*.d $(OUT)/lib/*.d \
  $(FUZZ_OUT)/*.d $(FUZZ_OUT)/obj/*.d $(FUZZ_OUT)/obj/agent/*.d \
  $(OUT)/bench/obj/*.d $(OUT)/bench/obj/lib/*.d)
