// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * deepchain: a chain of processes deeper than bpfguard's enrolment walk
 * (BG_MAX_DEPTH levels of real_parent), for the kernel tests.
 *
 *   deepchain [--go GOFILE] [--life SECONDS] OUT N [down]
 *
 * The process started is the root; it forks level 1, which forks level 2,
 * ... down to level N. With "down" every level gets a lower pid than the
 * one above it (clone3 with set_tid, counting down from pid_max, skipping
 * pids in use; level 1 takes the highest free one), as after a pid wrap: the
 * enrolment iterator, which walks pids upwards, then meets the deep end
 * first. Every level reports
 * its pid to the root through a pipe; once all have, the root writes OUT
 * atomically, one "PID levelK" line each (root excluded), and everything
 * sleeps until --life seconds (default 300) after the root's start.
 *
 * Exit status 1 (after SIGKILLing what it made) if the chain could not be
 * built within 30 s, 2 on a usage error.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helper.h"

#define MAX_LEVELS 4000

static long t0_ms, life_s = 300;
static int rep_w = -1;
static int32_t got[MAX_LEVELS + 1];

static void __attribute__((noreturn)) usage(void)
{
	fprintf(stderr, "usage: deepchain [--go FILE] [--life S] OUT N [down]\n");
	exit(2);
}

/* Fork, the child taking pid @want when it is not 0 (-1 and EEXIST if taken). */
static pid_t fork_as(pid_t want)
{
	struct clone_args ca;

	if (!want)
		return fork();
	memset(&ca, 0, sizeof(ca));
	ca.exit_signal = SIGCHLD;
	ca.set_tid = (uint64_t)(uintptr_t)&want;
	ca.set_tid_size = 1;
	return (pid_t)syscall(SYS_clone3, &ca, sizeof(ca));
}

/* Level @k's child at a pid below @below (0: any pid). */
static pid_t fork_below(pid_t below)
{
	for (pid_t want = below - 1; below && want > 300; want--) {
		pid_t p = fork_as(want);

		if (p >= 0 || errno != EEXIST)
			return p;
	}
	return below ? -1 : fork_as(0);
}

static void __attribute__((noreturn)) level(int k, int n, bool down)
{
	int32_t me = getpid();

	if (write(rep_w, &me, sizeof(me)) != (ssize_t)sizeof(me))
		_exit(3);
	if (k < n) {
		pid_t p = fork_below(down ? me : 0);

		if (p == 0)
			level(k + 1, n, down);
		if (p < 0) {
			int32_t err = -errno;

			if (write(rep_w, &err, sizeof(err)) != (ssize_t)sizeof(err))
				_exit(3);
		}
	}
	signal(SIGCHLD, SIG_IGN);
	exit_at(t0_ms + life_s * 1000L);
}

static void __attribute__((noreturn)) fail(const char *why, int have)
{
	fprintf(stderr, "deepchain: %s\n", why);
	for (int i = 1; i <= have; i++)
		if (got[i] > 1)
			kill(got[i], SIGKILL);
	exit(1);
}

/* The pid to count down from: pid_max (the first pid never handed out). */
static pid_t top_pid(void)
{
	FILE *f = fopen("/proc/sys/kernel/pid_max", "r");
	long v = 0;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = 0;
		fclose(f);
	}
	return v > 1000 && v <= 4194304 ? (pid_t)v : 32768;
}

int main(int argc, char **argv)
{
	const char *go = NULL, *out;
	int fds[2], i = 1, n, have = 0;
	long deadline;
	bool down;
	char *text, *end;
	size_t len = 0;

	t0_ms = now_ms();
	if (helper_opts(argc, argv, &i, &go, &life_s) || argc - i < 2 || argc - i > 3)
		usage();
	out = argv[i];
	n = (int)strtol(argv[i + 1], &end, 10);
	if (!*argv[i + 1] || *end || n < 1 || n > MAX_LEVELS)
		usage();
	down = argc - i == 3;
	if (down && strcmp(argv[i + 2], "down") != 0)
		usage();
	if (go && wait_file(go, 60000) != 0)
		fail("timed out waiting for the go file", 0);
	if (pipe(fds) != 0)
		fail("pipe failed", 0);
	rep_w = fds[1];
	{
		pid_t p = fork_below(down ? top_pid() : 0);

		if (p == 0) {
			close(fds[0]);
			level(1, n, down);
		}
		if (p < 0)
			fail(strerror(errno), 0);
	}
	deadline = now_ms() + 30000;
	while (have < n) {
		struct pollfd pfd = { fds[0], POLLIN, 0 };
		int32_t v;

		if (now_ms() >= deadline)
			fail("timed out waiting for the chain to be built", have);
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		if (read(fds[0], &v, sizeof(v)) != (ssize_t)sizeof(v))
			fail("report pipe closed", have);
		if (v < 0) {
			errno = -v;
			fail(strerror(errno), have);
		}
		got[++have] = v;
	}
	text = malloc((size_t)n * 24 + 1);
	if (!text)
		fail("out of memory", have);
	for (int k = 1; k <= n; k++)
		len += (size_t)sprintf(text + len, "%d level%d\n", got[k], k);
	if (write_text(out, text) != 0)
		fail("cannot write the pid file", have);
	free(text);
	signal(SIGCHLD, SIG_IGN);
	exit_at(t0_ms + life_s * 1000L);
}
