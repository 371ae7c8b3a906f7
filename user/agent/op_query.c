// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* What callers may read: `status` (and /metrics), `list`, `events`. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent_priv.h"
#include "log.h"
#include "parse.h"

struct counter {
	struct agent *a;
	uint32_t tracked;
};

static int count_member(void *ctx, uint32_t pid, const struct bg_proc *p)
{
	struct counter *c = ctx;
	uint32_t cur = tt_resolve(&c->a->tt, p->tag);
	struct bg_tag *t = tt_find(&c->a->tt, cur);

	if (!cur || (t && t->root_pid == pid && (p->flags & BG_PROC_ROOT)))
		return 0;
	c->tracked++;
	/* an unprivileged owner's status shows its own figures */
	if (t && !(t->flags & BG_TAG_F_PRIV))
		return sc_owner_add(&c->a->sc, t->owner_uid, 0, 1);
	return 0;
}

/*
 * Active tags and tracked descendants: a walk of the tags map and of every
 * bucket of procs, so not one per request (statcache.h). The counters of
 * what changes procs are read first: a change during the walk makes the
 * next exact answer walk again.
 */
static void status_figures(struct agent *a, struct bg_status *st, bool exact)
{
	const uint64_t sig[SC_SIG_N] = { st->counters[BG_STAT_FORK_TRACKED],
					 st->counters[BG_STAT_EXIT_TRACKED],
					 st->counters[BG_STAT_ENROLLED] };
	struct counter c = { .a = a };
	uint64_t now = now_ns();
	uint32_t tags = 0;

	if (!sc_fresh(&a->sc, sig, now, exact)) {
		store_load_tags(&a->st, &a->tt);
		sc_owner_reset(&a->sc);
		for (size_t i = 0; i < a->tt.n; i++) {
			const struct bg_tag *t = &a->tt.tags[i];

			if (t->state != BG_TAG_ACTIVE)
				continue;
			tags++;
			if (!(t->flags & BG_TAG_F_PRIV))
				sc_owner_add(&a->sc, t->owner_uid, 1, 0);
		}
		store_scan_procs(&a->st, count_member, &c);
		sc_store(&a->sc, sig, now, tags, c.tracked);
	}
	st->tags = a->sc.tags;
	st->tracked = a->sc.tracked;
}

/* The status snapshot: `status` and the metrics both show this. @exact:
 * tags and tracked as they are now, else up to SC_MAX_AGE_NS old. */
static void status_snapshot(struct agent *a, struct bg_status *st, bool exact)
{
	uint32_t own;

	memset(st, 0, sizeof(*st));
	st->mode = (uint32_t)a->mode;
	st->agent_pid = (uint32_t)a->self;
	st->features = a->features;
	memcpy(st->kernel, a->kernel, sizeof(st->kernel));
	store_stats_sum(&a->st, st->counters, BG_STAT_MAX);
	status_figures(a, st, exact);
	st->max_procs = a->st.l.max_procs;
	st->max_tags = a->st.l.max_tags;
	st->agent_counters[BG_ASTAT_EVENTS] = a->ev.sent;
	st->agent_counters[BG_ASTAT_SUBS_DROPPED] = a->ev.dropped;
	st->agent_counters[BG_ASTAT_REFUSED] = a->refused;
	st->agent_counters[BG_ASTAT_METRICS_OK] = a->m.ok;
	st->agent_counters[BG_ASTAT_METRICS_BAD] = a->m.bad;
	st->start_time = a->start_time;
	st->subscribers = (uint32_t)a->ev.n;
	st->metrics_port = a->m.listen_fd >= 0 ? a->m.port : 0;
	st->lat_count = a->lat.count;
	st->lat_sum_us = a->lat.sum_us;
	memcpy(st->lat_buckets, a->lat.buckets, sizeof(st->lat_buckets));
	st->agent_counters[BG_ASTAT_QUOTA_REFUSED] = a->quota_refused;
	st->user_max_procs = a->st.l.q.user_procs;
	st->user_max_tags = a->st.l.q.user_tags;
	st->unpriv_max_procs = a->st.l.q.unpriv_procs;
	st->unpriv_max_tags = a->st.l.q.unpriv_tags;
	st->used_procs = (uint32_t)store_quota_used(&a->st, BG_QUOTA_TOTAL);
	quota_count_tags(&a->tt, BG_QUOTA_TOTAL, &own, &st->used_tags);
}

/* For /metrics: anyone who reaches its port may scrape it. */
void fill_status(void *ctx, struct bg_status *st)
{
	status_snapshot(ctx, st, false);
}

/*
 * A privileged caller gets the whole snapshot, exact. Anyone else gets the
 * agent's configuration and the figures of its own tags (from the same walk,
 * up to SC_MAX_AGE_NS old): no machine-wide counter, no other user's figure,
 * and the agent's pid only if it can see the agent.
 */
bool op_status(struct agent *a, struct request *rq)
{
	const struct caller *c = rq->c;
	const struct sc_owner *own;
	struct bg_status st;
	uint32_t all;

	status_snapshot(a, &st, c->priv);
	if (!az_sees_machine(c)) {
		own = sc_owner_find(&a->sc, c->uid);
		st.scope = BG_STATUS_OWN;
		memset(st.counters, 0, sizeof(st.counters));
		memset(st.agent_counters, 0, sizeof(st.agent_counters));
		memset(st.lat_buckets, 0, sizeof(st.lat_buckets));
		st.lat_count = st.lat_sum_us = 0;
		st.subscribers = 0;
		if (!c->same_pidns)
			st.agent_pid = 0;
		st.tags = own ? own->tags : 0;
		st.tracked = own ? own->tracked : 0;
		/* the caller's own charges, not everyone's */
		st.used_procs = (uint32_t)store_quota_used(&a->st, c->uid);
		quota_count_tags(&a->tt, c->uid, &st.used_tags, &all);
	}
	reply(a, rq, 0, &st, sizeof(st), "enforcing");
	return false;
}

/* Subscribe to the event stream: answer, then keep the connection (the
 * caller must not close it when this returns true). */
bool op_events(struct agent *a, struct request *rq)
{
	const struct caller *c = rq->c;
	int err = events_may_subscribe(&a->ev, c->uid, c->priv);

	if (err) {
		reply(a, rq, EBUSY, NULL, 0, "too many event subscribers (at most %d, %d per "
			     "unprivileged user)", EV_MAX_SUBS, EV_MAX_SUBS_PER_UID);
		return false;
	}
	if (reply(a, rq, 0, NULL, 0, "subscribed") ||
	    events_subscribe(&a->ev, rq->fd, c->uid, c->priv))
		return false;
	log_info("events: uid %u subscribed%s (%zu subscriber(s))", c->uid,
		 c->priv ? "" : " (its own tags only)", a->ev.n);
	return true;
}

/*
 * What `list` shows a caller: the tags it may see (az_sees_tag), and, for a
 * caller in another PID namespace, only the processes visible there, by
 * their pids there (@view, from peer_view). A tag whose root it cannot see is
 * left out with its processes.
 */
struct lister {
	struct agent *a;
	const struct caller *c;
	const struct bg_view *view;
	size_t nview;
	struct bg_list_proc *p;
	size_t n, cap;
};

/* @pid as the caller sees it: itself, or its number in the caller's PID
 * namespace (0: not visible there). */
static uint32_t seen_pid(const struct lister *l, uint32_t pid)
{
	return l->c->same_pidns ? pid : view_nr(l->view, l->nview, pid);
}

static bool lists_tag(const struct lister *l, uint32_t id)
{
	const struct bg_tag *t = tt_find(&l->a->tt, id);
	struct az_tag at = az_tag_of(t);

	return t && (t->state == BG_TAG_ACTIVE || t->state == BG_TAG_DOOMED) &&
	       az_sees_tag(l->c, &at) && seen_pid(l, t->root_pid);
}

static int list_member(void *ctx, uint32_t pid, const struct bg_proc *e)
{
	struct lister *l = ctx;
	uint32_t cur = tt_resolve(&l->a->tt, e->tag), shown = seen_pid(l, pid);
	struct bg_list_proc *p;
	struct proc_ids ids;

	if (!cur || !shown || !lists_tag(l, cur))
		return 0;
	if (grow((void **)&l->p, &l->cap, l->n, sizeof(*p), 256))
		return -ENOMEM;
	p = &l->p[l->n++];
	memset(p, 0, sizeof(*p));
	p->pid = shown;
	p->ppid = seen_pid(l, e->ppid);
	p->tag = cur;
	p->flags = (e->flags & BG_PROC_ROOT) && cur == e->tag ? BG_PROC_ROOT : 0;
	p->flags |= e->flags & BG_PROC_ADOPTED;
	if (!read_proc_status((pid_t)pid, &ids) && ids.nspid && (uint32_t)ids.nspid != shown)
		p->nspid = (uint32_t)ids.nspid;
	read_comm(pid, p->comm);
	return 0;
}

bool op_list(struct agent *a, struct request *rq)
{
	const struct caller *c = rq->c;
	struct lister l = { .a = a, .c = c };
	uint32_t hdr[2] = { 0, 0 };
	size_t ntag = 0, len;
	struct bg_view *view = NULL;
	char *buf;
	int err;

	if (!read_tags(a, rq))
		return false;
	if (!c->same_pidns) {
		if (!c->known || peer_view(&a->pp, c->pidns, c->pidns_level, &view, &l.nview)) {
			reply(a, rq, EIO, NULL, 0, "cannot read what your PID namespace sees");
			return false;
		}
		l.view = view;
	}
	err = store_scan_procs(&a->st, list_member, &l);
	for (size_t i = 0; i < a->tt.n; i++)
		if (lists_tag(&l, a->tt.ids[i]))
			ntag++;
	len = sizeof(hdr) + ntag * sizeof(struct bg_list_tag) + l.n * sizeof(*l.p);
	buf = err ? NULL : calloc(1, len); /* zeroed: no padding byte leaves uninitialised */
	if (!buf || len > BG_CTL_MAX_PAYLOAD) {
		reply(a, rq, ENOMEM, NULL, 0, "cannot build the list");
		goto out;
	}
	hdr[0] = (uint32_t)ntag;
	hdr[1] = (uint32_t)l.n;
	memcpy(buf, hdr, sizeof(hdr));
	struct bg_list_tag *lt = (void *)(buf + sizeof(hdr));

	for (size_t i = 0; i < a->tt.n; i++) {
		uint32_t id = a->tt.ids[i], parent = tt_parent(&a->tt, id);
		struct bg_death d;
		struct bg_acct ac;

		if (!lists_tag(&l, id))
			continue;
		*lt = (struct bg_list_tag){
			.tag = id,
			.root_pid = seen_pid(&l, a->tt.tags[i].root_pid),
			.parent = lists_tag(&l, parent) ? parent : 0,
			.owner_uid = a->tt.tags[i].owner_uid,
			.flags = a->tt.tags[i].flags,
			.max_procs = a->tt.tags[i].max_procs,
		};
		if (!store_acct(&a->st, id, &ac)) {
			lt->state |= BG_LIST_ACCT;
			lt->born = ac.born;
			lt->exited = ac.exited;
			lt->live = ac.live;
			lt->peak = ac.peak;
			lt->cpu_exited_ns = ac.cpu_ns;
		}
		if (a->tt.tags[i].state == BG_TAG_DOOMED) {
			lt->state |= BG_LIST_KILLING;
			if (!store_death(&a->st, id, &d) && (d.flags & BG_DEATH_ROOT_EXITED)) {
				lt->state |= BG_LIST_ROOT_EXITED;
				lt->root_status = d.status;
			}
		}
		lt++;
	}
	if (l.n) /* l.p is NULL when nothing is tracked: memcpy(NULL) is UB */
		memcpy(lt, l.p, l.n * sizeof(*l.p));
	reply(a, rq, 0, buf, (uint32_t)len, "ok");
out:
	free(buf);
	free(l.p);
	free(view);
	return false;
}
