// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <string.h>

#include "ratelimit.h"

#define RL_INTERVAL_NS (1000000000ull / RL_RATE)
/* how far ahead of now the arrival time may run: the burst, less one */
#define RL_TOLERANCE_NS ((RL_BURST - 1) * RL_INTERVAL_NS)

void rl_init(struct ratelimit *r, uint32_t pool)
{
	memset(r, 0, sizeof(*r));
	r->pool = pool;
}

static bool idle(const struct rl_uid *e, uint64_t now)
{
	return !e->used || (!e->conns && e->tat <= now);
}

/* @uid's entry, or a fresh one (full bucket); NULL if the table is busy. */
static struct rl_uid *entry(struct ratelimit *r, uint32_t uid, uint64_t now)
{
	struct rl_uid *free = NULL;

	for (int i = 0; i < RL_MAX_UIDS; i++) {
		struct rl_uid *e = &r->u[i];

		if (e->used && e->uid == uid)
			return e;
		if (!free && idle(e, now))
			free = e;
	}
	if (free)
		*free = (struct rl_uid){ .uid = uid, .tat = now, .used = true };
	return free;
}

int rl_connect(struct ratelimit *r, uint32_t uid, uint64_t now)
{
	struct rl_uid *e;

	if (r->conns >= r->pool)
		return -EBUSY;
	e = entry(r, uid, now);
	if (!e || e->conns >= RL_CONNS_PER_UID)
		return -EBUSY;
	e->conns++;
	r->conns++;
	return 0;
}

void rl_disconnect(struct ratelimit *r, uint32_t uid)
{
	for (int i = 0; i < RL_MAX_UIDS; i++) {
		struct rl_uid *e = &r->u[i];

		if (e->used && e->uid == uid && e->conns) {
			e->conns--;
			r->conns--;
			return;
		}
	}
}

bool rl_request(struct ratelimit *r, uint32_t uid, uint64_t now)
{
	struct rl_uid *e = entry(r, uid, now);
	uint64_t tat;

	if (!e)
		return false;
	tat = e->tat > now ? e->tat : now;
	if (tat - now > RL_TOLERANCE_NS)
		return false;
	e->tat = tat + RL_INTERVAL_NS;
	return true;
}

bool rl_log_allow(struct rl_log *l, uint64_t now)
{
	if (!l->start)
		l->start = now ? now : 1;
	if (l->n < RL_LOG_LINES) {
		l->n++;
		return true;
	}
	l->suppressed++;
	return false;
}

uint64_t rl_log_flush(struct rl_log *l, uint64_t now)
{
	uint64_t n = l->suppressed;

	if (!l->start || now - l->start < RL_LOG_INTERVAL_NS)
		return 0;
	l->start = 0; /* the next line opens the next interval */
	l->n = 0;
	l->suppressed = 0;
	return n;
}
