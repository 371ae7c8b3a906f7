/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * ctx.h: the bench's one context. The runner (bench.c) fills in one struct
 * bench_ctx at set-up and hands it to every section and helper; nothing else
 * is shared through file-scope variables. It holds:
 *
 * - the knobs read from the environment (struct bench_knobs), fixed once
 *   set-up is done;
 * - the paths and descriptors set-up makes (pin dir, cgroups, temp dir);
 * - the state cleanup undoes (the agent, the trial cgroup, ftrace, the
 *   bpf_stats sysctl, the pidfds of the processes we created): cleanup also
 *   runs from a signal handler, which is why the runner keeps a pointer to
 *   the context it made;
 * - struct bench_shared: the few figures one section measures for another's
 *   report (sections run in their number's order, so the writer runs first;
 *   with the writer's section off, the reader prints without them).
 */
#ifndef BENCH_CTX_H
#define BENCH_CTX_H

#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "mech.h"

#define MAXFD 65536

struct bench_knobs {
	bool quick;		/* BENCH_QUICK */
	int trials[NSIZES];	/* BENCH_TRIALS_1/_100/_1000 */
	int rounds;		/* BENCH_ROUNDS: A/B rounds of section 2 */
	int big;		/* BENCH_BIG: the big tree of sections 2 and 4 */
	int stat_iters, ab_fork, ab_exec; /* BENCH_STAT_ITERS, BENCH_AB_FORK, _EXEC */
	int fan_trials;		/* BENCH_FAN_TRIALS */
	int disp_trials[NSIZES]; /* BENCH_DISP_TRIALS_1/_100/_1000 */
	char sections[32];	/* BENCH_SECTIONS, "" for all */
	char scale[64];		/* BENCH_SCALE: section 6's process counts */
	int scale_trials[NSIZES]; /* BENCH_SCALE_TRIALS_1/_100/_1000 */
	int scale_blocks;	/* BENCH_SCALE_BLOCKS */
	bool no_ftrace;		/* BENCH_NO_FTRACE */
	bool keep;		/* BENCH_KEEP */
};

struct bench_agent {
	pid_t pid;		/* 0: no agent of ours running */
	int fd;			/* its pidfd */
	int reaped;		/* reap_all() collected it */
	int seq;		/* agents started so far (names their logs) */
	char log[256];		/* the running (or last) agent's stdout+stderr */
};

/* the agent's "killed K descendant(s) ... X ms" lines, summarised */
struct logsum {
	double per_desc_ms, total_ms, sweeps;
	int n;
};

struct bench_shared {
	/* section 1 (the default --mode kernel agent) -> section 3 */
	uint64_t procs_memlock_default, pidmap_memlock;
	uint32_t procs_max_default, procs_flags_default;
	/* section 1's agent logs -> section 5's second table */
	struct logsum logk[M_MAX][NSIZES];
	/* tag times of the big tree: section 2's A rounds, section 4's trials */
	double tag_big[64];
	int ntag_big;
};

struct bench_ctx {
	struct bench_knobs k;
	/* fixed at set-up */
	char bpfguard[PATH_MAX], victim[PATH_MAX];
	char pin[128], pin_procs[160], pin_stats[160], pin_link_fork[160], pin_link_exit[160];
	char tmp[128];
	char cg_base[160], cg_base_kill[192], cg_all[192];
	int cg_all_fd, devnull, ncpus;
	int other_progs;	/* bg_fork/bg_exit programs not ours, at start */
	/* what cleanup undoes */
	struct bench_agent agent;
	int cg_base_ok, cg_seq;
	char cg_trial[224];
	char trace_mnt[192], trace_inst[256];
	int trace_mounted, trace_inst_ok;
	bool trace_ok;		/* section 5's set-up: the instance is usable */
	int stats_old;		/* kernel.bpf_stats_enabled before us, -1: untouched */
	int pid_max_old;	/* kernel.pid_max before us, -1: untouched */
	volatile sig_atomic_t cleaning;
	unsigned char ours[MAXFD]; /* pidfds of processes we created */
	struct bench_shared shared;
};

#endif /* BENCH_CTX_H */
