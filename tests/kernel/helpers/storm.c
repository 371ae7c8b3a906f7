// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * storm: a fork storm below a child subreaper, for the fork_storm kernel test
 * of bpfguard.
 *
 *   storm [--life SECONDS] [--bound MS] OUT NSTORMERS
 *
 * The process started (S) makes itself a child subreaper and forks the storm
 * root R (the process the test tags and SIGKILLs). R forks NSTORMERS
 * stormers; each forks one sub-stormer, and then both fork short-lived
 * children (which _exit at once) in a tight loop, counting the forks in
 * memory shared with S. Every 50th child is a lingerer instead (at most 32
 * per stormer): it sleeps, so one born after the tag, or while the lineage
 * is being killed, survives unless bpfguard recorded it at its fork. A
 * stormer or lingerer never stops because it was orphaned: only a signal,
 * --life or S's own death ends it.
 *
 * Once the storm runs (200 forks), S writes OUT atomically:
 * "R FORKS LINGERERS\n".
 * When R is dead, S reaps it and then everything orphaned below it (as the
 * subreaper, every orphan of the storm reparents to S, so S has no child
 * left exactly when the whole storm is dead), until it has no child or
 * --bound ms (default 5000) have passed since it reaped R. It then writes
 * OUT.res atomically, one line:
 *   ok FORKS LINGERERS REAPED       nobody survived
 *   survivors N FORKS LINGERERS REAPED PID(COMM) ...
 *                                   N descendants still alive at the bound
 *                                   (the first 16 listed); S then SIGKILLs
 *                                   its children itself (their pids cannot
 *                                   be reused before S reaps them), again
 *                                   and again as the deeper ones reparent
 *                                   to it, until none is left
 * FORKS and LINGERERS count the storm's forks and lingerers up to R's
 * death, REAPED the processes S reaped after R. Exit status 0 (ok), 1 (survivors), 2 (setup failed or
 * usage, a line on stderr).
 *
 * Everything exits by itself after --life seconds (default 120), counted from
 * S's start; S's own alarm ends it 30 s later whatever happens.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helper.h"

#define READY_FORKS 200
#define MAX_LISTED 16

static long t0_ms;
static long life_s = 120;
static long bound_ms = 5000;
#define LINGER_EVERY 50
#define LINGER_MAX 32

/* Shared with every process of the storm: [0] forks, [1] lingerers. */
static unsigned long *forks;
static int hup_r = -1;	     /* hangs up when S is gone */

static long deadline_ms(void)
{
	return t0_ms + life_s * 1000L;
}

/* S's death ends the storm: the read end of a pipe only S can write to
 * reports a hang-up. (Not the death of R or of a parent stormer: that must
 * change nothing, or the test would pass without bpfguard.) */
static bool s_gone(void)
{
	struct pollfd pfd = { hup_r, POLLIN, 0 };

	return poll(&pfd, 1, 0) > 0;
}

static void __attribute__((noreturn)) linger(void)
{
	while (now_ms() < deadline_ms() && !s_gone())
		msleep(100);
	_exit(0);
}

/* Fork and forget short-lived children (and a few lingerers) until --life;
 * SIGCHLD is ignored, so they are reaped automatically while this process
 * lives. */
static void __attribute__((noreturn)) storm_loop(void)
{
	int lingerers = 0;

	for (unsigned long k = 1; now_ms() < deadline_ms(); k++) {
		bool lingerer = k % LINGER_EVERY == 0 && lingerers < LINGER_MAX;
		pid_t p;

		if (k % 64 == 0 && s_gone())
			break;
		p = fork();
		if (p == 0) {
			if (lingerer)
				linger();
			_exit(0);
		}
		if (p > 0) {
			__atomic_add_fetch(&forks[0], 1, __ATOMIC_RELAXED);
			if (lingerer) {
				lingerers++;
				__atomic_add_fetch(&forks[1], 1, __ATOMIC_RELAXED);
			}
		} else {
			msleep(1); /* EAGAIN: back off, never give up */
		}
	}
	_exit(0);
}

static void __attribute__((noreturn)) stormer(void)
{
	pid_t p = fork();

	if (p == 0)
		storm_loop(); /* the sub-stormer */
	storm_loop();
}

static void __attribute__((noreturn)) storm_root(int n)
{
	signal(SIGCHLD, SIG_DFL);
	for (int i = 0; i < n; i++) {
		pid_t p = fork();

		if (p == 0) {
			signal(SIGCHLD, SIG_IGN);
			stormer();
		}
		if (p < 0)
			perror("storm: fork");
	}
	while (now_ms() < deadline_ms() && !s_gone())
		msleep(100);
	_exit(0);
}

/* Reap every child that has exited; 1 once no child is left at all. */
static int reap(long *reaped)
{
	for (;;) {
		pid_t p = waitpid(-1, NULL, WNOHANG | __WALL);

		if (p > 0) {
			(*reaped)++;
			continue;
		}
		return p < 0 && errno == ECHILD;
	}
}

struct pinfo {
	pid_t pid, ppid;
	char comm[20];
	int mark;
};

static struct pinfo procs[65536];

/* Every live process, from /proc. Returns how many. */
static int read_procs(void)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)) && n < (int)(sizeof(procs) / sizeof(procs[0]))) {
		char path[288], line[512], *rp, *lp;
		int ppid;
		char state;
		FILE *f;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		rp = fgets(line, sizeof(line), f) ? strrchr(line, ')') : NULL;
		fclose(f);
		lp = strchr(line, '(');
		if (!rp || !lp || sscanf(rp + 1, " %c %d", &state, &ppid) != 2)
			continue;
		if (state == 'Z' || state == 'X')
			continue;
		*rp = 0;
		procs[n].pid = (pid_t)atoi(de->d_name);
		procs[n].ppid = (pid_t)ppid;
		procs[n].mark = 0;
		snprintf(procs[n].comm, sizeof(procs[n].comm), "%s", lp + 1);
		n++;
	}
	closedir(d);
	return n;
}

/*
 * The live descendants of @self: how many, the first MAX_LISTED as
 * " PID(COMM)" into buf, the direct children's pids into kids (*nkids).
 */
static int list_descendants(pid_t self, char *buf, size_t len, pid_t *kids, int *nkids)
{
	int n = read_procs(), found = 0, changed = 1;
	size_t off = 0;

	*nkids = 0;
	if (len)
		buf[0] = 0;
	while (changed) { /* mark whoever's parent is self or marked */
		changed = 0;
		for (int i = 0; i < n; i++) {
			if (procs[i].mark)
				continue;
			int in = procs[i].ppid == self;

			for (int j = 0; !in && j < n; j++)
				in = procs[j].mark && procs[j].pid == procs[i].ppid;
			if (!in)
				continue;
			procs[i].mark = 1;
			changed = 1;
			if (procs[i].ppid == self && *nkids < 4096)
				kids[(*nkids)++] = procs[i].pid;
			if (found < MAX_LISTED && off < len)
				off += (size_t)snprintf(buf + off, len - off, " %d(%s)",
							(int)procs[i].pid, procs[i].comm);
			found++;
		}
	}
	return found;
}

/* Survivors: SIGKILL our live children until none is left (bounded). */
static void kill_survivors(pid_t self, long *reaped)
{
	static pid_t pids[4096];
	long end = now_ms() + 30000;
	int n;

	while (!reap(reaped) && now_ms() < end) {
		list_descendants(self, NULL, 0, pids, &n);
		for (int i = 0; i < n; i++)
			kill(pids[i], SIGKILL);
		msleep(5);
	}
}

static void __attribute__((noreturn)) usage(void)
{
	fprintf(stderr, "usage: storm [--life S] [--bound MS] OUT NSTORMERS\n");
	exit(2);
}

static long num(const char *s, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (!*s || *end || errno || v < 1 || v > max)
		usage();
	return v;
}

int main(int argc, char **argv)
{
	static pid_t pids[4096];
	char out_res[4096], text[2048], list[1536];
	unsigned long ready, at_death, lingered;
	long reaped = 0, end;
	int i = 1, n, nk, st, hup[2];
	pid_t self = getpid(), root;

	t0_ms = now_ms();
	while (i < argc && strncmp(argv[i], "--", 2) == 0) {
		if (i + 1 >= argc)
			usage();
		if (strcmp(argv[i], "--life") == 0)
			life_s = num(argv[i + 1], 86400);
		else if (strcmp(argv[i], "--bound") == 0)
			bound_ms = num(argv[i + 1], 600000);
		else
			usage();
		i += 2;
	}
	if (argc - i != 2)
		usage();
	n = (int)num(argv[i + 1], 64);
	snprintf(out_res, sizeof(out_res), "%s.res", argv[i]);

	alarm((unsigned)life_s + 30); /* the last resort if the runner vanished */
	forks = mmap(NULL, 2 * sizeof(*forks), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (forks == MAP_FAILED) {
		perror("storm: mmap");
		return 2;
	}
	/* Orphans of the storm come to us, not to init: we can count them. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) {
		perror("storm: PR_SET_CHILD_SUBREAPER");
		return 2;
	}
	if (pipe(hup)) {
		perror("storm: pipe");
		return 2;
	}
	hup_r = hup[0];
	signal(SIGCHLD, SIG_DFL);
	root = fork();
	if (root < 0) {
		perror("storm: fork");
		return 2;
	}
	if (root == 0) {
		close(hup[1]);
		storm_root(n);
	}
	close(hup[0]);

	end = now_ms() + 20000;
	while ((ready = __atomic_load_n(&forks[0], __ATOMIC_RELAXED)) < READY_FORKS) {
		if (now_ms() >= end || waitpid(root, &st, WNOHANG) != 0) {
			fprintf(stderr, "storm: the storm did not start (%lu forks in 20 s)\n", ready);
			kill(root, SIGKILL);
			kill_survivors(self, &reaped);
			return 2;
		}
		msleep(1);
	}
	snprintf(text, sizeof(text), "%d %lu %lu\n", (int)root, ready,
		 __atomic_load_n(&forks[1], __ATOMIC_RELAXED));
	if (write_text(argv[i], text)) {
		perror("storm: cannot write OUT");
		kill(root, SIGKILL);
		kill_survivors(self, &reaped);
		return 2;
	}

	/* Only R is our child until it dies: its orphans come after. */
	while (waitpid(root, &st, 0) < 0 && errno == EINTR)
		;
	at_death = __atomic_load_n(&forks[0], __ATOMIC_RELAXED);
	lingered = __atomic_load_n(&forks[1], __ATOMIC_RELAXED);
	end = now_ms() + bound_ms;
	while (!reap(&reaped)) {
		if (now_ms() >= end)
			break;
		msleep(1);
	}
	n = reap(&reaped) ? 0 : list_descendants(self, list, sizeof(list), pids, &nk);
	/* no live child but not reaped yet (one exiting right now): a moment more */
	for (end = now_ms() + 2000; n == 0 && !reap(&reaped) && now_ms() < end;)
		msleep(1);
	if (n == 0 && reap(&reaped)) {
		snprintf(text, sizeof(text), "ok %lu %lu %ld\n", at_death, lingered, reaped);
		return write_text(out_res, text) ? 2 : 0;
	}
	snprintf(text, sizeof(text), "survivors %d %lu %lu %ld%s%s\n", n, at_death, lingered, reaped, list,
		 n > MAX_LISTED ? " ..." : "");
	write_text(out_res, text);
	kill_survivors(self, &reaped);
	return 1;
}
