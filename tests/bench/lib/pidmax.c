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
	int old = pid_max_now();
	char v[24];

	if (want <= old)
		return 0;
	fmt_int(v, want);
	if (write_str(PID_MAX_SYSCTL, v))
		return -1;
	if (ctx->pid_max_old < 0)
		ctx->pid_max_old = old;
	return 0;
}

void pid_max_restore(struct bench_ctx *ctx)
{
	char v[24];

	if (ctx->pid_max_old < 0)
		return;
	fmt_int(v, ctx->pid_max_old);
	write_str(PID_MAX_SYSCTL, v);
	ctx->pid_max_old = -1;
}
