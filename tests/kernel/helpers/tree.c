// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * tree: build a process tree of a given shape for the bpfguard kernel tests.
 *
 *   tree [--go GOFILE] [--life SECONDS] OUT SHAPE [ARGS...]
 *
 * The process started is the root of the tree (the one the tests tag). With
 * --go it first waits (at most 60 s) until GOFILE exists, so a test can tag
 * the root before any descendant exists. Every process it then creates
 * reports "HOSTPID ROLE" to the root through a pipe; once all of them exist
 * the root writes OUT atomically (OUT.tmp, then rename), one "PID ROLE" line
 * per process, and sleeps. Every process exits by itself after --life
 * seconds (default 300), counted from the root's start, so nothing leaks
 * for long if the runner dies.
 *
 * Shapes (ROLE in parentheses):
 *   children N   N direct children (child)
 *   chain N      each process forks the next, depth N (chain1..chainN)
 *   daemon       child setsid()s, forks the daemon and exits; the daemon is
 *                reparented, detaches stdio and execs /bin/sleep (daemon)
 *   pidns        child (nsparent) unshare(CLONE_NEWPID)s and forks the init of
 *                the new namespace (nsinit), which forks (nschild); host pids
 *   threads N MS N children (child); then a thread returns, the main thread
 *                calls pthread_exit, and once it is a zombie another thread
 *                writes OUT, sleeps MS ms and exit()s the whole process
 *   nested NB NA child B (b) with NB children (bchild); NA more children of
 *                the root (achild)
 *   late         child (pre) writes OUT, waits for OUT.go2 to exist, then
 *                forks (late); the root writes OUT.2 with that one line
 *
 * Exit status 1 (after SIGKILLing what it created) if the tree could not be
 * built within 30 s.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helper.h"

#define MAX_PROCS 20000

struct rec {
	int32_t pid;
	char role[12];
};

static long t0_ms;
static long life_s = 300;
static int rep_r = -1, rep_w = -1;
static const char *out_path;
static struct rec got[MAX_PROCS];
static int ngot;
static long threads_ms;

/* The pid in the host namespace: /proc is the host's, so /proc/self is too. */
static pid_t host_pid(void)
{
	char buf[32], *end;
	ssize_t n = readlink("/proc/self", buf, sizeof(buf) - 1);

	if (n > 0) {
		buf[n] = 0;
		long v = strtol(buf, &end, 10);
		if (*end == 0 && v > 0)
			return (pid_t)v;
	}
	return getpid();
}

static void report(const char *role)
{
	struct rec r;

	memset(&r, 0, sizeof(r));
	r.pid = host_pid();
	snprintf(r.role, sizeof(r.role), "%s", role);
	if (write(rep_w, &r, sizeof(r)) != (ssize_t)sizeof(r))
		_exit(3);
}

/* Sleep until the common deadline, then exit. Works for a pidns init too. */
static void __attribute__((noreturn)) sleeper(void)
{
	signal(SIGCHLD, SIG_IGN); /* children are reaped automatically */
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	exit_at(t0_ms + life_s * 1000L);
}

static pid_t xfork(void)
{
	pid_t p = fork();

	if (p == 0 && rep_r >= 0) {
		close(rep_r);
		rep_r = -1;
	}
	if (p < 0)
		perror("tree: fork");
	return p;
}

static void __attribute__((noreturn)) fail(const char *why)
{
	fprintf(stderr, "tree: %s\n", why);
	for (int i = 0; i < ngot; i++)
		if (got[i].pid > 1)
			kill(got[i].pid, SIGKILL);
	exit(1);
}

/* Read records until `want` more have arrived (bounded). */
static void collect(int want)
{
	long deadline = now_ms() + 30000;
	int target = ngot + want;
	char buf[sizeof(struct rec) * 64];
	size_t have = 0;

	if (target > MAX_PROCS)
		fail("too many processes");
	while (ngot < target) {
		long left = deadline - now_ms();
		struct pollfd pfd = { rep_r, POLLIN, 0 };

		if (left <= 0)
			fail("timed out waiting for the tree to be built");
		int r = poll(&pfd, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			continue;
		ssize_t n = read(rep_r, buf + have, sizeof(buf) - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			fail("report pipe closed");
		have += (size_t)n;
		size_t off = 0;
		while (have - off >= sizeof(struct rec) && ngot < target) {
			memcpy(&got[ngot], buf + off, sizeof(struct rec));
			got[ngot].role[sizeof(got[ngot].role) - 1] = 0;
			off += sizeof(struct rec);
			if (strcmp(got[ngot].role, "error") == 0) {
				ngot++;
				fail("a process of the tree reported an error");
			}
			ngot++;
		}
		memmove(buf, buf + off, have - off);
		have -= off;
	}
}

/* Write records [from, ngot) to path atomically. */
static void write_out(const char *path, int from)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		fail("cannot create the pid file");
	for (int i = from; i < ngot; i++)
		fprintf(f, "%d %s\n", got[i].pid, got[i].role);
	if (fclose(f) != 0)
		fail("cannot write the pid file");
	if (rename(tmp, path) != 0)
		fail("cannot rename the pid file");
}

static void __attribute__((noreturn)) chain_member(int k, int n)
{
	char role[24];

	snprintf(role, sizeof(role), "chain%d", k % 100000);
	report(role);
	if (k < n) {
		pid_t p = xfork();
		if (p == 0)
			chain_member(k + 1, n);
		if (p < 0)
			report("error");
	}
	sleeper();
}

static void spawn_children(int n, const char *role)
{
	for (int i = 0; i < n; i++) {
		pid_t p = xfork();
		if (p == 0) {
			report(role);
			sleeper();
		}
		if (p < 0)
			fail("fork failed");
	}
}

static void *thread_return(void *arg)
{
	(void)arg;
	return NULL;
}

static void *thread_last(void *arg)
{
	pid_t tgid = (pid_t)(intptr_t)arg;
	char path[64], line[512];
	long deadline = now_ms() + 5000;

	/* Wait until the main thread has exited (it shows as a zombie). */
	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", tgid, tgid);
	for (;;) {
		FILE *f = fopen(path, "r");
		int zombie = 0;

		if (f) {
			if (fgets(line, sizeof(line), f)) {
				char *p = strrchr(line, ')');
				zombie = p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
			}
			fclose(f);
		} else {
			zombie = 1; /* gone */
		}
		if (zombie)
			break;
		if (now_ms() >= deadline)
			fail("the main thread did not exit");
		msleep(5);
	}
	write_out(out_path, 0);
	msleep(threads_ms);
	exit(0);
}

static void __attribute__((noreturn)) usage(void)
{
	fprintf(stderr, "usage: tree [--go FILE] [--life S] OUT "
			"children N|chain N|daemon|pidns|threads N MS|nested NB NA|late\n");
	exit(2);
}

static int num(const char *s)
{
	char *end;
	long v;

	if (!s)
		usage();
	v = strtol(s, &end, 10);
	if (*s == 0 || *end || v < 0 || v > MAX_PROCS - 8)
		usage();
	return (int)v;
}

int main(int argc, char **argv)
{
	const char *go = NULL, *shape;
	int fds[2], i = 1;

	t0_ms = now_ms();
	signal(SIGALRM, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	while (i < argc && strncmp(argv[i], "--", 2) == 0) {
		if (strcmp(argv[i], "--go") == 0 && i + 1 < argc)
			go = argv[i + 1];
		else if (strcmp(argv[i], "--life") == 0 && i + 1 < argc)
			life_s = num(argv[i + 1]);
		else
			usage();
		i += 2;
	}
	if (argc - i < 2)
		usage();
	out_path = argv[i];
	shape = argv[i + 1];
	argv += i + 2;
	argc -= i + 2;

	if (pipe(fds) != 0) {
		perror("tree: pipe");
		return 1;
	}
	rep_r = fds[0];
	rep_w = fds[1];
	if (go && wait_file(go, 60000) != 0)
		fail("timed out waiting for the go file");

	if (strcmp(shape, "children") == 0) {
		int n = num(argv[0]);
		spawn_children(n, "child");
		collect(n);
		write_out(out_path, 0);
	} else if (strcmp(shape, "chain") == 0) {
		int n = num(argv[0]);
		if (n < 1)
			usage();
		pid_t p = xfork();
		if (p == 0)
			chain_member(1, n);
		if (p < 0)
			fail("fork failed");
		collect(n);
		write_out(out_path, 0);
	} else if (strcmp(shape, "daemon") == 0) {
		pid_t a = xfork();
		if (a == 0) {
			if (setsid() < 0)
				report("error");
			pid_t b = xfork();
			if (b == 0) {
				int fd = open("/dev/null", O_RDWR);
				if (chdir("/") != 0)
					report("error");
				umask(022);
				if (fd >= 0) {
					dup2(fd, 0);
					dup2(fd, 1);
					dup2(fd, 2);
					if (fd > 2)
						close(fd);
				}
				report("daemon");
				close(rep_w);
				char life[32];
				long left = life_s - (now_ms() - t0_ms) / 1000;
				snprintf(life, sizeof(life), "%ld", left > 1 ? left : 1);
				execl("/bin/sleep", "sleep", life, (char *)NULL);
				sleeper();
			}
			_exit(b < 0 ? 1 : 0);
		}
		if (a < 0)
			fail("fork failed");
		int st;
		while (waitpid(a, &st, 0) < 0 && errno == EINTR)
			;
		collect(1);
		write_out(out_path, 0);
	} else if (strcmp(shape, "pidns") == 0) {
		pid_t p = xfork();
		if (p == 0) {
			report("nsparent");
			if (unshare(CLONE_NEWPID) != 0) {
				perror("tree: unshare(CLONE_NEWPID)");
				report("error");
				sleeper();
			}
			pid_t n = xfork();
			if (n == 0) {
				report("nsinit");
				pid_t m = xfork();
				if (m == 0) {
					report("nschild");
					sleeper();
				}
				if (m < 0)
					report("error");
				sleeper();
			}
			if (n < 0)
				report("error");
			sleeper();
		}
		if (p < 0)
			fail("fork failed");
		collect(3);
		write_out(out_path, 0);
	} else if (strcmp(shape, "threads") == 0) {
		int n = num(argv[0]);
		pthread_t t;
		threads_ms = num(argc > 1 ? argv[1] : NULL);
		spawn_children(n, "child");
		collect(n);
		/* A non-main thread that exits: must not count as the process exiting. */
		if (pthread_create(&t, NULL, thread_return, NULL) != 0)
			fail("pthread_create failed");
		pthread_join(t, NULL);
		if (pthread_create(&t, NULL, thread_last, (void *)(intptr_t)host_pid()) != 0)
			fail("pthread_create failed");
		pthread_exit(NULL);
	} else if (strcmp(shape, "nested") == 0) {
		int nb = num(argv[0]);
		int na = num(argc > 1 ? argv[1] : NULL);
		pid_t b = xfork();
		if (b == 0) {
			report("b");
			spawn_children(nb, "bchild");
			sleeper();
		}
		if (b < 0)
			fail("fork failed");
		spawn_children(na, "achild");
		collect(1 + nb + na);
		write_out(out_path, 0);
	} else if (strcmp(shape, "late") == 0) {
		char go2[4096], out2[4096];
		snprintf(go2, sizeof(go2), "%s.go2", out_path);
		snprintf(out2, sizeof(out2), "%s.2", out_path);
		pid_t c = xfork();
		if (c == 0) {
			report("pre");
			if (wait_file(go2, 60000) != 0)
				sleeper();
			pid_t g = xfork();
			if (g == 0) {
				report("late");
				sleeper();
			}
			if (g < 0)
				report("error");
			sleeper();
		}
		if (c < 0)
			fail("fork failed");
		collect(1);
		write_out(out_path, 0);
		int from = ngot;
		/* the second phase may wait for the test: allow the go file's bound */
		collect(1);
		write_out(out2, from);
	} else {
		usage();
	}
	sleeper();
}
