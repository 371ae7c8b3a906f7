// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * dethread: a process whose non-leader thread execs, for the dethread_exec
 * kernel test of bpfguard.
 *
 *   dethread [--life SECONDS] OUT N
 *
 * The process started is the root (the one the tests tag). It forks N
 * children that sleep, writes OUT atomically (OUT.tmp, then rename) with one
 * "PID child" line per child, and waits (at most 60 s) until OUT.go exists.
 * Then a second thread execs this program again (/proc/self/exe) while the
 * main thread sleeps: the kernel's de_thread() kills the main thread and
 * makes the exec'ing thread the leader, under the process's pid. The process
 * does not exit; its children stay its children.
 *
 * The new image checks that it runs as the thread group leader under the
 * old pid, writes OUT.exec atomically: "PID OLDTID\n" (OLDTID: the tid the
 * exec'ing thread had before the exec), and sleeps. It is the only place that
 * file can come from, so it proves the exec from the non-leader thread.
 *
 * Every process exits by itself after --life seconds (default 300), counted
 * from the root's start. Exit status 1 (a line on stderr) if the setup
 * failed, 2 on a usage error.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "helper.h"

#define MAX_CHILDREN 64

static long end_ms; /* CLOCK_MONOTONIC ms at which everything exits */
static const char *out_path;

static void __attribute__((noreturn)) sleeper(void)
{
	exit_at(end_ms);
}

/* The second thread: exec over the whole process. */
static void *execer(void *arg)
{
	char tid[24], end[24];

	(void)arg;
	snprintf(tid, sizeof(tid), "%d", (int)gettid());
	snprintf(end, sizeof(end), "%ld", end_ms);
	execl("/proc/self/exe", "dethread", "--exec", tid, end, out_path, (char *)NULL);
	perror("dethread: exec");
	exit(1);
}

/* The new image: dethread --exec OLDTID END OUT */
static int after_exec(char **argv)
{
	char path[4096], text[64];
	long old = strtol(argv[0], NULL, 10);

	end_ms = strtol(argv[1], NULL, 10);
	out_path = argv[2];
	if (gettid() != getpid() || old == getpid()) {
		fprintf(stderr, "dethread: after the exec: tid %d, pid %d, old tid %ld\n",
			(int)gettid(), (int)getpid(), old);
		return 1;
	}
	snprintf(path, sizeof(path), "%s.exec", out_path);
	snprintf(text, sizeof(text), "%d %ld\n", (int)getpid(), old);
	if (write_text(path, text)) {
		perror("dethread: cannot write OUT.exec");
		return 1;
	}
	sleeper();
}

static void __attribute__((noreturn)) usage(void)
{
	fprintf(stderr, "usage: dethread [--life S] OUT N\n");
	exit(2);
}

int main(int argc, char **argv)
{
	char go[4096], text[MAX_CHILDREN * 24 + 1] = "";
	pid_t kids[MAX_CHILDREN];
	long life_s = 300, n;
	size_t off = 0;
	pthread_t t;
	char *end;
	int i = 1;

	if (argc == 5 && strcmp(argv[1], "--exec") == 0)
		return after_exec(argv + 2);
	if (argc > 2 && strcmp(argv[1], "--life") == 0) {
		life_s = strtol(argv[2], &end, 10);
		if (!*argv[2] || *end || life_s < 1 || life_s > 86400)
			usage();
		i = 3;
	}
	if (argc - i != 2)
		usage();
	out_path = argv[i];
	n = strtol(argv[i + 1], &end, 10);
	if (!*argv[i + 1] || *end || n < 1 || n > MAX_CHILDREN)
		usage();
	end_ms = now_ms() + life_s * 1000L;
	signal(SIGCHLD, SIG_IGN); /* survives the exec: children are reaped */

	for (int k = 0; k < n; k++) {
		kids[k] = fork();
		if (kids[k] == 0)
			sleeper();
		if (kids[k] < 0) {
			perror("dethread: fork");
			while (k--)
				kill(kids[k], SIGKILL);
			return 1;
		}
		off += (size_t)snprintf(text + off, sizeof(text) - off, "%d child\n", (int)kids[k]);
	}
	snprintf(go, sizeof(go), "%s.go", out_path);
	if (write_text(out_path, text) || wait_file(go, 60000)) {
		fprintf(stderr, "dethread: cannot write OUT or no go file within 60 s\n");
		for (int k = 0; k < n; k++)
			kill(kids[k], SIGKILL);
		return 1;
	}
	if (pthread_create(&t, NULL, execer, NULL)) {
		fprintf(stderr, "dethread: pthread_create failed\n");
		for (int k = 0; k < n; k++)
			kill(kids[k], SIGKILL);
		return 1;
	}
	sleeper(); /* the main thread: killed by the exec */
}
