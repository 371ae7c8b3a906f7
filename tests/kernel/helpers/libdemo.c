// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libdemo: the kernel test `library` of bpfguard, a program linked with
 * libbpfguard (build/libbpfguard.a) that uses it as a node agent would.
 *
 *   libdemo --pin-dir DIR --go GOFILE OUT TREE [SHAPE ARGS...]
 *
 * 1. bpfguard_exec() starts the tree helper TREE (`TREE --life 300 OUT.tree
 *    SHAPE ARGS...`, default shape `children 3`), tagged before it runs.
 *    Once the tree is built it checks, through bpfguard_request(BG_OP_LIST),
 *    that the root is tagged and every descendant is in its lineage, writes
 *    OUT atomically ("PID ROLE" lines: the root as "root", then the tree's),
 *    waits (at most 60 s) for GOFILE so that the runner can look too, kills
 *    the root and reaps it, and checks the whole tree dies.
 * 2. bpfguard_tag/untag/tag_pidfd on processes it forks itself: a tag lists
 *    the process and its child, an untag ends that (the child then survives
 *    its parent), tagging by pidfd with SIGTERM kills the lineage; and the
 *    errors: a zombie (-ESRCH), pid 1 (-EPERM), untagging an untagged
 *    process (-ENOENT), a pin dir with no agent (-ENOTCONN), exec of a
 *    missing file (-ENOENT, no child left behind).
 *
 * Prints one "ok - ..." line per check; the first failed check prints
 * "FAIL: ..." on stderr, SIGKILLs (by pidfd) every process it created that
 * may live, and exits 1. Exit 2 on a usage error. Every process it creates
 * exits by itself after 300 s at the latest.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helper.h"
#include "libbpfguard.h"

#define MAX_PROCS 64
#define LIFE_S 300

static const char *pin;
/* pidfds of every process created here, for the cleanup after a failure */
static int owned[MAX_PROCS];
static int nowned;

static void __attribute__((noreturn, format(printf, 1, 2))) fail(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("FAIL: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	for (int i = 0; i < nowned; i++)
		pidfd_signal(owned[i], SIGKILL);
	exit(1);
}

static void __attribute__((format(printf, 1, 2))) ok(const char *fmt, ...)
{
	va_list ap;

	fputs("ok - ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

/* A pidfd for a process created here (kept for the cleanup). */
static int own(pid_t pid)
{
	int fd = pidfd_of(pid);

	if (fd < 0)
		fail("pidfd_open(%d): %s", pid, strerror(errno));
	if (nowned < MAX_PROCS)
		owned[nowned++] = fd;
	return fd;
}

static bool exited(int pidfd)
{
	struct pollfd p = { .fd = pidfd, .events = POLLIN };

	return poll(&p, 1, 0) > 0;
}

/* 0 once every pidfd says its process exited; else the index of one alive. */
static int wait_exited(const int *fds, int n, long ms)
{
	long deadline = now_ms() + ms;

	for (int i = 0; i < n; i++) {
		struct pollfd p = { .fd = fds[i], .events = POLLIN };
		long left = deadline - now_ms();

		if (poll(&p, 1, left > 0 ? (int)left : 0) <= 0)
			return i + 1;
	}
	return 0;
}

static void reap(pid_t pid, int *status)
{
	while (waitpid(pid, status, 0) < 0)
		if (errno != EINTR)
			fail("waitpid(%d): %s", pid, strerror(errno));
}

/* ---- what the agent says, through the library ---------------------------- */

struct listing {
	void *buf;
	uint32_t ntags, nprocs;
	const struct bg_list_tag *tags;
	const struct bg_list_proc *procs;
};

static void list(struct listing *l)
{
	char msg[256];
	BPFGUARD_OPTS(o, .pin_dir = pin, .msg = msg, .msg_len = sizeof(msg));
	size_t len = 0;
	int err;

	err = bpfguard_request(BG_OP_LIST, &o, &l->buf, &len);
	if (err)
		fail("bpfguard_request(BG_OP_LIST): %d: %s", err, msg);
	if (len < 8)
		fail("list: a payload of %zu bytes", len);
	memcpy(&l->ntags, l->buf, 4);
	memcpy(&l->nprocs, (char *)l->buf + 4, 4);
	if (len != 8 + l->ntags * sizeof(*l->tags) + l->nprocs * sizeof(*l->procs))
		fail("list: %zu bytes for %u tags and %u procs", len, l->ntags, l->nprocs);
	l->tags = (const struct bg_list_tag *)((char *)l->buf + 8);
	l->procs = (const struct bg_list_proc *)(l->tags + l->ntags);
}

/* The active tag rooted at @root, 0 if none. */
static uint32_t tag_of_root(const struct listing *l, pid_t root)
{
	for (uint32_t i = 0; i < l->ntags; i++)
		if (l->tags[i].root_pid == (uint32_t)root)
			return l->tags[i].tag;
	return 0;
}

static bool member(const struct listing *l, pid_t pid, uint32_t tag)
{
	for (uint32_t i = 0; i < l->nprocs; i++)
		if (l->procs[i].pid == (uint32_t)pid && l->procs[i].tag == tag)
			return true;
	return false;
}

/* @root is tagged, and each of @pids is in its lineage. */
static void expect_tagged(pid_t root, const pid_t *pids, int n)
{
	struct listing l;
	uint32_t tag;

	list(&l);
	tag = tag_of_root(&l, root);
	if (!tag)
		fail("list: %d is not a tagged root (%u tags listed)", root, l.ntags);
	for (int i = 0; i < n; i++)
		if (!member(&l, pids[i], tag))
			fail("list: %d is not in the lineage of %d (tag %u)", pids[i], root, tag);
	free(l.buf);
}

static void expect_untagged(pid_t root)
{
	struct listing l;

	list(&l);
	if (tag_of_root(&l, root))
		fail("list: %d is still a tagged root after bpfguard_untag", root);
	free(l.buf);
}

/* ---- 1: bpfguard_exec ---------------------------------------------------- */

struct rec {
	pid_t pid;
	char role[16];
};

static int read_recs(const char *path, struct rec *r, int max)
{
	FILE *f = fopen(path, "r");
	int n = 0;

	if (!f)
		fail("open %s: %s", path, strerror(errno));
	while (n < max && fscanf(f, "%d %15s", &r[n].pid, r[n].role) == 2)
		n++;
	fclose(f);
	return n;
}

static void write_recs(const char *path, const struct rec *r, int n)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		fail("create %s: %s", tmp, strerror(errno));
	for (int i = 0; i < n; i++)
		fprintf(f, "%d %s\n", r[i].pid, r[i].role);
	if (fclose(f) || rename(tmp, path))
		fail("write %s: %s", path, strerror(errno));
}

static void exec_tree(const char *out, const char *go, const char *tree, char **shape,
		      int nshape)
{
	char msg[256], tree_out[4096], want[64];
	BPFGUARD_OPTS(o, .pin_dir = pin, .msg = msg, .msg_len = sizeof(msg));
	static char *dflt[] = { "children", "3" };
	struct rec r[MAX_PROCS];
	int fds[MAX_PROCS];
	char *argv[32];
	int n = 0, nr, rootfd, status, i;
	pid_t root, pids[MAX_PROCS];

	if (!nshape) {
		shape = dflt;
		nshape = 2;
	}
	snprintf(tree_out, sizeof(tree_out), "%s.tree", out);
	argv[n++] = "tree";
	argv[n++] = "--life";
	argv[n++] = "300";
	argv[n++] = tree_out;
	for (i = 0; i < nshape && n < 31; i++)
		argv[n++] = shape[i];
	argv[n] = NULL;

	root = bpfguard_exec(tree, argv, NULL, &o, &rootfd);
	if (root < 0)
		fail("bpfguard_exec(%s): %d: %s", tree, root, msg);
	if (nowned < MAX_PROCS)
		owned[nowned++] = rootfd;
	snprintf(want, sizeof(want), "tagged %d ", root);
	if (strncmp(msg, want, strlen(want)))
		fail("bpfguard_exec: the agent's line is '%s', expected '%s...'", msg, want);
	ok("bpfguard_exec started %s as %d: %s", tree, root, msg);

	if (wait_file(tree_out, 30000))
		fail("the tree started by bpfguard_exec wrote no %s within 30 s", tree_out);
	nr = read_recs(tree_out, r + 1, MAX_PROCS - 1);
	if (nr < 1)
		fail("no process in %s", tree_out);
	/* pidfds first: the listing then proves they name the members */
	for (i = 0; i < nr; i++) {
		pids[i] = r[i + 1].pid;
		fds[i] = own(pids[i]);
	}
	expect_tagged(root, pids, nr);
	ok("the root %d is tagged, its %d descendants are in its lineage", root, nr);

	r[0].pid = root;
	snprintf(r[0].role, sizeof(r[0].role), "root");
	write_recs(out, r, nr + 1);
	if (wait_file(go, 60000))
		fail("no %s within 60 s", go);

	if (pidfd_signal(rootfd, SIGKILL))
		fail("SIGKILL the root %d: %s", root, strerror(errno));
	reap(root, &status);
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
		fail("the root %d, reaped by the caller, ended with status 0x%x, not SIGKILL", root,
		     status);
	i = wait_exited(fds, nr, 10000);
	if (i)
		fail("%d (%s) still lives 10 s after its tagged root %d was killed", pids[i - 1],
		     r[i].role, root);
	ok("killing the root %d killed its %d descendants", root, nr);
}

/* ---- 2: tag, untag, errors ----------------------------------------------- */

static void idle(void)
{
	alarm(LIFE_S);
	for (;;)
		pause();
}

/* Fork a child that forks a grandchild and idles; returns the child's pid,
 * *gc the grandchild's (alive: it was forked and reported). */
static pid_t spawn_pair(pid_t *gc)
{
	int p[2];
	pid_t c, g;

	if (pipe(p))
		fail("pipe: %s", strerror(errno));
	c = fork();
	if (c < 0)
		fail("fork: %s", strerror(errno));
	if (c == 0) {
		close(p[0]);
		g = fork();
		if (g == 0)
			idle();
		if (g < 0 || write(p[1], &g, sizeof(g)) != sizeof(g))
			_exit(1);
		close(p[1]);
		idle();
	}
	close(p[1]);
	if (read(p[0], gc, sizeof(*gc)) != sizeof(*gc))
		fail("the child %d reported no grandchild", c);
	close(p[0]);
	return c;
}

static void expect_msg(const char *what, const char *msg, const char *want)
{
	if (!strstr(msg, want))
		fail("%s: message '%s' lacks '%s'", what, msg, want);
}

static void tag_untag(void)
{
	char msg[512], buf[64];
	BPFGUARD_OPTS(o, .pin_dir = pin, .msg = msg, .msg_len = sizeof(msg));
	int afd, a1fd, bfd, b1fd, err, status;
	pid_t a, a1, b, b1;

	a = spawn_pair(&a1);
	afd = own(a);
	a1fd = own(a1);
	err = bpfguard_tag(a, &o);
	snprintf(buf, sizeof(buf), "tagged %d ", a);
	if (err)
		fail("bpfguard_tag(%d): %d: %s", a, err, msg);
	expect_msg("bpfguard_tag", msg, buf);
	expect_tagged(a, &a1, 1);
	ok("bpfguard_tag(%d): %s; its child %d is in its lineage", a, msg, a1);

	err = bpfguard_tag(a, &o);
	if (err)
		fail("bpfguard_tag(%d) again: %d: %s", a, err, msg);
	expect_msg("bpfguard_tag again", msg, "already tagged");

	err = bpfguard_untag(a, &o);
	if (err)
		fail("bpfguard_untag(%d): %d: %s", a, err, msg);
	snprintf(buf, sizeof(buf), "untagged %d", a);
	expect_msg("bpfguard_untag", msg, buf);
	expect_untagged(a);
	err = bpfguard_untag(a, &o);
	if (err != -ENOENT)
		fail("bpfguard_untag(%d) of an untagged process: %d (%s), expected -ENOENT", a, err,
		     msg);
	ok("bpfguard_untag(%d): no longer listed; again: -ENOENT (%s)", a, msg);

	pidfd_signal(afd, SIGKILL);
	reap(a, &status);
	msleep(500); /* the agent would have killed it by now */
	if (exited(a1fd))
		fail("the child %d of the untagged %d died with it", a1, a);
	pidfd_signal(a1fd, SIGKILL);
	if (wait_exited(&a1fd, 1, 10000))
		fail("%d survived SIGKILL", a1);
	ok("after bpfguard_untag the child %d outlived its parent %d", a1, a);

	/* by pidfd, with a first signal other than SIGKILL */
	b = spawn_pair(&b1);
	bfd = own(b);
	b1fd = own(b1);
	o.signal = SIGTERM;
	o.grace_ns = 2000000000ull;
	err = bpfguard_tag_pidfd(bfd, &o);
	o.signal = 0;
	o.grace_ns = 0;
	if (err)
		fail("bpfguard_tag_pidfd(pidfd of %d): %d: %s", b, err, msg);
	snprintf(buf, sizeof(buf), "tagged %d ", b);
	expect_msg("bpfguard_tag_pidfd", msg, buf);
	expect_tagged(b, &b1, 1);
	pidfd_signal(bfd, SIGKILL);
	reap(b, &status);
	if (wait_exited(&b1fd, 1, 10000))
		fail("the child %d still lives 10 s after its parent %d, tagged by pidfd, was killed",
		     b1, b);
	ok("bpfguard_tag_pidfd(%d, SIGTERM, 2s): its child %d died with it", b, b1);
}

static void errors(void)
{
	char msg[512], none[300], *argv[] = { "libdemo-missing", NULL };
	BPFGUARD_OPTS(o, .pin_dir = pin, .msg = msg, .msg_len = sizeof(msg));
	BPFGUARD_OPTS(n, .pin_dir = none, .msg = msg, .msg_len = sizeof(msg));
	struct bg_status st;
	siginfo_t si;
	void *pl = NULL;
	size_t len = 0;
	int err, fd = 99;
	pid_t z;

	/* a zombie: ours and unreaped, so its pid cannot name anyone else */
	z = fork();
	if (z < 0)
		fail("fork: %s", strerror(errno));
	if (z == 0)
		_exit(0);
	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)z, &si, WEXITED | WNOWAIT))
		fail("waitid: %s", strerror(errno));
	err = bpfguard_tag(z, &o);
	if (err != -ESRCH)
		fail("bpfguard_tag(zombie %d): %d (%s), expected -ESRCH", z, err, msg);
	reap(z, NULL);
	ok("bpfguard_tag of a zombie: -ESRCH (%s)", msg);

	err = bpfguard_tag(1, &o);
	if (err != -EPERM)
		fail("bpfguard_tag(1): %d (%s), expected -EPERM", err, msg);
	ok("bpfguard_tag(1): -EPERM (%s)", msg);

	snprintf(none, sizeof(none), "%s-none", pin);
	err = bpfguard_tag(getpid(), &n);
	if (err != -ENOTCONN)
		fail("bpfguard_tag with no agent for %s: %d (%s), expected -ENOTCONN", none, err, msg);
	expect_msg("no agent", msg, "no agent is running");
	ok("no agent for the pin dir: -ENOTCONN (%s)", msg);

	err = bpfguard_exec("/nonexistent/libdemo-missing", argv, NULL, &o, &fd);
	if (err != -ENOENT)
		fail("bpfguard_exec of a missing file: %d (%s), expected -ENOENT", err, msg);
	expect_msg("bpfguard_exec of a missing file", msg, "/nonexistent/libdemo-missing");
	if (fd != -1)
		fail("bpfguard_exec failed but set *pidfd to %d", fd);
	/* every child created here was reaped: the exec's must have been too */
	if (waitpid(-1, NULL, WNOHANG) != -1 || errno != ECHILD)
		fail("bpfguard_exec of a missing file left a child behind");
	ok("bpfguard_exec of a missing file: -ENOENT (%s), its child reaped", msg);

	err = bpfguard_request(BG_OP_STATUS, &o, &pl, &len);
	if (err)
		fail("bpfguard_request(BG_OP_STATUS): %d: %s", err, msg);
	if (len != sizeof(st))
		fail("status: %zu bytes, expected %zu", len, sizeof(st));
	memcpy(&st, pl, sizeof(st));
	free(pl);
	if (!st.agent_pid || (st.mode != BG_MODE_USER && st.mode != BG_MODE_KERNEL))
		fail("status: agent pid %u, mode %u", st.agent_pid, st.mode);
	ok("bpfguard_request(BG_OP_STATUS): agent %u, mode %s", st.agent_pid,
	   st.mode == BG_MODE_KERNEL ? "kernel" : "user");
}

int main(int argc, char **argv)
{
	const char *go = NULL;
	int i = 1;

	for (; i + 1 < argc && argv[i][0] == '-'; i += 2) {
		if (!strcmp(argv[i], "--pin-dir"))
			pin = argv[i + 1];
		else if (!strcmp(argv[i], "--go"))
			go = argv[i + 1];
		else
			break;
	}
	if (!pin || !go || argc - i < 2) {
		fprintf(stderr, "usage: libdemo --pin-dir DIR --go GOFILE OUT TREE [SHAPE ARGS...]\n");
		return 2;
	}
	exec_tree(argv[i], go, argv[i + 1], argv + i + 2, argc - i - 2);
	tag_untag();
	errors();
	printf("libdemo: all checks passed\n");
	return 0;
}
