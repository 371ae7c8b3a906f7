/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * pidmax.h: kernel.pid_max, raised for section 6 when its unrelated
 * processes would not fit (32768 by default on a small machine) and put back
 * by cleanup. Only ever raised: pids above the old maximum stay valid.
 */
#ifndef BENCH_PIDMAX_H
#define BENCH_PIDMAX_H

#include "ctx.h"

/* kernel.pid_max now (32768 if unreadable) */
int pid_max_now(void);
/* raise it to at least @want, the old value kept for the restore: 0 or -1 */
int pid_max_raise(struct bench_ctx *ctx, int want);
/* put the old value back, if pid_max_raise() changed it. Async-signal-safe. */
void pid_max_restore(struct bench_ctx *ctx);

#endif /* BENCH_PIDMAX_H */
