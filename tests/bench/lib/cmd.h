/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * cmd.h: running commands (bpfguard's CLI, the agent), every wait bounded,
 * and reaping what the harness, a child subreaper, inherits.
 */
#ifndef BENCH_CMD_H
#define BENCH_CMD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ctx.h"

/* the environment every command and victim runs with */
extern char *const bench_env[];

/*
 * In a forked child, before execve: no signal blocked, SIGPIPE default,
 * stdin /dev/null, stdout and stderr @out (or /dev/null). Async-signal-safe.
 */
void child_stdio(const struct bench_ctx *ctx, int out);
/*
 * fork+execve with stdin from /dev/null and stdout/stderr to @out (or
 * /dev/null). Async-signal-safe: cleanup uses it.
 */
pid_t spawn_raw(const struct bench_ctx *ctx, char *const argv[], int out);
/*
 * Wait for @pid, at most @ms; SIGKILL it (it is our child) after that.
 * Returns the exit code, 128+signal, or -1 if it had to be killed.
 */
int wait_bounded(pid_t pid, int ms);
/*
 * Run a command; its stdout+stderr land in @out (NUL-terminated, may be
 * NULL). Returns the exit code (-1: timed out, killed); *wall_ns is the
 * time from spawn to reaped.
 */
int run_cmd(const struct bench_ctx *ctx, char *const argv[], char *out, size_t outlen,
	    int timeout_ms, uint64_t *wall_ns);
/* `bpfguard SUB --pin-dir PIN [ARG]`, as run_cmd() */
int bg_cmd(const struct bench_ctx *ctx, const char *sub, const char *arg, char *out,
	   size_t outlen, int timeout_ms, uint64_t *wall_ns);
/* Reap every zombie child (orphaned victims come here); notes the agent's. */
void reap_all(struct bench_ctx *ctx);

#endif /* BENCH_CMD_H */
