// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * uidhop: descendants that change credentials, for the setuid_child kernel
 * test of bpfguard. Run as root.
 *
 *   uidhop [--go GOFILE] [--life SECONDS] OUT SUIDBIN UID1 UID2
 *
 * SUIDBIN is a copy of this program, owned by root, mode 4755. The process
 * started is the root (the one the tests tag). With --go it first waits (at
 * most 60 s) until GOFILE exists. Then it forks:
 *   suid      drops to UID1 (setgroups, setresgid, setresuid), sets
 *             PR_SET_PDEATHSIG(SIGKILL), then execs SUIDBIN (fexecve on a
 *             descriptor opened while still root: the test's temp dir is not
 *             searchable by UID1), which runs with real uid UID1, effective
 *             uid 0; it forks suidkid
 *   setuid    sets PR_SET_PDEATHSIG(SIGKILL), then setresuid(UID2, UID2,
 *             UID2) (and the gids) without exec; it forks setuidkid
 * Each of the four reports "PID ROLE PDEATHSIG" (PDEATHSIG: what
 * PR_GET_PDEATHSIG says after the change; the kernel clears it on a setuid
 * exec and on a credential change, so PR_SET_PDEATHSIG would not have
 * fired) to the root, which writes OUT atomically (OUT.tmp, then rename),
 * one line each, and sleeps.
 *
 * Every process exits by itself after --life seconds (default 300), counted
 * from the root's start. Exit status 1 (a line on stderr) if the setup
 * failed, 2 on a usage error.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "helper.h"

#define NREPORTS 4
#define LINE 64 /* one report: a single write below PIPE_BUF, never torn */

static long end_ms; /* CLOCK_MONOTONIC ms at which everything exits */
static int rep_w = -1;

static void __attribute__((noreturn)) sleeper(void)
{
	exit_at(end_ms);
}

/* A fixed-size record: "PID ROLE PDEATHSIG", NUL-padded. */
static void report(const char *role)
{
	char buf[LINE];
	int sig = -1;

	memset(buf, 0, sizeof(buf));
	if (prctl(PR_GET_PDEATHSIG, &sig, 0, 0, 0))
		sig = -1;
	snprintf(buf, sizeof(buf), "%d %s %d", (int)getpid(), role, sig);
	if (write(rep_w, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
		_exit(3);
}

static void __attribute__((noreturn)) fatal(const char *what)
{
	fprintf(stderr, "uidhop: %s: %s\n", what, strerror(errno));
	report("error");
	_exit(1);
}

/* Become @uid entirely (real, effective, saved; gids too; no groups). */
static void drop_to(uid_t uid)
{
	if (setgroups(0, NULL) || setresgid(uid, uid, uid) || setresuid(uid, uid, uid))
		fatal("cannot change uid");
	if (getuid() != uid || geteuid() != uid)
		fatal("the uid did not change");
}

/* Set PR_SET_PDEATHSIG(SIGKILL) and check it holds. */
static void arm_pdeathsig(void)
{
	int sig = 0;

	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) || prctl(PR_GET_PDEATHSIG, &sig, 0, 0, 0) ||
	    sig != SIGKILL)
		fatal("PR_SET_PDEATHSIG");
}

/* A child of the current process, reporting as @role. */
static void spawn(const char *role)
{
	pid_t p = fork();

	if (p == 0) {
		report(role);
		sleeper();
	}
	if (p < 0)
		fatal("fork");
}

static void __attribute__((noreturn)) suid(const char *bin, uid_t uid)
{
	char fd[16], end[24];
	int bfd = open(bin, O_RDONLY | O_CLOEXEC);

	if (bfd < 0)
		fatal("cannot open SUIDBIN");
	drop_to(uid);
	arm_pdeathsig();
	snprintf(fd, sizeof(fd), "%d", rep_w);
	snprintf(end, sizeof(end), "%ld", end_ms);
	char *args[] = { "uidhop", "--suid", fd, end, NULL };
	fexecve(bfd, args, environ);
	fatal("fexecve SUIDBIN");
}

/* The setuid image: uidhop --suid FD END */
static int after_exec(char **argv)
{
	rep_w = (int)strtol(argv[0], NULL, 10);
	end_ms = strtol(argv[1], NULL, 10);
	signal(SIGCHLD, SIG_IGN);
	report("suid");
	spawn("suidkid");
	sleeper();
}

static void __attribute__((noreturn)) setuid_proc(uid_t uid)
{
	arm_pdeathsig();
	drop_to(uid);
	report("setuid");
	spawn("setuidkid");
	sleeper();
}

/* Read NREPORTS records (bounded) and write them to @out. */
static int collect(int rep_r, const char *out)
{
	char text[NREPORTS * (LINE + 1) + 1] = "", tmp[4096];
	long deadline = now_ms() + 15000; /* below the test's 20 s: we clean up first */
	size_t off = 0;
	FILE *f;

	for (int got = 0; got < NREPORTS;) {
		struct pollfd pfd = { rep_r, POLLIN, 0 };
		long left = deadline - now_ms();
		char buf[LINE];

		if (left <= 0) {
			fprintf(stderr, "uidhop: timed out waiting for the reports\n");
			return -1;
		}
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		if (read(rep_r, buf, sizeof(buf)) != (ssize_t)sizeof(buf)) {
			fprintf(stderr, "uidhop: bad report\n");
			return -1;
		}
		buf[LINE - 1] = 0;
		if (strstr(buf, " error ")) {
			fprintf(stderr, "uidhop: a process reported an error: %s\n", buf);
			return -1;
		}
		off += (size_t)snprintf(text + off, sizeof(text) - off, "%s\n", buf);
		got++;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", out);
	f = fopen(tmp, "w");
	if (!f)
		return -1;
	fputs(text, f);
	if (fclose(f) != 0 || rename(tmp, out) != 0)
		return -1;
	return 0;
}

static uid_t parse_uid(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (!*s || *end || v < 1 || v > 65533) {
		fprintf(stderr, "uidhop: bad uid '%s'\n", s);
		exit(2);
	}
	return (uid_t)v;
}

static void __attribute__((noreturn)) usage(void)
{
	fprintf(stderr, "usage: uidhop [--go FILE] [--life S] OUT SUIDBIN UID1 UID2\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *go = NULL;
	long life_s = 300;
	pid_t a, b;
	int i = 1, fds[2];

	if (argc == 4 && strcmp(argv[1], "--suid") == 0)
		return after_exec(argv + 2);
	if (helper_opts(argc, argv, &i, &go, &life_s))
		usage();
	if (argc - i != 4)
		usage();
	end_ms = now_ms() + life_s * 1000L;
	uid_t uid1 = parse_uid(argv[i + 2]), uid2 = parse_uid(argv[i + 3]);

	if (geteuid() != 0) {
		fprintf(stderr, "uidhop: must run as root\n");
		return 1;
	}
	if (go && wait_file(go, 60000)) {
		fprintf(stderr, "uidhop: timed out waiting for the go file\n");
		return 1;
	}
	if (pipe(fds)) {
		perror("uidhop: pipe");
		return 1;
	}
	rep_w = fds[1];
	signal(SIGCHLD, SIG_IGN);
	a = fork();
	if (a == 0) {
		close(fds[0]);
		suid(argv[i + 1], uid1);
	}
	b = a > 0 ? fork() : -1;
	if (b == 0) {
		close(fds[0]);
		setuid_proc(uid2);
	}
	close(fds[1]);
	if (a < 0 || b < 0 || collect(fds[0], argv[i])) {
		if (a < 0 || b < 0)
			perror("uidhop: fork");
		/* the grandchildren are reparented and live to --life: bounded */
		if (a > 0)
			kill(a, SIGKILL);
		if (b > 0)
			kill(b, SIGKILL);
		return 1;
	}
	sleeper();
}
