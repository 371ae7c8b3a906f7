/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * tree.h: process trees of victims (tests/bench/victim.c): start one held at
 * a go byte, tag its root, let it fork, collect a pidfd per victim, kill it
 * and time the deaths, then finish it off. Every process is named by a
 * pidfd, registered in the context for cleanup.
 */
#ifndef BENCH_TREE_H
#define BENCH_TREE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "ctx.h"
#include "victim.h"

struct tree {
	int want, n;
	pid_t root;
	int root_fd, root_reaped;
	int go_w, rep_r;
	pid_t *pid;
	int *fd, *flags;
	unsigned char *dead;
	uint32_t tag;
	uint64_t tag_ns;
};

struct measure {
	double lat_ms;	   /* t0 -> last target seen dead */
	int survivors;	   /* victims alive at the end of the wait */
	bool timeout;
	uint64_t t0;
};

/* a pidfd of a process we created: cleanup SIGKILLs it */
void own_fd(struct bench_ctx *ctx, int fd);
void close_own(struct bench_ctx *ctx, int fd);
/*
 * Start `victim ARGS... GOFD RFD` in cgroup @cg_fd; it waits for the go
 * byte. @want: how many reports to expect once it goes.
 */
void tree_spawn(struct bench_ctx *ctx, struct tree *t, const char *const args[], int want,
		int cg_fd);
/* Tag the tree's root with the agent (before it forks anything): 0, or -1. */
int tree_tag(const struct bench_ctx *ctx, struct tree *t);
/* Let the root go and collect every victim's report; open a pidfd each. */
int tree_go(struct bench_ctx *ctx, struct tree *t, int timeout_ms);
void tree_reap_root(struct tree *t);
/*
 * t0, SIGKILL the root (M_FLOOR: every victim too), then wait on the
 * pidfds until every target is dead. Targets: all victims, or (@only_nd)
 * those that are not daemons, after which deaths are awaited @extra_ms more.
 * @cgkill_fd >= 0: the supervisor writes 1 to it when the root's pidfd fires.
 */
void tree_kill(struct tree *t, enum mech m, int cgkill_fd, bool only_nd, int extra_ms,
	       int timeout_ms, struct measure *res);
/* Kill what is left (by pidfd), wait for it, reap, free. */
void tree_finish(struct bench_ctx *ctx, struct tree *t);
/*
 * A flat tree of @n victims (no daemons: they would not be descendants of a
 * root tagged afterwards), untagged, in the bench's cgroup; *build_ms is the
 * time it took to fork them all. Dies if it cannot be built.
 */
void build_big(struct bench_ctx *ctx, struct tree *t, int n, double *build_ms);

#endif /* BENCH_TREE_H */
