// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * states: descendants in the states a kill must get through (stopped,
 * ptrace-stopped, uninterruptible sleep), for the stopped_traced_dstate
 * kernel test of bpfguard.
 *
 *   states [--go GOFILE] [--life SECONDS] OUT
 *   states [--life SECONDS] trace PID READY
 *
 * First form: the process started is the root (the one the tests tag). With
 * --go it first waits (at most 60 s) until GOFILE exists, so a test can tag
 * the root before any descendant exists. It then forks, each reporting
 * "PID ROLE" to the root, which writes OUT atomically (OUT.tmp, then rename)
 * once all of them are in place, and sleeps:
 *   stopped    sleeps (the test SIGSTOPs it)
 *   tracee     sleeps; ptrace-stopped by tracer
 *   tracer     PTRACE_SEIZEs tracee (its sibling) and PTRACE_INTERRUPTs it;
 *              reports once tracee is in its ptrace stop, then sleeps without
 *              ever resuming it
 *   outtracee  sleeps (the test ptraces it from outside the lineage)
 *   vforker    clone(CLONE_VM | CLONE_VFORK): waits for vchild in the
 *              kernel, uninterruptibly (state D), until vchild exits
 *   vchild     the vfork child: sleeps on its own stack, never execs
 *
 * Second form (the outside tracer): PTRACE_SEIZE PID, PTRACE_INTERRUPT it,
 * wait for its ptrace stop, write READY ("PID\n", atomically), then sleep,
 * reaping the tracee's notifications, whatever becomes of the tracee.
 *
 * Every process exits by itself after --life seconds (default 300), counted
 * from the start. Exit status 1 (a line on stderr) if the setup failed, 2 on
 * a usage error.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helper.h"

#define NROLES 6
#define VSTACK (256 * 1024)

struct rec {
	int32_t pid;
	char role[12];
};

static long t0_ms;
static long life_s = 300;
static int rep_r = -1, rep_w = -1;

/* Sleep until the common deadline, then exit. */
static void __attribute__((noreturn)) sleeper(void)
{
	exit_at(t0_ms + life_s * 1000L);
}

static void report(const char *role)
{
	struct rec r;

	memset(&r, 0, sizeof(r));
	r.pid = getpid();
	snprintf(r.role, sizeof(r.role), "%s", role);
	if (write(rep_w, &r, sizeof(r)) != (ssize_t)sizeof(r))
		_exit(3);
}

static pid_t xfork(void)
{
	pid_t p = fork();

	if (p == 0)
		close(rep_r);
	return p;
}

/*
 * Seize @pid and stop it: a ptrace stop ("t" in /proc), which only the
 * tracer (or SIGKILL) ends. 0 once it is in the stop.
 */
static int seize_and_stop(pid_t pid)
{
	long deadline = now_ms() + 10000;
	int st;

	if (ptrace(PTRACE_SEIZE, pid, NULL, NULL) || ptrace(PTRACE_INTERRUPT, pid, NULL, NULL)) {
		perror("states: ptrace");
		return -1;
	}
	for (;;) {
		pid_t r = waitpid(pid, &st, __WALL | WNOHANG);

		if (r == pid && WIFSTOPPED(st))
			return 0;
		if (r < 0 && errno != EINTR) {
			perror("states: waitpid (tracee)");
			return -1;
		}
		if (now_ms() >= deadline) {
			fprintf(stderr, "states: %d did not stop within 10 s\n", (int)pid);
			return -1;
		}
		msleep(1);
	}
}

/* Sleep as a tracer: reap the tracee's notifications, never resume it. */
static void __attribute__((noreturn)) tracer_sleep(pid_t tracee)
{
	while (now_ms() < t0_ms + life_s * 1000L) {
		while (waitpid(tracee, NULL, __WALL | WNOHANG) > 0)
			;
		msleep(50);
	}
	_exit(0);
}

/* The vfork child: on its own stack, in the vforker's memory. Only
 * syscalls and leaf functions here, no exit(). */
static int vchild(void *arg)
{
	(void)arg;
	report("vchild");
	sleeper();
}

static void __attribute__((noreturn)) vforker(void)
{
	char *stack = malloc(VSTACK);

	if (!stack) {
		report("error");
		_exit(1);
	}
	report("vforker");
	/* We sleep in the kernel until vchild exits or execs: state D. */
	if (clone(vchild, stack + VSTACK, CLONE_VM | CLONE_VFORK | SIGCHLD, NULL) < 0) {
		perror("states: clone");
		report("error");
	}
	_exit(0);
}

/* Read NROLES records (bounded) and write them to out. */
static int collect(const char *out, pid_t *kids, int nkids)
{
	char text[NROLES * 40 + 1] = "";
	long deadline = now_ms() + 15000; /* below the test's 20 s: we clean up first */
	size_t off = 0;
	int got = 0;

	while (got < NROLES) {
		struct pollfd pfd = { rep_r, POLLIN, 0 };
		long left = deadline - now_ms();
		struct rec r;

		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0) {
			if (left > 0 && errno == EINTR)
				continue;
			fprintf(stderr, "states: no report from every descendant within 15 s\n");
			goto fail;
		}
		if (read(rep_r, &r, sizeof(r)) != (ssize_t)sizeof(r)) {
			fprintf(stderr, "states: bad report\n");
			goto fail;
		}
		r.role[sizeof(r.role) - 1] = 0;
		if (strcmp(r.role, "error") == 0) {
			fprintf(stderr, "states: %d reported an error\n", r.pid);
			goto fail;
		}
		off += (size_t)snprintf(text + off, sizeof(text) - off, "%d %s\n", r.pid, r.role);
		got++;
	}
	if (write_text(out, text) == 0)
		return 0;
	perror("states: cannot write OUT");
fail:
	for (int i = 0; i < nkids; i++)
		kill(kids[i], SIGKILL);
	return -1;
}

static int build(const char *out)
{
	pid_t kids[5], tracee;
	int fds[2], sync[2], n = 0;

	if (pipe(fds)) {
		perror("states: pipe");
		return -1;
	}
	rep_r = fds[0];
	rep_w = fds[1];
	signal(SIGCHLD, SIG_IGN); /* a child that ends early is reaped */

	kids[n] = xfork();
	if (kids[n] == 0) {
		report("stopped");
		sleeper();
	}
	n += kids[n] > 0;
	/* the tracer stops the tracee only once it has reported (else it may
	 * stop it before its report, forever) */
	if (pipe(sync)) {
		perror("states: pipe");
		return -1;
	}
	tracee = kids[n] = xfork();
	if (kids[n] == 0) {
		report("tracee");
		if (write(sync[1], "", 1) != 1)
			_exit(3);
		sleeper();
	}
	n += kids[n] > 0;
	kids[n] = xfork();
	if (kids[n] == 0) {
		struct pollfd pfd = { sync[0], POLLIN, 0 };
		char c;

		signal(SIGCHLD, SIG_DFL);
		if (tracee <= 0 || poll(&pfd, 1, 10000) != 1 || read(sync[0], &c, 1) != 1 ||
		    seize_and_stop(tracee)) {
			report("error");
			_exit(1);
		}
		report("tracer");
		tracer_sleep(tracee);
	}
	n += kids[n] > 0;
	kids[n] = xfork();
	if (kids[n] == 0) {
		report("outtracee");
		sleeper();
	}
	n += kids[n] > 0;
	kids[n] = xfork();
	if (kids[n] == 0)
		vforker();
	n += kids[n] > 0;
	if (n < 5) {
		perror("states: fork");
		for (int i = 0; i < n; i++)
			kill(kids[i], SIGKILL);
		return -1;
	}
	return collect(out, kids, n);
}

static int trace(const char *pidarg, const char *ready)
{
	char *end, text[32];
	long pid = strtol(pidarg, &end, 10);

	if (!*pidarg || *end || pid <= 1) {
		fprintf(stderr, "states: bad pid '%s'\n", pidarg);
		return 2;
	}
	if (seize_and_stop((pid_t)pid))
		return 1;
	snprintf(text, sizeof(text), "%ld\n", pid);
	if (write_text(ready, text)) {
		perror("states: cannot write READY");
		return 1;
	}
	tracer_sleep((pid_t)pid);
}

static void __attribute__((noreturn)) usage(void)
{
	fprintf(stderr, "usage: states [--go FILE] [--life S] OUT\n"
			"       states [--life S] trace PID READY\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *go = NULL;
	int i = 1;

	t0_ms = now_ms();
	if (helper_opts(argc, argv, &i, &go, &life_s))
		usage();
	if (argc - i == 3 && strcmp(argv[i], "trace") == 0 && !go)
		return trace(argv[i + 1], argv[i + 2]);
	if (argc - i != 1)
		usage();
	if (go && wait_file(go, 60000) != 0) {
		fprintf(stderr, "states: timed out waiting for the go file\n");
		return 1;
	}
	if (build(argv[i]))
		return 1;
	sleeper();
}
