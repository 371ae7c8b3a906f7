// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * randtree: a randomized property test of bpfguard's kills.
 *
 *   randtree BPFGUARD PINDIR SEED TREES [BOUND_MS]
 *
 * Needs a running agent on PINDIR. For each of TREES trees (tree i draws
 * from SEED+i, so `randtree BPFGUARD PINDIR SEED+i 1` replays tree i alone)
 * it grows a random forest of processes, a few to ~30, and in between tags
 * and untags random ones with `BPFGUARD tag|untag PID --pin-dir PINDIR`.
 * Processes are made in every way bpfguard must see through: plain forks,
 * setsid(), daemonizing (fork, setsid, fork, the middle one exits), exec
 * (of this binary, directly or through /bin/sh -c), re-exec of a live
 * process, extra threads with or without the main thread pthread_exit()ing.
 * A bystander tree beside them is never tagged. Then it SIGKILLs random
 * tagged roots (sometimes several, sometimes an ordinary process too), one
 * to three rounds, and checks that exactly the processes its model says
 * must die die: those within BOUND_MS (default 5000), the others still
 * alive once the agent has handled every recorded death (the pinned
 * `deaths` map is empty) plus a short settle.
 *
 * The model is README's "What counts as a descendant":
 *  - a child forked by a member of a live tag's lineage joins the innermost
 *    tag its forker belongs to (daemonizing, setsid, exec change nothing);
 *  - tagging R makes a tag nested in R's own tag (if any) and enrols R and
 *    every live process whose parent chain reaches R *now* (an orphan, e.g.
 *    a daemon reparented before the tag, is not found); tags already active
 *    below R are re-parented under the new one;
 *  - a tag that would nest deeper than 8 (BG_MAX_NEST) is refused, also one
 *    that would push tags below its root deeper; refused after its
 *    enrolment, what it took counts for the enclosing tag;
 *  - untagging a nested root merges its members into the enclosing tag;
 *    untagging a top-level root detaches its members (nested tags in it
 *    become top-level);
 *  - when a tagged root dies, every live member of its tag and of every tag
 *    nested in it dies; nothing else does.
 *
 * Output: "seed S, N trees" first; one "FAIL seed S tree I (replay: ...)"
 * line per failed tree, followed (for the first few) by indented lines with
 * the operations and the processes; a "stats:" line; last "N trees, M failed".
 * Exit status 0 iff no tree failed (1 if one did, 2 on a usage error).
 * It stops after 10 failed trees. RANDTREE_VERBOSE=1 prints every tree's
 * operations and processes.
 *
 * Safety: it signals only processes it created, and only through pidfds it
 * holds: every process opens a pidfd on itself and sends it over its control
 * socket (SCM_RIGHTS), so a pidfd can never name a stranger. The pid handed
 * to the CLI is read from that pidfd and checked alive just before. The
 * driver is a child subreaper, so orphans are reparented to it and reaped;
 * every process exits by itself when its control socket closes (the driver
 * died) or after 15 minutes. Every wait is bounded.
 *
 * Internal mode: `randtree node FLAGS` is a tree process after exec; its
 * control socket is fd 3.
 *
 * One file, longer than this tree's rule of about 800 lines, on purpose:
 * every helper is a single .c that needs nothing but helper.h, so that the
 * runner can compile a missing one by itself (run.sh, HELPERS) and the qemu
 * matrix links each statically with one cc line. Its parts, in order: the
 * tree process (node_*), the model (resolve() to model_tag()), the driver
 * (spawn() to kill_round()), the random operations and run_tree().
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/bpf.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helper.h"

#ifndef __NR_close_range
#define __NR_close_range 436
#endif

#define CTL_FD 3		/* a tree process's control socket */
#define MAX_NODES 80
#define MAX_TAGS 64
#define MAX_FAILS 10		/* stop after this many failed trees */
#define DETAILS 3		/* failed trees whose ops and processes are printed */
#define READY_MS 10000		/* a new process must report within this */
#define CLI_S 15		/* bound on one CLI run */
#define SETTLE_MS 20		/* after the agent is idle, before "others alive" */
#define NODE_LIFE_S 900		/* a tree process exits by itself after this */
#define LOG_SZ 6144

/* How a process is made (spawn flags, also passed across exec). */
#define F_DAEMON 0x01		/* fork, setsid, fork; the middle one exits */
#define F_SETSID 0x02
#define F_EXEC 0x04		/* exec this binary */
#define F_EXEC_SH 0x08		/* exec it through /bin/sh -c 'exec ...' */
#define F_LEADER_EXIT 0x10	/* main thread pthread_exit()s, a thread carries on */
#define F_THR_SHIFT 8		/* bits 8-9: extra threads (0-3) */
#define F_THR_MASK (3u << F_THR_SHIFT)
#define F_SHAPE (F_THR_MASK | F_LEADER_EXIT) /* what a re-exec keeps */

enum { OP_SPAWN = 1, OP_REEXEC, OP_READY };

struct msg {
	uint32_t op;
	uint32_t flags;
	int32_t pid;
	uint32_t pad;
};

static char self_path[PATH_MAX];

static void close_from(int lowfd)
{
	if (syscall(__NR_close_range, lowfd, ~0u, 0) == 0)
		return;
	for (int fd = lowfd; fd < 4096; fd++) /* kernels before 5.9 */
		close(fd);
}

/* Send a message, with @fd attached when >= 0. */
static int send_msg(int sock, uint32_t op, uint32_t flags, int fd)
{
	struct msg m = { .op = op, .flags = flags, .pid = getpid() };
	struct iovec iov = { .iov_base = &m, .iov_len = sizeof(m) };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (fd >= 0) {
		struct cmsghdr *c;

		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof(u.buf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	return sendmsg(sock, &mh, MSG_NOSIGNAL) == (ssize_t)sizeof(m) ? 0 : -1;
}

/* Receive a message; *fd = the attached fd or -1. Returns 1, 0 on EOF, -1. */
static int recv_msg(int sock, struct msg *m, int *fd)
{
	struct iovec iov = { .iov_base = m, .iov_len = sizeof(*m) };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = u.buf, .msg_controllen = sizeof(u.buf),
	};
	struct cmsghdr *c;
	ssize_t n;

	*fd = -1;
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return (int)n;
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
		    c->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(fd, CMSG_DATA(c), sizeof(int));
	if (n != (ssize_t)sizeof(*m)) {
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		return -1;
	}
	return 1;
}

/* ==================================================== tree processes */

static unsigned node_flags; /* F_SHAPE bits this process was made with */

static void child_start(int fd, unsigned flags) __attribute__((noreturn));

static void __attribute__((noreturn)) exec_node(unsigned flags)
{
	char fl[16];

	snprintf(fl, sizeof(fl), "%u", flags);
	if (flags & F_EXEC_SH)
		execl("/bin/sh", "sh", "-c", "exec \"$0\" node \"$1\"", self_path,
		      fl, (char *)NULL);
	else
		execl(self_path, "randtree", "node", fl, (char *)NULL);
	_exit(127);
}

static void *sleeper(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

/* Wait (bounded) until the main thread shows as a zombie: pthread_exit()ed. */
static void wait_leader_gone(pid_t tgid)
{
	char path[64], buf[512], *p;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", tgid, tgid);
	for (int i = 0; i < 5000; i++) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		ssize_t n;

		if (fd < 0)
			return;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			return;
		buf[n] = 0;
		p = strrchr(buf, ')');
		if (p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X'))
			return;
		msleep(1);
	}
}

static void handle_cmd(void)
{
	struct msg m;
	int fd, r = recv_msg(CTL_FD, &m, &fd);
	pid_t pid;

	if (r <= 0)
		_exit(0); /* the driver is gone (or closed us): leave */
	switch (m.op) {
	case OP_SPAWN:
		if (fd < 0)
			_exit(6);
		pid = fork();
		if (pid == 0)
			child_start(fd, m.flags);
		close(fd); /* on a failed fork the driver sees its end hang up */
		if (pid > 0 && (m.flags & F_DAEMON))
			waitpid(pid, NULL, 0); /* the middle process exits at once */
		break;
	case OP_REEXEC:
		if (fd >= 0)
			close(fd);
		exec_node(node_flags);
	default:
		if (fd >= 0)
			close(fd);
		break;
	}
}

struct loop_arg {
	int sfd, pidfd;
	pid_t tgid;
	bool wait_leader;
};

/* Report ready (with a pidfd on ourselves), then serve commands until EOF. */
static void *node_loop(void *arg)
{
	struct loop_arg *la = arg;
	long deadline = now_ms() + NODE_LIFE_S * 1000L;

	if (la->wait_leader)
		wait_leader_gone(la->tgid);
	if (send_msg(CTL_FD, OP_READY, 0, la->pidfd))
		_exit(0);
	close(la->pidfd);
	for (;;) {
		struct pollfd p[2] = {
			{ .fd = CTL_FD, .events = POLLIN },
			{ .fd = la->sfd, .events = POLLIN },
		};
		int r = poll(p, 2, 1000);

		if (now_ms() > deadline)
			_exit(0);
		if (r <= 0)
			continue;
		if (p[1].revents) {
			struct signalfd_siginfo si;

			while (read(la->sfd, &si, sizeof(si)) > 0)
				;
			while (waitpid(-1, NULL, WNOHANG) > 0)
				;
		}
		if (p[0].revents)
			handle_cmd();
	}
	return NULL;
}

static void __attribute__((noreturn)) node_main(unsigned flags)
{
	static struct loop_arg la;
	pthread_attr_t attr;
	pthread_t t;
	sigset_t set;
	unsigned nthr = (flags & F_THR_MASK) >> F_THR_SHIFT;

	node_flags = flags & F_SHAPE;
	/* children are reaped from the loop (signalfd), never by a handler,
	 * so waitpid() on a daemonizing middle process stays exact */
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	la.sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	la.pidfd = pidfd_of(getpid());
	la.tgid = getpid();
	la.wait_leader = flags & F_LEADER_EXIT; /* not what a forker left here */
	if (la.sfd < 0 || la.pidfd < 0)
		_exit(7);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	for (unsigned i = 0; i < nthr; i++)
		if (pthread_create(&t, &attr, sleeper, NULL))
			_exit(8);
	if (flags & F_LEADER_EXIT) {
		if (pthread_create(&t, &attr, node_loop, &la))
			_exit(8);
		pthread_exit(NULL); /* the process lives on in its threads */
	}
	node_loop(&la);
	_exit(0);
}

/*
 * A freshly forked child (of the driver or of a tree process) becomes a tree
 * process made the @flags way, with @fd as its control socket.
 */
static void child_start(int fd, unsigned flags)
{
	int null;

	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	if (fd != CTL_FD && dup2(fd, CTL_FD) < 0)
		_exit(9);
	fcntl(CTL_FD, F_SETFD, 0);
	/* nothing of the parent's: above all not other processes' sockets,
	 * whose EOF is how a tree process learns the driver died */
	close_from(CTL_FD + 1);
	null = open("/dev/null", O_RDWR);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		if (null > 2)
			close(null);
	}
	if (flags & F_DAEMON) {
		pid_t mid = getpid(), pid;

		setsid();
		pid = fork();
		if (pid < 0)
			_exit(10);
		if (pid > 0)
			_exit(0);
		if (chdir("/"))
			_exit(10);
		/* report only once reparented: the tree is then stable */
		for (int i = 0; getppid() == mid; i++) {
			if (i > 5000)
				_exit(11);
			msleep(1);
		}
	} else if (flags & F_SETSID) {
		setsid();
	}
	if (flags & (F_EXEC | F_EXEC_SH))
		exec_node(flags & (F_SHAPE | F_EXEC_SH));
	node_main(flags);
}

/* ==================================================== the driver: model */

enum { T_ACTIVE = 1, T_MERGED, T_DETACHED, T_GONE };

struct node {
	int pidfd, ctl;
	pid_t pid;
	int parent;	/* the node that forked it (-1: the driver) */
	unsigned flags;
	int tag;	/* innermost tag it was recorded in, 0 none */
	bool alive, top, bystander;
};

struct mtag {
	int root;	/* node */
	int parent;	/* enclosing tag, 0 none */
	int state;
};

struct tree {
	struct node n[MAX_NODES];
	int nn;
	struct mtag t[MAX_TAGS]; /* t[0] unused: tag 0 is "none" */
	int nt;
	uint64_t rng;
	int round;
	int deep_top;	/* top of a deep chain of nested tags, -1 none */
	bool in_round, failed;
	char log[LOG_SZ];
	size_t loglen;
};

static struct tree T;
static const char *bpfguard, *pin_dir;
static int deaths_fd = -1;
static long bound_ms = 5000;
static uint64_t seed;
static int tree_index, fails;
static volatile sig_atomic_t stopping;
static bool verbose; /* RANDTREE_VERBOSE=1: every tree's ops and processes */

static struct {
	unsigned long procs, daemons, setsids, execs, sh_execs, threaded, leader_exits,
		reexecs, tags, nested, retags, untags, merged, detached, bad_untags, rounds,
		roots_killed, others_killed, deaths, survivors, deep, too_deep;
} st;

static uint64_t rnd64(void)
{
	uint64_t z = (T.rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static int rnd(int n)
{
	return n > 0 ? (int)(rnd64() % (uint64_t)n) : 0;
}

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
	va_list ap;
	int n;

	if (T.loglen >= sizeof(T.log) - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(T.log + T.loglen, sizeof(T.log) - T.loglen, fmt, ap);
	va_end(ap);
	if (n > 0)
		T.loglen += (size_t)n;
	if (T.loglen > sizeof(T.log) - 1)
		T.loglen = sizeof(T.log) - 1;
}

/* The active tag @t stands for (merged -> enclosing; detached, gone -> 0). */
static int resolve(int t)
{
	for (int i = 0; t && i < MAX_TAGS; i++) {
		if (T.t[t].state == T_ACTIVE)
			return t;
		if (T.t[t].state != T_MERGED)
			return 0;
		t = T.t[t].parent;
	}
	return 0;
}

static int tparent(int t)
{
	return resolve(T.t[t].parent);
}

static bool within(int t, int anc)
{
	t = resolve(t);
	for (int i = 0; t && i < MAX_TAGS; i++) {
		if (t == anc)
			return true;
		t = tparent(t);
	}
	return false;
}

/* The active tag @x is the root of, or 0. */
static int root_of(int x)
{
	int t = T.n[x].tag;

	return t && resolve(t) == t && T.t[t].root == x ? t : 0;
}

/* Does @x's parent chain (the kernel's real_parent) reach @r now? */
static bool real_desc(int x, int r)
{
	for (int i = 0; i < MAX_NODES && x >= 0; i++) {
		int p = T.n[x].parent;

		if (x == r)
			return true;
		if ((T.n[x].flags & F_DAEMON) || p < 0 || !T.n[p].alive)
			return false; /* reparented to the driver (subreaper) */
		x = p;
	}
	return false;
}

/* The tag below @outer on @found's chain, to hang under @new; 0 if none. */
static int reparent_target(int found, int outer, int new)
{
	int x = resolve(found);

	for (int i = 0; x && i < MAX_TAGS; i++) {
		int p;

		if (x == new)
			return 0;
		p = tparent(x);
		if (p == outer)
			return x;
		x = p;
	}
	return 0;
}

enum { TAG_TOP, TAG_NESTED, TAG_ALREADY, TAG_FULL, TAG_DEEP };

#define NEST_MAX 8 /* BG_MAX_NEST: deeper nesting is refused */

static bool t_live(int t)
{
	return t && T.t[t].state == T_ACTIVE; /* a dead tag is T_GONE at once */
}

/* Live tags from @t to the top, @t included. */
static int depth_of(int t)
{
	int d = 0;

	for (t = resolve(t); t && d < MAX_TAGS; d++)
		t = tparent(t);
	return d;
}

/* Levels of live tags hanging below live tag @t, @t included. */
static int height_of(int t)
{
	int h = 0;

	if (!t_live(t))
		return 0;
	for (int u = 1; u <= T.nt; u++) {
		int k = 0, x = u;

		if (!t_live(u))
			continue;
		while (x && x != t && k < MAX_TAGS) {
			x = tparent(x);
			k++;
		}
		if (x == t && k + 1 > h)
			h = k + 1;
	}
	return h;
}

static int model_tag(int r)
{
	int outer, id, found[MAX_NODES], nf = 0;

	if (root_of(r))
		return TAG_ALREADY;
	if (T.nt + 1 >= MAX_TAGS)
		return TAG_FULL;
	outer = resolve(T.n[r].tag);
	if (depth_of(outer) + 1 > NEST_MAX)
		return TAG_DEEP; /* refused before anything is written */
	id = T.nt + 1;
	for (int x = 0, h = 0; x < T.nn; x++) {
		int cur;

		if (!T.n[x].alive || !real_desc(x, r))
			continue;
		cur = resolve(T.n[x].tag);
		if (x == r || cur == outer || cur == 0 || cur == id)
			continue;
		h = height_of(reparent_target(cur, outer, id));
		if (depth_of(outer) + 1 + h > NEST_MAX) {
			/* refused after the enrolment: the new tag merges into
			 * outer (or goes), so what it took counts for outer */
			for (int y = 0; y < T.nn; y++)
				if (T.n[y].alive && real_desc(y, r) &&
				    (y == r || resolve(T.n[y].tag) == 0))
					T.n[y].tag = outer;
			return TAG_DEEP;
		}
	}
	T.nt = id;
	T.t[id] = (struct mtag){ .root = r, .parent = outer, .state = T_ACTIVE };
	for (int x = 0; x < T.nn; x++) {
		int cur;

		if (!T.n[x].alive || !real_desc(x, r))
			continue;
		cur = resolve(T.n[x].tag);
		if (x == r || cur == outer || cur == 0)
			T.n[x].tag = id;
		else if (cur != id)
			found[nf++] = cur;
	}
	for (int i = 0; i < nf; i++) {
		int x = reparent_target(found[i], outer, id);

		if (x && T.t[x].parent != id)
			T.t[x].parent = id;
	}
	return outer ? TAG_NESTED : TAG_TOP;
}

/* ==================================================== the driver: processes */

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	va_list ap;

	if (T.failed)
		return; /* the first failure is the one worth reading */
	T.failed = true;
	fails++;
	printf("FAIL seed %llu tree %d (replay: seed %llu, 1 tree): ",
	       (unsigned long long)seed, tree_index,
	       (unsigned long long)(seed + (uint64_t)tree_index));
	if (T.round)
		printf("%s round %d: ", T.in_round ? "in" : "after", T.round);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static const char *flag_str(unsigned f)
{
	static char b[96];

	snprintf(b, sizeof(b), "%s%s%s%s%s%s", f & F_DAEMON ? "+daemon" : "",
		 f & F_SETSID ? "+setsid" : "", f & F_EXEC ? "+exec" : "",
		 f & F_EXEC_SH ? "+shexec" : "",
		 f & F_THR_MASK ? (const char *[]){ "", "+1thr", "+2thr", "+3thr" }
					[(f & F_THR_MASK) >> F_THR_SHIFT] : "",
		 f & F_LEADER_EXIT ? "+leaderexit" : "");
	return b[0] ? b + 1 : "fork";
}

/* Wait (bounded) for a READY on @sock; returns the pidfd it carries or -1. */
static int wait_ready(int sock, const char **why)
{
	struct pollfd p = { .fd = sock, .events = POLLIN };
	struct msg m;
	int fd, r;

	r = poll(&p, 1, READY_MS);
	if (r <= 0) {
		*why = r == 0 ? "did not report ready within 10 s" : "poll failed";
		return -1;
	}
	r = recv_msg(sock, &m, &fd);
	if (r <= 0 || m.op != OP_READY || fd < 0) {
		*why = r == 0 ? "exited before reporting ready (fork or exec failed?)"
			      : "sent a bad ready message";
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static void count_flags(unsigned f)
{
	st.procs++;
	st.daemons += !!(f & F_DAEMON);
	st.setsids += !!(f & F_SETSID);
	st.execs += !!(f & F_EXEC);
	st.sh_execs += !!(f & F_EXEC_SH);
	st.threaded += !!(f & F_THR_MASK);
	st.leader_exits += !!(f & F_LEADER_EXIT);
}

/* Make a new process, child of node @parent (-1: of the driver). */
static int spawn(int parent, unsigned flags, bool bystander)
{
	struct node *n;
	const char *why = NULL;
	int sv[2], idx = T.nn;

	if (T.nn >= MAX_NODES)
		return -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv)) {
		fail("setup: socketpair: %s", strerror(errno));
		return -1;
	}
	if (parent < 0) {
		pid_t pid;

		fflush(stdout);
		pid = fork();
		if (pid == 0)
			child_start(sv[1], flags);
		if (pid < 0) {
			fail("setup: fork: %s", strerror(errno));
			close(sv[0]);
			close(sv[1]);
			return -1;
		}
	} else if (send_msg(T.n[parent].ctl, OP_SPAWN, flags, sv[1])) {
		fail("setup: cannot ask n%d to fork: %s", parent, strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	close(sv[1]);
	n = &T.n[idx];
	*n = (struct node){ .ctl = sv[0], .parent = parent, .flags = flags,
			    .bystander = bystander, .top = parent < 0, .alive = true };
	n->pidfd = wait_ready(sv[0], &why);
	if (n->pidfd >= 0)
		n->pid = pidfd_pid(n->pidfd);
	if (n->pidfd < 0 || n->pid <= 0) {
		fail("setup: new process n%d (%s, child of %s%d) %s", idx, flag_str(flags),
		     parent < 0 ? "the driver" : "n", parent < 0 ? 0 : parent,
		     why ? why : "died at once");
		close(sv[0]);
		if (n->pidfd >= 0)
			close(n->pidfd);
		return -1;
	}
	/* lineage at fork: the innermost live tag of its forker */
	n->tag = parent < 0 ? 0 : resolve(T.n[parent].tag);
	T.nn++;
	count_flags(flags);
	if (parent < 0)
		logf_(" n%d=top(%s)", idx, flag_str(flags));
	else
		logf_(" n%d=spawn(n%d,%s)", idx, parent, flag_str(flags));
	return idx;
}

static int reexec(int x)
{
	const char *why = NULL;
	int fd;

	if (send_msg(T.n[x].ctl, OP_REEXEC, 0, -1)) {
		fail("setup: cannot ask n%d to re-exec: %s", x, strerror(errno));
		return -1;
	}
	fd = wait_ready(T.n[x].ctl, &why);
	if (fd < 0) {
		fail("setup: n%d (pid %d) re-exec: %s", x, T.n[x].pid, why);
		return -1;
	}
	close(fd); /* the same process: the pidfd we hold still names it */
	st.reexecs++;
	logf_(" reexec(n%d)", x);
	return 0;
}

/*
 * Run `BPFGUARD VERB PID --pin-dir PINDIR` (bounded). Returns its exit
 * status (124 if it had to be killed, -1 if it could not run); its stdout
 * and stderr in @out.
 */
static int run_cli(const char *verb, pid_t pid, char *out, size_t outsz)
{
	char pidstr[16];
	int p[2], pfd, status = 0;
	size_t len = 0;
	long deadline = now_ms() + CLI_S * 1000L;
	bool killed = false, eof = false, exited = false;
	pid_t c;

	out[0] = 0;
	snprintf(pidstr, sizeof(pidstr), "%d", pid);
	if (pipe2(p, O_CLOEXEC))
		return -1;
	fflush(stdout);
	c = fork();
	if (c == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		execl(bpfguard, "bpfguard", verb, pidstr, "--pin-dir", pin_dir, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	if (c < 0) {
		close(p[0]);
		return -1;
	}
	pfd = pidfd_of(c); /* our unreaped child: the pid cannot be reused */
	while (!(eof && exited)) {
		struct pollfd q[2] = { { .fd = eof ? -1 : p[0], .events = POLLIN },
				       { .fd = exited ? -1 : pfd, .events = POLLIN } };
		long left = deadline - now_ms();

		if (left <= 0 && !killed) {
			if (pfd >= 0)
				pidfd_signal(pfd, SIGKILL);
			killed = true;
			deadline = now_ms() + 5000;
			continue;
		}
		if (left <= 0)
			break;
		if (poll(q, 2, (int)left) < 0 && errno != EINTR)
			break;
		if (q[0].revents) {
			ssize_t n = read(p[0], out + len, outsz - 1 - len);

			if (n <= 0 || len + (size_t)n >= outsz - 1)
				eof = true;
			if (n > 0)
				len += (size_t)n;
		}
		if (pfd < 0 || q[1].revents)
			exited = true;
	}
	out[len] = 0;
	while (len && out[len - 1] == '\n')
		out[--len] = 0;
	for (char *s = out; *s; s++)
		if (*s == '\n')
			*s = '|';
	close(p[0]);
	if (pfd >= 0)
		close(pfd);
	if (waitpid(c, &status, 0) < 0)
		return -1;
	if (killed)
		return 124;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The node's pid, checked: it is alive and its pidfd still names it. */
static pid_t live_pid(int x)
{
	if (pidfd_dead(T.n[x].pidfd) || pidfd_pid(T.n[x].pidfd) != T.n[x].pid) {
		fail("n%d (pid %d, %s) died before it was killed", x, T.n[x].pid,
		     flag_str(T.n[x].flags));
		return -1;
	}
	return T.n[x].pid;
}

static int do_tag(int r)
{
	char out[512];
	pid_t pid = live_pid(r);
	int want, rc;
	bool nested;

	if (pid < 0)
		return -1;
	want = model_tag(r);
	if (want == TAG_FULL)
		return 0;
	rc = run_cli("tag", pid, out, sizeof(out));
	if (want == TAG_DEEP) {
		st.too_deep++;
		logf_(" tag(n%d)=too-deep", r);
		if (rc != 1 || !strstr(out, "tags nest at most 8 deep")) {
			fail("tag n%d (pid %d): expected the nesting bound's refusal, got exit %d: %s",
			     r, pid, rc, out);
			return -1;
		}
		return 0;
	}
	if (rc != 0) {
		fail("tag n%d (pid %d): exit %d: %s", r, pid, rc, out);
		return -1;
	}
	nested = strstr(out, ", nested") != NULL;
	if (want == TAG_ALREADY) {
		st.retags++;
		logf_(" tag(n%d)=already", r);
		if (!strstr(out, "already tagged")) {
			fail("tag n%d (pid %d) again: expected 'already tagged', got: %s", r, pid, out);
			return -1;
		}
		return 0;
	}
	st.tags++;
	st.nested += want == TAG_NESTED;
	logf_(" tag(n%d)=t%d%s", r, T.nt, want == TAG_NESTED ? "<t" : "");
	if (want == TAG_NESTED)
		logf_("%d", T.t[T.nt].parent);
	if (nested != (want == TAG_NESTED)) {
		fail("tag n%d (pid %d): expected a %s tag, got: %s", r, pid,
		     want == TAG_NESTED ? "nested" : "top-level", out);
		return -1;
	}
	return 0;
}

static int do_untag(int r, bool expect_ok)
{
	char out[512];
	pid_t pid = live_pid(r);
	int t = root_of(r), rc;

	if (pid < 0)
		return -1;
	rc = run_cli("untag", pid, out, sizeof(out));
	if (!expect_ok) {
		st.bad_untags++;
		logf_(" untag(n%d)=refused", r);
		if (rc != 1) {
			fail("untag n%d (pid %d, not a tagged root): exit %d, expected 1: %s", r,
			     pid, rc, out);
			return -1;
		}
		return 0;
	}
	if (rc != 0) {
		fail("untag n%d (pid %d, root of t%d): exit %d: %s", r, pid, t, rc, out);
		return -1;
	}
	T.t[t].state = tparent(t) ? T_MERGED : T_DETACHED;
	st.untags++;
	st.merged += T.t[t].state == T_MERGED;
	st.detached += T.t[t].state == T_DETACHED;
	logf_(" untag(n%d)=t%d%s", r, t, T.t[t].state == T_MERGED ? "merged" : "detached");
	return 0;
}

/* Is the pinned deaths map empty: has the agent handled every death? */
static int deaths_pending(void)
{
	union bpf_attr a;
	uint32_t next;

	memset(&a, 0, sizeof(a));
	a.map_fd = (uint32_t)deaths_fd;
	a.key = 0;
	a.next_key = (uint64_t)(uintptr_t)&next;
	if (syscall(__NR_bpf, BPF_MAP_GET_NEXT_KEY, &a, sizeof(a)) == 0)
		return 1;
	return errno == ENOENT ? 0 : -1;
}

static int wait_agent_idle(long ms)
{
	long deadline = now_ms() + ms;
	int r;

	while ((r = deaths_pending()) == 1) {
		if (now_ms() > deadline)
			return -1;
		msleep(2);
	}
	return r;
}

static void reap_all(void)
{
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

static int node_list(char *b, size_t sz, const bool *set, bool dead_ones)
{
	size_t len = 0;
	int k = 0;

	b[0] = 0;
	for (int x = 0; x < T.nn && len + 48 < sz; x++) {
		if (!set[x])
			continue;
		if (dead_ones != pidfd_dead(T.n[x].pidfd))
			continue;
		len += (size_t)snprintf(b + len, sz - len, "%sn%d(pid %d)", k ? " " : "", x,
					T.n[x].pid);
		k++;
	}
	return k;
}

/*
 * SIGKILL the victims, then check: everything the model says must die dies
 * within the bound, everything else is alive once the agent is idle.
 */
static int kill_round(const int *victims, int nv)
{
	bool exp[MAX_NODES] = { 0 }, other[MAX_NODES] = { 0 }, in_lineage[MAX_NODES] = { 0 };
	struct pollfd p[MAX_NODES];
	char list[1024];
	int np = 0, left, nexp = 0, nother = 0;
	long t0, deadline;

	T.round++;
	T.in_round = true;
	st.rounds++;
	logf_(" kill{");
	for (int i = 0; i < nv; i++) {
		int v = victims[i], t = root_of(v);

		exp[v] = true;
		logf_("%sn%d", i ? "," : "", v);
		if (t) {
			st.roots_killed++;
			for (int x = 0; x < T.nn; x++)
				if (T.n[x].alive && within(T.n[x].tag, t))
					exp[x] = in_lineage[x] = true;
		} else {
			st.others_killed++;
		}
	}
	logf_("}");
	for (int x = 0; x < T.nn; x++) {
		if (!T.n[x].alive)
			continue;
		if (exp[x])
			nexp++;
		else
			other[x] = true, nother++;
	}
	for (int i = 0; i < nv; i++)
		/* a victim in the lineage of a root killed just before may be
		 * gone already (kernel mode kills it at once): the wait checks it */
		if (pidfd_signal(T.n[victims[i]].pidfd, SIGKILL) &&
		    !(errno == ESRCH && in_lineage[victims[i]])) {
			fail("pidfd_send_signal(n%d, SIGKILL): %s", victims[i], strerror(errno));
			return -1;
		}
	t0 = now_ms();
	deadline = t0 + bound_ms;
	for (int x = 0; x < T.nn; x++)
		if (exp[x])
			p[np++] = (struct pollfd){ .fd = T.n[x].pidfd, .events = POLLIN };
	left = np;
	while (left > 0) {
		long ms = deadline - now_ms();
		int r;

		if (ms <= 0)
			break;
		r = poll(p, (nfds_t)np, (int)ms);
		if (r < 0 && errno != EINTR)
			break;
		for (int i = 0; r > 0 && i < np; i++)
			if (p[i].fd >= 0 && p[i].revents) {
				p[i].fd = -1;
				left--;
			}
	}
	if (left > 0) {
		int k = node_list(list, sizeof(list), exp, false);

		fail("%d of %d process(es) that must die still alive %ld ms after the kill: %s",
		     k, nexp, bound_ms, list);
		return -1;
	}
	/* Every death the kill caused is recorded in the deaths map before its
	 * pidfd turns readable; once the map is empty the agent has finished
	 * its sweeps (and waited for its victims), and in kernel mode the
	 * in-kernel signals went out from the exit hook long before. */
	if (wait_agent_idle(bound_ms)) {
		fail("the agent did not finish handling the deaths within %ld ms", bound_ms);
		return -1;
	}
	msleep(SETTLE_MS);
	if (node_list(list, sizeof(list), other, true)) {
		fail("killed although not in a dying lineage: %s (the %d that had to die died)",
		     list, nexp);
		return -1;
	}
	for (int x = 0; x < T.nn; x++)
		if (exp[x])
			T.n[x].alive = false;
	/* a dead root's tag is deleted once its lineage is dead */
	for (int t = 1; t <= T.nt; t++)
		if (T.t[t].state == T_ACTIVE && !T.n[T.t[t].root].alive)
			T.t[t].state = T_GONE;
	st.deaths += (unsigned long)nexp;
	st.survivors += (unsigned long)nother;
	T.in_round = false;
	reap_all();
	return 0;
}

/* ==================================================== the driver: scripts */

static unsigned rand_flags(void)
{
	unsigned f = 0;
	int r = rnd(100);

	if (r < 15)
		f |= F_DAEMON;
	else if (r < 25)
		f |= F_SETSID;
	r = rnd(100);
	if (r < 10)
		f |= F_EXEC;
	else if (r < 16)
		f |= F_EXEC_SH;
	if (rnd(100) < 15) {
		f |= (unsigned)(1 + rnd(3)) << F_THR_SHIFT;
		if (rnd(2))
			f |= F_LEADER_EXIT;
	}
	return f;
}

/* A random live node matching @want (NULL: any), or -1. */
static int pick(bool (*want)(int))
{
	int c[MAX_NODES], k = 0;

	for (int x = 0; x < T.nn; x++)
		if (T.n[x].alive && (!want || want(x)))
			c[k++] = x;
	return k ? c[rnd(k)] : -1;
}

static bool taggable(int x)
{
	return !T.n[x].bystander;
}

static bool top_taggable(int x)
{
	return T.n[x].top && !T.n[x].bystander;
}

static bool is_root(int x)
{
	return root_of(x) != 0;
}

static bool nested_root(int x)
{
	int t = root_of(x);

	return t && tparent(t);
}

static bool not_root(int x)
{
	return !root_of(x);
}

static int live_count(void)
{
	int k = 0;

	for (int x = 0; x < T.nn; x++)
		k += T.n[x].alive;
	return k;
}

static int spawn_random(void)
{
	int parent = -1;

	/* half the time the newest process: long chains; else anyone: width */
	if (rnd(2)) {
		for (int x = T.nn - 1; x >= 0 && parent < 0; x--)
			if (T.n[x].alive)
				parent = x;
	} else {
		parent = pick(NULL);
	}
	if (parent < 0)
		return -1;
	return spawn(parent, rand_flags(), T.n[parent].bystander) < 0 ? -1 : 0;
}

static int random_op(void)
{
	int r = rnd(100), x;

	if (r < 68)
		return spawn_random();
	if (r < 82) {
		x = rnd(3) == 0 ? pick(top_taggable) : pick(taggable);
		return x < 0 ? 0 : do_tag(x);
	}
	if (r < 90) {
		/* nested roots first: their untag merges, the subtler case */
		x = rnd(3) ? pick(nested_root) : -1;
		if (x < 0)
			x = pick(is_root);
		return x < 0 ? 0 : do_untag(x, true);
	}
	if (r < 92) {
		x = pick(not_root);
		return x < 0 ? 0 : do_untag(x, false);
	}
	if (r < 96) {
		x = pick(NULL);
		return x < 0 ? 0 : reexec(x);
	}
	x = pick(is_root);
	return x < 0 ? 0 : do_tag(x);
}

/*
 * A chain below @top, every link tagged: top-down as it grows (each tag
 * nested at birth) or afterwards in a random order (tags re-parented).
 */
static int deep_chain(int top)
{
	int len = 6 + rnd(5), links[16], prev = top;
	bool after = rnd(3) == 0;

	st.deep++;
	T.deep_top = top;
	logf_(" deep%s", after ? "(tags after)" : "");
	for (int i = 0; i < len; i++) {
		if (!after && do_tag(prev))
			return -1;
		links[i] = spawn(prev, rand_flags() & ~F_DAEMON, false);
		if (links[i] < 0)
			return -1;
		prev = links[i];
	}
	if (after) {
		for (int i = len - 1; i > 0; i--) { /* shuffle */
			int j = rnd(i + 1), t = links[i];

			links[i] = links[j];
			links[j] = t;
		}
		if (do_tag(top))
			return -1;
		for (int i = 0; i < len; i++)
			if (do_tag(links[i]))
				return -1;
	}
	return 0;
}

static int kill_some(void)
{
	int v[4], nv = 0, roots = 0, x;

	for (x = 0; x < T.nn; x++)
		roots += T.n[x].alive && root_of(x);
	if (T.deep_top >= 0 && T.round == 0 && root_of(T.deep_top) && rnd(2))
		return kill_round(&T.deep_top, 1); /* the whole chain's nesting at once */
	if (roots) {
		int k = rnd(100) < 75 ? 1 : rnd(100) < 80 ? 2 : 3;

		while (nv < k && nv < roots) {
			x = pick(is_root);
			bool dup = false;

			for (int i = 0; i < nv; i++)
				dup |= v[i] == x;
			if (!dup)
				v[nv++] = x;
		}
	}
	if (!roots || rnd(100) < 25) {
		x = pick(not_root);
		if (x >= 0)
			v[nv++] = x;
	}
	return nv ? kill_round(v, nv) : 0;
}

static void cleanup_tree(void)
{
	struct pollfd p[MAX_NODES];
	int np = 0, left;
	long deadline = now_ms() + bound_ms;

	for (int x = 0; x < T.nn; x++) {
		pidfd_signal(T.n[x].pidfd, SIGKILL); /* ESRCH for the dead: harmless */
		p[np++] = (struct pollfd){ .fd = T.n[x].pidfd, .events = POLLIN };
	}
	left = np;
	while (left > 0) {
		long ms = deadline - now_ms();
		int r;

		if (ms <= 0)
			break;
		r = poll(p, (nfds_t)np, (int)ms);
		if (r < 0 && errno != EINTR)
			break;
		for (int i = 0; r > 0 && i < np; i++)
			if (p[i].fd >= 0 && p[i].revents) {
				p[i].fd = -1;
				left--;
			}
	}
	if (left > 0)
		fail("cleanup: %d process(es) still alive %ld ms after SIGKILL", left, bound_ms);
	for (int x = 0; x < T.nn; x++) {
		close(T.n[x].pidfd);
		close(T.n[x].ctl);
		T.n[x].pidfd = T.n[x].ctl = -1;
	}
	T.nn = 0;
	reap_all();
	/* the roots' deaths: let the agent finish before the next tree */
	if (wait_agent_idle(bound_ms))
		fail("cleanup: the agent did not finish handling the deaths within %ld ms",
		     bound_ms);
}

static void print_details(void)
{
	printf("  ops:%s\n", T.log);
	for (int x = 0; x < T.nn; x++) {
		struct node *n = &T.n[x];
		char par[16] = "driver";
		int t = n->tag;

		if (n->parent >= 0)
			snprintf(par, sizeof(par), "n%d", n->parent);
		printf("  n%d pid %d %s parent %s%s%s tag t%d", x, n->pid, flag_str(n->flags), par,
		       n->bystander ? " bystander" : "", n->alive ? "" : " dead(model)", t);
		if (t)
			printf("(root n%d, parent t%d, %s)", T.t[t].root, T.t[t].parent,
			       (const char *[]){ "?", "active", "merged", "detached",
						 "gone" }[T.t[t].state]);
		printf("\n");
	}
}

static void run_tree(void)
{
	int ntop, target, rounds, ops = 0;

	/* everything below draws from this tree's own seed: replayable alone */
	memset(&T, 0, sizeof(T));
	T.rng = seed + (uint64_t)tree_index;
	rnd64();
	T.deep_top = -1;
	ntop = 1 + rnd(3);
	for (int i = 0; i < ntop && !T.failed; i++) {
		int x = spawn(-1, rand_flags(), false);

		/* tagged before it has children: they join by the fork rule */
		if (x >= 0 && rnd(2))
			do_tag(x);
	}
	if (!T.failed && rnd(100) < 70)
		spawn(-1, rand_flags(), true);
	if (!T.failed && rnd(100) < 6)
		deep_chain(0);
	target = 3 + rnd(28);
	while (!T.failed && live_count() < target && ops++ < 150 && !stopping)
		random_op();
	rounds = 1 + rnd(3);
	for (int r = 0; r < rounds && !T.failed && live_count() && !stopping; r++) {
		for (int i = r ? rnd(4) : 0; i > 0 && !T.failed; i--)
			random_op();
		if (!T.failed)
			kill_some();
	}
	if ((T.failed && fails <= DETAILS) || verbose)
		print_details();
	cleanup_tree();
}

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
	/* async-signal-safe: kill what this tree made, then leave; the tree
	 * processes also leave on their own when their sockets close */
	for (int x = 0; x < T.nn; x++)
		if (T.n[x].pidfd >= 0)
			pidfd_signal(T.n[x].pidfd, SIGKILL);
	_exit(3);
}

static int usage(void)
{
	fprintf(stderr, "usage: randtree BPFGUARD PINDIR SEED TREES [BOUND_MS]\n");
	return 2;
}

static bool parse_u64(const char *s, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 10);
	return !errno && *s && !*end && *s != '-';
}

int main(int argc, char **argv)
{
	char path[PATH_MAX + 16];
	union bpf_attr a;
	uint64_t trees, b = 5000;
	ssize_t n;
	long t0;
	int i;

	n = readlink("/proc/self/exe", self_path, sizeof(self_path) - 1);
	if (n <= 0) {
		fprintf(stderr, "randtree: readlink /proc/self/exe: %s\n", strerror(errno));
		return 2;
	}
	self_path[n] = 0;
	if (argc == 3 && !strcmp(argv[1], "node")) {
		uint64_t f;

		if (!parse_u64(argv[2], &f))
			return 2;
		node_main((unsigned)f);
	}
	if (argc < 5 || argc > 6 || !parse_u64(argv[3], &seed) || !parse_u64(argv[4], &trees) ||
	    (argc == 6 && (!parse_u64(argv[5], &b) || !b || b > 600000)))
		return usage();
	bound_ms = (long)b;
	verbose = getenv("RANDTREE_VERBOSE") && !strcmp(getenv("RANDTREE_VERBOSE"), "1");
	bpfguard = argv[1];
	pin_dir = argv[2];
	if (access(bpfguard, X_OK)) {
		fprintf(stderr, "randtree: %s: %s\n", bpfguard, strerror(errno));
		return 1;
	}
	snprintf(path, sizeof(path), "%s/deaths", pin_dir);
	memset(&a, 0, sizeof(a));
	a.pathname = (uint64_t)(uintptr_t)path;
	deaths_fd = (int)syscall(__NR_bpf, BPF_OBJ_GET, &a, sizeof(a));
	if (deaths_fd < 0 || deaths_pending() < 0) {
		fprintf(stderr, "randtree: cannot read the pinned map %s (is an agent running "
			"on %s?): %s\n", path, pin_dir, strerror(errno));
		return 1;
	}
	/* orphans (daemons, children of killed processes) come to us: reaped,
	 * and their parent chain never reaches a tagged root */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1)) {
		fprintf(stderr, "randtree: PR_SET_CHILD_SUBREAPER: %s\n", strerror(errno));
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);

	printf("seed %llu, %llu trees\n", (unsigned long long)seed, (unsigned long long)trees);
	fflush(stdout);
	t0 = now_ms();
	for (i = 0; (uint64_t)i < trees && fails < MAX_FAILS; i++) {
		tree_index = i;
		run_tree();
	}
	printf("stats: %.1f s; processes %lu (daemon %lu, setsid %lu, exec %lu, sh-exec %lu, "
	       "threaded %lu, leader-exit %lu), re-execs %lu, deep chains %lu; tags %lu "
	       "(nested %lu, refused too deep %lu), re-tags %lu, untags %lu (merged %lu, detached %lu), refused "
	       "untags %lu; kill rounds %lu (tagged roots %lu, others %lu), deaths %lu, "
	       "survivors checked %lu\n",
	       (double)(now_ms() - t0) / 1000.0, st.procs, st.daemons, st.setsids, st.execs,
	       st.sh_execs, st.threaded, st.leader_exits, st.reexecs, st.deep, st.tags,
	       st.nested, st.too_deep, st.retags, st.untags, st.merged, st.detached, st.bad_untags,
	       st.rounds, st.roots_killed, st.others_killed, st.deaths, st.survivors);
	if (fails >= MAX_FAILS && (uint64_t)i < trees)
		printf("stopped after %d failed trees\n", fails);
	printf("%d trees, %d failed\n", i, fails);
	return fails ? 1 : 0;
}
