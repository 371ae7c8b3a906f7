/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * cgroup.h: one fresh cgroup per cgroup.kill trial, under the bench's own
 * (ctx->cg_base); its path stays in the context until it is removed, so
 * cleanup can remove it too.
 */
#ifndef BENCH_CGROUP_H
#define BENCH_CGROUP_H

#include "ctx.h"

#define CG_ROOT "/sys/fs/cgroup/unified"

/* mkdir cg_base/killN; a dir fd (for CLONE_INTO_CGROUP) and cgroup.kill: 0 or -errno */
int cg_make_trial(struct bench_ctx *ctx, int *dirfd, int *killfd);
/* close both, rmdir the trial cgroup */
void cg_drop_trial(struct bench_ctx *ctx, int dirfd, int killfd);
/* rmdir, retried for 2 s while the cgroup empties */
void cg_rmdir_bounded(const struct bench_ctx *ctx, const char *path);

#endif /* BENCH_CGROUP_H */
