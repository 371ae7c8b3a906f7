# bpfguard: `make` builds build/bpfguard; `make run` and `make test` first
# install what a fresh Debian 12 machine is missing. `make V=1` shows commands.

OUT      := build
CLANG    ?= clang
BPFTOOL  ?= bpftool
CC       ?= cc
ARCH     := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')

# What a fresh Debian 12 needs to build and test (installed by `make deps`).
DEB_PKGS := clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config \
            libcmocka-dev gcc make

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
USER_SRCS := $(wildcard user/*.c)
USER_OBJS := $(patsubst user/%.c,$(OUT)/obj/%.o,$(USER_SRCS))
# Everything but main.c, so unit tests can link a module with its neighbours.
LIB_OBJS  := $(filter-out $(OUT)/obj/main.o,$(USER_OBJS))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(OUT)/tests/%,$(UNIT_SRCS))
HELPER_SRCS := $(wildcard tests/kernel/helpers/*.c)
HELPER_BINS := $(patsubst tests/kernel/helpers/%.c,$(OUT)/tests/%,$(HELPER_SRCS))

.DELETE_ON_ERROR:
# keep the BPF object between the compile and the skeleton steps
.SECONDARY:
.PHONY: all deps run test unit ktest stress test-kernels test-bins bench vmlinux clean

all: $(OUT)/bpfguard

$(OUT) $(OUT)/obj $(OUT)/tests:
	$(Q)mkdir -p $@

# BPF object -> linked object -> skeleton header (generated, never committed)
$(OUT)/%.bpf.o: bpf/%.bpf.c vmlinux/vmlinux.h | $(OUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -MMD -MP -MF $(OUT)/$*.bpf.d -c $< -o $@.tmp
	$(Q)$(BPFTOOL) gen object $@ $@.tmp && rm -f $@.tmp

$(OUT)/%.skel.h: $(OUT)/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $* > $@

$(USER_OBJS): $(OUT)/bpfguard.skel.h

$(OUT)/obj/%.o: user/%.c | $(OUT)/obj
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(OUT)/bpfguard: $(USER_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(LIBBPF_LIBS) -o $@

$(OUT)/tests/test_%: tests/unit/test_%.c $(LIB_OBJS) | $(OUT)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $< $(LIB_OBJS) $(LIBBPF_LIBS) -lcmocka -o $@

$(OUT)/tests/%: tests/kernel/helpers/%.c | $(OUT)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) -O2 -g $(WARN) -D_GNU_SOURCE -pthread $< -o $@

test-bins: $(UNIT_BINS) $(HELPER_BINS)

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

# MODE=user|kernel to pick the agent's mode (default: auto)
ktest: all $(HELPER_BINS)
	BPFGUARD=$(CURDIR)/$(OUT)/bpfguard HELPERS=$(CURDIR)/$(OUT)/tests bash tests/kernel/run.sh

# The random_trees kernel test at length: TREES (default 5000) random trees,
# once per mode the running kernel supports; SEED=S replays a run.
stress: all $(HELPER_BINS)
	$(Q)modes=user; grep -qw bpf_send_signal_task /proc/kallsyms 2>/dev/null && modes="user kernel"; \
	fail=0; for m in $$modes; do \
	  echo "== random_trees, --mode $$m, $${TREES:-5000} trees"; \
	  TREES=$${TREES:-5000} MODE=$$m BPFGUARD=$(CURDIR)/$(OUT)/bpfguard HELPERS=$(CURDIR)/$(OUT)/tests \
	    bash tests/kernel/run.sh random_trees || fail=1; \
	done; exit $$fail

# The kernel suite again, inside Debian's 6.1 and 6.12 kernels under qemu.
test-kernels: all
	OUT=$(OUT) bash tests/qemu/matrix.sh

# Set up, build, run every test: unit tests, the kernel suite on the running
# kernel in each mode it supports, then the same suite on the other kernels
# of the matrix (tests/run-all.sh).
# The last line is the total: `N passed, M failed`.
test: deps
	$(Q)$(MAKE) --no-print-directory all test-bins
	$(Q)OUT=$(OUT) SANITIZE=$(SANITIZE) bash tests/run-all.sh

# ---- make bench: figures, not tests (root; BENCH_QUICK=1 for a short run) ----
BENCH_BINS := $(OUT)/bench/bench $(OUT)/bench/victim

$(OUT)/bench:
	$(Q)mkdir -p $@

# the victims are small, statically linked processes (see tests/bench/victim.c)
$(OUT)/bench/victim: tests/bench/victim.c | $(OUT)/bench
	$(call msg,CC,$@)
	$(Q)$(CC) -O2 $(WARN) -std=gnu11 -D_GNU_SOURCE -static $< -o $@

$(OUT)/bench/bench: tests/bench/bench.c include/bpfguard.h | $(OUT)/bench
	$(call msg,CC,$@)
	$(Q)$(CC) -O2 -g $(WARN) -std=gnu11 -D_GNU_SOURCE -Iinclude $(LIBBPF_CFLAGS) $< $(LIBBPF_LIBS) -lm -o $@

bench: all $(BENCH_BINS)
	OUT=$(OUT) bash tests/bench/run.sh

# Regenerate vmlinux/vmlinux.h from the running kernel; replace only on change.
vmlinux:
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $(OUT)/vmlinux.h.new
	@if cmp -s $(OUT)/vmlinux.h.new vmlinux/vmlinux.h; then echo "vmlinux.h unchanged"; rm $(OUT)/vmlinux.h.new; \
	 else mv $(OUT)/vmlinux.h.new vmlinux/vmlinux.h; echo "vmlinux.h updated from $$(uname -r)"; fi

clean:
	rm -rf $(OUT)

-include $(wildcard $(OUT)/*.d $(OUT)/obj/*.d $(OUT)/tests/*.d)
