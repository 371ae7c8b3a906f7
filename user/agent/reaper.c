// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Pending kills: see reaper.h. No BPF here: pidfds and bookkeeping only. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "reaper.h"

void reaper_init(struct reaper *r)
{
	memset(r, 0, sizeof(*r));
	r->ep_fd = -1;
}

int reaper_open(struct reaper *r)
{
	r->ep_fd = epoll_create1(EPOLL_CLOEXEC);
	return r->ep_fd < 0 ? -errno : r->ep_fd;
}

void pk_clear(struct pkill *k)
{
	for (size_t i = 0; i < k->n; i++)
		if (k->m[i].fd >= 0)
			close(k->m[i].fd); /* which also takes it out of the epoll set */
	k->n = 0;
	k->live = 0;
	k->unwatched = 0;
}

void reaper_close(struct reaper *r)
{
	for (size_t i = 0; i < r->n; i++) {
		pk_clear(&r->k[i]);
		free(r->k[i].m);
	}
	free(r->k);
	if (r->ep_fd >= 0)
		close(r->ep_fd);
	reaper_init(r);
}

struct pkill *reaper_find(struct reaper *r, uint32_t tag)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->k[i].tag == tag)
			return &r->k[i];
	return NULL;
}

struct pkill *reaper_get(struct reaper *r, uint32_t tag)
{
	struct pkill *k = reaper_find(r, tag);

	if (k)
		return k;
	if (r->n == r->cap) {
		size_t c = r->cap ? r->cap * 2 : 16;
		void *p = realloc(r->k, c * sizeof(*r->k));

		if (!p)
			return NULL;
		r->k = p;
		r->cap = c;
	}
	k = &r->k[r->n++];
	*k = (struct pkill){ .tag = tag };
	return k;
}

void reaper_drop(struct reaper *r, uint32_t tag)
{
	struct pkill *k = reaper_find(r, tag);

	if (!k)
		return;
	pk_clear(k);
	free(k->m);
	*k = r->k[--r->n];
}

struct pk_member *pk_find(struct pkill *k, uint32_t pid, uint64_t start)
{
	for (size_t i = 0; k && i < k->n; i++)
		if (k->m[i].pid == pid && k->m[i].start == start)
			return &k->m[i];
	return NULL;
}

int pk_add(struct reaper *r, struct pkill *k, const struct pk_member *m, const struct pkill *old)
{
	const struct pk_member *was = pk_find((struct pkill *)old, m->pid, m->start);
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = m->fd };
	struct pk_member *slot;

	if (k->n == k->cap) {
		size_t c = k->cap ? k->cap * 2 : 16;
		void *p = realloc(k->m, c * sizeof(*k->m));

		if (!p) {
			if (m->fd >= 0)
				close(m->fd);
			return -ENOMEM;
		}
		k->m = p;
		k->cap = c;
	}
	slot = &k->m[k->n++];
	*slot = *m;
	if (was) {
		slot->first_sig = was->first_sig;
		slot->stuck = was->stuck;
	}
	/* Without the epoll set the tick still finds it: no wake-up is lost
	 * for long, so a failure here is not the kill's failure. */
	if (r->ep_fd >= 0 && m->fd >= 0)
		epoll_ctl(r->ep_fd, EPOLL_CTL_ADD, m->fd, &ev);
	k->live++;
	k->unwatched += m->fd < 0 && m->unwatched;
	return 0;
}

/* One poll() for the whole lineage: this runs on every wake-up of the
 * loop, and a large lineage wakes it once per death. */
void pk_reap(struct pkill *k)
{
	struct pollfd one, *p = k->n > 1 ? calloc(k->n, sizeof(*p)) : NULL;
	size_t step = p ? k->n : 1; /* without the memory: one pidfd per poll() */

	if (!p)
		p = &one;
	k->live = 0;
	k->unwatched = 0;
	for (size_t i = 0; i < k->n; i += step) {
		size_t m = k->n - i < step ? k->n - i : step;

		/* poll() ignores the negative fds of members seen dead */
		for (size_t j = 0; j < m; j++)
			p[j] = (struct pollfd){ .fd = k->m[i + j].fd, .events = POLLIN };
		if (poll(p, (nfds_t)m, 0) < 0)
			for (size_t j = 0; j < m; j++)
				p[j].revents = 0;
		for (size_t j = 0; j < m; j++) {
			struct pk_member *mb = &k->m[i + j];

			if (mb->fd < 0) {
				k->live += mb->unwatched; /* the next sweep tells */
				k->unwatched += mb->unwatched;
				continue;
			}
			if (p[j].revents) {
				close(mb->fd);
				mb->fd = -1;
				continue;
			}
			k->live++;
		}
	}
	if (p != &one)
		free(p);
}

bool pk_exiting(struct pkill *k)
{
	pk_reap(k);
	for (size_t i = 0; i < k->n; i++)
		if (k->m[i].fd >= 0)
			return true;
	return false;
}

void reaper_reap(struct reaper *r)
{
	for (size_t i = 0; i < r->n; i++)
		pk_reap(&r->k[i]);
}

struct pk_member *pk_next_stuck(struct pkill *k, size_t *i, uint64_t now)
{
	for (; *i < k->n; (*i)++) {
		struct pk_member *m = &k->m[*i];

		if ((m->fd >= 0 || m->unwatched) && !m->stuck &&
		    now - m->first_sig >= REAPER_STUCK_NS) {
			m->stuck = true;
			(*i)++;
			return m;
		}
	}
	return NULL;
}
