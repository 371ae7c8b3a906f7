// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The recorded deaths, the work list: each is taken up (deathrule.c
 * decides its next step) in bounded, fair wake-ups; births into a dying
 * lineage and children beyond a quota are killed as the ring reports them.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent_priv.h"
#include "deathrule.h"
#include "log.h"
#include "parse.h"

enum { H_KEPT, H_DELETED, H_GONE, H_BUDGET };

/*
 * One recorded death: kill at once, or signal and wait out the grace.
 * Never waits for a victim. *next: the time (CLOCK_MONOTONIC ns) it needs
 * looking at again, lowered only. Returns H_DELETED once the lineage is
 * dead (its tag and death deleted), H_GONE if there was no such death,
 * H_BUDGET if this wake-up's sweep budget is spent before it got its turn.
 */
static int handle_death(struct agent *a, struct sweep_budget *b, uint32_t key, uint64_t *next)
{
	struct bg_tag *t = tt_find(&a->tt, key);
	struct grace *g = find_grace(a, key);
	struct death_facts f = { .tagged = t, .in_grace = g, .budget_left = budget_left(b) };
	enum death_step step;
	uint64_t deadline;
	struct bg_death d;
	int err = 0;

	if (store_death(&a->st, key, &d))
		return H_GONE;
	if (t && t->state == BG_TAG_ACTIVE) {
		/* once per death, whichever agent takes it up */
		struct ev e = { .type = EV_ROOT_EXIT, .tag = key, .pid = d.root_pid,
				.sig = (int)t->signal, .grace_ns = t->grace_ns,
				.latency_ns = since(d.ts),
				.has_status = d.flags & BG_DEATH_ROOT_EXITED, .status = d.status };

		t->state = BG_TAG_DOOMED;
		store_put_tag(&a->st, key, t);
		sc_invalidate(&a->sc); /* one active tag fewer */
		events_emit(&a->ev, &e, audience(t));
	}
	if (t) {
		f.signal = t->signal;
		f.grace_ns = t->grace_ns;
	}
	f.death_ts = d.ts;
	f.now = now_ns();
	step = death_step(&f, &deadline);
	/* only a grace being waited out asks whether its lineage obeyed */
	if (step == DS_GRACE_WAIT && grace_empty(a, g)) {
		f.grace_empty = true;
		step = death_step(&f, &deadline);
	}
	switch (step) {
	case DS_BUDGET:
		return H_BUDGET;
	case DS_GRACE_START:
		if (start_grace(a, b, key, t, deadline, d.ts))
			log_warn("tag %u: could not signal the whole lineage", key);
		/* fall through */
	case DS_GRACE_WAIT:
		/* at the deadline, and before it to see whether the lineage
		 * obeyed the signal (grace_empty) */
		if (f.now + GRACE_WATCH_NS < deadline)
			deadline = f.now + GRACE_WATCH_NS;
		if (deadline < *next)
			*next = deadline;
		return H_KEPT;
	case DS_SIGNAL_KILL:
		start_grace(a, b, key, t, deadline, d.ts);
		/* fall through */
	case DS_KILL:
		err = kill_step(a, b, key, d.ts, next);
		break;
	case DS_DONE:
		break;
	}
	switch (death_outcome(err)) {
	case DO_BUDGET:
		return H_BUDGET;
	case DO_KEPT:
		return H_KEPT;
	case DO_RETRY:
		log_warn("tag %u: cannot sweep the lineage (%s), retrying", key, strerror(-err));
		if (now_ns() + TICK_NS < *next)
			*next = now_ns() + TICK_NS;
		return H_KEPT;
	case DO_DONE:
		break;
	}
	drop_grace(a, key);
	reaper_drop(&a->rp, key);
	/* the root's status as it is now: a requested kill's root has exited
	 * by now (it was a member), and the exit program noted it */
	store_death(&a->st, key, &d);
	job_ended(a, key, tt_find(&a->tt, key), &d, 0); /* t may be stale */
	/* Members left now (only the agent itself) become untracked. */
	store_del_tag(&a->st, key);
	store_death_del(&a->st, key);
	sc_invalidate(&a->sc);
	return H_DELETED;
}

/* Pending kills whose death is no longer recorded (unload, a tag that went):
 * nothing will look at them again. */
static void drop_orphans(struct agent *a)
{
	struct bg_death d;

	for (size_t i = a->rp.n; i-- > 0;) {
		uint32_t tag = a->rp.k[i].tag;

		if (store_death(&a->st, tag, &d))
			reaper_drop(&a->rp, tag);
	}
}

/*
 * Work through the recorded deaths, fairly and in bounded steps: first the
 * ones the ring just announced (a fresh death is signalled at once), then
 * up to DEATH_CHUNK of the deaths map from where the last call stopped: a
 * pass over the whole map takes as many wake-ups as it needs, back to back,
 * and the next pass starts at the beginning. The walk's cursor is the last
 * key visited that is still in the map (the next key of a deleted one would
 * be the map's first: restarting there would starve the keys behind it).
 * Returns the time
 * (CLOCK_MONOTONIC ns) to come back, UINT64_MAX if nothing is due: 0 if
 * the pass or the budget left work over (the loop serves its clients first).
 */
uint64_t handle_deaths(struct agent *a)
{
	uint64_t next = UINT64_MAX;
	bool circled = false;
	uint32_t key;
	size_t visited = 0, f = 0;
	struct sweep_budget b = { .sweeps = SWEEP_BUDGET };
	int r;

	reaper_reap(&a->rp);
	if (store_death_next(&a->st, NULL, &key)) {
		drop_orphans(a);
		a->nfresh = 0;
		a->have_cursor = false;
		return next;
	}
	if (store_load_tags(&a->st, &a->tt))
		return now_ns() + TICK_NS;

	for (; f < a->nfresh; f++)
		if (handle_death(a, &b, a->fresh[f], &next) == H_BUDGET)
			break;
	a->nfresh -= f;
	memmove(a->fresh, a->fresh + f, a->nfresh * sizeof(a->fresh[0]));

	while (visited < DEATH_CHUNK) {
		if (store_death_next(&a->st, a->have_cursor ? &a->cursor : NULL, &key)) {
			/* the end of the map: this pass is over, the next one
			 * (on the next wake-up) starts at the beginning */
			a->have_cursor = false;
			circled = true;
			break;
		}
		visited++;
		r = handle_death(a, &b, key, &next);
		if (r == H_BUDGET)
			break;
		if (r == H_KEPT) {
			a->cursor = key;
			a->have_cursor = true;
		}
	}
	if (!circled || a->nfresh)
		next = 0; /* more to do: straight after the clients */
	else
		drop_orphans(a);
	return next;
}

/*
 * A process born into a lineage being killed: give it what its lineage got
 * (SIGKILL, or the grace signal: the deadline is the lineage's). In kernel
 * mode the fork program did it already; this covers the -EBUSY case and the
 * kernels without the kfunc.
 */
static void on_birth(struct agent *a, const struct bg_event *ev)
{
	struct grace *g = find_grace(a, ev->tag);
	struct victim v = { .pid = ev->pid };
	uint64_t death_ts = 0;
	struct bg_proc e;
	int fd;

	if (store_proc(&a->st, v.pid, &e))
		return; /* gone already */
	v.start = e.start;
	if (store_load_tags(&a->st, &a->tt))
		return;
	if (!owner_may_signal(a, tt_find(&a->tt, ev->tag), (pid_t)v.pid))
		return; /* reported with the lineage's last sweep */
	if (events_active(&a->ev) || a->verbose) {
		struct bg_death d;

		/* for the kill event only: the fast path reads nothing more */
		death_ts = store_death(&a->st, ev->tag, &d) ? 0 : d.ts;
	}
	fd = kill_verified(a, ev->tag, &v, g ? g->sig : SIGKILL, death_ts, true);
	if (fd >= 0) {
		if (!g)
			store_stat_add(&a->st, BG_STAT_KILLS, 1);
		close(fd);
	}
}

/*
 * A child born beyond its owner's quota or its lineage's --max-procs:
 * recorded, and killed at birth (in kernel mode the fork program signalled
 * it already). The record carries its start time, so the pidfd is verified
 * against the very process.
 */
static void on_limit(struct agent *a, const struct bg_event *ev)
{
	bool cap = ev->type == BG_EV_MAX_PROCS, alive;
	struct limit_log *l = &a->limits[cap];
	struct victim v = { .pid = ev->pid, .start = ev->ts };
	struct ev e = { .type = EV_LIMIT, .tag = ev->tag, .pid = ev->pid, .uid = ev->uid,
			.msg = cap ? "max_procs" : "quota" };
	const struct bg_tag *t;
	struct bg_proc p;
	char comm[16];
	int fd;

	l->pending++;
	l->pid = ev->pid;
	l->uid = ev->uid;
	l->tag = ev->tag;
	/* the table is reloaded only for a tag it lacks: thousands of these
	 * may come in one burst */
	t = tt_find(&a->tt, ev->tag);
	if (!t && (store_load_tags(&a->st, &a->tt) || !(t = tt_find(&a->tt, ev->tag))))
		return;
	l->max = t->max_procs;
	alive = !store_proc(&a->st, v.pid, &p) && p.start == v.start;
	/* an event for each, also one the kernel killed already (its pid may
	 * name another process now: no comm then) */
	if (events_active(&a->ev)) {
		comm[0] = '\0';
		if (alive)
			read_comm(ev->pid, comm);
		e.comm = comm;
		e.count = cap ? t->max_procs : 0;
		events_emit(&a->ev, &e, audience(t));
	}
	if (!alive)
		return; /* dead already */
	if (!owner_may_signal(a, t, (pid_t)v.pid))
		return;
	/* no death to measure a latency from: its root is alive */
	fd = kill_verified(a, ev->tag, &v, SIGKILL, 0, false);
	if (fd >= 0) {
		store_stat_add(&a->st, BG_STAT_KILLS, 1);
		close(fd);
	}
}

/* A death the ring announced: taken first by the next handle_deaths. If
 * the list is full, the round-robin walk of the deaths map finds it. */
static void note_fresh(struct agent *a, uint32_t tag)
{
	for (size_t i = 0; i < a->nfresh; i++)
		if (a->fresh[i] == tag)
			return;
	if (a->nfresh < FRESH_MAX)
		a->fresh[a->nfresh++] = tag;
}

int on_event(void *ctx, void *data, size_t len)
{
	struct bg_event ev;

	if (len < sizeof(ev))
		return 0;
	memcpy(&ev, data, sizeof(ev));
	/* Deaths are handled from the deaths map once the ring is drained:
	 * the map, not the ring, is the work list. */
	if (ev.type == BG_EV_BIRTH)
		on_birth(ctx, &ev);
	else if (ev.type == BG_EV_DEATH)
		note_fresh(ctx, ev.tag);
	else if (ev.type == BG_EV_LIMIT || ev.type == BG_EV_MAX_PROCS)
		on_limit(ctx, &ev);
	return 0;
}
