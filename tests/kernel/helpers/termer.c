// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * termer: a root with one descendant that handles or ignores SIGTERM, for
 * the graceful-termination kernel tests of bpfguard.
 *
 *   termer [--go GOFILE] [--life SECONDS] OUT handle MARKER
 *   termer [--go GOFILE] [--life SECONDS] OUT ignore
 *
 * The process started is the root (the one the tests tag). With --go it
 * first waits (at most 60 s) until GOFILE exists, so a test can tag the root
 * before the descendant exists. Then it forks the descendant and sleeps.
 *
 * The descendant installs its SIGTERM disposition, and only then writes OUT
 * atomically (OUT.tmp, then rename) with the line "PID ROLE" (its pid, role
 * "handler" or "ignorer"): once OUT exists the disposition is in place.
 *   handle  on SIGTERM (or SIGINT, SIGHUP, SIGUSR1, SIGUSR2, so that a wrong
 *           signal shows) create MARKER holding the signal number and a
 *           newline ("15\n" for SIGTERM), then _exit(0)
 *   ignore  SIGTERM is ignored (SIG_IGN); only SIGKILL ends it early
 *
 * Both processes exit by themselves after --life seconds (default 300),
 * counted from the root's start, so nothing leaks for long if the runner
 * dies. Exit status 1 if the setup failed (a line on stderr), 2 on a usage
 * error.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "helper.h"

static long t0_ms;
static long life_s = 300;
static const char *marker;

/* Sleep until the common deadline, then exit. */
static void __attribute__((noreturn)) sleeper(void)
{
	exit_at(t0_ms + life_s * 1000L);
}

/* Async-signal-safe: open, write, close, _exit. */
static void on_signal(int sig)
{
	char buf[8];
	int n = 0, fd;

	if (sig >= 10)
		buf[n++] = (char)('0' + sig / 10);
	buf[n++] = (char)('0' + sig % 10);
	buf[n++] = '\n';
	fd = open(marker, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd >= 0) {
		if (write(fd, buf, (size_t)n) != n)
			_exit(4);
		close(fd);
	}
	_exit(fd >= 0 ? 0 : 3);
}

static int write_out(const char *path, const char *role)
{
	char line[64];

	snprintf(line, sizeof(line), "%d %s\n", (int)getpid(), role);
	return write_text(path, line);
}

static void __attribute__((noreturn)) usage(void)
{
	fprintf(stderr, "usage: termer [--go FILE] [--life S] OUT handle MARKER|ignore\n");
	exit(2);
}

static void __attribute__((noreturn)) descendant(const char *out, int handle)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	if (handle) {
		sa.sa_handler = on_signal;
		/* block the others while the handler runs: one marker, one exit */
		sigaddset(&sa.sa_mask, SIGINT);
		sigaddset(&sa.sa_mask, SIGHUP);
		sigaddset(&sa.sa_mask, SIGUSR1);
		sigaddset(&sa.sa_mask, SIGUSR2);
		if (sigaction(SIGTERM, &sa, NULL) || sigaction(SIGINT, &sa, NULL) ||
		    sigaction(SIGHUP, &sa, NULL) || sigaction(SIGUSR1, &sa, NULL) ||
		    sigaction(SIGUSR2, &sa, NULL)) {
			perror("termer: sigaction");
			_exit(1);
		}
	} else {
		sa.sa_handler = SIG_IGN;
		if (sigaction(SIGTERM, &sa, NULL)) {
			perror("termer: sigaction");
			_exit(1);
		}
	}
	/* whatever the runner's shell had blocked: SIGTERM must be deliverable */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	if (write_out(out, handle ? "handler" : "ignorer")) {
		perror("termer: cannot write the pid file");
		_exit(1);
	}
	sleeper();
}

int main(int argc, char **argv)
{
	const char *go = NULL, *out, *mode;
	int i = 1, handle;

	t0_ms = now_ms();
	if (helper_opts(argc, argv, &i, &go, &life_s))
		usage();
	if (argc - i < 2)
		usage();
	out = argv[i];
	mode = argv[i + 1];
	if (strcmp(mode, "handle") == 0 && argc - i == 3) {
		handle = 1;
		marker = argv[i + 2];
	} else if (strcmp(mode, "ignore") == 0 && argc - i == 2) {
		handle = 0;
	} else {
		usage();
	}

	if (go && wait_file(go, 60000) != 0) {
		fprintf(stderr, "termer: timed out waiting for the go file\n");
		return 1;
	}
	signal(SIGCHLD, SIG_IGN); /* a descendant that ends early is reaped */
	pid_t p = fork();
	if (p < 0) {
		perror("termer: fork");
		return 1;
	}
	if (p == 0) {
		signal(SIGCHLD, SIG_DFL);
		descendant(out, handle);
	}
	sleeper();
}
