// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libbpfguard (include/libbpfguard.h): the client of the agent's control
 * socket, shared by the CLI and by programs that embed it. Every call opens
 * its own connection and keeps nothing between calls: no global state, so
 * threads need no locking, and a restarted agent is simply found again.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bpfguard.h"
#include "control.h"
#include "libbpfguard.h"
#include "libbpfguard_priv.h"
#include "parse.h"

_Static_assert(BPFGUARD_GRACE_MAX_NS == BG_GRACE_MAX_NS, "the library takes what the agent takes");

/* Raw syscalls: <sys/pidfd.h> needs glibc 2.36, which the machines that
 * embed the library may not have; the syscalls are in every kernel that
 * can run the agent (5.3+). */
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

int lbg_pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* strerror() may use a static buffer: this does not. */
static const char *errstr(int err, char *buf, size_t len)
{
	return strerror_r(err, buf, len);
}

void lbg_msg(struct lbg_call *c, const char *fmt, ...)
{
	va_list ap;

	if (!c->msg || !c->msg_len)
		return;
	va_start(ap, fmt);
	vsnprintf(c->msg, c->msg_len, fmt, ap);
	va_end(ap);
}

/* Bytes of a newer caller's opts past the end of ours must be zero: a
 * field this library does not know cannot be honoured, only refused. */
static bool tail_is_zero(const struct bpfguard_opts *opts)
{
	const unsigned char *p = (const unsigned char *)opts;

	for (size_t i = sizeof(*opts); i < opts->sz; i++)
		if (p[i])
			return false;
	return true;
}

int lbg_resolve(const struct bpfguard_opts *opts, unsigned int allow, struct lbg_call *c)
{
	struct bpfguard_opts o = { 0 };
	const char *pin;
	size_t n;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	if (opts) {
		/* sz unset, or garbage: nothing else can be trusted (a
		 * future struct will not grow by pages) */
		if (opts->sz < sizeof(opts->sz) || opts->sz > LBG_OPTS_MAX)
			return -EINVAL;
		/* an older caller's shorter struct: the fields it lacks stay 0 */
		memcpy(&o, opts, opts->sz < sizeof(o) ? opts->sz : sizeof(o));
	}
	c->msg = o.msg;
	c->msg_len = o.msg_len;
	if (c->msg && c->msg_len)
		c->msg[0] = '\0';
	if (opts && opts->sz > sizeof(o) && !tail_is_zero(opts)) {
		lbg_msg(c, "options set fields this libbpfguard does not know (sz %zu, it knows %zu)",
			opts->sz, sizeof(o));
		return -EINVAL;
	}

	pin = o.pin_dir ? o.pin_dir : BPFGUARD_PIN_DIR_DEFAULT;
	n = strnlen(pin, sizeof(c->pin_dir));
	if (n >= sizeof(c->pin_dir)) {
		lbg_msg(c, "invalid pin dir: longer than %d characters", LBG_PIN_DIR_MAX);
		return -EINVAL;
	}
	memcpy(c->pin_dir, pin, n + 1);
	/* normalized as the CLI does, or "/x/" and "/x" would name two agents */
	if (check_pin_dir(c->pin_dir)) {
		lbg_msg(c, "invalid pin dir '%s': an absolute path on bpffs is needed", pin);
		return -EINVAL;
	}

	if (!(allow & LBG_ALLOW_KILL_OPTS) && (o.signal || o.grace_ns)) {
		lbg_msg(c, "signal and grace apply to tagging only");
		return -EINVAL;
	}
	if (o.flags & ~(uint32_t)BPFGUARD_ALLOW_BREAKAWAY) {
		lbg_msg(c, "unknown flags 0x%x", o.flags & ~(uint32_t)BPFGUARD_ALLOW_BREAKAWAY);
		return -EINVAL;
	}
	if (o.flags && !(allow & LBG_ALLOW_TAG_FLAGS)) {
		lbg_msg(c, "BPFGUARD_ALLOW_BREAKAWAY applies to tagging only");
		return -EINVAL;
	}
	if (o.max_procs && !(allow & LBG_ALLOW_TAG_FLAGS)) {
		lbg_msg(c, "max_procs applies to tagging only");
		return -EINVAL;
	}
	if (o.max_procs > BPFGUARD_MAX_PROCS_MAX) {
		lbg_msg(c, "invalid max_procs %u (at most %u, or 0 for none)", o.max_procs,
			BPFGUARD_MAX_PROCS_MAX);
		return -EINVAL;
	}
	/* the kernel's limit; SIGRTMAX is a glibc function with its own view */
	if (o.signal < 0 || o.signal > 64) {
		lbg_msg(c, "invalid signal %d (1 to 64, or 0 for SIGKILL)", o.signal);
		return -EINVAL;
	}
	if (o.grace_ns > BPFGUARD_GRACE_MAX_NS) {
		lbg_msg(c, "invalid grace of %llu ns (at most 1h)", (unsigned long long)o.grace_ns);
		return -EINVAL;
	}
	c->signal = o.signal;
	c->grace_ns = o.grace_ns;
	c->req_flags = o.flags & BPFGUARD_ALLOW_BREAKAWAY ? BG_REQ_F_ALLOW_BREAKAWAY : 0;
	c->max_procs = o.max_procs;
	return 0;
}

int lbg_connect_error(struct lbg_call *c, int err)
{
	char eb[128];

	/* no socket, or one left behind by a dead agent */
	if (err == -ENOENT || err == -ECONNREFUSED) {
		lbg_msg(c, "no agent is running for %s (start one: bpfguard agent --pin-dir %s)",
			c->pin_dir, c->pin_dir);
		return -ENOTCONN;
	}
	if (err == -EACCES || err == -EPERM) {
		lbg_msg(c, "permission denied opening the agent's socket for %s", c->pin_dir);
		return err;
	}
	if (err == -EBADE) {
		lbg_msg(c, "the socket for %s is not root's: not the agent, refusing to talk to it",
			c->pin_dir);
		return -ENOTCONN;
	}
	lbg_msg(c, "cannot reach the agent for %s: %s", c->pin_dir, errstr(-err, eb, sizeof(eb)));
	return err;
}

int lbg_status_error(struct lbg_call *c, int status, const char *agent_msg)
{
	char eb[128];

	/* the agent sends a positive errno: anything else is not its answer */
	if (status <= 0 || status >= 4096) {
		lbg_msg(c, "malformed answer from the agent (status %d)", status);
		return -EPROTO;
	}
	lbg_msg(c, "%s", agent_msg[0] ? agent_msg : errstr(status, eb, sizeof(eb)));
	return -status;
}

int lbg_pidfd_error(struct lbg_call *c, pid_t pid, int err)
{
	char eb[128];

	/* EINVAL: above pid_max, so no such process either */
	if (err == ESRCH || err == EINVAL) {
		lbg_msg(c, "no such process: %d", pid);
		return -ESRCH;
	}
	lbg_msg(c, "cannot open process %d: %s", pid, errstr(err, eb, sizeof(eb)));
	return -err;
}

int lbg_request(struct lbg_call *c, struct bg_req *req, const int *fds, int nfd, void **payload,
		size_t *len)
{
	return lbg_request_on(c, false, req, fds, nfd, payload, len);
}

int lbg_request_on(struct lbg_call *c, bool keep, struct bg_req *req, const int *fds, int nfd,
		   void **payload, size_t *len)
{
	struct bg_rep rep;
	void *pl = NULL;
	char eb[128];
	int fd, err;

	req->magic = BG_CTL_MAGIC;
	req->version = BG_CTL_VERSION;
	req->signal = (uint32_t)c->signal;
	req->grace_ns = c->grace_ns;
	if (req->op == BG_OP_TAG) {
		req->flags |= c->req_flags;
		req->pid2 = (int32_t)c->max_procs;
	}
	fd = ctl_connect(c->pin_dir);
	if (fd < 0)
		return lbg_connect_error(c, fd);
	err = ctl_call_fds(fd, req, fds, nfd, &rep, &pl);
	if (keep && !err && !rep.status)
		c->fd = fd; /* the caller reads more answers on it, and closes it */
	else
		close(fd);
	if (err) {
		lbg_msg(c, "no answer from the agent: %s", errstr(-err, eb, sizeof(eb)));
		return err;
	}
	if (rep.status) {
		free(pl);
		return lbg_status_error(c, rep.status, rep.msg);
	}
	lbg_msg(c, "%s", rep.msg);
	if (len)
		*len = pl ? rep.len : 0;
	if (payload)
		*payload = pl;
	else
		free(pl);
	return 0;
}

/* A request about one process, named by its pidfd. */
static int call_pid(struct lbg_call *c, uint16_t op, pid_t pid, int pidfd)
{
	struct bg_req req = { .op = op, .pid = pid };

	return lbg_request(c, &req, &pidfd, 1, NULL, NULL);
}

int lbg_open_pid(const struct bpfguard_opts *opts, unsigned int allow, pid_t pid,
		 struct lbg_call *c)
{
	int err, pidfd;

	err = lbg_resolve(opts, allow, c);
	if (err)
		return err;
	if (pid <= 0) {
		lbg_msg(c, "invalid pid %d", pid);
		return -EINVAL;
	}
	/* the agent reads the host pid from the pidfd: a pid in our own
	 * namespace names the right process, and reuse cannot redirect it */
	pidfd = lbg_pidfd_open(pid);
	return pidfd < 0 ? lbg_pidfd_error(c, pid, errno) : pidfd;
}

static int pid_op(uint16_t op, pid_t pid, const struct bpfguard_opts *opts)
{
	struct lbg_call c;
	int err, pidfd;

	pidfd = lbg_open_pid(opts, op == BG_OP_TAG ? LBG_ALLOW_KILL_OPTS | LBG_ALLOW_TAG_FLAGS : 0,
			     pid, &c);
	if (pidfd < 0)
		return pidfd;
	err = call_pid(&c, op, pid, pidfd);
	close(pidfd);
	return err;
}

int bpfguard_tag(pid_t pid, const struct bpfguard_opts *opts)
{
	return pid_op(BG_OP_TAG, pid, opts);
}

int bpfguard_untag(pid_t pid, const struct bpfguard_opts *opts)
{
	return pid_op(BG_OP_UNTAG, pid, opts);
}

int bpfguard_release(pid_t pid, const struct bpfguard_opts *opts)
{
	return pid_op(BG_OP_RELEASE, pid, opts);
}

int bpfguard_adopt(pid_t root, pid_t pid, const struct bpfguard_opts *opts)
{
	struct bg_req req = { .op = BG_OP_ADOPT, .pid = root, .pid2 = pid };
	int fds[2] = { -1, -1 }, err;
	struct lbg_call c;

	err = lbg_resolve(opts, 0, &c);
	if (err)
		return err;
	if (root <= 0 || pid <= 0) {
		lbg_msg(&c, "invalid pid %d", root <= 0 ? root : pid);
		return -EINVAL;
	}
	/* ROOT's pidfd first, then PID's: the order the agent reads them in */
	fds[0] = lbg_pidfd_open(root);
	if (fds[0] < 0)
		return lbg_pidfd_error(&c, root, errno);
	fds[1] = lbg_pidfd_open(pid);
	if (fds[1] < 0)
		err = lbg_pidfd_error(&c, pid, errno);
	else
		err = lbg_request(&c, &req, fds, 2, NULL, NULL);
	close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
	return err;
}

/* The pid a pidfd names in our namespace, for messages: 0 if unknown,
 * -1 once the process has been reaped. */
static pid_t pidfd_pid(int pidfd)
{
	pid_t pid = 0;

	return read_pidfd_pid(pidfd, &pid) ? 0 : pid;
}

int bpfguard_tag_pidfd(int pidfd, const struct bpfguard_opts *opts)
{
	struct lbg_call c;
	pid_t pid;
	int err;

	err = lbg_resolve(opts, LBG_ALLOW_KILL_OPTS | LBG_ALLOW_TAG_FLAGS, &c);
	if (err)
		return err;
	if (pidfd < 0) {
		lbg_msg(&c, "invalid pidfd %d", pidfd);
		return -EINVAL;
	}
	pid = pidfd_pid(pidfd);
	if (pid < 0) {
		lbg_msg(&c, "the process of pidfd %d has exited", pidfd);
		return -ESRCH;
	}
	return call_pid(&c, BG_OP_TAG, pid, pidfd);
}

int bpfguard_request(enum bg_op op, const struct bpfguard_opts *opts, void **payload,
		     size_t *len)
{
	struct bg_req req = { 0 };
	struct lbg_call c;
	int err;

	if (payload)
		*payload = NULL;
	if (len)
		*len = 0;
	err = lbg_resolve(opts, 0, &c);
	if (err)
		return err;
	if (op != BG_OP_STATUS && op != BG_OP_LIST && op != BG_OP_UNLOAD) {
		lbg_msg(&c, "request %d is not one of status, list, unload "
			    "(bpfguard_tag, _untag, _adopt name processes)", (int)op);
		return -EINVAL;
	}
	req.op = (uint16_t)op;
	return lbg_request(&c, &req, NULL, 0, payload, len);
}

/* ---- bpfguard_exec ------------------------------------------------------ */

/*
 * The child, between fork and execve: async-signal-safe calls only (the
 * caller may be multi-threaded: another thread may have held malloc's or
 * stdio's lock at the fork). Every signal is blocked on entry. It waits for
 * the parent's go byte, sent once the agent has tagged it, so it runs no
 * instruction of @path untagged; EOF instead means the parent gave up.
 */
static void __attribute__((noreturn))
exec_child(int sock, const char *path, char *const argv[], char *const envp[],
	   const sigset_t *mask)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL }, cur;
	ssize_t n;
	char go;
	int err;

	/* A handler of the caller's must not run in this copy of it once the
	 * mask is restored (execve would reset it, but only at execve). */
	for (int s = 1; s < NSIG; s++) {
		if (s == SIGKILL || s == SIGSTOP)
			continue;
		if (!sigaction(s, NULL, &cur) && cur.sa_handler != SIG_DFL &&
		    cur.sa_handler != SIG_IGN)
			sigaction(s, &dfl, NULL);
	}
	do {
		n = read(sock, &go, 1);
	} while (n < 0 && errno == EINTR);
	if (n != 1)
		_exit(127);
	sigprocmask(SIG_SETMASK, mask, NULL);
	execve(path, argv, envp);
	err = errno;
	send(sock, &err, sizeof(err), MSG_NOSIGNAL);
	_exit(127);
}

/* A child that never ran @path: ours, unreaped, so its pid is still its own. */
static void kill_child(pid_t pid)
{
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* Tag the child, let it go, learn whether execve worked. */
static int start_child(struct lbg_call *c, int sock, pid_t pid, const char *path, int *pidfd)
{
	char eb[128];
	ssize_t n;
	int err, cerr = 0;

	*pidfd = lbg_pidfd_open(pid);
	if (*pidfd < 0) {
		err = errno;
		kill_child(pid);
		lbg_msg(c, "exec: no pidfd for the child: %s", errstr(err, eb, sizeof(eb)));
		return -err;
	}
	err = call_pid(c, BG_OP_TAG, pid, *pidfd);
	if (err)
		goto fail;
	/* a socket, not a pipe: MSG_NOSIGNAL spares the caller a SIGPIPE if
	 * the child was killed meanwhile */
	if (send(sock, "g", 1, MSG_NOSIGNAL) != 1) {
		lbg_msg(c, "exec: the child died before it could run %s", path);
		err = -ESRCH;
		goto fail;
	}
	/* EOF: execve closed the child's end (SOCK_CLOEXEC); else its errno */
	do {
		n = recv(sock, &cerr, sizeof(cerr), MSG_WAITALL);
	} while (n < 0 && errno == EINTR);
	if (n == 0)
		return 0;
	if (n == (ssize_t)sizeof(cerr) && cerr > 0 && cerr < 4096) {
		lbg_msg(c, "exec: %s: %s", path, errstr(cerr, eb, sizeof(eb)));
		err = -cerr;
	} else {
		lbg_msg(c, "exec: lost track of the child before it ran %s", path);
		err = -EPROTO;
	}
fail:
	kill_child(pid); /* every path reaches this with the child unreaped */
	close(*pidfd);
	*pidfd = -1;
	return err;
}

pid_t bpfguard_exec(const char *path, char *const argv[], char *const envp[],
		    const struct bpfguard_opts *opts, int *pidfd)
{
	struct lbg_call c;
	sigset_t all, old;
	char eb[128];
	int sv[2], err, fd;
	pid_t pid;

	if (pidfd)
		*pidfd = -1;
	err = lbg_resolve(opts, LBG_ALLOW_KILL_OPTS | LBG_ALLOW_TAG_FLAGS, &c);
	if (err)
		return err;
	if (!path || !argv) {
		lbg_msg(&c, "exec: a path and an argv are needed");
		return -EINVAL;
	}
	if (!envp)
		envp = environ;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
		err = errno;
		lbg_msg(&c, "exec: socketpair: %s", errstr(err, eb, sizeof(eb)));
		return -err;
	}
	/* The child starts with every signal blocked: no handler of the
	 * caller's can run in it before exec_child has reset them. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid = fork();
	if (pid == 0) {
		close(sv[0]);
		exec_child(sv[1], path, argv, envp, &old);
	}
	err = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	close(sv[1]);
	if (pid < 0) {
		close(sv[0]);
		lbg_msg(&c, "exec: fork: %s", errstr(err, eb, sizeof(eb)));
		return -err;
	}
	err = start_child(&c, sv[0], pid, path, &fd);
	close(sv[0]);
	if (err)
		return err;
	if (pidfd)
		*pidfd = fd;
	else
		close(fd);
	return pid;
}
