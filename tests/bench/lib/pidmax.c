// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* pidmax.c: see pidmax.h. */
#include <stdlib.h>

#include "pidmax.h"
#include "util.h"

#define PID_MAX_SYSCTL "/proc/sys/kernel/pid_max"

int pid_max_now(void)
{
	char b[32];

	return read_str(PID_MAX_SYSCTL, b, sizeof(b)) > 0 ? atoi(b) : 32768;
}

int pid_max_raise(struct bench_ctx *ctx, int want)
{
	return want <= pid_max_now() ? 0 : sysctl_set(PID_MAX_SYSCTL, want, &ctx->pid_max_old);
}

void pid_max_restore(struct bench_ctx *ctx)
{
	sysctl_restore(PID_MAX_SYSCTL, &ctx->pid_max_old);
}
