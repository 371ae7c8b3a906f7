/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * trial.h: one kill-latency trial of a mechanism (sections 1 and 5): build
 * the tree the mechanism needs, tag it for bpfguard, kill its root, time
 * the deaths.
 */
#ifndef BENCH_TRIAL_H
#define BENCH_TRIAL_H

#include <stdbool.h>
#include <stdint.h>

#include "ctx.h"
#include "tree.h"

/* bpfguard's tag of the trial's root (M_KERNEL, M_USER) */
struct trial_tag {
	bool ok;	/* `bpfguard tag` succeeded */
	uint32_t id;	/* the tag it printed (0: none) */
	uint64_t ns;	/* its wall time */
};

/*
 * One latency trial of mechanism @m with sizes[@si] descendants. Returns 0,
 * or -1 if the tree could not be built or tagged (the trial is not
 * counted). @traced: the tree is left in it for the caller to parse the
 * trace (the ftrace exit filter was set to its root) and tree_finish() it.
 * @tag may be NULL.
 */
int trial(struct bench_ctx *ctx, enum mech m, int si, struct measure *res, struct tree *traced,
	  struct trial_tag *tag);

#endif /* BENCH_TRIAL_H */
