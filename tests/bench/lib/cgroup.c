// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* cgroup.c: see cgroup.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup.h"
#include "util.h"

int cg_make_trial(struct bench_ctx *ctx, int *dirfd, int *killfd)
{
	snprintf(ctx->cg_trial, sizeof(ctx->cg_trial), "%s/kill%d", ctx->cg_base, ++ctx->cg_seq);
	if (mkdir(ctx->cg_trial, 0755))
		return -errno;
	*dirfd = open(ctx->cg_trial, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char p[256];

	snprintf(p, sizeof(p), "%s/cgroup.kill", ctx->cg_trial);
	*killfd = open(p, O_WRONLY | O_CLOEXEC);
	if (*dirfd < 0 || *killfd < 0)
		return -errno;
	return 0;
}

void cg_rmdir_bounded(const struct bench_ctx *ctx, const char *path)
{
	for (int i = 0; i < 200; i++) {
		if (!rmdir(path) || errno == ENOENT)
			return;
		msleep(10);
	}
	if (!ctx->cleaning)
		note("cannot remove cgroup %s: %s", path, strerror(errno));
}

void cg_drop_trial(struct bench_ctx *ctx, int dirfd, int killfd)
{
	if (dirfd >= 0)
		close(dirfd);
	if (killfd >= 0)
		close(killfd);
	cg_rmdir_bounded(ctx, ctx->cg_trial);
	ctx->cg_trial[0] = '\0';
}
