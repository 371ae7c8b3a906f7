/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * ftrace.h: a private ftrace instance (tracefs mounted under the temp dir)
 * recording signal:signal_generate (SIGKILL) and sched:sched_process_exit,
 * for section 5. Mount and instance are recorded in the context; cleanup
 * removes both with trace_teardown().
 */
#ifndef BENCH_FTRACE_H
#define BENCH_FTRACE_H

#include <stdbool.h>
#include <stddef.h>

#include "ctx.h"

/* mount, make and configure the instance: true if it is usable */
bool trace_setup(struct bench_ctx *ctx);
/* write @val to the instance's file @rel: 0 or -errno */
int trace_w(const struct bench_ctx *ctx, const char *rel, const char *val);
void trace_enable(const struct bench_ctx *ctx, bool on);
void trace_clear(const struct bench_ctx *ctx);
/* the whole trace, NUL-terminated (free it), or NULL */
char *trace_read(const struct bench_ctx *ctx, size_t *len);
/* events off, instance removed, tracefs unmounted. Async-signal-safe. */
void trace_teardown(struct bench_ctx *ctx);

#endif /* BENCH_FTRACE_H */
