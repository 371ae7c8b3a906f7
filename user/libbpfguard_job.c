// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libbpfguard's job calls: kill a lineage now, wait for it to be empty.
 * A wait is one connection the agent answers twice (the tag, then the
 * end); if the agent goes away in between (a restart), the wait goes on by
 * tag id on a new connection for as long as the pin dir exists.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include "control.h"
#include "libbpfguard.h"
#include "libbpfguard_priv.h"

/* How often a waiter whose agent went away tries again. */
#define RECONNECT_MS 100

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

/* ms left until @deadline (< 0: none), at most a minute per poll(). */
static int ms_left(int64_t deadline)
{
	int64_t left;

	if (deadline < 0)
		return 60000;
	left = (deadline - mono_ns() + 999999) / 1000000;
	return left <= 0 ? 0 : left > 60000 ? 60000 : (int)left;
}

/* An answer's struct bg_wait; false if it carries none. */
static bool wait_payload(const void *pl, size_t len, struct bg_wait *w)
{
	if (!pl || len != sizeof(*w))
		return false;
	memcpy(w, pl, sizeof(*w));
	return true;
}

/* The end: 0 with *status the root's wait(2) status (-1 when unknown), or
 * -ECANCELED when the tag was untagged first. */
static int ended(struct lbg_call *c, const struct bg_wait *w, int *status)
{
	if (status)
		*status = (w->flags & BG_WAIT_ROOT_EXITED) ? (int)w->status : -1;
	if (w->flags & BG_WAIT_UNTAGGED) {
		lbg_msg(c, "tag %u was untagged before its lineage was empty", w->tag);
		return -ECANCELED;
	}
	return 0;
}

/* Ask again, by tag id, on a new connection: 0 with c->fd set, 1 when the
 * answer was the end already (in *w), or -errno. */
static int rewait(struct lbg_call *c, uint32_t tag, struct bg_wait *w)
{
	struct bg_req req = { .op = BG_OP_WAIT, .flags = BG_REQ_F_BY_TAG, .pid2 = (int32_t)tag };
	void *pl = NULL;
	size_t len = 0;
	int err;

	err = lbg_request_on(c, true, &req, NULL, 0, &pl, &len);
	if (err)
		return err;
	if (!wait_payload(pl, len, w)) {
		free(pl);
		if (c->fd >= 0)
			close(c->fd);
		c->fd = -1;
		lbg_msg(c, "malformed answer from the agent");
		return -EPROTO;
	}
	free(pl);
	if (w->flags & BG_WAIT_ENDED) {
		if (c->fd >= 0)
			close(c->fd);
		c->fd = -1;
		return 1;
	}
	return 0;
}

/* Is the agent's pin dir still there (an agent may come back)? */
static bool pin_dir_exists(const struct lbg_call *c)
{
	struct stat st;

	return !stat(c->pin_dir, &st) && S_ISDIR(st.st_mode);
}

/* After the first answer (c->fd open, the tag in @tag): the last one. */
static int wait_end(struct lbg_call *c, uint32_t tag, int64_t deadline, int *status)
{
	struct bg_wait w;
	int err;

	for (;;) {
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		struct bg_rep rep;
		void *pl = NULL;
		int r;

		if (c->fd >= 0) {
			r = poll(&p, 1, ms_left(deadline));
			if (r < 0 && errno == EINTR)
				continue;
			if (r == 0 && deadline >= 0 && mono_ns() >= deadline) {
				close(c->fd);
				c->fd = -1;
				lbg_msg(c, "timed out waiting for tag %u", tag);
				return -ETIMEDOUT;
			}
			if (r <= 0)
				continue;
			err = ctl_recv_rep(c->fd, &rep, &pl);
			close(c->fd);
			c->fd = -1;
			if (!err) {
				if (rep.status) {
					free(pl);
					return lbg_status_error(c, rep.status, rep.msg);
				}
				if (!wait_payload(pl, rep.len, &w) || !(w.flags & BG_WAIT_ENDED)) {
					free(pl);
					lbg_msg(c, "malformed answer from the agent");
					return -EPROTO;
				}
				free(pl);
				lbg_msg(c, "%s", rep.msg);
				return ended(c, &w, status);
			}
			/* the agent went away: wait on through the next one */
		}
		if (deadline >= 0 && mono_ns() >= deadline) {
			lbg_msg(c, "timed out waiting for tag %u", tag);
			return -ETIMEDOUT;
		}
		poll(NULL, 0, ms_left(deadline) < RECONNECT_MS ? ms_left(deadline) : RECONNECT_MS);
		err = rewait(c, tag, &w);
		if (err == 1)
			return ended(c, &w, status);
		if (err == -ENOTCONN && pin_dir_exists(c))
			continue; /* no agent yet: it is being restarted */
		if (err)
			return err;
	}
}

/* kill (with @wait or not) and wait: one pidfd request, then the end. */
static int job(uint16_t op, uint32_t flags, pid_t pid, int64_t timeout_ns, int *status,
	       const struct bpfguard_opts *opts)
{
	struct bg_req req = { .op = op, .pid = pid, .flags = flags };
	int64_t deadline = timeout_ns < 0 ? -1 : mono_ns() + timeout_ns;
	bool waits = op == BG_OP_WAIT || (flags & BG_REQ_F_WAIT);
	struct lbg_call c;
	struct bg_wait w;
	void *pl = NULL;
	size_t len = 0;
	int err, pidfd;

	if (status)
		*status = -1;
	pidfd = lbg_open_pid(opts, op == BG_OP_KILL || op == BG_OP_SIGNAL ? LBG_ALLOW_KILL_OPTS : 0,
			     pid, &c);
	if (pidfd < 0)
		return pidfd;
	err = lbg_request_on(&c, waits, &req, &pidfd, 1, &pl, &len);
	close(pidfd);
	if (err || !waits) {
		free(pl);
		return err;
	}
	if (!wait_payload(pl, len, &w)) {
		free(pl);
		if (c.fd >= 0)
			close(c.fd);
		lbg_msg(&c, "malformed answer from the agent");
		return -EPROTO;
	}
	free(pl);
	if (w.flags & BG_WAIT_ENDED) {
		if (c.fd >= 0)
			close(c.fd);
		return ended(&c, &w, status);
	}
	return wait_end(&c, w.tag, deadline, status);
}

int bpfguard_kill(pid_t pid, const struct bpfguard_opts *opts)
{
	return job(BG_OP_KILL, 0, pid, -1, NULL, opts);
}

int bpfguard_signal(pid_t pid, const struct bpfguard_opts *opts)
{
	if (opts && opts->grace_ns)
		return -EINVAL;
	return job(BG_OP_SIGNAL, 0, pid, -1, NULL, opts);
}

int bpfguard_kill_wait(pid_t pid, int64_t timeout_ns, int *status,
		       const struct bpfguard_opts *opts)
{
	return job(BG_OP_KILL, BG_REQ_F_WAIT, pid, timeout_ns, status, opts);
}

int bpfguard_wait(pid_t pid, int64_t timeout_ns, int *status, const struct bpfguard_opts *opts)
{
	return job(BG_OP_WAIT, 0, pid, timeout_ns, status, opts);
}
