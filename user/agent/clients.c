// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The client table: accept, per-uid limits and slots, reading requests
 * without blocking, deadlines; a complete request goes to serve().
 */
#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "agent_priv.h"
#include "control.h"
#include "log.h"

/* Forget a client; its connection is closed unless @keep_fd (a subscriber's
 * connection, which the event stream owns now). */
static void drop_client(struct agent *a, struct client *c, bool keep_fd)
{
	epoll_ctl(a->ep_fd, EPOLL_CTL_DEL, c->fd, NULL);
	if (!keep_fd)
		close(c->fd);
	for (int i = 0; i < BG_CTL_MAX_FDS; i++)
		if (c->pidfd[i] >= 0)
			close(c->pidfd[i]);
	if (!c->priv)
		rl_disconnect(&a->rl, c->cred.uid);
	*c = a->cl[--a->ncl];
}

/* A cheap answer to an unprivileged client over its limits, then gone:
 * nothing of its request is read. */
static void refuse_busy(struct agent *a, int fd, const struct ucred *cred, const char *what,
			const char *why)
{
	struct request rq = { .fd = fd, .cred = *cred, .what = what };

	reply(a, &rq, EBUSY, NULL, 0, "too many %s from uid %u", why, cred->uid);
}

/* The request is in (@err 0), malformed, late (-EAGAIN at the deadline) or
 * the client gone: answer what there is to answer, then drop the client. */
static void finish_client(struct agent *a, struct client_budget *b, struct client *c, int err)
{
	struct caller who = c->who;
	struct request rq = { .fd = c->fd, .cred = c->cred, .priv = c->priv };
	bool keep = false;

	if ((!err || err == -EPROTO) && !c->priv && !rl_request(&a->rl, c->cred.uid, now_ns())) {
		/* the request rate of its uid (RL_RATE a second): refused unread */
		refuse_busy(a, c->fd, &c->cred, err ? "malformed" : op_name(c->req.op), "requests");
		drop_client(a, c, false);
		return;
	}
	if (!err) {
		b->serves--;
		/* an events request hands the fd to the stream, which adds it */
		epoll_ctl(a->ep_fd, EPOLL_CTL_DEL, c->fd, NULL);
		rq.req = &c->req;
		rq.pidfd = c->pidfd;
		rq.c = &who;
		keep = serve(a, &rq);
	} else if (err == -EPROTO) {
		reply(a, &rq, EPROTO, NULL, 0, "malformed request");
	} else if (err == -EAGAIN) {
		reply(a, &rq, ETIMEDOUT, NULL, 0, "no complete request within %d ms",
		      CLIENT_TIMEOUT_MS);
	}
	drop_client(a, c, keep);
}

/* Read what the client sent; answer and drop it once the request is in,
 * malformed, or the client gone. */
static void client_readable(struct agent *a, struct client_budget *b, struct client *c)
{
	int err;

	if (b->serves <= 0)
		return; /* this wake-up's share is done: it stays ready for the next */
	err = ctl_recv_some(c->fd, &c->req, &c->got, c->pidfd);

	if (err != -EAGAIN)
		finish_client(a, b, c, err);
}

/*
 * Drop the clients past their deadline. One whose request did arrive, but
 * whose turn had not come (a busy agent reads 8 events per wake-up), is
 * served, not refused: the deadline is for clients that do not send.
 */
void clients_expire(struct agent *a, struct client_budget *b, uint64_t now)
{
	for (int i = a->ncl - 1; i >= 0; i--) {
		struct client *c = &a->cl[i];

		if (now >= c->deadline)
			finish_client(a, b, c, ctl_recv_some(c->fd, &c->req, &c->got, c->pidfd));
	}
}

/* A privileged caller found every slot taken: the oldest unprivileged
 * client goes (there is one unless privileged callers hold them all). */
static void make_room(struct agent *a)
{
	struct client *old = NULL;
	struct request rq;

	for (int pass = 0; pass < 2 && !old; pass++)
		for (int i = 0; i < a->ncl; i++)
			if ((pass || !a->cl[i].priv) &&
			    (!old || a->cl[i].deadline < old->deadline))
				old = &a->cl[i];
	/* the oldest has had the longest to speak */
	rq = (struct request){ .fd = old->fd, .cred = old->cred, .priv = old->priv };
	reply(a, &rq, EBUSY, NULL, 0, "too many clients: dropped");
	drop_client(a, old, false);
}

/* At most ACCEPTS_PER_WAKE at a time: the backlog's rest waits, ready. */
void clients_accept(struct agent *a, struct client_budget *b)
{
	int cfd;

	while (b->accepts > 0 &&
	       (cfd = accept4(a->listen_fd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = cfd };
		struct caller who;
		struct ucred cred;
		struct client *c;
		bool priv;

		b->accepts--;
		if (ctl_accept_setup(cfd, &cred)) {
			close(cfd);
			continue;
		}
		/* once per connection: its requests are answered for this caller */
		caller_identify(&a->pp, cfd, &cred, &who);
		priv = who.priv;
		if (!priv && (a->ncl == MAX_CLIENTS || rl_connect(&a->rl, cred.uid, now_ns()))) {
			refuse_busy(a, cfd, &cred, "connection", "connections");
			close(cfd);
			continue;
		}
		if (a->ncl == MAX_CLIENTS)
			make_room(a);
		c = &a->cl[a->ncl];
		*c = (struct client){ .fd = cfd, .pidfd = { -1, -1 }, .cred = cred, .who = who,
				      .priv = priv, .deadline = now_ns() + CLIENT_TIMEOUT_MS * 1000000ull };
		if (epoll_ctl(a->ep_fd, EPOLL_CTL_ADD, cfd, &ev)) {
			if (!priv)
				rl_disconnect(&a->rl, cred.uid);
			close(cfd);
			continue;
		}
		a->ncl++;
		/* the request usually came with the connection */
		client_readable(a, b, c);
	}
}

/* Read from the client on @fd, if it is one. Returns false if it is not. */
bool clients_readable(struct agent *a, int fd, struct client_budget *b)
{
	for (int i = 0; i < a->ncl; i++) {
		if (a->cl[i].fd == fd) {
			client_readable(a, b, &a->cl[i]);
			return true;
		}
	}
	return false;
}

/* The earliest client deadline, if before @t. */
uint64_t clients_deadline(const struct agent *a, uint64_t t)
{
	for (int i = 0; i < a->ncl; i++)
		if (a->cl[i].deadline < t)
			t = a->cl[i].deadline;
	return t;
}

void clients_drop_all(struct agent *a)
{
	while (a->ncl)
		drop_client(a, &a->cl[0], false);
}
