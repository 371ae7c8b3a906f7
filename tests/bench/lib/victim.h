/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * victim.h: what a victim (tests/bench/victim.c) writes on its report pipe
 * and the harness (lib/tree.c) reads: one header for both sides.
 */
#ifndef BENCH_VICTIM_H
#define BENCH_VICTIM_H

#include <stdint.h>

#define VF_DAEMON 0x1 /* double-forked + setsid */
#define VF_NSINIT 0x2 /* pid 1 of a new PID namespace */
#define VF_ERROR 0x80 /* pid holds -errno: building the tree failed */

/* one per victim: its pid as the host sees it, and VF_* flags */
struct vreport {
	int32_t pid;
	int32_t flags;
};

/* the result of `victim forkloop|execloop N` */
struct vloop {
	uint64_t cpu_ns;  /* user + sys, self + waited children */
	uint64_t wall_ns;
	uint64_t iters;
	uint64_t fails;
};

#endif /* BENCH_VICTIM_H */
