/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * agent.h: our one agent at a time (`bpfguard agent --pin-dir PIN`), its
 * log, and what /proc says about it.
 */
#ifndef BENCH_AGENT_H
#define BENCH_AGENT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "ctx.h"

/* one "tag N: root died, killed K descendant(s) in S sweep(s) (F found new
 * ones), X ms" line */
struct logkill {
	uint32_t tag;
	double k, sweeps, ms;
};

bool agent_alive(const struct bench_ctx *ctx);
bool pin_exists(const struct bench_ctx *ctx);
/*
 * `bpfguard agent --mode @mode [--max-procs N]`, its output into a fresh log
 * under the temp dir; returns once `bpfguard status` answers (dies if the
 * agent exits or is not ready within 20 s). @max_procs 0: the default.
 */
void agent_start(struct bench_ctx *ctx, const char *mode, uint32_t max_procs);
/*
 * Stop our agent (bpfguard unload: detach, unpin, exit) and make sure the
 * pin dir is gone. Async-signal-safe (cleanup calls it from a handler).
 */
void agent_stop(struct bench_ctx *ctx);
/* a "Field:  N kB" of /proc/PID/status, or -1 */
long proc_status_kb(pid_t pid, const char *field);
/* the kill lines of the agent log @path, at most @cap */
int parse_agent_log(const char *path, struct logkill *out, int cap);

#endif /* BENCH_AGENT_H */
