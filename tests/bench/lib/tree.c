// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* tree.c: see tree.h. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/pidfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/sched.h>

#include "cmd.h"
#include "tree.h"
#include "util.h"

void own_fd(struct bench_ctx *ctx, int fd)
{
	if (fd >= 0 && fd < MAXFD)
		ctx->ours[fd] = 1;
}

void close_own(struct bench_ctx *ctx, int fd)
{
	if (fd < 0)
		return;
	if (fd < MAXFD)
		ctx->ours[fd] = 0;
	close(fd);
}

static pid_t clone_into(int cg_fd, int *pidfd)
{
	struct clone_args ca;

	memset(&ca, 0, sizeof(ca));
	ca.flags = CLONE_PIDFD | (cg_fd >= 0 ? CLONE_INTO_CGROUP : 0);
	ca.pidfd = (uint64_t)(uintptr_t)pidfd;
	ca.exit_signal = SIGCHLD;
	ca.cgroup = cg_fd >= 0 ? (uint64_t)cg_fd : 0;
	return (pid_t)syscall(SYS_clone3, &ca, sizeof(ca));
}

void tree_spawn(struct bench_ctx *ctx, struct tree *t, const char *const args[], int want,
		int cg_fd)
{
	char a_go[16], a_rep[16];
	char *argv[16];
	int go[2], rep[2], argc = 0, pidfd = -1;
	pid_t pid;

	memset(t, 0, sizeof(*t));
	t->want = want;
	t->root_fd = -1;
	if (pipe2(go, O_CLOEXEC) || pipe2(rep, O_CLOEXEC))
		die("pipe: %s", strerror(errno));
	fmt_int(a_go, go[0]);
	fmt_int(a_rep, rep[1]);
	argv[argc++] = "victim";
	for (int i = 0; args[i]; i++)
		argv[argc++] = (char *)args[i];
	argv[argc++] = a_go;
	argv[argc++] = a_rep;
	argv[argc] = NULL;

	pid = clone_into(cg_fd, &pidfd);
	if (pid == 0) {
		child_stdio(ctx, -1);
		fcntl(go[0], F_SETFD, 0);
		fcntl(rep[1], F_SETFD, 0);
		execve(ctx->victim, argv, bench_env);
		_exit(127);
	}
	if (pid < 0)
		die("clone3: %s", strerror(errno));
	close(go[0]);
	close(rep[1]);
	t->root = pid;
	t->root_fd = pidfd;
	own_fd(ctx, pidfd);
	t->go_w = go[1];
	t->rep_r = rep[0];
	t->pid = zalloc((size_t)want + 1, sizeof(*t->pid));
	t->fd = zalloc((size_t)want + 1, sizeof(*t->fd));
	t->flags = zalloc((size_t)want + 1, sizeof(*t->flags));
	t->dead = zalloc((size_t)want + 1, 1);
}

int tree_tag(const struct bench_ctx *ctx, struct tree *t)
{
	char pid[16], out[512];
	int rc;

	fmt_int(pid, t->root);
	rc = bg_cmd(ctx, "tag", pid, out, sizeof(out), 60000, &t->tag_ns);
	if (rc) {
		note("bpfguard tag %d failed (rc %d): %s", t->root, rc, out);
		return -1;
	}
	char *p = strstr(out, "(tag ");

	t->tag = p ? (uint32_t)strtoul(p + 5, NULL, 10) : 0;
	return 0;
}

/* one victim's report: a pidfd for it, or -1 */
static int tree_add(struct bench_ctx *ctx, struct tree *t, const struct vreport *r)
{
	int fd;

	if (r->flags & VF_ERROR) {
		note("tree: a victim could not be forked: %s", strerror(-r->pid));
		return -1;
	}
	if (t->n >= t->want)
		return 0;
	fd = pidfd_of(r->pid);
	if (fd < 0) {
		note("tree: pidfd_open(%d): %s", r->pid, strerror(errno));
		return -1;
	}
	own_fd(ctx, fd);
	t->pid[t->n] = r->pid;
	t->fd[t->n] = fd;
	t->flags[t->n] = r->flags;
	t->n++;
	return 0;
}

int tree_go(struct bench_ctx *ctx, struct tree *t, int timeout_ms)
{
	uint64_t end = now_ns() + (uint64_t)timeout_ms * 1000000ull;
	struct vreport r[512];
	size_t partial = 0;
	char *buf = (char *)r;
	int err = 0;

	if (write(t->go_w, "g", 1) != 1)
		err = -1;
	close(t->go_w);
	t->go_w = -1;
	while (!err && t->n < t->want) {
		uint64_t now = now_ns();
		ssize_t n;

		if (now >= end || !fd_readable(t->rep_r, (int)((end - now) / 1000000ull) + 1)) {
			note("tree: only %d of %d victims reported in time", t->n, t->want);
			return -1;
		}
		n = read(t->rep_r, buf + partial, sizeof(r) - partial);
		if (n <= 0) {
			note("tree: report pipe closed after %d of %d victims", t->n, t->want);
			return -1;
		}
		partial += (size_t)n;
		for (size_t i = 0; i + 1 <= partial / sizeof(r[0]); i++)
			if (tree_add(ctx, t, &r[i]))
				err = -1;
		size_t used = partial / sizeof(r[0]) * sizeof(r[0]);

		memmove(buf, buf + used, partial - used);
		partial -= used;
	}
	return err;
}

void tree_reap_root(struct tree *t)
{
	siginfo_t si;

	if (t->root_reaped || t->root_fd < 0)
		return;
	int r;

	memset(&si, 0, sizeof(si));
	r = waitid(P_PIDFD, (id_t)t->root_fd, &si, WEXITED | WNOHANG);
	if ((r == 0 && si.si_pid) || (r < 0 && errno == ECHILD))
		t->root_reaped = 1;
}

void tree_kill(struct tree *t, enum mech m, int cgkill_fd, bool only_nd, int extra_ms,
	       int timeout_ms, struct measure *res)
{
	struct epoll_event ev, evs[512];
	int ep = epoll_create1(EPOLL_CLOEXEC), left = 0, alive = t->n;
	uint64_t t0, last = 0, end;

	memset(res, 0, sizeof(*res));
	if (ep < 0)
		die("epoll_create1: %s", strerror(errno));
	ev.events = EPOLLIN | EPOLLONESHOT;
	ev.data.u64 = UINT64_MAX;
	epoll_ctl(ep, EPOLL_CTL_ADD, t->root_fd, &ev);
	for (int i = 0; i < t->n; i++) {
		ev.data.u64 = (uint64_t)i;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, t->fd[i], &ev))
			die("epoll_ctl: %s", strerror(errno));
		if (!only_nd || !(t->flags[i] & VF_DAEMON))
			left++;
	}
	t0 = now_ns();
	pidfd_signal(t->root_fd, SIGKILL);
	if (m == M_FLOOR)
		for (int i = 0; i < t->n; i++)
			pidfd_signal(t->fd[i], SIGKILL);
	end = t0 + (uint64_t)timeout_ms * 1000000ull;
	last = t0;
	for (int phase = 0; phase < 2; phase++) {
		while ((phase == 0 ? left : alive) > 0) {
			uint64_t now = now_ns();
			int n;

			if (now >= end)
				break;
			n = epoll_wait(ep, evs, 512, (int)((end - now) / 1000000ull) + 1);
			now = now_ns();
			for (int k = 0; k < n; k++) {
				uint64_t i = evs[k].data.u64;

				if (i == UINT64_MAX) {
					if (cgkill_fd >= 0 && write(cgkill_fd, "1", 1) != 1)
						note("cgroup.kill: %s", strerror(errno));
					tree_reap_root(t);
					continue;
				}
				t->dead[i] = 1;
				alive--;
				if (!only_nd || !(t->flags[i] & VF_DAEMON)) {
					left--;
					last = now;
				}
			}
		}
		if (phase == 0) {
			res->timeout = left > 0;
			res->lat_ms = (double)(last - t0) / 1e6;
			if (!only_nd || res->timeout)
				break;
			end = now_ns() + (uint64_t)extra_ms * 1000000ull;
		}
	}
	res->survivors = alive;
	res->t0 = t0;
	close(ep);
}

void tree_finish(struct bench_ctx *ctx, struct tree *t)
{
	for (int i = 0; i < t->n; i++)
		if (!t->dead[i])
			pidfd_signal(t->fd[i], SIGKILL);
	if (t->root_fd >= 0 && !t->root_reaped)
		pidfd_signal(t->root_fd, SIGKILL);
	for (int i = 0; i < t->n; i++) {
		if (!t->dead[i] && !fd_readable(t->fd[i], 10000))
			note("victim %d still alive 10 s after SIGKILL", t->pid[i]);
		close_own(ctx, t->fd[i]);
	}
	if (t->root_fd >= 0) {
		if (!t->root_reaped && fd_readable(t->root_fd, 10000))
			tree_reap_root(t);
		close_own(ctx, t->root_fd);
	}
	if (t->go_w >= 0)
		close(t->go_w);
	close(t->rep_r);
	reap_all(ctx);
	free(t->pid);
	free(t->fd);
	free(t->flags);
	free(t->dead);
	memset(t, 0, sizeof(*t));
	t->root_fd = t->go_w = t->rep_r = -1;
}

void build_big(struct bench_ctx *ctx, struct tree *t, int n, double *build_ms)
{
	char a_n[16];
	const char *args[] = { "root", a_n, "0", "plain", NULL };
	uint64_t t0;

	fmt_int(a_n, n);
	tree_spawn(ctx, t, args, n, ctx->cg_all_fd);
	t0 = now_ns();
	if (tree_go(ctx, t, 300000))
		die("could not build a tree of %d victims", n);
	*build_ms = (double)(now_ns() - t0) / 1e6;
}
