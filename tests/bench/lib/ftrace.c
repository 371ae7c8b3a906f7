// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* ftrace.c: see ftrace.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ftrace.h"
#include "util.h"

int trace_w(const struct bench_ctx *ctx, const char *rel, const char *val)
{
	char p[384];

	snprintf(p, sizeof(p), "%s/%s", ctx->trace_inst, rel);
	return write_str(p, val);
}

bool trace_setup(struct bench_ctx *ctx)
{
	snprintf(ctx->trace_mnt, sizeof(ctx->trace_mnt), "%s/tracefs", ctx->tmp);
	if (mkdir(ctx->trace_mnt, 0700) && errno != EEXIST)
		return false;
	if (mount("nodev", ctx->trace_mnt, "tracefs", 0, NULL)) {
		note("cannot mount tracefs (%s): section 5 uses the agent's log only",
		     strerror(errno));
		rmdir(ctx->trace_mnt);
		return false;
	}
	ctx->trace_mounted = 1;
	snprintf(ctx->trace_inst, sizeof(ctx->trace_inst), "%s/instances/bpfguard_bench_%d",
		 ctx->trace_mnt, getpid());
	if (mkdir(ctx->trace_inst, 0700)) {
		note("cannot create a tracefs instance (%s)", strerror(errno));
		return false;
	}
	ctx->trace_inst_ok = 1;
	if (trace_w(ctx, "trace_clock", "mono") || trace_w(ctx, "buffer_size_kb", "8192") ||
	    trace_w(ctx, "events/signal/signal_generate/filter", "sig == 9") ||
	    trace_w(ctx, "events/sched/sched_process_exit/filter", "pid == 0")) {
		note("cannot configure the tracefs instance");
		return false;
	}
	return true;
}

void trace_enable(const struct bench_ctx *ctx, bool on)
{
	trace_w(ctx, "events/signal/signal_generate/enable", on ? "1" : "0");
	trace_w(ctx, "events/sched/sched_process_exit/enable", on ? "1" : "0");
}

void trace_clear(const struct bench_ctx *ctx)
{
	char p[384];
	int fd;

	snprintf(p, sizeof(p), "%s/trace", ctx->trace_inst);
	fd = open(p, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd >= 0)
		close(fd);
}

char *trace_read(const struct bench_ctx *ctx, size_t *len)
{
	char p[384];
	size_t cap = 1 << 20, n = 0;
	char *buf = malloc(cap);
	int fd;

	snprintf(p, sizeof(p), "%s/trace", ctx->trace_inst);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || !buf) {
		free(buf);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	for (;;) {
		ssize_t r;

		if (cap - n < 65536) {
			char *nb = realloc(buf, cap * 2);

			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
		r = read(fd, buf + n, cap - n - 1);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	*len = n;
	return buf;
}

void trace_teardown(struct bench_ctx *ctx)
{
	if (ctx->trace_inst_ok) {
		trace_enable(ctx, false);
		for (int i = 0; i < 100 && rmdir(ctx->trace_inst) && errno == EBUSY; i++)
			msleep(10);
		ctx->trace_inst_ok = 0;
	}
	if (ctx->trace_mounted) {
		if (umount2(ctx->trace_mnt, 0))
			umount2(ctx->trace_mnt, MNT_DETACH);
		rmdir(ctx->trace_mnt);
		ctx->trace_mounted = 0;
	}
}
