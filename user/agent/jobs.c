// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * `bpfguard wait`: the connections waiting for a lineage to be empty, and
 * how each lineage ended. A waiter has had its first answer (the tag it
 * waits on); it gets its last when the tag ends, from job_ended(), and is
 * dropped when it closes or sends anything. The outcome is kept in the
 * pinned `ended` map too, for a waiter that comes back after the agent
 * restarted and for one that asks by tag id after the end.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>

#include "agent_priv.h"
#include "log.h"

static void drop_waiter(struct agent *a, size_t i)
{
	epoll_ctl(a->ep_fd, EPOLL_CTL_DEL, a->wt[i].fd, NULL);
	close(a->wt[i].fd);
	a->wt[i] = a->wt[--a->nwt];
}

int waiters_may_add(const struct agent *a, const struct caller *c)
{
	size_t mine = 0;

	if (a->nwt >= WAITERS_MAX)
		return -EMFILE;
	for (size_t i = 0; i < a->nwt; i++)
		if (a->wt[i].uid == c->uid)
			mine++;
	return !c->priv && mine >= WAITERS_PER_UID ? -EUSERS : 0;
}

int waiters_add(struct agent *a, int fd, uint32_t tag, const struct caller *c)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.fd = fd };
	int err = waiters_may_add(a, c);

	if (err)
		return err;
	if (grow((void **)&a->wt, &a->wt_cap, a->nwt, sizeof(*a->wt), 16))
		return -ENOMEM;
	if (epoll_ctl(a->ep_fd, EPOLL_CTL_ADD, fd, &ev))
		return -errno;
	a->wt[a->nwt++] = (struct waiter){ .fd = fd, .tag = tag, .uid = c->uid };
	return 0;
}

bool waiters_handle(struct agent *a, int fd)
{
	for (size_t i = 0; i < a->nwt; i++) {
		if (a->wt[i].fd == fd) {
			/* a waiter only listens: anything it sends, or its
			 * hang-up, ends its wait */
			drop_waiter(a, i);
			return true;
		}
	}
	return false;
}

/* The answer a waiter gets for outcome @e of @tag. */
void wait_answer(const struct bg_ended *e, uint32_t tag, struct bg_wait *w)
{
	*w = (struct bg_wait){ .tag = tag, .flags = BG_WAIT_ENDED };
	if (e->flags & BG_ENDED_UNTAGGED)
		w->flags |= BG_WAIT_UNTAGGED;
	if (e->flags & BG_DEATH_ROOT_EXITED) {
		w->flags |= BG_WAIT_ROOT_EXITED;
		w->status = e->status;
	}
}

void job_ended(struct agent *a, uint32_t tag, const struct bg_tag *t, const struct bg_death *d,
	       uint32_t flags)
{
	struct bg_ended e = {
		.ts = (uint64_t)now_ns(),
		.status = d ? d->status : 0,
		.flags = (d ? d->flags : 0) | flags,
		.owner_uid = t ? t->owner_uid : 0,
		.tag_flags = t ? t->flags : 0,
	};
	struct bg_wait w;

	store_put_ended(&a->st, tag, &e);
	wait_answer(&e, tag, &w);
	for (size_t i = a->nwt; i-- > 0;) {
		if (a->wt[i].tag != tag)
			continue;
		ctl_send_rep(a->wt[i].fd, 0, &w, sizeof(w), "tag %u: %s", tag,
			     flags & BG_ENDED_UNTAGGED ? "untagged" : "nothing of its lineage is left");
		drop_waiter(a, i);
	}
}

void waiters_close_all(struct agent *a)
{
	while (a->nwt)
		drop_waiter(a, a->nwt - 1);
	free(a->wt);
	a->wt = NULL;
	a->wt_cap = 0;
}
