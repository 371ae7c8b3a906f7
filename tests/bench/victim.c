// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * victim: the small, statically linked process that the bench
 * (tests/bench/lib/tree.c) builds its process trees from. Small on purpose: a victim's own teardown
 * dominates kill latency, and a copy of a large process (one that loaded
 * libbpf) dies about twice as slowly as a freshly exec'd small one.
 *
 *   victim exit                        exit at once (the exec loop's child)
 *   victim sleep RFD FLAGS             report, then pause()
 *   victim poll RFD FLAGS PPID         report, then exit once kill(PPID, 0)
 *                                      fails, checking every 100 ms
 *   victim root N DPCT KIND GOFD RFD   wait for a byte on GOFD, then fork N
 *                                      children that exec `victim sleep` (KIND
 *                                      plain), the same with
 *                                      PR_SET_PDEATHSIG(SIGKILL) (pdeathsig), or
 *                                      `victim poll` (poll); DPCT percent of them
 *                                      daemonize first (fork, setsid, fork);
 *                                      then pause()
 *   victim pidns N DPCT GOFD RFD       `unshare --pid --fork --kill-child`: wait
 *                                      for GOFD, unshare(CLONE_NEWPID), fork the
 *                                      namespace's init with PDEATHSIG SIGKILL;
 *                                      it execs `victim nsinit`; then pause()
 *   victim nsinit N DPCT RFD           pid 1 of that namespace: report itself,
 *                                      fork N `victim sleep` (DPCT% daemonized),
 *                                      reap forever
 *   victim idle N GOFD RFD             wait for GOFD, fork N children that
 *                                      pause() (with PR_SET_PDEATHSIG SIGKILL:
 *                                      they die with it), report itself once
 *                                      all exist; then pause(): the unrelated
 *                                      processes of the scale section
 *   victim forkloop N GOFD RFD         wait for GOFD, N x (fork, _exit, wait),
 *   victim execloop N GOFD RFD         or N x (fork, execve `victim exit`, wait);
 *                                      report CPU (self + children) and wall time
 *
 * A report is struct vreport on RFD: the pid as the host sees it (read from
 * /proc/self, which works inside a new PID namespace too) and FLAGS.
 * Every victim dies on its own after LIFETIME_S, so a harness that is itself
 * SIGKILLed leaks nothing for long.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/victim.h"

#define LIFETIME_S 1800

extern char **environ;
static char self_exe[256];

static int num(const char *s)
{
	return (int)strtol(s, NULL, 10);
}

static void write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(120);
		p += n;
		len -= (size_t)n;
	}
}

static int host_pid(void)
{
	char buf[32];
	ssize_t n = readlink("/proc/self", buf, sizeof(buf) - 1);

	if (n <= 0)
		return getpid();
	buf[n] = '\0';
	return num(buf);
}

static void report(int rfd, int pid, int flags)
{
	struct vreport r = { .pid = pid, .flags = flags };

	write_all(rfd, &r, sizeof(r));
}

static void wait_go(int gofd)
{
	char c;

	while (read(gofd, &c, 1) < 0 && errno == EINTR)
		;
	close(gofd);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t tv_ns(struct timeval tv)
{
	return (uint64_t)tv.tv_sec * 1000000000ull + (uint64_t)tv.tv_usec * 1000ull;
}

/* Format a non-negative int without stdio (keeps the static binary small). */
static void fmt_int(char *out, int x)
{
	char tmp[16];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + x % 10);
		x /= 10;
	} while (x > 0 && n < 15);
	for (int j = 0; j < n; j++)
		out[j] = tmp[n - 1 - j];
	out[n] = '\0';
}

static void exec_victim(const char *mode, int rfd, int flags, int ppid)
{
	char a_rfd[16], a_flags[16], a_ppid[16];
	char *argv[] = { "victim", (char *)mode, a_rfd, a_flags, a_ppid, NULL };

	fmt_int(a_rfd, rfd);
	fmt_int(a_flags, flags);
	fmt_int(a_ppid, ppid);
	execve(self_exe, argv, environ);
	_exit(127);
}

static int is_daemon(int i, int dpct)
{
	return (i + 1) * dpct / 100 != i * dpct / 100;
}

/* fork(), retried for a second while the kernel says EAGAIN (pids, memory) */
static pid_t fork_retry(void)
{
	pid_t pid;
	int tries = 0;

	while ((pid = fork()) < 0 && errno == EAGAIN && tries++ < 100)
		usleep(10000);
	return pid;
}

/* Fork n children; each becomes `victim MODE` (after daemonizing, for the
 * DPCT% picked), then reap the daemonizing ones' first fork. */
static void fork_children(int n, int dpct, const char *mode, int pdeathsig, int rfd)
{
	pid_t me = getpid();
	pid_t *mid = calloc((size_t)n + 1, sizeof(pid_t));
	int nmid = 0;

	for (int i = 0; i < n; i++) {
		int daemon = dpct > 0 && is_daemon(i, dpct);
		pid_t pid = fork_retry();

		if (pid < 0) {
			report(rfd, -errno, VF_ERROR);
			continue;
		}
		if (pid == 0) {
			if (pdeathsig) {
				prctl(PR_SET_PDEATHSIG, SIGKILL);
				if (getppid() != me)
					_exit(1);
			}
			if (daemon) {
				if (fork() != 0)
					_exit(0);
				setsid();
				if (fork() != 0)
					_exit(0);
			}
			exec_victim(mode, rfd, daemon ? VF_DAEMON : 0, (int)me);
		}
		if (daemon && mid)
			mid[nmid++] = pid;
	}
	for (int i = 0; i < nmid; i++)
		waitpid(mid[i], NULL, 0);
	free(mid);
}

static void on_alarm(int sig)
{
	(void)sig;
	_exit(0);
}

/* `victim idle N`: N idle children, no exec (copies of this small binary) */
static void idle_children(int n, int rfd)
{
	pid_t me = getpid();

	for (int i = 0; i < n; i++) {
		pid_t pid = fork_retry();

		if (pid < 0) {
			report(rfd, -errno, VF_ERROR);
			return;
		}
		if (pid == 0) {
			close(rfd);
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() != me)
				_exit(1);
			alarm(LIFETIME_S); /* alarms are not inherited by fork */
			for (;;)
				pause();
		}
	}
	report(rfd, host_pid(), 0);
}

static int loop(int n, int gofd, int rfd, int do_exec)
{
	struct vloop out = { 0 };
	struct rusage self, kids;
	char *argv[] = { "victim", "exit", NULL };
	uint64_t t0;

	wait_go(gofd);
	t0 = mono_ns();
	for (int i = 0; i < n; i++) {
		pid_t pid = fork();
		int st;

		if (pid == 0) {
			if (do_exec)
				execve(self_exe, argv, environ);
			_exit(0);
		}
		if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
			out.fails++;
		else
			out.iters++;
	}
	out.wall_ns = mono_ns() - t0;
	getrusage(RUSAGE_SELF, &self);
	getrusage(RUSAGE_CHILDREN, &kids);
	out.cpu_ns = tv_ns(self.ru_utime) + tv_ns(self.ru_stime) + tv_ns(kids.ru_utime) +
		     tv_ns(kids.ru_stime);
	write_all(rfd, &out, sizeof(out));
	return 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "sleep";
	ssize_t n;

	if (!strcmp(mode, "exit"))
		_exit(0);

	n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
	if (n <= 0)
		return 126;
	self_exe[n] = '\0';
	alarm(LIFETIME_S);

	if (!strcmp(mode, "sleep") && argc == 5) {
		int rfd = num(argv[2]);

		report(rfd, host_pid(), num(argv[3]));
		close(rfd);
		for (;;)
			pause();
	}
	if (!strcmp(mode, "poll") && argc == 5) {
		int rfd = num(argv[2]);
		pid_t ppid = num(argv[4]);
		struct timespec ts = { 0, 100 * 1000 * 1000 };

		report(rfd, host_pid(), num(argv[3]));
		close(rfd);
		for (;;) {
			nanosleep(&ts, NULL);
			if (kill(ppid, 0) && errno == ESRCH)
				_exit(0);
		}
	}
	if (!strcmp(mode, "root") && argc == 7) {
		int nchild = num(argv[2]), dpct = num(argv[3]), rfd = num(argv[6]);
		const char *kind = argv[4];

		wait_go(num(argv[5]));
		fork_children(nchild, dpct, !strcmp(kind, "poll") ? "poll" : "sleep",
			      !strcmp(kind, "pdeathsig"), rfd);
		close(rfd);
		for (;;)
			pause();
	}
	if (!strcmp(mode, "pidns") && argc == 6) {
		int nchild = num(argv[2]), rfd = num(argv[5]);
		pid_t pid;

		wait_go(num(argv[4]));
		if (unshare(CLONE_NEWPID)) {
			report(rfd, -errno, VF_ERROR);
			for (;;)
				pause();
		}
		pid = fork();
		if (pid == 0) {
			char *nargv[] = { "victim", "nsinit", argv[2], argv[3], argv[5], NULL };

			prctl(PR_SET_PDEATHSIG, SIGKILL);
			/* getppid() is 0 in the new namespace: no race check
			 * possible here, as in unshare(1) */
			execve(self_exe, nargv, environ);
			_exit(127);
		}
		if (pid < 0)
			report(rfd, -errno, VF_ERROR);
		close(rfd);
		(void)nchild;
		for (;;)
			pause();
	}
	if (!strcmp(mode, "nsinit") && argc == 5) {
		int nchild = num(argv[2]), dpct = num(argv[3]), rfd = num(argv[4]);

		/* pid 1 ignores signals it has no handler for, SIGALRM included */
		signal(SIGALRM, on_alarm);
		report(rfd, host_pid(), VF_NSINIT);
		fork_children(nchild, dpct, "sleep", 0, rfd);
		close(rfd);
		for (;;) {
			if (waitpid(-1, NULL, 0) < 0 && errno == ECHILD)
				pause();
		}
	}
	if (!strcmp(mode, "idle") && argc == 5) {
		int rfd = num(argv[4]);

		wait_go(num(argv[3]));
		idle_children(num(argv[2]), rfd);
		close(rfd);
		for (;;)
			pause();
	}
	if (!strcmp(mode, "forkloop") && argc == 5)
		return loop(num(argv[2]), num(argv[3]), num(argv[4]), 0);
	if (!strcmp(mode, "execloop") && argc == 5)
		return loop(num(argv[2]), num(argv[3]), num(argv[4]), 1);
	return 2;
}
